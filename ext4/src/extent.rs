//! Extent trees: up to 4 extents in the inode, deeper trees in index and
//! leaf blocks (340 entries each) with a crc32c tail.

use crate::alloc::BS;
use crate::csum::{crc, put16, put32};

/// One contiguous run of file blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    /// First logical block.
    pub logical: u32,
    /// Number of blocks (<= 32768).
    pub len: u32,
    /// First physical block.
    pub start: u64,
}

/// Maximum blocks in one initialised extent.
pub(crate) const MAX_EXTENT_LEN: u32 = 32768;

const MAGIC: u16 = 0xF30A;
const IN_INODE: usize = 4;
const PER_BLOCK: usize = (BS - 12) / 12;

/// Blocks needed for the tree of a file with `n` extents.
pub fn tree_blocks(n: usize) -> u64 {
    if n <= IN_INODE {
        return 0;
    }
    let mut nodes = n.div_ceil(PER_BLOCK);
    let mut total = nodes;
    while nodes > IN_INODE {
        nodes = nodes.div_ceil(PER_BLOCK);
        total += nodes;
    }
    total as u64
}

fn header(b: &mut [u8], entries: usize, max: usize, depth: u16) {
    put16(b, 0, MAGIC);
    put16(b, 2, entries as u16);
    put16(b, 4, max as u16);
    put16(b, 6, depth);
    put32(b, 8, 0);
}

/// 12-byte entry: (first logical block, payload).
#[derive(Clone, Copy)]
enum Ent {
    Leaf(Extent),
    Index { logical: u32, block: u64 },
}

impl Ent {
    fn logical(&self) -> u32 {
        match self {
            Ent::Leaf(e) => e.logical,
            Ent::Index { logical, .. } => *logical,
        }
    }
    fn put(&self, b: &mut [u8]) {
        match *self {
            Ent::Leaf(e) => {
                put32(b, 0, e.logical);
                put16(b, 4, e.len as u16);
                put16(b, 6, (e.start >> 32) as u16);
                put32(b, 8, e.start as u32);
            }
            Ent::Index { logical, block } => {
                put32(b, 0, logical);
                put32(b, 4, block as u32);
                put16(b, 8, (block >> 32) as u16);
                put16(b, 10, 0);
            }
        }
    }
}

/// Build the tree. `blocks` are the tree blocks allocated for it
/// (`tree_blocks(extents.len())` of them). Returns `i_block` and the
/// tree blocks' contents in the order of `blocks`.
pub fn build(extents: &[Extent], blocks: &[u64], inode_seed: u32) -> ([u8; 60], Vec<Vec<u8>>) {
    let mut level: Vec<Ent> = extents.iter().map(|&e| Ent::Leaf(e)).collect();
    let mut depth: u16 = 0;
    let mut out = Vec::new();
    let mut next_block = blocks.iter();
    while level.len() > IN_INODE {
        let mut up = Vec::new();
        for chunk in level.chunks(PER_BLOCK) {
            let mut b = vec![0u8; BS];
            header(&mut b, chunk.len(), PER_BLOCK, depth);
            for (i, e) in chunk.iter().enumerate() {
                e.put(&mut b[12 + 12 * i..24 + 12 * i]);
            }
            let c = crc(inode_seed, &b[..BS - 4]);
            put32(&mut b, BS - 4, c);
            // Callers allocate exactly tree_blocks() blocks.
            let blk = next_block.next().copied().unwrap_or(0);
            up.push(Ent::Index {
                logical: chunk[0].logical(),
                block: blk,
            });
            out.push(b);
        }
        level = up;
        depth += 1;
    }
    let mut ib = [0u8; 60];
    header(&mut ib, level.len(), IN_INODE, depth);
    for (i, e) in level.iter().enumerate() {
        e.put(&mut ib[12 + 12 * i..24 + 12 * i]);
    }
    (ib, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_sizes() {
        assert_eq!(tree_blocks(4), 0);
        assert_eq!(tree_blocks(5), 1);
        assert_eq!(tree_blocks(340 * 4), 4);
        assert_eq!(tree_blocks(340 * 4 + 1), 5 + 1);
    }

    #[test]
    fn depth_one_tree() {
        let ex: Vec<Extent> = (0..10)
            .map(|i| Extent {
                logical: i * 2,
                len: 1,
                start: 100 + u64::from(i),
            })
            .collect();
        let (ib, blocks) = build(&ex, &[7], 1);
        assert_eq!(blocks.len(), 1);
        assert_eq!(u16::from_le_bytes([ib[6], ib[7]]), 1); // depth
        assert_eq!(u16::from_le_bytes([ib[2], ib[3]]), 1); // entries
        assert_eq!(u32::from_le_bytes([ib[16], ib[17], ib[18], ib[19]]), 7);
        assert_eq!(u16::from_le_bytes([blocks[0][2], blocks[0][3]]), 10);
    }
}
