//! Damage found while reading a partition table: [`HeaderFault`] and [`MbrFault`] say why a
//! structure was not used, [`Warning`] describes damage that still left the table readable
//! (the other GPT copy was used, the image is cut short, an entry was skipped).

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// The largest GPT partition entry array read: 8192 entries of 128 bytes, 64 times the usual.
pub const MAX_ENTRY_ARRAY: u64 = 1 << 20;
/// The largest GPT entry size accepted (the spec allows 128 × 2^n).
pub const MAX_ENTRY_SIZE: u32 = 4096;
/// The smallest GPT header.
pub(crate) const MIN_HEADER: u32 = 92;

/// Why one copy of the GPT header (with its entry array) was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderFault {
    /// The image ends before the header.
    #[error("the image ends before it")]
    PastEnd,
    /// No `EFI PART` signature: there is no header here.
    #[error("no \"EFI PART\" signature")]
    NoSignature,
    /// The header could not be read.
    #[error("read error: {0}")]
    Io(String),
    /// Header size outside 92..=sector size.
    #[error("header size {size} (must be {MIN_HEADER} to {max} bytes)")]
    HeaderSize {
        /// Recorded size.
        size: u32,
        /// The sector size.
        max: u64,
    },
    /// Header CRC mismatch.
    #[error("header CRC32 is {stored:#010x} but its bytes give {computed:#010x}")]
    HeaderCrc {
        /// Recorded CRC.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A major revision other than 1.
    #[error("revision {0:#010x} (only 1.x is defined)")]
    Revision(u32),
    /// The header's own LBA field does not match where it was read.
    #[error("records its own LBA as {0}")]
    WrongLba(u64),
    /// Entry size not 128 × 2^n or too large.
    #[error("entry size {0} (must be 128 × 2^n bytes, at most {MAX_ENTRY_SIZE})")]
    EntrySize(u32),
    /// Entry array larger than [`MAX_ENTRY_ARRAY`].
    #[error(
        "{count} entries of {size} bytes ({bytes} bytes of entry array; at most \
         {MAX_ENTRY_ARRAY} are read)"
    )]
    TooManyEntries {
        /// Recorded entry count.
        count: u32,
        /// Recorded entry size.
        size: u32,
        /// Their product.
        bytes: u64,
    },
    /// The primary's backup LBA cannot be the last LBA of a disk.
    #[error("backup header LBA {0} is not after LBA 1 on any disk this reads")]
    BackupLba(u64),
    /// The usable range is empty or outside the described disk.
    #[error(
        "usable LBAs {first}..={last} are not inside the disk it describes (LBA 0..={disk_last})"
    )]
    UsableRange {
        /// Recorded first usable LBA.
        first: u64,
        /// Recorded last usable LBA.
        last: u64,
        /// Last LBA of the disk the header describes.
        disk_last: u64,
    },
    /// The entry array overlaps the headers or the usable range, or leaves the disk.
    #[error(
        "partition entry array at LBA {first}..={last} overlaps a header or the usable LBAs \
         {usable_first}..={usable_last}, or leaves the disk (LBA 0..={disk_last})"
    )]
    ArrayRange {
        /// First LBA of the array.
        first: u64,
        /// Last LBA of the array (saturated).
        last: u64,
        /// First usable LBA.
        usable_first: u64,
        /// Last usable LBA.
        usable_last: u64,
        /// Last LBA of the disk the header describes.
        disk_last: u64,
    },
    /// The entry array is past the end of the image.
    #[error("partition entry array at LBA {0} is past the end of the image")]
    ArrayPastEnd(u64),
    /// Entry array CRC mismatch.
    #[error("partition entry array at LBA {lba}: CRC32 is {stored:#010x} but its bytes give {computed:#010x}")]
    ArrayCrc {
        /// First LBA of the array.
        lba: u64,
        /// Recorded CRC.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
}

/// Why neither copy of a GPT could be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GPT header at LBA 1: {primary}; backup GPT header at LBA {backup_lba}: {backup}")]
pub struct GptFaults {
    /// Why the primary header (LBA 1) was not used.
    pub primary: HeaderFault,
    /// Where the backup header was looked for.
    pub backup_lba: u64,
    /// Why the backup header was not used.
    pub backup: HeaderFault,
}

impl GptFaults {
    /// True when either copy was there but damaged (not merely absent).
    pub fn header_seen(&self) -> bool {
        let there = |f: &HeaderFault| !matches!(f, HeaderFault::NoSignature | HeaderFault::PastEnd);
        there(&self.primary) || there(&self.backup)
    }
}

/// Why LBA 0 is not an MBR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MbrFault {
    /// The image is shorter than one sector.
    #[error("the image is shorter than 512 bytes")]
    TooShort,
    /// The read failed.
    #[error("read error: {0}")]
    Io(String),
    /// No 0x55 0xaa at byte 510.
    #[error("no boot signature 0x55 0xaa at byte 510 (found {0:#06x})")]
    NoSignature(u16),
    /// A boot flag other than 0x00 or 0x80: boot code or a filesystem, not a table.
    #[error("entry {slot} has boot flag {flag:#04x} (must be 0x00 or 0x80)")]
    BootFlag {
        /// Slot number (1..=4).
        slot: u32,
        /// The flag byte.
        flag: u8,
    },
}

