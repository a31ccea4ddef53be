//! Inputs found by the `tar_stream` fuzz target (ext4/fuzz), kept as
//! regression tests: each must be processed without a panic, with the same
//! setup as the fuzz target (through `tar::decompress`, Sizing::Fixed 8 MiB).

mod common;

use common::*;

#[test]
fn fuzz_inputs_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut n = 0;
    for ent in std::fs::read_dir(&dir).expect("reading tests/fuzz-regressions") {
        let path = ent.expect("dir entry").path();
        let bytes = std::fs::read(&path).expect("reading input");
        let name = path.display().to_string();
        let result = std::panic::catch_unwind(|| {
            let r = ext4w::tar::decompress(Box::new(std::io::Cursor::new(bytes.clone())))?;
            let mut opts = ext4w::Options::new([0x5a; 16], 1_700_000_000);
            opts.sizing = fixed(8 << 20);
            let mut w = ext4w::Writer::new(std::io::Cursor::new(Vec::new()), opts)?;
            ext4w::tar::add_tar(&mut w, r, &name)?;
            w.finish()
        });
        assert!(result.is_ok(), "{name} panicked");
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
}
