//! crc32c checksums as ext4 computes them (`metadata_csum`).
//!
//! The kernel's `crc32c_le(seed, data)` has no final inversion; the `crc32c`
//! crate computes the standard CRC-32C (init and final xor `!0`), so
//! `crc32c_le(seed, d) == !crc32c_append(!seed, d)`.

/// Kernel-style crc32c continuation.
pub fn crc(seed: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!seed, data)
}

/// Filesystem checksum seed: crc32c(~0, uuid).
pub fn fs_seed(uuid: &[u8; 16]) -> u32 {
    crc(!0, uuid)
}

/// Per-inode seed used by inode, extent, directory and htree checksums.
pub fn inode_seed(fs_seed: u32, ino: u32, generation: u32) -> u32 {
    let s = crc(fs_seed, &ino.to_le_bytes());
    crc(s, &generation.to_le_bytes())
}

/// Little-endian field writers on a byte slice.
pub fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // Standard CRC-32C check value for "123456789" is 0xE3069283.
        assert_eq!(!crc(!0, b"123456789"), 0xE306_9283);
    }
}
