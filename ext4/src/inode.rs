//! The 256-byte on-disk inode (`extra_isize` 32, crtime, checksum).

use crate::csum::{crc, put16, put32};
use crate::Timestamp;

pub const INODE_SIZE: usize = 256;
pub const EXTRA_ISIZE: u16 = 32;
/// Offset of the in-inode xattr area (128 + extra_isize).
pub const XATTR_OFF: usize = 128 + EXTRA_ISIZE as usize;

pub const S_IFIFO: u16 = 0o010000;
pub const S_IFCHR: u16 = 0o020000;
pub const S_IFDIR: u16 = 0o040000;
pub const S_IFBLK: u16 = 0o060000;
pub const S_IFREG: u16 = 0o100000;
pub const S_IFLNK: u16 = 0o120000;
pub const S_IFSOCK: u16 = 0o140000;

pub const FL_INDEX: u32 = 0x1000;
pub const FL_EXTENTS: u32 = 0x80000;

/// Everything needed to serialise one inode.
#[derive(Debug, Clone)]
pub struct Inode {
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: Timestamp,
    pub ctime: Timestamp,
    pub mtime: Timestamp,
    pub crtime: Timestamp,
    pub links: u16,
    /// In 512-byte sectors.
    pub sectors: u64,
    pub flags: u32,
    pub block: [u8; 60],
    pub file_acl: u64,
    /// In-inode xattr area (bytes from `XATTR_OFF` to the end), or empty.
    pub xattr_area: Vec<u8>,
}

impl Default for Inode {
    fn default() -> Self {
        Inode {
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            atime: Timestamp::default(),
            ctime: Timestamp::default(),
            mtime: Timestamp::default(),
            crtime: Timestamp::default(),
            links: 0,
            sectors: 0,
            flags: 0,
            block: [0; 60],
            file_acl: 0,
            xattr_area: Vec::new(),
        }
    }
}

/// Encode (seconds low 32 bits, extra field) for a timestamp.
fn encode_time(t: Timestamp) -> (u32, u32) {
    let lo = t.sec as i32;
    let epoch = (t.sec.wrapping_sub(i64::from(lo)) >> 32) as u32 & 3;
    (lo as u32, (t.nsec << 2) | epoch)
}

impl Inode {
    /// Serialise inode number `ino` with its checksum.
    pub fn to_bytes(&self, fs_seed: u32, ino: u32, out: &mut [u8]) {
        let b = &mut out[..INODE_SIZE];
        b.fill(0);
        put16(b, 0x00, self.mode);
        put16(b, 0x02, self.uid as u16);
        put32(b, 0x04, self.size as u32);
        let (a, ax) = encode_time(self.atime);
        let (c, cx) = encode_time(self.ctime);
        let (m, mx) = encode_time(self.mtime);
        let (cr, crx) = encode_time(self.crtime);
        put32(b, 0x08, a);
        put32(b, 0x0C, c);
        put32(b, 0x10, m);
        put16(b, 0x18, self.gid as u16);
        put16(b, 0x1A, self.links);
        put32(b, 0x1C, self.sectors as u32);
        put32(b, 0x20, self.flags);
        b[0x28..0x64].copy_from_slice(&self.block);
        put32(b, 0x64, 0); // generation
        put32(b, 0x68, self.file_acl as u32);
        put32(b, 0x6C, (self.size >> 32) as u32);
        put16(b, 0x74, (self.sectors >> 32) as u16);
        put16(b, 0x76, (self.file_acl >> 32) as u16);
        put16(b, 0x78, (self.uid >> 16) as u16);
        put16(b, 0x7A, (self.gid >> 16) as u16);
        put16(b, 0x80, EXTRA_ISIZE);
        put32(b, 0x84, cx);
        put32(b, 0x88, mx);
        put32(b, 0x8C, ax);
        put32(b, 0x90, cr);
        put32(b, 0x94, crx);
        if !self.xattr_area.is_empty() {
            b[XATTR_OFF..XATTR_OFF + self.xattr_area.len()].copy_from_slice(&self.xattr_area);
        }
        let seed = crate::csum::inode_seed(fs_seed, ino, 0);
        let c = crc(seed, b);
        put16(b, 0x7C, (c & 0xFFFF) as u16);
        put16(b, 0x82, (c >> 16) as u16);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_epoch_bits() {
        assert_eq!(encode_time(Timestamp { sec: 1, nsec: 5 }), (1, 20));
        // 2038-01-19 + 1s overflows i32: epoch bit 1
        let (lo, x) = encode_time(Timestamp {
            sec: 1 << 31,
            nsec: 0,
        });
        assert_eq!((lo, x), (0x8000_0000, 1));
        let (lo, x) = encode_time(Timestamp { sec: -1, nsec: 0 });
        assert_eq!((lo, x), (0xFFFF_FFFF, 0));
    }
}
