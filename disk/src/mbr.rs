//! MBR (DOS) partition tables, written via mbrman and read by our own parser, for Raspberry
//! Pi images: the Pi firmware boots from a FAT32 LBA (0x0c) partition and cannot read GPT
//! on older models.

use std::io::{Read, Seek, SeekFrom, Write};

use serde::Serialize;

use crate::damage::{extent_warnings, Extent, MbrFault, Warning};
use crate::error::{Error, Result};
use crate::window::Window;

/// Sector size used for every table this crate writes.
pub const SECTOR: u64 = 512;
/// Partition type: FAT32 with LBA addressing (the Pi boot partition).
pub const FAT32_LBA: u8 = 0x0c;
/// Partition type: Linux.
pub const LINUX: u8 = 0x83;

/// One primary MBR partition. LBAs are 512-byte sectors, `last_lba` inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// System id (type byte): [`FAT32_LBA`], [`LINUX`], ...
    pub kind: u8,
    /// Active (boot) flag.
    pub bootable: bool,
    /// First sector.
    pub first_lba: u64,
    /// Last sector, inclusive.
    pub last_lba: u64,
}

impl Partition {
    /// Byte offset of the partition in the disk.
    pub fn byte_offset(&self) -> u64 {
        self.first_lba * SECTOR
    }

    /// Size of the partition in bytes.
    pub fn byte_len(&self) -> u64 {
        (self.last_lba + 1).saturating_sub(self.first_lba) * SECTOR
    }
}

/// An MBR read back from a disk (primary partitions only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// 32-bit disk signature (the `PTUUID` Linux shows, as 8 hex digits).
    pub disk_signature: u32,
    /// Sector size (always 512 here).
    pub sector_size: u64,
    /// Used primary partitions in slot order.
    pub partitions: Vec<Partition>,
    /// 1-based slot number of each entry of `partitions` (parallel vector).
    pub numbers: Vec<u32>,
    /// Damage found while reading (partitions past the end of the image, overlaps).
    pub warnings: Vec<Warning>,
}

fn mbr_err(what: impl Into<String>) -> impl FnOnce(mbrman::Error) -> Error {
    let what = what.into();
    move |source| Error::Mbr { what, source }
}

/// CHS address for `lba` with the usual 255 heads × 63 sectors geometry, saturating at
/// 1023/254/63 the way fdisk does for disks past 8 GiB.
fn chs(lba: u64) -> mbrman::CHS {
    const HEADS: u64 = 255;
    const SECTORS: u64 = 63;
    let cyl = lba / (HEADS * SECTORS);
    if cyl > 1023 {
        return mbrman::CHS::new(1023, 254, 63);
    }
    let rem = lba % (HEADS * SECTORS);
    // Both fit: cyl <= 1023, rem / SECTORS < 255, rem % SECTORS + 1 <= 63.
    mbrman::CHS::new(cyl as u16, (rem / SECTORS) as u8, (rem % SECTORS + 1) as u8)
}

/// Check a layout: at most 4 primaries, in range, no overlap, nonzero type.
pub fn validate(disk_bytes: u64, parts: &[Partition]) -> Result<()> {
    if disk_bytes % SECTOR != 0 {
        return Err(Error::Layout(format!(
            "disk size {disk_bytes} is not a multiple of {SECTOR}-byte sectors"
        )));
    }
    let sectors = disk_bytes / SECTOR;
    if parts.len() > 4 {
        return Err(Error::Layout(format!(
            "{} partitions, an MBR holds at most 4 primaries",
            parts.len()
        )));
    }
    for (i, p) in parts.iter().enumerate() {
        let n = i + 1;
        if p.kind == 0 {
            return Err(Error::Layout(format!("partition {n} has type 0 (unused)")));
        }
        if p.first_lba == 0 || p.first_lba > p.last_lba || p.last_lba >= sectors {
            return Err(Error::Layout(format!(
                "partition {n} (type {:#04x}, LBA {}..={}) is outside 1..={} of a {disk_bytes}-byte disk",
                p.kind,
                p.first_lba,
                p.last_lba,
                sectors.saturating_sub(1)
            )));
        }
        if p.last_lba > u64::from(u32::MAX) {
            return Err(Error::Layout(format!(
                "partition {n} ends past 2 TiB, which an MBR cannot address"
            )));
        }
        for (j, q) in parts.iter().enumerate().take(i) {
            if p.first_lba <= q.last_lba && q.first_lba <= p.last_lba {
                return Err(Error::Layout(format!(
                    "partition {n} (LBA {}..={}) overlaps partition {} (LBA {}..={})",
                    p.first_lba,
                    p.last_lba,
                    j + 1,
                    q.first_lba,
                    q.last_lba
                )));
            }
        }
    }
    Ok(())
}

