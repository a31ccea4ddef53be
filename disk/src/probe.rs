//! Identify the filesystem in a window from its superblock or boot sector: ext2/3/4 (UUID,
//! label, geometry, feature names as `dumpe2fs` prints them) and FAT12/16/32.

use std::io::{Read, Seek, SeekFrom};

use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Result};
use kubebake_fatread::Bpb;

/// What [`identify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FsInfo {
    /// An ext2/3/4 filesystem.
    Ext4(Ext4Info),
    /// A FAT12/16/32 filesystem.
    Fat(FatInfo),
    /// Neither.
    Unknown,
}

/// ext2/3/4 superblock facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ext4Info {
    /// Filesystem UUID.
    pub uuid: Uuid,
    /// Volume label ("" when unset).
    pub label: String,
    /// Block size in bytes.
    pub block_size: u64,
    /// Total blocks (64-bit count when the 64bit feature is on).
    pub block_count: u64,
    /// Free blocks as recorded in the superblock.
    pub free_blocks: u64,
    /// Total inodes.
    pub inode_count: u32,
    /// Inode size in bytes.
    pub inode_size: u16,
    /// Feature names in dumpe2fs order (compat, incompat, ro_compat bits ascending);
    /// unknown bits as `FEATURE_C12` / `FEATURE_I31` / `FEATURE_R5`.
    pub features: Vec<String>,
    /// The `read-only` ro_compat feature is set (mount read-only only).
    pub read_only: bool,
    /// The `has_journal` compat feature is set.
    pub has_journal: bool,
    /// Superblock state says cleanly unmounted.
    pub clean: bool,
}

/// FAT boot sector facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FatInfo {
    /// "FAT12", "FAT16" or "FAT32", from the cluster count (as the spec says), not the
    /// informational type string.
    pub kind: &'static str,
    /// Boot sector volume label, trailing spaces removed ("" for none / "NO NAME").
    pub label: String,
    /// Volume serial number.
    pub volume_id: u32,
    /// Bytes per sector.
    pub bytes_per_sector: u32,
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Total sectors.
    pub total_sectors: u64,
    /// Number of data clusters.
    pub clusters: u64,
}

const COMPAT: &[(u32, &str)] = &[
    (0x0001, "dir_prealloc"),
    (0x0002, "imagic_inodes"),
    (0x0004, "has_journal"),
    (0x0008, "ext_attr"),
    (0x0010, "resize_inode"),
    (0x0020, "dir_index"),
    (0x0040, "lazy_bg"),
    (0x0080, "snapshot_bitmap"),
    (0x0100, "sparse_super2"),
    (0x0200, "fast_commit"),
    (0x0400, "stable_inodes"),
    (0x0800, "orphan_file"),
];

const INCOMPAT: &[(u32, &str)] = &[
    (0x0001, "compression"),
    (0x0002, "filetype"),
    (0x0004, "needs_recovery"),
    (0x0008, "journal_dev"),
    (0x0010, "meta_bg"),
    (0x0040, "extent"),
    (0x0080, "64bit"),
    (0x0100, "mmp"),
    (0x0200, "flex_bg"),
    (0x0400, "ea_inode"),
    (0x1000, "dirdata"),
    (0x2000, "metadata_csum_seed"),
    (0x4000, "large_dir"),
    (0x8000, "inline_data"),
    (0x10000, "encrypt"),
    (0x20000, "casefold"),
];

const RO_COMPAT: &[(u32, &str)] = &[
    (0x0001, "sparse_super"),
    (0x0002, "large_file"),
    (0x0008, "huge_file"),
    (0x0010, "uninit_bg"),
    (0x0020, "dir_nlink"),
    (0x0040, "extra_isize"),
    (0x0080, "snapshot"),
    (0x0100, "quota"),
    (0x0200, "bigalloc"),
    (0x0400, "metadata_csum"),
    (0x0800, "replica"),
    (0x1000, "read-only"),
    (0x2000, "project"),
    (0x4000, "shared_blocks"),
    (0x8000, "verity"),
    (0x10000, "orphan_present"),
];

/// Feature names for one feature word, known bits by name, others as `FEATURE_<k><bit>`.
fn names(word: u32, table: &[(u32, &str)], kind: char, out: &mut Vec<String>) {
    for bit in 0..32 {
        let mask = 1u32 << bit;
        if word & mask == 0 {
            continue;
        }
        match table.iter().find(|(m, _)| *m == mask) {
            Some((_, n)) => out.push((*n).to_string()),
            None => out.push(format!("FEATURE_{kind}{bit}")),
        }
    }
}

