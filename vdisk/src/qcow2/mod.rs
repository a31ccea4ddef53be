//! qcow2 (qemu `docs/interop/qcow2.txt`): the writer makes version 3 with
//! 64 KiB clusters and 16-bit refcounts, storing only the clusters that hold
//! a non-zero byte; the reader takes version 2 and 3 images without backing
//! files, encryption, external data or compressed clusters.
//!
//! All numbers are big-endian. A virtual offset maps through the L1 table
//! (one entry per L2 table) and an L2 table (one entry per cluster) to a host
//! cluster; an entry of 0 is unallocated and reads as zeros.

mod read;
mod write;

pub use read::{open, Qcow2Disk};
pub use write::write;

/// `QFI\xfb`.
const MAGIC: [u8; 4] = *b"QFI\xfb";
/// The bytes of a version 3 header without the optional fields (the writer
/// writes exactly this much, then the end-of-extensions marker).
const HEADER_V3_LEN: u32 = 104;
/// The bytes of a version 2 header.
const HEADER_V2_LEN: usize = 72;
/// L1 and L2 entries: the cluster's refcount is exactly one.
const COPIED: u64 = 1 << 63;
/// L2 entries: the cluster is compressed.
const COMPRESSED: u64 = 1 << 62;
/// L2 entries (version 3): the cluster reads as zeros.
const ZERO: u64 = 1;
/// L1 and standard L2 entries: bits 9-55 hold the host offset.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// qemu's limit on the L1 table (`QCOW_MAX_L1_SIZE`): 32 MiB.
const MAX_L1_BYTES: u64 = 32 << 20;

/// Incompatible feature bits.
mod incompat {
    /// Refcounts may be stale (the L1/L2 tables are still right).
    pub const DIRTY: u64 = 1 << 0;
    /// qemu found the image corrupt.
    pub const CORRUPT: u64 = 1 << 1;
    /// Guest data lives in another file.
    pub const EXTERNAL_DATA: u64 = 1 << 2;
    /// The compression type field is not zlib (matters only for
    /// compressed clusters, which are refused anyway).
    pub const COMPRESSION_TYPE: u64 = 1 << 3;
    /// 128-bit L2 entries with subclusters.
    pub const EXTENDED_L2: u64 = 1 << 4;
}

/// The header fields this module reads or writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Header {
    version: u32,
    backing_file_offset: u64,
    backing_file_size: u32,
    cluster_bits: u32,
    size: u64,
    crypt_method: u32,
    l1_size: u32,
    l1_table_offset: u64,
    refcount_table_offset: u64,
    refcount_table_clusters: u32,
    nb_snapshots: u32,
    snapshots_offset: u64,
    incompatible_features: u64,
    compatible_features: u64,
    autoclear_features: u64,
    refcount_order: u32,
    header_length: u32,
}

impl Header {
    /// The version 3 encoding: the 104 header bytes, then the 8 zero bytes
    /// of the end-of-extensions marker.
    fn encode(&self) -> [u8; HEADER_V3_LEN as usize + 8] {
        let mut b = [0u8; HEADER_V3_LEN as usize + 8];
        b[0..4].copy_from_slice(&MAGIC);
        put32(&mut b, 4, self.version);
        put64(&mut b, 8, self.backing_file_offset);
        put32(&mut b, 16, self.backing_file_size);
        put32(&mut b, 20, self.cluster_bits);
        put64(&mut b, 24, self.size);
        put32(&mut b, 32, self.crypt_method);
        put32(&mut b, 36, self.l1_size);
        put64(&mut b, 40, self.l1_table_offset);
        put64(&mut b, 48, self.refcount_table_offset);
        put32(&mut b, 56, self.refcount_table_clusters);
        put32(&mut b, 60, self.nb_snapshots);
        put64(&mut b, 64, self.snapshots_offset);
        put64(&mut b, 72, self.incompatible_features);
        put64(&mut b, 80, self.compatible_features);
        put64(&mut b, 88, self.autoclear_features);
        put32(&mut b, 96, self.refcount_order);
        put32(&mut b, 100, self.header_length);
        b
    }

    /// Decode the first bytes of a file (at least [`HEADER_V2_LEN`]; the
    /// version 3 fields are read when `b` holds them, else they take their
    /// version 2 values). The caller checks the magic and the fields.
    fn decode(b: &[u8]) -> Option<Header> {
        let v3 = b.len() >= HEADER_V3_LEN as usize;
        Some(Header {
            version: get32(b, 4)?,
            backing_file_offset: get64(b, 8)?,
            backing_file_size: get32(b, 16)?,
            cluster_bits: get32(b, 20)?,
            size: get64(b, 24)?,
            crypt_method: get32(b, 32)?,
            l1_size: get32(b, 36)?,
            l1_table_offset: get64(b, 40)?,
            refcount_table_offset: get64(b, 48)?,
            refcount_table_clusters: get32(b, 56)?,
            nb_snapshots: get32(b, 60)?,
            snapshots_offset: get64(b, 64)?,
            incompatible_features: if v3 { get64(b, 72)? } else { 0 },
            compatible_features: if v3 { get64(b, 80)? } else { 0 },
            autoclear_features: if v3 { get64(b, 88)? } else { 0 },
            refcount_order: if v3 { get32(b, 96)? } else { 4 },
            header_length: if v3 {
                get32(b, 100)?
            } else {
                HEADER_V2_LEN as u32
            },
        })
    }
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

fn get32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn get64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = Header {
            version: 3,
            cluster_bits: 16,
            size: 0x1234_5678_9abc,
            l1_size: 7,
            l1_table_offset: 0x30000,
            refcount_table_offset: 0x50000,
            refcount_table_clusters: 1,
            incompatible_features: 1,
            refcount_order: 4,
            header_length: HEADER_V3_LEN,
            ..Header::default()
        };
        let b = h.encode();
        assert_eq!(&b[..4], b"QFI\xfb");
        assert_eq!(&b[104..], &[0u8; 8], "end-of-extensions marker");
        assert_eq!(Header::decode(&b), Some(h));
        assert_eq!(Header::decode(&b[..71]), None);
        let v2 = Header::decode(&b[..72]).expect("v2 fields");
        assert_eq!((v2.incompatible_features, v2.refcount_order), (0, 4));
    }
}
