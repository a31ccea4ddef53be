//! Reading a GPT from an image made by anyone: every field is checked before it is used
//! (signature, header size and CRC, own LBA, entry size and count, every LBA against the
//! disk the header describes, the entry array's CRC), both copies are read, and damage that
//! leaves the table readable comes back as [`Warning`]s instead of a silent fallback.
//! Nothing here allocates more than [`MAX_ENTRY_ARRAY`] bytes, whatever the header claims.

use std::io::{self, Read, Seek, SeekFrom};

use uuid::Uuid;

use super::header::{disagreements, le64, parse_header, Header, SIGNATURE};
use super::{Partition, Table};
use crate::damage::{extent_warnings, Extent, GptFaults, HeaderFault, Warning};
use crate::error::{Error, Result};

/// Read exactly `buf.len()` bytes at `offset`; Ok(false) when the image ends first.
fn read_at<F: Read + Seek>(f: &mut F, offset: u64, buf: &mut [u8]) -> io::Result<bool> {
    f.seek(SeekFrom::Start(offset))?;
    match f.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn io_fault(e: io::Error) -> HeaderFault {
    HeaderFault::Io(e.to_string())
}

/// One copy: the header at `lba` and its entry array, all checked.
fn read_copy<F: Read + Seek>(
    f: &mut F,
    ss: u64,
    lba: u64,
    primary: bool,
) -> Result<(Header, Vec<u8>), HeaderFault> {
    let mut sector = vec![0u8; ss as usize];
    let offset = lba.checked_mul(ss).ok_or(HeaderFault::PastEnd)?;
    if !read_at(f, offset, &mut sector).map_err(io_fault)? {
        return Err(HeaderFault::PastEnd);
    }
    let h = parse_header(&sector, lba, primary)?;
    // parse_header bounded the array by MAX_ENTRY_ARRAY and its LBAs by the disk.
    let mut array = vec![0u8; h.array_bytes() as usize];
    let at = h.entries_lba * ss;
    if !read_at(f, at, &mut array).map_err(io_fault)? {
        return Err(HeaderFault::ArrayPastEnd(h.entries_lba));
    }
    let computed = crc32fast::hash(&array);
    if computed != h.entries_crc {
        return Err(HeaderFault::ArrayCrc {
            lba: h.entries_lba,
            stored: h.entries_crc,
            computed,
        });
    }
    Ok((h, array))
}

/// The used entries of a checked array, with warnings for entries that cannot be partitions.
fn entries(h: &Header, array: &[u8], warnings: &mut Vec<Warning>) -> (Vec<Partition>, Vec<u32>) {
    let mut parts = Vec::new();
    let mut numbers = Vec::new();
    for (i, e) in array.chunks_exact(h.entry_size as usize).enumerate() {
        let type_guid = Uuid::from_bytes_le(e[0..16].try_into().unwrap_or([0; 16]));
        if type_guid.is_nil() {
            continue;
        }
        // count <= MAX_ENTRY_ARRAY / 128, so the slot number fits.
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let (first, last) = (le64(e, 32), le64(e, 40));
        if first > last || first < h.first_usable || last > h.last_usable {
            warnings.push(Warning::PartitionOutOfRange {
                number,
                first,
                last,
                usable_first: h.first_usable,
                usable_last: h.last_usable,
            });
            continue;
        }
        let name: Vec<u16> = e[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&c| c != 0)
            .collect();
        parts.push(Partition {
            name: String::from_utf16_lossy(&name),
            type_guid,
            guid: Uuid::from_bytes_le(e[16..32].try_into().unwrap_or([0; 16])),
            first_lba: first,
            last_lba: last,
            attributes: le64(e, 48),
        });
        numbers.push(number);
    }
    (parts, numbers)
}

/// The sector size whose LBA 1 or last LBA carries a GPT signature (512 when none does).
fn sector_size<F: Read + Seek>(f: &mut F, size: u64) -> Result<u64> {
    for ss in [512u64, 4096] {
        let last = (size / ss).saturating_sub(1);
        for lba in [1, last] {
            let mut sig = [0u8; 8];
            let found = lba > 0
                && read_at(f, lba * ss, &mut sig)
                    .map_err(|e| Error::io("reading a GPT signature", lba * ss, e))?;
            if found && &sig == SIGNATURE {
                return Ok(ss);
            }
        }
    }
    Ok(512)
}

/// LBA 0 holds an MBR with a protective (0xee) entry.
fn has_protective_mbr<F: Read + Seek>(f: &mut F) -> Result<bool> {
    let mut mbr = [0u8; 512];
    if !read_at(f, 0, &mut mbr).map_err(|e| Error::io("reading LBA 0", 0, e))? {
        return Ok(false);
    }
    let signed = mbr[510..512] == [0x55, 0xaa];
    Ok(signed && (0..4).any(|i| mbr[446 + 16 * i + 4] == 0xee))
}

/// Read a GPT: both copies checked, 512- or 4096-byte sectors. The primary is used when it
/// is sound, else the backup; what was wrong is in [`Table::warnings`]. With neither copy
/// usable the error is [`Error::GptUnreadable`] (both faults named).
pub fn read<F: Read + Seek>(f: &mut F) -> Result<Table> {
    let size = f
        .seek(SeekFrom::End(0))
        .map_err(|e| Error::io("finding the image size", 0, e))?;
    let ss = sector_size(f, size)?;
    let last_lba = (size / ss).saturating_sub(1);
    let mut warnings = Vec::new();
    let primary = read_copy(f, ss, 1, true);
    let backup_lba = match &primary {
        Ok((h, _)) => h.alternate_lba,
        Err(_) => last_lba,
    };
    let backup = if backup_lba > last_lba {
        warnings.push(Warning::Truncated {
            described: (backup_lba + 1) * ss,
            backup_lba,
            actual: size,
        });
        Err(HeaderFault::PastEnd)
    } else {
        if backup_lba < last_lba {
            warnings.push(Warning::BackupNotAtEnd {
                at: backup_lba,
                last: last_lba,
            });
        }
        read_copy(f, ss, backup_lba, false)
    };
    let (h, array) = match (primary, backup) {
        (Ok(p), Ok(b)) => {
            let fields = disagreements(&p.0, &b.0);
            if !fields.is_empty() {
                warnings.push(Warning::GptCopiesDisagree {
                    fields: fields.join(", "),
                });
            }
            p
        }
        (Ok(p), Err(fault)) => {
            if backup_lba <= last_lba {
                warnings.push(Warning::BackupGptDamaged {
                    lba: backup_lba,
                    fault,
                });
            }
            p
        }
        (Err(fault), Ok(b)) => {
            warnings.push(Warning::PrimaryGptDamaged { fault, backup_lba });
            b
        }
        (Err(primary), Err(backup)) => {
            return Err(Error::GptUnreadable {
                faults: Box::new(GptFaults {
                    primary,
                    backup_lba,
                    backup,
                }),
                protective: has_protective_mbr(f)?,
            })
        }
    };
    if !has_protective_mbr(f)? {
        warnings.push(Warning::NoProtectiveMbr);
    }
    let (partitions, numbers) = entries(&h, &array, &mut warnings);
    let extents: Vec<Extent> = partitions
        .iter()
        .zip(&numbers)
        .map(|(p, &number)| Extent {
            number,
            start: p.first_lba * ss,
            end: (p.last_lba + 1) * ss,
        })
        .collect();
    warnings.extend(extent_warnings(&extents, size));
    Ok(Table {
        disk_guid: h.disk_guid,
        sector_size: ss,
        first_usable_lba: h.first_usable,
        last_usable_lba: h.last_usable,
        backup_lba: h.alternate_lba.max(backup_lba),
        partitions,
        numbers,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpt::{self, Partition};
    use std::io::Cursor;

    const MIB: u64 = 1 << 20;
    const LAST: u64 = 8 * MIB / 512 - 1;

    fn part(name: &str, first: u64, last: u64) -> Partition {
        Partition {
            name: name.into(),
            type_guid: crate::guid::LINUX_DATA,
            guid: crate::guid::derive(b"r", name),
            first_lba: first,
            last_lba: last,
            attributes: 0,
        }
    }

    /// An 8 MiB disk from our writer with two partitions.
    fn disk() -> Vec<u8> {
        let mut cur = Cursor::new(Vec::new());
        let parts = [part("a", 2048, 4095), part("b", 4096, 8191)];
        gpt::write(&mut cur, 8 * MIB, crate::guid::derive(b"r", "disk"), &parts).expect("write");
        cur.into_inner()
    }

    /// Edit the header at `lba` (512-byte sectors), then fix its CRC.
    fn edit_header(d: &mut [u8], lba: u64, edit: impl Fn(&mut [u8])) {
        let h = &mut d[(lba * 512) as usize..][..92];
        edit(h);
        h[16..20].fill(0);
        let crc = crc32fast::hash(h);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
    }

    /// Edit entry `i` of the array at `entries_lba`, then fix the array and header CRCs.
    fn edit_entry(
        d: &mut [u8],
        header_lba: u64,
        entries_lba: u64,
        i: usize,
        edit: impl Fn(&mut [u8]),
    ) {
        let start = (entries_lba * 512) as usize;
        edit(&mut d[start + 128 * i..][..128]);
        let crc = crc32fast::hash(&d[start..start + 128 * 128]);
        edit_header(d, header_lba, |h| {
            h[88..92].copy_from_slice(&crc.to_le_bytes())
        });
    }

    fn read_vec(d: Vec<u8>) -> Result<Table> {
        read(&mut Cursor::new(d))
    }

    fn faults(d: Vec<u8>) -> (HeaderFault, HeaderFault) {
        match read_vec(d) {
            Err(Error::GptUnreadable { faults, .. }) => (faults.primary, faults.backup),
            other => panic!("expected GptUnreadable, got {other:?}"),
        }
    }

    /// The fault of the primary, when the backup was read instead.
    fn primary_fault(d: Vec<u8>) -> HeaderFault {
        match &read_vec(d).expect("read from the backup").warnings[..] {
            [Warning::PrimaryGptDamaged { fault, .. }, ..] => fault.clone(),
            w => panic!("expected primary-gpt-damaged, got {w:?}"),
        }
    }

    fn set32(h: &mut [u8], at: usize, v: u32) {
        h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn set64(h: &mut [u8], at: usize, v: u64) {
        h[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn a_sound_table_reads_without_warnings() {
        let t = read_vec(disk()).expect("read");
        assert_eq!(t.numbers, vec![1, 2]);
        assert_eq!(t.partitions[1], part("b", 4096, 8191));
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    }

    #[test]
    fn every_header_field_is_checked_before_use() {
        type Edit = fn(&mut [u8]);
        let cases: &[(Edit, HeaderFault)] = &[
            (|h| set32(h, 84, 0), HeaderFault::EntrySize(0)),
            (|h| set32(h, 84, 129), HeaderFault::EntrySize(129)),
            (|h| set32(h, 84, 384), HeaderFault::EntrySize(384)),
            (|h| set32(h, 84, 8192), HeaderFault::EntrySize(8192)),
            (
                |h| set32(h, 80, u32::MAX),
                HeaderFault::TooManyEntries {
                    count: u32::MAX,
                    size: 128,
                    bytes: u64::from(u32::MAX) * 128,
                },
            ),
            (
                |h| set32(h, 12, 91),
                HeaderFault::HeaderSize { size: 91, max: 512 },
            ),
            (
                |h| set32(h, 12, 513),
                HeaderFault::HeaderSize {
                    size: 513,
                    max: 512,
                },
            ),
            (
                |h| set32(h, 8, 0x0002_0000),
                HeaderFault::Revision(0x0002_0000),
            ),
            (|h| set64(h, 24, 7), HeaderFault::WrongLba(7)),
        ];
        for (edit, want) in cases {
            let mut d = disk();
            edit_header(&mut d, 1, edit);
            edit_header(&mut d, LAST, edit);
            let (p, b) = faults(d);
            assert_eq!(&p, want);
            assert_eq!(&b, want);
        }
    }

    #[test]
    fn lbas_outside_the_described_disk_are_refused() {
        let mut d = disk();
        edit_header(&mut d, 1, |h| set64(h, 48, LAST)); // last usable = backup header
        assert!(matches!(primary_fault(d), HeaderFault::UsableRange { .. }));
        let mut d = disk();
        edit_header(&mut d, 1, |h| set64(h, 72, 100)); // entries inside the usable range
        assert!(matches!(
            primary_fault(d),
            HeaderFault::ArrayRange { first: 100, .. }
        ));
        let mut d = disk();
        edit_header(&mut d, 1, |h| set64(h, 32, u64::MAX / 2)); // backup LBA overflows
        assert!(matches!(primary_fault(d), HeaderFault::BackupLba(_)));
        let mut d = disk();
        edit_header(&mut d, 1, |h| set64(h, 72, u64::MAX)); // entries past everything
        assert!(matches!(primary_fault(d), HeaderFault::ArrayRange { .. }));
        let mut d = disk();
        edit_header(&mut d, LAST, |h| set64(h, 40, 1)); // backup: usable from LBA 1
        let t = read_vec(d).expect("read the primary");
        assert!(matches!(
            t.warnings[..],
            [Warning::BackupGptDamaged {
                fault: HeaderFault::UsableRange { first: 1, .. },
                ..
            }]
        ));
    }

    #[test]
    fn damage_in_one_copy_is_a_warning_naming_it() {
        let mut d = disk();
        d[512 + 60] ^= 1; // primary header CRC now wrong
        let t = read_vec(d).expect("read from the backup");
        assert_eq!(t.partitions.len(), 2);
        match &t.warnings[..] {
            [Warning::PrimaryGptDamaged {
                fault: HeaderFault::HeaderCrc { .. },
                backup_lba: LAST,
            }] => {}
            w => panic!("{w:?}"),
        }

        let mut d = disk();
        d[2 * 512 + 100] ^= 1; // primary entry array CRC now wrong
        let t = read_vec(d).expect("read from the backup");
        assert!(matches!(
            t.warnings[..],
            [Warning::PrimaryGptDamaged {
                fault: HeaderFault::ArrayCrc { lba: 2, .. },
                ..
            }]
        ));

        let mut d = disk();
        d[(LAST * 512) as usize..].fill(0);
        let t = read_vec(d).expect("read the primary");
        assert!(matches!(
            t.warnings[..],
            [Warning::BackupGptDamaged {
                lba: LAST,
                fault: HeaderFault::NoSignature
            }]
        ));
    }

    #[test]
    fn truncated_grown_and_disagreeing_images_are_reported() {
        let mut d = disk();
        d.truncate(6 * MIB as usize);
        let t = read_vec(d).expect("read");
        assert_eq!(
            t.warnings,
            vec![Warning::Truncated {
                described: 8 * MIB,
                backup_lba: LAST,
                actual: 6 * MIB
            }]
        );

        let mut d = disk();
        d.resize(9 * MIB as usize, 0);
        let t = read_vec(d).expect("read");
        assert_eq!(
            t.warnings,
            vec![Warning::BackupNotAtEnd {
                at: LAST,
                last: 9 * MIB / 512 - 1
            }]
        );

        let mut d = disk();
        edit_header(&mut d, LAST, |h| h[56] ^= 1);
        let t = read_vec(d).expect("read");
        assert_eq!(
            t.warnings,
            vec![Warning::GptCopiesDisagree {
                fields: "disk GUID".into()
            }]
        );

        let mut d = disk();
        d[446 + 4] = 0x83;
        let t = read_vec(d).expect("read");
        assert_eq!(t.warnings, vec![Warning::NoProtectiveMbr]);
    }

    #[test]
    fn entries_that_cannot_be_partitions_are_skipped_or_flagged() {
        let mut d = disk();
        for (header, entries) in [(1, 2), (LAST, LAST - 32)] {
            // Slot 2 ends before it starts; slot 3 overlaps slot 1.
            edit_entry(&mut d, header, entries, 1, |e| set64(e, 40, 4000));
            edit_entry(&mut d, header, entries, 2, |e| {
                e[..16].copy_from_slice(&crate::guid::LINUX_DATA.to_bytes_le());
                e[16] = 9;
                set64(e, 32, 3000);
                set64(e, 40, 3100);
            });
        }
        let t = read_vec(d).expect("read");
        assert_eq!(t.numbers, vec![1, 3]);
        assert_eq!(
            t.warnings,
            vec![
                Warning::PartitionOutOfRange {
                    number: 2,
                    first: 4096,
                    last: 4000,
                    usable_first: 34,
                    usable_last: LAST - 33,
                },
                Warning::PartitionsOverlap { a: 1, b: 3 },
            ]
        );
    }

    #[test]
    fn entry_sizes_of_128_times_2_to_the_n_and_4096_byte_sectors_read() {
        // 4096-byte sectors, written by gptman (which only writes 128-byte entries).
        let mut cur = Cursor::new(vec![0u8; 8 * MIB as usize]);
        let mut g = gptman::GPT::new_from(&mut cur, 4096, [7; 16]).expect("new");
        g[1] = gptman::GPTPartitionEntry {
            partition_type_guid: crate::guid::LINUX_DATA.to_bytes_le(),
            unique_partition_guid: [1; 16],
            starting_lba: 256,
            ending_lba: 511,
            attribute_bits: 0,
            partition_name: "big-sectors".into(),
        };
        g.write_into(&mut cur).expect("write");
        gptman::GPT::write_protective_mbr_into(&mut cur, 4096).expect("pmbr");
        let t = read(&mut cur).expect("read 4096");
        assert_eq!(t.sector_size, 4096);
        assert_eq!(t.partitions[0].name, "big-sectors");
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);

        // 256-byte entries: 64 of them in the same 32 sectors.
        let mut d = disk();
        for (header, entries) in [(1u64, 2u64), (LAST, LAST - 32)] {
            let start = (entries * 512) as usize;
            let old = d[start..start + 128 * 128].to_vec();
            let new = &mut d[start..start + 128 * 128];
            new.fill(0);
            for (i, e) in old.chunks(128).take(64).enumerate() {
                new[256 * i..256 * i + 128].copy_from_slice(e);
            }
            let crc = crc32fast::hash(new);
            edit_header(&mut d, header, |h| {
                set32(h, 80, 64);
                set32(h, 84, 256);
                h[88..92].copy_from_slice(&crc.to_le_bytes());
            });
        }
        let t = read_vec(d).expect("read 256-byte entries");
        assert_eq!(
            t.partitions,
            vec![part("a", 2048, 4095), part("b", 4096, 8191)]
        );
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    }

    #[test]
    fn tiny_and_empty_images_are_no_gpt() {
        for len in [0, 100, 512, 1024] {
            let (p, b) = faults(vec![0u8; len]);
            assert!(
                matches!(p, HeaderFault::PastEnd | HeaderFault::NoSignature),
                "{len}: {p:?}"
            );
            assert!(
                matches!(b, HeaderFault::PastEnd | HeaderFault::NoSignature),
                "{len}: {b:?}"
            );
        }
    }
}
