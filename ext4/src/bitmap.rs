//! Block and inode bitmaps.

use crate::csum::crc;

/// A bitmap over `len` bits.
#[derive(Debug, Clone)]
pub struct Bitmap {
    bits: Vec<u8>,
    len: u64,
}

impl Bitmap {
    pub fn new(len: u64) -> Self {
        Bitmap {
            bits: vec![0; len.div_ceil(8) as usize],
            len,
        }
    }

    pub fn set(&mut self, i: u64) {
        self.bits[(i / 8) as usize] |= 1 << (i % 8);
    }

    pub fn get(&self, i: u64) -> bool {
        self.bits[(i / 8) as usize] & (1 << (i % 8)) != 0
    }

    /// Set bits `start..start+n`.
    pub fn set_range(&mut self, start: u64, n: u64) {
        let mut i = start;
        let end = start + n;
        while i < end && i % 8 != 0 {
            self.set(i);
            i += 1;
        }
        while i + 8 <= end {
            self.bits[(i / 8) as usize] = 0xFF;
            i += 8;
        }
        while i < end {
            self.set(i);
            i += 1;
        }
    }

    /// One on-disk bitmap block for bits `start..start+count`; bits past
    /// `count` (padding) are set, as ext4 requires. `start` is a multiple of 8.
    pub fn block(&self, start: u64, count: u64, block_size: usize) -> Vec<u8> {
        let mut out = vec![0xFFu8; block_size];
        let from = (start / 8) as usize;
        let full = (count / 8) as usize;
        let avail = self.bits.len().saturating_sub(from).min(full);
        out[..avail].copy_from_slice(&self.bits[from..from + avail]);
        let rem = count % 8;
        if rem != 0 {
            let mut byte = 0u8;
            for k in 0..rem {
                let i = start + count - rem + k;
                if i < self.len && self.get(i) {
                    byte |= 1 << k;
                }
            }
            out[full] = byte | (0xFFu8 << rem);
        }
        out
    }

    /// Number of clear bits in `start..start+count`.
    pub fn count_free(&self, start: u64, count: u64) -> u64 {
        (start..start + count).filter(|&i| !self.get(i)).count() as u64
    }
}

/// Bitmap checksum over the first `bytes` bytes of the on-disk bitmap.
pub fn csum(csum_seed: u32, block: &[u8], bytes: usize) -> u32 {
    crc(csum_seed, &block[..bytes])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_bits_are_set() {
        let mut b = Bitmap::new(20);
        b.set(3);
        b.set_range(8, 4);
        let blk = b.block(0, 20, 8);
        assert_eq!(blk[0], 0b0000_1000);
        assert_eq!(blk[1], 0b0000_1111);
        assert_eq!(blk[2], 0xF0);
        assert_eq!(&blk[3..], &[0xFF; 5]);
        assert_eq!(b.count_free(0, 20), 15);
    }
}