/// Write an MBR with up to four primary partitions for a disk of `disk_bytes`; the stream is
/// extended (by writing its last byte) when shorter. Sector 0 is rewritten whole.
pub fn write<F: Read + Write + Seek>(
    f: &mut F,
    disk_bytes: u64,
    disk_signature: u32,
    parts: &[Partition],
) -> Result<()> {
    validate(disk_bytes, parts)?;
    let mut disk = Window::disk(f, disk_bytes)?;
    let sector_size = SECTOR as u32;
    let mut mbr = mbrman::MBR::new_from(&mut disk, sector_size, disk_signature.to_le_bytes())
        .map_err(mbr_err("creating the table"))?;
    for (i, p) in parts.iter().enumerate() {
        // validate() bounded both LBAs by u32::MAX.
        let first =
            u32::try_from(p.first_lba).map_err(|_| Error::Layout("LBA past 2 TiB".into()))?;
        let count = u32::try_from(p.last_lba - p.first_lba + 1)
            .map_err(|_| Error::Layout("partition larger than 2 TiB".into()))?;
        mbr[i + 1] = mbrman::MBRPartitionEntry {
            boot: if p.bootable { 0x80 } else { 0x00 },
            first_chs: chs(p.first_lba),
            sys: p.kind,
            last_chs: chs(p.last_lba),
            starting_lba: first,
            sectors: count,
        };
    }
    mbr.write_into(&mut disk)
        .map_err(mbr_err("writing the table"))?;
    disk.flush()
        .map_err(|e| Error::io("flushing the partition table", 0, e))?;
    Ok(())
}

