//! streamOptimized VMDK: deflate grains, grain tables and directory at the
//! end, footer, end-of-stream marker (VMware Virtual Disk Format 5.0,
//! "Stream-Optimized Compressed Sparse Extents"; qemu `block/vmdk.c` reads
//! it).
//!
//! Layout of a file this crate writes, in 512-byte sectors:
//!
//! ```text
//! 0         SparseExtentHeader, gdOffset = GD_AT_END
//! 1..21     embedded descriptor (createType="streamOptimized")
//! ..128     zero padding (overHead = 128: grains start at 64 KiB)
//! 128..     for each non-zero 64 KiB grain, in disk order:
//!             {u64 lba, u32 size, zlib data} padded to a sector;
//!           after the last grain a grain table covers:
//!             GT marker, GT (512 u32 sector offsets, 4 sectors)
//! ..        GD marker, GD (one u32 per grain table, 0 = none)
//! end-3     footer marker; end-2 footer (the header, real gdOffset);
//! end-1     end-of-stream marker
//! ```
//!
//! Each grain table is written as soon as its grains are, so the writer
//! keeps one table and the directory in memory whatever the disk size.
//! Reading ([`open`]) also accepts monolithicSparse (uncompressed) files.

mod grains;
mod read;
mod write;

pub use read::{open, open_at, VmdkDisk};
pub use write::write;
pub(crate) use write::write_to;

/// One sector.
const SECTOR: u64 = 512;
/// Grain size in sectors (64 KiB).
const GRAIN_SECTORS: u64 = 128;
/// Grain size in bytes.
const GRAIN_BYTES: usize = (GRAIN_SECTORS * SECTOR) as usize;
/// Grain table entries per grain table.
const GTES_PER_GT: u32 = 512;
/// Where the descriptor starts, in sectors.
const DESC_OFFSET: u64 = 1;
/// The descriptor's reserved size in sectors (qemu reads 20).
const DESC_SECTORS: u64 = 20;
/// Sectors before the first grain.
const OVERHEAD: u64 = 128;
/// `gdOffset` of a header whose directory is found from the footer.
const GD_AT_END: u64 = u64::MAX;
/// Largest capacity a sparse extent addresses (qemu's
/// `VMDK_EXTENT_MAX_SECTORS`): 2 TiB.
const MAX_CAPACITY_SECTORS: u64 = 1 << 32;

/// `flags`: the check bytes detect newline translation.
const FLAG_NL_DETECT: u32 = 1;
/// `flags`: grain table entry 1 means a zero grain.
const FLAG_ZERO_GRAIN: u32 = 1 << 2;
/// `flags`: grains are compressed.
const FLAG_COMPRESSED: u32 = 1 << 16;
/// `flags`: grains and metadata carry markers.
const FLAG_MARKERS: u32 = 1 << 17;
/// `compressAlgorithm`: deflate (zlib-wrapped, as qemu and VMware write).
const COMPRESS_DEFLATE: u16 = 1;
/// The check bytes after `uncleanShutdown`: `\n`, ` `, `\r\n`.
const CHECK_BYTES: [u8; 4] = *b"\n \r\n";

/// Metadata marker types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Marker {
    /// End of stream (an all-zero sector).
    EndOfStream = 0,
    /// A grain table follows.
    GrainTable = 1,
    /// The grain directory follows.
    GrainDirectory = 2,
    /// The footer follows.
    Footer = 3,
}

/// A metadata marker sector: `{u64 sectors that follow, u32 0, u32 type}`.
fn marker(kind: Marker, sectors: u64) -> [u8; SECTOR as usize] {
    let mut s = [0u8; SECTOR as usize];
    s[..8].copy_from_slice(&sectors.to_le_bytes());
    s[12..16].copy_from_slice(&(kind as u32).to_le_bytes());
    s
}

/// The fields of a `SparseExtentHeader` (little-endian, magic `KDMV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    version: u32,
    flags: u32,
    /// Virtual disk size in sectors.
    capacity: u64,
    /// Grain size in sectors.
    grain: u64,
    /// Descriptor offset and size in sectors (0 when none).
    desc_offset: u64,
    desc_size: u64,
    gtes_per_gt: u32,
    rgd_offset: u64,
    gd_offset: u64,
    /// Sectors before the first grain.
    overhead: u64,
    check: [u8; 4],
    compress: u16,
}

impl Header {
    /// The header this crate writes for a disk of `capacity` sectors.
    fn stream_optimized(capacity: u64, gd_offset: u64) -> Header {
        Header {
            version: 3,
            flags: FLAG_NL_DETECT | FLAG_COMPRESSED | FLAG_MARKERS,
            capacity,
            grain: GRAIN_SECTORS,
            desc_offset: DESC_OFFSET,
            desc_size: DESC_SECTORS,
            gtes_per_gt: GTES_PER_GT,
            rgd_offset: 0,
            gd_offset,
            overhead: OVERHEAD,
            check: CHECK_BYTES,
            compress: COMPRESS_DEFLATE,
        }
    }

