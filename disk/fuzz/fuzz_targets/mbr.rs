//! Arbitrary bytes as a whole disk into `mbr::read` and `table::read` (GPT or MBR).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = kubebake_disk::mbr::read(&mut std::io::Cursor::new(data)) {
        kubebake_disk_fuzz::check_table(&kubebake_disk::table::Found::Mbr(t));
    }
    if let Ok(found) = kubebake_disk::table::read(&mut std::io::Cursor::new(data)) {
        kubebake_disk_fuzz::check_table(&found);
    }
});
