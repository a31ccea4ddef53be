//! Block group descriptors (32 bytes each, `metadata_csum` checksums).

use crate::csum::{crc, put16, put32};

/// "Inode table zeroed" group flag.
pub const BG_INODE_ZEROED: u16 = 4;

/// One group's descriptor values.
#[derive(Debug, Clone, Default)]
pub struct GroupDesc {
    pub block_bitmap: u32,
    pub inode_bitmap: u32,
    pub inode_table: u32,
    pub free_blocks: u16,
    pub free_inodes: u16,
    pub used_dirs: u16,
    pub itable_unused: u16,
    pub block_bitmap_csum: u32,
    pub inode_bitmap_csum: u32,
}

impl GroupDesc {
    /// Serialise with its checksum (`group` is the group number).
    pub fn to_bytes(&self, csum_seed: u32, group: u32) -> [u8; 32] {
        let mut b = [0u8; 32];
        put32(&mut b, 0x00, self.block_bitmap);
        put32(&mut b, 0x04, self.inode_bitmap);
        put32(&mut b, 0x08, self.inode_table);
        put16(&mut b, 0x0C, self.free_blocks);
        put16(&mut b, 0x0E, self.free_inodes);
        put16(&mut b, 0x10, self.used_dirs);
        put16(&mut b, 0x12, BG_INODE_ZEROED);
        put16(&mut b, 0x18, self.block_bitmap_csum as u16);
        put16(&mut b, 0x1A, self.inode_bitmap_csum as u16);
        put16(&mut b, 0x1C, self.itable_unused);
        let c = crc(csum_seed, &group.to_le_bytes());
        let c = crc(c, &b[..0x1E]);
        let c = crc(c, &[0, 0]);
        put16(&mut b, 0x1E, (c & 0xFFFF) as u16);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_covers_zeroed_field() {
        let d = GroupDesc {
            block_bitmap: 0xc34,
            ..GroupDesc::default()
        };
        let b = d.to_bytes(0x1234_5678, 3);
        let mut z = b;
        z[0x1E] = 0;
        z[0x1F] = 0;
        let c = crc(crc(0x1234_5678, &3u32.to_le_bytes()), &z);
        assert_eq!(u16::from_le_bytes([b[0x1E], b[0x1F]]), (c & 0xFFFF) as u16);
    }
}