    /// The header as its 512-byte sector.
    fn encode(&self) -> [u8; SECTOR as usize] {
        let mut s = [0u8; SECTOR as usize];
        s[0..4].copy_from_slice(b"KDMV");
        s[4..8].copy_from_slice(&self.version.to_le_bytes());
        s[8..12].copy_from_slice(&self.flags.to_le_bytes());
        s[12..20].copy_from_slice(&self.capacity.to_le_bytes());
        s[20..28].copy_from_slice(&self.grain.to_le_bytes());
        s[28..36].copy_from_slice(&self.desc_offset.to_le_bytes());
        s[36..44].copy_from_slice(&self.desc_size.to_le_bytes());
        s[44..48].copy_from_slice(&self.gtes_per_gt.to_le_bytes());
        s[48..56].copy_from_slice(&self.rgd_offset.to_le_bytes());
        s[56..64].copy_from_slice(&self.gd_offset.to_le_bytes());
        s[64..72].copy_from_slice(&self.overhead.to_le_bytes());
        // s[72]: uncleanShutdown = 0.
        s[73..77].copy_from_slice(&self.check);
        s[77..79].copy_from_slice(&self.compress.to_le_bytes());
        s
    }

    /// Parse a header sector; `None` when the magic is not `KDMV`.
    fn decode(s: &[u8; SECTOR as usize]) -> Option<Header> {
        if &s[0..4] != b"KDMV" {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes([s[o], s[o + 1], s[o + 2], s[o + 3]]);
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&s[o..o + 8]);
            u64::from_le_bytes(b)
        };
        Some(Header {
            version: u32_at(4),
            flags: u32_at(8),
            capacity: u64_at(12),
            grain: u64_at(20),
            desc_offset: u64_at(28),
            desc_size: u64_at(36),
            gtes_per_gt: u32_at(44),
            rgd_offset: u64_at(48),
            gd_offset: u64_at(56),
            overhead: u64_at(64),
            check: [s[73], s[74], s[75], s[76]],
            compress: u16::from_le_bytes([s[77], s[78]]),
        })
    }

    /// Number of grain tables (grain directory entries).
    fn gt_count(&self) -> u64 {
        let per_gt = self.grain * u64::from(self.gtes_per_gt);
        self.capacity.div_ceil(per_gt)
    }
}

/// The embedded descriptor: `extent` names the extent file (the VMDK's own
/// name), `cid` is the content id.
fn descriptor(capacity: u64, extent: &str, cid: u32) -> String {
    // lsilogic: the geometry VMware uses for any SCSI adapter (255 heads, 63
    // sectors), which qemu also accepts as `adapter_type`. The OVF, not this
    // hint, decides the VM's controller (pvscsi, see ova.rs).
    const HEADS: u64 = 255;
    const SECTORS: u64 = 63;
    let cylinders = capacity / (HEADS * SECTORS);
    // A quote or newline would end the quoted name: the extent of a
    // monolithic file is the file itself and no reader opens it by name.
    let extent: String = extent
        .chars()
        .map(|c| if c == '"' || c.is_control() { '_' } else { c })
        .collect();
    format!(
        "# Disk DescriptorFile\n\
         version=1\n\
         CID={cid:08x}\n\
         parentCID=ffffffff\n\
         createType=\"streamOptimized\"\n\
         \n\
         # Extent description\n\
         RW {capacity} SPARSE \"{extent}\"\n\
         \n\
         # The Disk Data Base\n\
         #DDB\n\
         \n\
         ddb.virtualHWVersion = \"4\"\n\
         ddb.geometry.cylinders = \"{cylinders}\"\n\
         ddb.geometry.heads = \"{HEADS}\"\n\
         ddb.geometry.sectors = \"{SECTORS}\"\n\
         ddb.adapterType = \"lsilogic\"\n"
    )
}

/// The content id: from the identity, never `ffffffff` (which means none).
fn cid(identity: &[u8; 32]) -> u32 {
    use sha2::Digest as _;
    let h = sha2::Sha256::new()
        .chain_update(b"kubebake vmdk CID\0")
        .chain_update(identity)
        .finalize();
    match u32::from_le_bytes([h[0], h[1], h[2], h[3]]) {
        u32::MAX => 0xfffffffe,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_matches_the_spec_offsets() {
        let h = Header::stream_optimized(4096, GD_AT_END);
        let s = h.encode();
        assert_eq!(&s[0..4], b"KDMV");
        assert_eq!(u32::from_le_bytes([s[8], s[9], s[10], s[11]]), 0x30001);
        assert_eq!(&s[73..77], b"\n \r\n");
        assert_eq!(u16::from_le_bytes([s[77], s[78]]), 1);
        assert_eq!(Header::decode(&s), Some(h));
        assert_eq!(h.gt_count(), 1);
        assert_eq!(Header::stream_optimized(128 * 512 + 1, 0).gt_count(), 2);
    }

    #[test]
    fn descriptor_names_the_type_and_size() {
        let d = descriptor(2048, "a\"b\n.vmdk", 0x1234);
        assert!(d.contains("createType=\"streamOptimized\"\n"), "{d}");
        assert!(d.contains("RW 2048 SPARSE \"a_b_.vmdk\"\n"), "{d}");
        assert!(d.contains("CID=00001234\n"), "{d}");
        assert!(d.len() < (DESC_SECTORS * SECTOR) as usize);
    }

    #[test]
    fn cid_depends_on_the_identity() {
        assert_ne!(cid(&[0; 32]), cid(&[1; 32]));
        assert_eq!(cid(&[7; 32]), cid(&[7; 32]));
    }
}
