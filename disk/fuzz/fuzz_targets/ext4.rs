//! Arbitrary bytes as an ext2/3/4 filesystem: the superblock probe, then the manifest read
//! (size-limited) and a root listing through ext4-view, as `kubebake inspect` does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let img = kubebake_disk_fuzz::shared(data);
    let _ = kubebake_disk::probe::identify(&mut img.clone());
    kubebake_disk_fuzz::ext4_like(|| img.clone());
});
