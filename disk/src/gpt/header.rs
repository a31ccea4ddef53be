//! One GPT header, checked field by field before anything uses it: signature, header size
//! and CRC, revision, own LBA, entry size and count, and every LBA against the disk the
//! header describes.

use uuid::Uuid;

use crate::damage::{HeaderFault, MAX_ENTRY_ARRAY, MAX_ENTRY_SIZE, MIN_HEADER};

pub(super) const SIGNATURE: &[u8; 8] = b"EFI PART";

/// A header whose fields have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) alternate_lba: u64,
    pub(super) first_usable: u64,
    pub(super) last_usable: u64,
    pub(super) disk_guid: Uuid,
    pub(super) entries_lba: u64,
    pub(super) count: u32,
    pub(super) entry_size: u32,
    pub(super) entries_crc: u32,
}

impl Header {
    /// Bytes of the entry array (bounded by parse_header).
    pub(super) fn array_bytes(&self) -> u64 {
        u64::from(self.count) * u64::from(self.entry_size)
    }
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

pub(super) fn le64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// Check the header sector read at `lba`; `primary` says which copy it should be.
pub(super) fn parse_header(sector: &[u8], lba: u64, primary: bool) -> Result<Header, HeaderFault> {
    let ss = sector.len() as u64;
    if &sector[..8] != SIGNATURE {
        return Err(HeaderFault::NoSignature);
    }
    let size = le32(sector, 12);
    if size < MIN_HEADER || u64::from(size) > ss {
        return Err(HeaderFault::HeaderSize { size, max: ss });
    }
    let mut copy = sector[..size as usize].to_vec();
    let stored = le32(&copy, 16);
    copy[16..20].fill(0);
    let computed = crc32fast::hash(&copy);
    if stored != computed {
        return Err(HeaderFault::HeaderCrc { stored, computed });
    }
    let revision = le32(sector, 8);
    if revision >> 16 != 1 {
        return Err(HeaderFault::Revision(revision));
    }
    let my_lba = le64(sector, 24);
    if my_lba != lba {
        return Err(HeaderFault::WrongLba(my_lba));
    }
    let entry_size = le32(sector, 84);
    if !(128..=MAX_ENTRY_SIZE).contains(&entry_size)
        || entry_size % 128 != 0
        || !(entry_size / 128).is_power_of_two()
    {
        return Err(HeaderFault::EntrySize(entry_size));
    }
    let h = Header {
        alternate_lba: le64(sector, 32),
        first_usable: le64(sector, 40),
        last_usable: le64(sector, 48),
        disk_guid: Uuid::from_bytes_le(sector[56..72].try_into().unwrap_or([0; 16])),
        entries_lba: le64(sector, 72),
        count: le32(sector, 80),
        entry_size,
        entries_crc: le32(sector, 88),
    };
    if h.array_bytes() > MAX_ENTRY_ARRAY {
        return Err(HeaderFault::TooManyEntries {
            count: h.count,
            size: entry_size,
            bytes: h.array_bytes(),
        });
    }
    check_lbas(&h, lba, primary, ss)?;
    Ok(h)
}

/// Every LBA against the disk the header describes: the backup header on its last LBA, the
/// usable range and the entry array between the headers, without overlapping.
fn check_lbas(h: &Header, lba: u64, primary: bool, ss: u64) -> Result<(), HeaderFault> {
    let disk_last = if primary { h.alternate_lba } else { lba };
    let addressable = disk_last
        .checked_add(1)
        .and_then(|n| n.checked_mul(ss))
        .is_some();
    if primary && (disk_last < 2 || !addressable) {
        return Err(HeaderFault::BackupLba(h.alternate_lba));
    }
    if h.first_usable < 2 || h.first_usable > h.last_usable || h.last_usable >= disk_last {
        return Err(HeaderFault::UsableRange {
            first: h.first_usable,
            last: h.last_usable,
            disk_last,
        });
    }
    let sectors = h.array_bytes().div_ceil(ss);
    if sectors == 0 {
        return Ok(());
    }
    let last = h.entries_lba.saturating_add(sectors - 1);
    let inside = h.entries_lba >= 2 && last < disk_last;
    let clear = last < h.first_usable || h.entries_lba > h.last_usable;
    if !inside || !clear {
        return Err(HeaderFault::ArrayRange {
            first: h.entries_lba,
            last,
            usable_first: h.first_usable,
            usable_last: h.last_usable,
            disk_last,
        });
    }
    Ok(())
}

/// The fields two valid copies must agree on, by name.
pub(super) fn disagreements(a: &Header, b: &Header) -> Vec<&'static str> {
    let mut out = Vec::new();
    let pairs = [
        ("disk GUID", a.disk_guid == b.disk_guid),
        (
            "usable LBAs",
            (a.first_usable, a.last_usable) == (b.first_usable, b.last_usable),
        ),
        (
            "entry count and size",
            (a.count, a.entry_size) == (b.count, b.entry_size),
        ),
        ("entry array CRC", a.entries_crc == b.entries_crc),
    ];
    for (name, same) in pairs {
        if !same {
            out.push(name);
        }
    }
    out
}