/// Feature names for the three superblock feature words, in dumpe2fs order.
pub fn ext4_feature_names(compat: u32, incompat: u32, ro_compat: u32) -> Vec<String> {
    let mut out = Vec::new();
    names(compat, COMPAT, 'C', &mut out);
    names(incompat, INCOMPAT, 'I', &mut out);
    names(ro_compat, RO_COMPAT, 'R', &mut out);
    out
}

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Read up to `buf.len()` bytes at `offset`; returns how many were available.
fn read_at<F: Read + Seek>(f: &mut F, offset: u64, buf: &mut [u8], what: &str) -> Result<usize> {
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(format!("seeking to the {what}"), offset, e))?;
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("reading the {what}"), offset, e)),
        }
    }
    Ok(got)
}

fn parse_ext4(sb: &[u8]) -> Option<Ext4Info> {
    if le16(sb, 0x38) != 0xEF53 {
        return None;
    }
    let log = le32(sb, 0x18);
    if log > 6 {
        return None;
    }
    let compat = le32(sb, 0x5C);
    let incompat = le32(sb, 0x60);
    let ro_compat = le32(sb, 0x64);
    let is64 = incompat & 0x80 != 0;
    let hi = |o: usize| {
        if is64 {
            u64::from(le32(sb, o)) << 32
        } else {
            0
        }
    };
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&sb[0x68..0x78]);
    let label_raw = &sb[0x78..0x88];
    let end = label_raw.iter().position(|&b| b == 0).unwrap_or(16);
    let rev = le32(sb, 0x4C);
    Some(Ext4Info {
        uuid: Uuid::from_bytes(uuid),
        label: String::from_utf8_lossy(&label_raw[..end]).into_owned(),
        block_size: 1024u64 << log,
        block_count: u64::from(le32(sb, 0x04)) | hi(0x150),
        free_blocks: u64::from(le32(sb, 0x0C)) | hi(0x158),
        inode_count: le32(sb, 0x00),
        inode_size: if rev == 0 { 128 } else { le16(sb, 0x58) },
        features: ext4_feature_names(compat, incompat, ro_compat),
        read_only: ro_compat & 0x1000 != 0,
        has_journal: compat & 0x4 != 0,
        clean: le16(sb, 0x3A) & 0x1 != 0,
    })
}

fn parse_fat(bs: &[u8]) -> Option<FatInfo> {
    let bpb = Bpb::parse(bs)?;
    let kind = match bpb.bits {
        12 => "FAT12",
        16 => "FAT16",
        _ => "FAT32",
    };
    // Extended BPB: FAT32 at 64, FAT12/16 at 36; signature 0x29 means id and label follow.
    let ext = if kind == "FAT32" { 64 } else { 36 };
    let (volume_id, label) = if bs[ext + 2] == 0x29 {
        let raw = String::from_utf8_lossy(&bs[ext + 7..ext + 18]);
        let label = raw.trim_end_matches([' ', '\0']).to_string();
        let label = if label == "NO NAME" {
            String::new()
        } else {
            label
        };
        (le32(bs, ext + 3), label)
    } else {
        (0, String::new())
    };
    Some(FatInfo {
        kind,
        label,
        volume_id,
        bytes_per_sector: bpb.bytes_per_sector,
        cluster_size: bpb.bytes_per_sector * bpb.sectors_per_cluster,
        total_sectors: bpb.total_sectors,
        clusters: bpb.clusters,
    })
}

/// Identify a filesystem in a window: Ext4 { uuid, label, features, block_count,
/// block_size, ... }, Fat { kind: "FAT32", label, volume_id, ... }, or Unknown.
pub fn identify<F: Read + Seek>(f: &mut F) -> Result<FsInfo> {
    let mut sb = [0u8; 1024];
    let n = read_at(f, 1024, &mut sb, "ext4 superblock")?;
    if n >= 0x160 {
        if let Some(info) = parse_ext4(&sb) {
            return Ok(FsInfo::Ext4(info));
        }
    }
    let mut bs = [0u8; 512];
    let n = read_at(f, 0, &mut bs, "FAT boot sector")?;
    if n == 512 {
        if let Some(info) = parse_fat(&bs) {
            return Ok(FsInfo::Fat(info));
        }
    }
    Ok(FsInfo::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn unknown_bits_get_dumpe2fs_style_names() {
        let n = ext4_feature_names(0x4 | (1 << 12), 0x2 | (1 << 31), 0x1);
        assert_eq!(
            n,
            [
                "has_journal",
                "FEATURE_C12",
                "filetype",
                "FEATURE_I31",
                "sparse_super"
            ]
        );
    }

    #[test]
    fn zeros_are_unknown_and_short_streams_are_fine() {
        assert_eq!(
            identify(&mut Cursor::new(vec![0u8; 4096])).expect("id"),
            FsInfo::Unknown
        );
        assert_eq!(
            identify(&mut Cursor::new(vec![0u8; 10])).expect("id"),
            FsInfo::Unknown
        );
    }
}
