//! Arbitrary bytes as a FAT volume: the probe, then listing and reading files as
//! `kubebake inspect` does for the ESP (bounded listing, size-limited reads), and reading
//! the seed files as the first-boot agent does (kubebake-fatread's `Volume`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let img = kubebake_disk_fuzz::shared(data);
    let _ = kubebake_disk::probe::identify(&mut img.clone());
    kubebake_disk_fuzz::fat_like(|| img.clone());
    kubebake_disk_fuzz::agent_like(img.clone());
});
