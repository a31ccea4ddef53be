//! GPT partition tables: written via gptman (protective MBR, primary and backup GPT, 512-byte
//! sectors, caller-chosen GUIDs so the result is reproducible), read by our own checked
//! reader ([`read`]), which treats every byte of the image as hostile.

use std::io::{Read, Seek, SeekFrom, Write};

use serde::Serialize;
use uuid::Uuid;

use crate::damage::Warning;
use crate::error::{Error, Result};
use crate::window::Window;

mod header;
mod read;
pub use read::read;

/// Sector size used for every table this crate writes.
pub const SECTOR: u64 = 512;
/// Number of partition entries in the array (the usual 128 × 128 bytes = 32 sectors).
const ENTRIES: u64 = 128;
/// First usable LBA with 128 entries of 128 bytes and 512-byte sectors.
pub const FIRST_USABLE_LBA: u64 = 2 + ENTRIES * 128 / SECTOR;

/// Attribute bit 0: the platform requires this partition.
pub const ATTR_REQUIRED: u64 = 1 << 0;
/// Attribute bit 2: legacy BIOS bootable.
pub const ATTR_LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;
/// Discoverable Partitions Specification: grow the filesystem to the partition (bit 59).
pub const ATTR_GROWFS: u64 = 1 << 59;
/// Discoverable Partitions Specification: mount read-only (bit 60).
pub const ATTR_READ_ONLY: u64 = 1 << 60;
/// Discoverable Partitions Specification: do not mount automatically (bit 63).
pub const ATTR_NO_AUTO: u64 = 1 << 63;

/// One GPT partition. LBAs are 512-byte sectors, `last_lba` inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Partition name (at most 36 UTF-16 code units).
    pub name: String,
    /// Partition type GUID (see [`crate::guid`]).
    pub type_guid: Uuid,
    /// Unique partition GUID (PARTUUID).
    pub guid: Uuid,
    /// First sector.
    pub first_lba: u64,
    /// Last sector, inclusive.
    pub last_lba: u64,
    /// Attribute bits (see the `ATTR_*` constants).
    pub attributes: u64,
}

impl Partition {
    /// Byte offset of the partition in the disk (512-byte sectors).
    pub fn byte_offset(&self) -> u64 {
        self.first_lba * SECTOR
    }

    /// Size of the partition in bytes (512-byte sectors).
    pub fn byte_len(&self) -> u64 {
        (self.last_lba + 1).saturating_sub(self.first_lba) * SECTOR
    }
}

/// A GPT read back from a disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Disk GUID.
    pub disk_guid: Uuid,
    /// Sector size the table was found with (512 or 4096).
    pub sector_size: u64,
    /// First LBA partitions may use.
    pub first_usable_lba: u64,
    /// Last LBA partitions may use (inclusive).
    pub last_usable_lba: u64,
    /// LBA of the backup header as recorded in the primary header.
    pub backup_lba: u64,
    /// Used partitions in slot order. LBAs are in `sector_size` units.
    pub partitions: Vec<Partition>,
    /// 1-based slot number of each entry of `partitions` (parallel vector).
    pub numbers: Vec<u32>,
    /// Damage found while reading (the other copy was used, the image is truncated, ...).
    pub warnings: Vec<Warning>,
}

/// The last usable LBA for a disk of `disk_bytes` (512-byte sectors, 128 entries).
pub fn last_usable_lba(disk_bytes: u64) -> u64 {
    (disk_bytes / SECTOR).saturating_sub(FIRST_USABLE_LBA)
}

fn gpt_err(what: impl Into<String>) -> impl FnOnce(gptman::Error) -> Error {
    let what = what.into();
    move |source| Error::Gpt { what, source }
}

/// Check a layout before anything is written: sizes, ranges, overlaps, names, GUIDs.
pub fn validate(disk_bytes: u64, parts: &[Partition]) -> Result<()> {
    if disk_bytes % SECTOR != 0 {
        return Err(Error::Layout(format!(
            "disk size {disk_bytes} is not a multiple of {SECTOR}-byte sectors"
        )));
    }
    let last_usable = last_usable_lba(disk_bytes);
    if last_usable < FIRST_USABLE_LBA {
        return Err(Error::Layout(format!(
            "disk of {disk_bytes} bytes is too small to hold a GPT"
        )));
    }
    if parts.len() as u64 > ENTRIES {
        return Err(Error::Layout(format!(
            "{} partitions, a GPT holds at most {ENTRIES}",
            parts.len()
        )));
    }
    for (i, p) in parts.iter().enumerate() {
        let n = i + 1;
        if p.type_guid.is_nil() {
            return Err(Error::Layout(format!(
                "partition {n} {:?} has a nil type GUID (that marks an unused entry)",
                p.name
            )));
        }
        if p.first_lba > p.last_lba {
            return Err(Error::Layout(format!(
                "partition {n} {:?} ends (LBA {}) before it starts (LBA {})",
                p.name, p.last_lba, p.first_lba
            )));
        }
        if p.first_lba < FIRST_USABLE_LBA || p.last_lba > last_usable {
            return Err(Error::Layout(format!(
                "partition {n} {:?} (LBA {}..={}) is outside the usable range \
                 {FIRST_USABLE_LBA}..={last_usable} of a {disk_bytes}-byte disk; \
                 enlarge the disk or shrink the partition",
                p.name, p.first_lba, p.last_lba
            )));
        }
        if p.name.encode_utf16().count() > 36 {
            return Err(Error::Layout(format!(
                "partition {n} name {:?} is longer than 36 UTF-16 units",
                p.name
            )));
        }
        for (j, q) in parts.iter().enumerate().take(i) {
            if p.first_lba <= q.last_lba && q.first_lba <= p.last_lba {
                return Err(Error::Layout(format!(
                    "partition {n} {:?} (LBA {}..={}) overlaps partition {} {:?} (LBA {}..={})",
                    p.name,
                    p.first_lba,
                    p.last_lba,
                    j + 1,
                    q.name,
                    q.first_lba,
                    q.last_lba
                )));
            }
            if p.guid == q.guid {
                return Err(Error::Layout(format!(
                    "partitions {} {:?} and {n} {:?} share the unique GUID {}",
                    j + 1,
                    q.name,
                    p.name,
                    p.guid
                )));
            }
        }
    }
    Ok(())
}

