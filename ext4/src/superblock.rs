//! The ext4 superblock (1024 bytes at byte 1024, backups at group starts).

use crate::alloc::BPG;
use crate::csum::{crc, put16, put32};

pub const COMPAT_EXT_ATTR: u32 = 0x8;
pub const COMPAT_DIR_INDEX: u32 = 0x20;
pub const INCOMPAT_FILETYPE: u32 = 0x2;
pub const INCOMPAT_EXTENTS: u32 = 0x40;
pub const INCOMPAT_FLEX_BG: u32 = 0x200;
pub const RO_SPARSE_SUPER: u32 = 0x1;
pub const RO_LARGE_FILE: u32 = 0x2;
pub const RO_HUGE_FILE: u32 = 0x8;
pub const RO_DIR_NLINK: u32 = 0x20;
pub const RO_EXTRA_ISIZE: u32 = 0x40;
pub const RO_METADATA_CSUM: u32 = 0x400;

/// Values that differ between filesystems.
#[derive(Debug, Clone)]
pub struct Super {
    pub inodes: u32,
    pub blocks: u64,
    pub free_blocks: u64,
    pub free_inodes: u32,
    pub inodes_per_group: u32,
    pub uuid: [u8; 16],
    pub label: [u8; 16],
    pub hash_seed: [u8; 16],
    pub time: u32,
    pub csum_seed: u32,
}

impl Super {
    /// Serialise the 1024-byte superblock for the copy in group `group`.
    pub fn to_bytes(&self, group: u16) -> [u8; 1024] {
        let mut b = [0u8; 1024];
        put32(&mut b, 0x00, self.inodes);
        put32(&mut b, 0x04, self.blocks as u32);
        put32(&mut b, 0x08, 0); // reserved blocks
        put32(&mut b, 0x0C, self.free_blocks as u32);
        put32(&mut b, 0x10, self.free_inodes);
        put32(&mut b, 0x14, 0); // first data block
        put32(&mut b, 0x18, 2); // log block size: 4096
        put32(&mut b, 0x1C, 2); // log cluster size
        put32(&mut b, 0x20, BPG as u32);
        put32(&mut b, 0x24, BPG as u32);
        put32(&mut b, 0x28, self.inodes_per_group);
        put32(&mut b, 0x2C, 0); // mtime
        put32(&mut b, 0x30, self.time); // wtime
        put16(&mut b, 0x34, 0); // mount count
        put16(&mut b, 0x36, 0xFFFF); // max mount count: -1
        put16(&mut b, 0x38, 0xEF53);
        put16(&mut b, 0x3A, 1); // state: clean
        put16(&mut b, 0x3C, 1); // errors: continue
        put32(&mut b, 0x40, self.time); // lastcheck
        put32(&mut b, 0x48, 0); // creator OS: Linux
        put32(&mut b, 0x4C, 1); // dynamic revision
        put32(&mut b, 0x54, 11); // first inode
        put16(&mut b, 0x58, 256); // inode size
        put16(&mut b, 0x5A, group);
        put32(&mut b, 0x5C, COMPAT_EXT_ATTR | COMPAT_DIR_INDEX);
        put32(
            &mut b,
            0x60,
            INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_FLEX_BG,
        );
        put32(
            &mut b,
            0x64,
            RO_SPARSE_SUPER
                | RO_LARGE_FILE
                | RO_HUGE_FILE
                | RO_DIR_NLINK
                | RO_EXTRA_ISIZE
                | RO_METADATA_CSUM,
        );
        b[0x68..0x78].copy_from_slice(&self.uuid);
        b[0x78..0x88].copy_from_slice(&self.label);
        b[0xEC..0xFC].copy_from_slice(&self.hash_seed);
        b[0xFC] = 1; // default hash: half_md4
        put32(&mut b, 0x100, 0x0004 | 0x0008); // default mount: user_xattr, acl
        put32(&mut b, 0x108, self.time); // mkfs time
        put32(&mut b, 0x150, (self.blocks >> 32) as u32);
        put32(&mut b, 0x158, (self.free_blocks >> 32) as u32);
        put16(&mut b, 0x15C, 32); // min extra isize
        put16(&mut b, 0x15E, 32); // want extra isize
        put32(&mut b, 0x160, 1); // flags: signed directory hash (as x86 mke2fs)
        b[0x174] = 4; // log groups per flex
        b[0x175] = 1; // checksum type: crc32c
        let _ = self.csum_seed;
        let c = crc(!0, &b[..0x3FC]);
        put32(&mut b, 0x3FC, c);
        b
    }
}
