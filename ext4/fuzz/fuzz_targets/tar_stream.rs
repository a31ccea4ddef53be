//! Arbitrary bytes as a (possibly compressed) tar stream into
//! `ext4w::tar::add_tar`, writing to an in-memory 8 MiB filesystem. Errors
//! are fine; panics, hangs and runaway allocations are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opts = ext4w::Options::new([0x5a; 16], 1_700_000_000);
    opts.sizing = ext4w::Sizing::Fixed { bytes: 8 << 20 };
    let Ok(mut w) = ext4w::Writer::new(std::io::Cursor::new(Vec::new()), opts) else {
        return;
    };
    // gzip, xz and zstd input goes through the decoders too.
    let Ok(r) = ext4w::tar::decompress(Box::new(std::io::Cursor::new(data.to_vec()))) else {
        return;
    };
    if ext4w::tar::add_tar(&mut w, r, "fuzz.tar").is_ok() {
        let _ = w.finish();
    }
});
