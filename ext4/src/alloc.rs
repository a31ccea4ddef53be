//! Block geometry and the sequential block allocator.
//!
//! Blocks are handed out in increasing order from the start of the
//! filesystem. The superblock and group-descriptor area at the start of group
//! 0 and of every backup group (`sparse_super`: groups 1 and powers of 3, 5
//! and 7) is skipped; its size is reserved up front for the largest group
//! count the filesystem may reach.

use crate::Error;

/// Block size in bytes.
pub const BS: usize = 4096;
/// Blocks per group (one bitmap block).
pub const BPG: u64 = 8 * BS as u64;
/// Group descriptors per block (32-byte descriptors).
pub const DESC_PER_BLOCK: u64 = (BS / 32) as u64;

/// Does group `g` hold a superblock backup (sparse_super)?
pub fn has_super(g: u64) -> bool {
    if g <= 1 {
        return true;
    }
    for base in [3u64, 5, 7] {
        let mut p = base;
        while p < g {
            p *= base;
        }
        if p == g {
            return true;
        }
    }
    false
}

/// Number of GDT blocks for `groups` groups.
pub fn gdt_blocks(groups: u64) -> u64 {
    groups.div_ceil(DESC_PER_BLOCK)
}

/// Sequential allocator.
#[derive(Debug)]
pub struct Alloc {
    /// Next free block.
    pub next: u64,
    /// GDT blocks reserved after each superblock copy.
    pub gdt_reserve: u64,
    /// Hard limit (Fixed sizing), in blocks.
    pub limit: Option<u64>,
}

impl Alloc {
    pub fn new(gdt_reserve: u64, limit: Option<u64>) -> Self {
        Alloc {
            next: 1 + gdt_reserve,
            gdt_reserve,
            limit,
        }
    }

    /// First block of group `g` usable for data (after a superblock copy).
    fn skip_reserved(&self, b: u64) -> u64 {
        let g = b / BPG;
        let off = b % BPG;
        if has_super(g) && off < 1 + self.gdt_reserve {
            g * BPG + 1 + self.gdt_reserve
        } else {
            b
        }
    }

    /// Allocate up to `want` contiguous blocks; returns (start, len), len >= 1.
    pub fn take(&mut self, want: u64) -> Result<(u64, u64), Error> {
        let start = self.skip_reserved(self.next);
        let group_end = (start / BPG + 1) * BPG;
        // The next group may start with a reserved area: stop there.
        let end = if has_super(group_end / BPG) {
            group_end
        } else {
            u64::MAX
        };
        let len = want.max(1).min(end - start);
        if let Some(limit) = self.limit {
            if start + len > limit {
                return Err(Error::NoSpace {
                    needed: (start + len) * BS as u64,
                    available: limit * BS as u64,
                    context: String::new(),
                });
            }
        }
        self.next = start + len;
        Ok((start, len))
    }

    /// Allocate exactly `n` blocks as a list of runs.
    pub fn take_runs(&mut self, n: u64) -> Result<Vec<(u64, u64)>, Error> {
        let mut runs = Vec::new();
        let mut left = n;
        while left > 0 {
            let (s, l) = self.take(left)?;
            runs.push((s, l));
            left -= l;
        }
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_groups() {
        let got: Vec<u64> = (0..60).filter(|&g| has_super(g)).collect();
        assert_eq!(got, vec![0, 1, 3, 5, 7, 9, 25, 27, 49]);
    }

    #[test]
    fn allocator_skips_backup_areas() {
        let mut a = Alloc::new(2, None);
        assert_eq!(a.take(1).expect("take"), (3, 1));
        a.next = BPG - 2;
        assert_eq!(a.take(10).expect("take"), (BPG - 2, 2));
        assert_eq!(a.take(10).expect("take"), (BPG + 3, 10));
        a.next = 2 * BPG - 1;
        // group 2 has no backup: runs may cross into it
        assert_eq!(a.take(10).expect("take"), (2 * BPG - 1, 10));
    }
}
