//! Linear directory blocks: `ext4_dir_entry_2` records with a 12-byte
//! checksum tail per block.

use crate::alloc::BS;
use crate::csum::{crc, put16, put32};

/// Usable bytes of a block before the checksum tail.
pub const USABLE: usize = BS - 12;

pub const FT_REG: u8 = 1;
pub const FT_DIR: u8 = 2;
pub const FT_CHR: u8 = 3;
pub const FT_BLK: u8 = 4;
pub const FT_FIFO: u8 = 5;
pub const FT_SOCK: u8 = 6;
pub const FT_SYMLINK: u8 = 7;

/// One directory entry to write.
#[derive(Debug, Clone)]
pub struct DirEnt<'a> {
    pub name: &'a [u8],
    pub ino: u32,
    pub ftype: u8,
}

/// Record length of an entry with a name of `len` bytes.
pub fn rec_len(len: usize) -> usize {
    (8 + len + 3) & !3
}

/// Write one record at `off` with the given rec_len.
pub fn put_entry(b: &mut [u8], off: usize, e: &DirEnt<'_>, rec: usize) {
    put32(b, off, e.ino);
    put16(b, off + 4, rec as u16);
    b[off + 6] = e.name.len() as u8;
    b[off + 7] = e.ftype;
    b[off + 8..off + 8 + e.name.len()].copy_from_slice(e.name);
}

/// Add the checksum tail to a leaf block.
pub fn seal(b: &mut [u8], inode_seed: u32) {
    put32(b, USABLE, 0);
    put16(b, USABLE + 4, 12);
    b[USABLE + 6] = 0;
    b[USABLE + 7] = 0xDE;
    let c = crc(inode_seed, &b[..USABLE]);
    put32(b, USABLE + 8, c);
}

/// Pack entries into leaf blocks (in the given order), each sealed.
/// `start_new` is called with the index of an entry that begins a block.
pub fn pack(entries: &[DirEnt<'_>], inode_seed: u32, mut start_new: impl FnMut(usize)) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    let mut blk = vec![0u8; BS];
    let mut off = 0usize;
    let mut last: Option<usize> = None;
    for (i, e) in entries.iter().enumerate() {
        let r = rec_len(e.name.len());
        if off + r > USABLE {
            finish_block(&mut blk, last, inode_seed);
            out.extend_from_slice(&blk);
            blk.fill(0);
            off = 0;
        }
        if off == 0 {
            start_new(i);
        }
        put_entry(&mut blk, off, e, r);
        last = Some(off);
        off += r;
    }
    finish_block(&mut blk, last, inode_seed);
    out.extend_from_slice(&blk);
    out
}

/// Stretch the last record to the tail (or write an empty record) and seal.
fn finish_block(blk: &mut [u8], last: Option<usize>, inode_seed: u32) {
    match last {
        Some(off) if off < USABLE && u16::from_le_bytes([blk[off + 4], blk[off + 5]]) != 0 => {
            put16(blk, off + 4, (USABLE - off) as u16)
        }
        _ => {
            put32(blk, 0, 0);
            put16(blk, 4, USABLE as u16);
        }
    }
    seal(blk, inode_seed);
}

/// An empty block (one unused record) for padding directories.
pub fn empty_block(inode_seed: u32) -> Vec<u8> {
    let mut b = vec![0u8; BS];
    finish_block(&mut b, None, inode_seed);
    b
}

/// Does a linear layout of `.`, `..` and `entries` fit in one block?
pub fn fits_one_block(entries: &[DirEnt<'_>]) -> bool {
    let total: usize = 12 + 12 + entries.iter().map(|e| rec_len(e.name.len())).sum::<usize>();
    total <= USABLE
}

/// A complete linear directory: `.`, `..`, then `entries`.
pub fn linear(ino: u32, parent: u32, entries: &[DirEnt<'_>], inode_seed: u32) -> Vec<u8> {
    let mut all = Vec::with_capacity(entries.len() + 2);
    all.push(DirEnt {
        name: b".",
        ino,
        ftype: FT_DIR,
    });
    all.push(DirEnt {
        name: b"..",
        ino: parent,
        ftype: FT_DIR,
    });
    all.extend_from_slice(entries);
    pack(&all, inode_seed, |_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_fill_blocks() {
        let names: Vec<Vec<u8>> = (0..400)
            .map(|i| format!("file-{i:04}").into_bytes())
            .collect();
        let ents: Vec<DirEnt<'_>> = names
            .iter()
            .map(|n| DirEnt {
                name: n,
                ino: 20,
                ftype: FT_REG,
            })
            .collect();
        let b = linear(12, 2, &ents, 0);
        assert_eq!(b.len() % BS, 0);
        assert!(b.len() > BS);
        for blk in b.chunks(BS) {
            // walk records: they must end exactly at the tail
            let mut off = 0;
            while off < USABLE {
                let r = u16::from_le_bytes([blk[off + 4], blk[off + 5]]) as usize;
                assert!(r >= 8);
                off += r;
            }
            assert_eq!(off, USABLE);
            assert_eq!(blk[USABLE + 7], 0xDE);
        }
    }
}
