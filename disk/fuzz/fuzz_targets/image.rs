//! A sparse whole-disk image (see `Sparse`) through everything `kubebake inspect` does:
//! partition table, then per partition the probe, the FAT command line, the ext4 manifest.
//! The sparse encoding lets a few KiB describe a 1 GiB disk with a backup GPT at its end.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(img) = kubebake_disk_fuzz::Sparse::decode(data) {
        kubebake_disk_fuzz::inspect_like(img);
    }
});