/// Damage in a partition table that was read anyway. Each names the structure and, where
/// there is one, the repair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Warning {
    /// The primary GPT header (or its entry array) is unusable; the backup was read.
    #[error(
        "GPT header at LBA 1: {fault}; the table was read from the backup header at LBA \
         {backup_lba} (gdisk rebuilds the primary from it: recovery menu r, b, then w)"
    )]
    PrimaryGptDamaged {
        /// What is wrong with the primary.
        fault: HeaderFault,
        /// Where the backup was read.
        backup_lba: u64,
    },
    /// The backup GPT header (or its entry array) is unusable; the primary was read.
    #[error(
        "backup GPT header at LBA {lba}: {fault}; the primary header was used (`sgdisk -e` \
         rewrites the backup)"
    )]
    BackupGptDamaged {
        /// Where the backup was looked for.
        lba: u64,
        /// What is wrong with it.
        fault: HeaderFault,
    },
    /// The GPT describes a disk larger than the image: the image was cut short.
    #[error(
        "the image is truncated: its GPT describes a disk of {described} bytes (backup \
         header at LBA {backup_lba}) but the image has {actual} bytes; data past the end is \
         missing"
    )]
    Truncated {
        /// Disk size the primary header describes.
        described: u64,
        /// Where the primary header says the backup is.
        backup_lba: u64,
        /// Size of the image.
        actual: u64,
    },
    /// The backup GPT header is not on the last LBA (the image was grown).
    #[error(
        "the backup GPT header is at LBA {at}, not on the last LBA {last} of the image (it \
         was grown; `sgdisk -e` moves the backup to the end)"
    )]
    BackupNotAtEnd {
        /// Where it is.
        at: u64,
        /// The image's last LBA.
        last: u64,
    },
    /// Both GPT headers are valid but say different things.
    #[error("the primary and backup GPT headers disagree on {fields}; the primary was used")]
    GptCopiesDisagree {
        /// The fields that differ, comma-separated.
        fields: String,
    },
    /// A valid GPT without a protective MBR at LBA 0.
    #[error(
        "LBA 0 holds no protective MBR (type 0xee): Linux ignores this GPT unless booted \
         with `gpt` (`sgdisk -e` writes one)"
    )]
    NoProtectiveMbr,
    /// A damaged GPT was found on a disk whose MBR has no protective entry; the MBR was read.
    #[error(
        "a damaged GPT was ignored ({0}); the MBR has no protective entry, so its table was read"
    )]
    StaleGptIgnored(GptFaults),
    /// A used entry whose extent cannot be a partition; it is not listed.
    #[error(
        "partition {number}: LBA {first}..={last} is not inside the usable LBAs \
         {usable_first}..={usable_last}; it is not listed"
    )]
    PartitionOutOfRange {
        /// Slot number (1-based).
        number: u32,
        /// Recorded first LBA.
        first: u64,
        /// Recorded last LBA.
        last: u64,
        /// First usable LBA of the table.
        usable_first: u64,
        /// Last usable LBA of the table.
        usable_last: u64,
    },
    /// A partition that reaches past the end of the image (only its start can be read).
    #[error("partition {number} ends at byte {end}, past the end of the image ({size} bytes)")]
    PartitionPastEnd {
        /// Slot number (1-based).
        number: u32,
        /// Its end (exclusive), in bytes.
        end: u64,
        /// Size of the image.
        size: u64,
    },
    /// Two partitions share sectors.
    #[error("partitions {a} and {b} overlap")]
    PartitionsOverlap {
        /// One slot number.
        a: u32,
        /// The other.
        b: u32,
    },
}

impl Warning {
    /// A stable kebab-case code for `--json` consumers.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::PrimaryGptDamaged { .. } => "primary-gpt-damaged",
            Warning::BackupGptDamaged { .. } => "backup-gpt-damaged",
            Warning::Truncated { .. } => "truncated",
            Warning::BackupNotAtEnd { .. } => "backup-gpt-not-at-end",
            Warning::GptCopiesDisagree { .. } => "gpt-copies-disagree",
            Warning::NoProtectiveMbr => "no-protective-mbr",
            Warning::StaleGptIgnored(_) => "stale-gpt-ignored",
            Warning::PartitionOutOfRange { .. } => "partition-out-of-range",
            Warning::PartitionPastEnd { .. } => "partition-past-end",
            Warning::PartitionsOverlap { .. } => "partitions-overlap",
        }
    }
}

/// `{"code": "...", "message": "..."}`.
impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Warning", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

/// One partition's extent, in bytes, for the checks every table shares.
pub(crate) struct Extent {
    /// Slot number (1-based).
    pub number: u32,
    /// First byte.
    pub start: u64,
    /// End, exclusive.
    pub end: u64,
}

/// Warnings for partitions past the end of an image of `size` bytes, and for overlaps (each
/// partition against the one reaching furthest before it, so at most one per partition).
pub(crate) fn extent_warnings(extents: &[Extent], size: u64) -> Vec<Warning> {
    let mut out = Vec::new();
    for e in extents {
        if e.end > size {
            out.push(Warning::PartitionPastEnd {
                number: e.number,
                end: e.end,
                size,
            });
        }
    }
    let mut by_start: Vec<&Extent> = extents.iter().collect();
    by_start.sort_by_key(|e| (e.start, e.number));
    let mut reach: Option<&Extent> = None;
    for e in by_start {
        match reach {
            Some(r) if e.start < r.end => {
                out.push(Warning::PartitionsOverlap {
                    a: r.number.min(e.number),
                    b: r.number.max(e.number),
                });
                if e.end > r.end {
                    reach = Some(e);
                }
            }
            _ => reach = Some(e),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents_past_the_end_and_overlaps_are_named() {
        let ext = |number, start, end| Extent { number, start, end };
        let w = extent_warnings(&[ext(1, 0, 10), ext(2, 5, 20), ext(3, 20, 30)], 25);
        assert_eq!(
            w,
            vec![
                Warning::PartitionPastEnd {
                    number: 3,
                    end: 30,
                    size: 25
                },
                Warning::PartitionsOverlap { a: 1, b: 2 },
            ]
        );
        assert_eq!(w[1].code(), "partitions-overlap");
    }
}
