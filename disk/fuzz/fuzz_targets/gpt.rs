//! Arbitrary bytes as a whole disk into `gpt::read`: both copies checked, damage as
//! warnings. Also checks the invariants `kubebake inspect` relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = kubebake_disk::gpt::read(&mut std::io::Cursor::new(data)) {
        kubebake_disk_fuzz::check_table(&kubebake_disk::table::Found::Gpt(t));
    }
});