/// Write protective MBR, primary and backup GPT for a disk of `disk_bytes` (file is
/// extended/sized first so the backup lands on the last LBA). 512-byte sectors.
///
/// Partitions go into slots 1.. in the order given. If the stream is shorter than
/// `disk_bytes` it is extended by writing its last byte (a sparse file stays sparse); a
/// longer stream is treated as a disk of `disk_bytes`. Partition contents are not touched;
/// sector 0 is rewritten whole (zeroed boot code, protective MBR entry).
pub fn write<F: Read + Write + Seek>(
    f: &mut F,
    disk_bytes: u64,
    disk_guid: Uuid,
    parts: &[Partition],
) -> Result<()> {
    validate(disk_bytes, parts)?;
    let mut disk = Window::disk(f, disk_bytes)?;

    disk.seek(SeekFrom::Start(0))
        .and_then(|_| disk.write_all(&[0u8; 446]))
        .map_err(|e| Error::io("clearing the MBR boot code", 0, e))?;
    gptman::GPT::write_protective_mbr_into(&mut disk, SECTOR)
        .map_err(gpt_err("writing the protective MBR"))?;

    let mut gpt = gptman::GPT::new_from(&mut disk, SECTOR, disk_guid.to_bytes_le())
        .map_err(gpt_err("creating the table"))?;
    debug_assert_eq!(gpt.header.first_usable_lba, FIRST_USABLE_LBA);
    debug_assert_eq!(gpt.header.last_usable_lba, last_usable_lba(disk_bytes));
    for (i, p) in parts.iter().enumerate() {
        let slot = u32::try_from(i + 1).map_err(|_| Error::Layout("too many partitions".into()))?;
        gpt[slot] = gptman::GPTPartitionEntry {
            partition_type_guid: p.type_guid.to_bytes_le(),
            unique_partition_guid: p.guid.to_bytes_le(),
            starting_lba: p.first_lba,
            ending_lba: p.last_lba,
            attribute_bits: p.attributes,
            partition_name: p.name.as_str().into(),
        };
    }
    gpt.write_into(&mut disk)
        .map_err(gpt_err("writing primary and backup tables"))?;
    disk.flush()
        .map_err(|e| Error::io("flushing the partition table", 0, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const MIB: u64 = 1 << 20;

    fn part(name: &str, first: u64, last: u64, seed: &str) -> Partition {
        Partition {
            name: name.into(),
            type_guid: crate::guid::LINUX_DATA,
            guid: crate::guid::derive(b"t", seed),
            first_lba: first,
            last_lba: last,
            attributes: 0,
        }
    }

    #[test]
    fn roundtrip_in_memory() {
        let mut cur = Cursor::new(Vec::new());
        let mut p = part("root-a", 2048, 4095, "a");
        p.attributes = ATTR_READ_ONLY | ATTR_GROWFS;
        p.type_guid = crate::guid::ROOT_X86_64;
        let parts = vec![p, part("data", 4096, 6143, "b")];
        let disk = crate::guid::derive(b"t", "disk");
        write(&mut cur, 4 * MIB, disk, &parts).expect("write");
        assert_eq!(cur.get_ref().len() as u64, 4 * MIB);
        let t = read(&mut cur).expect("read");
        assert_eq!(t.disk_guid, disk);
        assert_eq!(t.partitions, parts);
        assert_eq!(t.numbers, vec![1, 2]);
        assert_eq!(t.backup_lba, 4 * MIB / 512 - 1);
        assert_eq!(&cur.get_ref()[510..512], &[0x55, 0xaa]);
        assert_eq!(cur.get_ref()[446 + 4], 0xee);
    }

    #[test]
    fn overlap_and_range_errors_name_the_partitions() {
        let mut cur = Cursor::new(Vec::new());
        let d = Uuid::nil();
        let e = write(
            &mut cur,
            4 * MIB,
            d,
            &[part("esp", 2048, 4095, "a"), part("root", 4000, 5000, "b")],
        )
        .expect_err("overlap");
        let msg = e.to_string();
        assert!(
            msg.contains("overlaps") && msg.contains("esp") && msg.contains("root"),
            "{msg}"
        );

        let e = write(&mut cur, 4 * MIB, d, &[part("big", 2048, 8191, "a")]).expect_err("range");
        assert!(e.to_string().contains("outside the usable range"), "{e}");

        let e = write(&mut cur, 4 * MIB, d, &[part("x", 20, 100, "a")]).expect_err("too early");
        assert!(e.to_string().contains("\"x\""), "{e}");

        let e = write(
            &mut cur,
            4 * MIB,
            d,
            &[part("a", 2048, 2100, "same"), part("b", 3000, 3100, "same")],
        )
        .expect_err("dup guid");
        assert!(e.to_string().contains("share"), "{e}");
        assert!(cur.get_ref().is_empty(), "nothing written on a bad layout");
    }
}