/// Read the four primary entries of an MBR (512-byte sectors) with our own parser: a
/// boot signature and boot flags of 0x00/0x80 are required (else the sector is boot code
/// or a filesystem, [`Error::NoMbr`]); extended partitions are listed, their logical
/// partitions are not followed. Partitions past the end of the image and overlaps are in
/// [`Table::warnings`].
pub fn read<F: Read + Seek>(f: &mut F) -> Result<Table> {
    let size = f
        .seek(SeekFrom::End(0))
        .map_err(|e| Error::io("finding the image size", 0, e))?;
    let mut sector = [0u8; 512];
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.read_exact(&mut sector))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::NoMbr(MbrFault::TooShort),
            _ => Error::NoMbr(MbrFault::Io(e.to_string())),
        })?;
    let sig = u16::from_le_bytes([sector[510], sector[511]]);
    if sig != 0xaa55 {
        return Err(Error::NoMbr(MbrFault::NoSignature(sig)));
    }
    let mut partitions = Vec::new();
    let mut numbers = Vec::new();
    let mut extents = Vec::new();
    for slot in 0..4u32 {
        let e = &sector[446 + 16 * slot as usize..][..16];
        let flag = e[0];
        if flag != 0 && flag != 0x80 {
            return Err(Error::NoMbr(MbrFault::BootFlag {
                slot: slot + 1,
                flag,
            }));
        }
        let start = u64::from(u32::from_le_bytes([e[8], e[9], e[10], e[11]]));
        let count = u64::from(u32::from_le_bytes([e[12], e[13], e[14], e[15]]));
        if e[4] == 0 || count == 0 {
            continue;
        }
        let p = Partition {
            kind: e[4],
            bootable: flag == 0x80,
            first_lba: start,
            last_lba: start + count - 1,
        };
        extents.push(Extent {
            number: slot + 1,
            start: p.byte_offset(),
            end: (p.last_lba + 1) * SECTOR,
        });
        partitions.push(p);
        numbers.push(slot + 1);
    }
    Ok(Table {
        disk_signature: u32::from_le_bytes([sector[440], sector[441], sector[442], sector[443]]),
        sector_size: SECTOR,
        partitions,
        numbers,
        warnings: extent_warnings(&extents, size),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn roundtrip_in_memory() {
        let mut cur = Cursor::new(Vec::new());
        let parts = vec![
            Partition {
                kind: FAT32_LBA,
                bootable: true,
                first_lba: 2048,
                last_lba: 4095,
            },
            Partition {
                kind: LINUX,
                bootable: false,
                first_lba: 4096,
                last_lba: 8191,
            },
        ];
        write(&mut cur, 8192 * 512, 0xdead_beef, &parts).expect("write");
        assert_eq!(cur.get_ref().len(), 8192 * 512);
        assert_eq!(&cur.get_ref()[440..444], &0xdead_beefu32.to_le_bytes());
        let t = read(&mut cur).expect("read");
        assert_eq!(t.disk_signature, 0xdead_beef);
        assert_eq!(t.partitions, parts);
        assert_eq!(t.numbers, vec![1, 2]);
    }

    #[test]
    fn chs_matches_fdisk_geometry() {
        let c = chs(2048);
        assert_eq!((c.cylinder, c.head, c.sector), (0, 32, 33));
        let c = chs(1 << 40);
        assert_eq!((c.cylinder, c.head, c.sector), (1023, 254, 63));
    }

    #[test]
    fn rejects_overlap_and_out_of_range() {
        let mut cur = Cursor::new(Vec::new());
        let p = |a, b| Partition {
            kind: LINUX,
            bootable: false,
            first_lba: a,
            last_lba: b,
        };
        assert!(write(&mut cur, 1 << 20, 1, &[p(2048, 4096)]).is_err());
        let e = write(&mut cur, 4 << 20, 1, &[p(100, 200), p(150, 300)]).expect_err("overlap");
        assert!(e.to_string().contains("overlaps"), "{e}");
        assert!(cur.get_ref().is_empty());
    }

    #[test]
    fn reading_checks_the_signature_and_boot_flags_and_the_image_end() {
        let mut cur = Cursor::new(Vec::new());
        let p = Partition {
            kind: LINUX,
            bootable: false,
            first_lba: 2048,
            last_lba: 8191,
        };
        write(&mut cur, 8192 * 512, 7, &[p]).expect("write");
        let mut d = cur.into_inner();
        d.truncate(4096 * 512);
        let t = read(&mut Cursor::new(d.clone())).expect("read");
        assert_eq!(
            t.warnings,
            vec![Warning::PartitionPastEnd {
                number: 1,
                end: 8192 * 512,
                size: 4096 * 512
            }]
        );
        let mut flag = d.clone();
        flag[446] = 0x12;
        let e = read(&mut Cursor::new(flag)).expect_err("boot code, not a table");
        assert!(e.to_string().contains("entry 1 has boot flag 0x12"), "{e}");
        d[510] = 0;
        let e = read(&mut Cursor::new(d)).expect_err("no signature");
        assert!(
            e.to_string().contains("MBR at LBA 0: no boot signature"),
            "{e}"
        );
        let e = read(&mut Cursor::new(vec![0u8; 100])).expect_err("short");
        assert!(e.to_string().contains("shorter than 512"), "{e}");
    }
}
