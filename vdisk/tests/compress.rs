//! raw.xz and raw.zst checked with xz and zstd themselves: they test clean,
//! decompress to the raw byte for byte, and are identical across runs and
//! thread counts.

mod sample;

use std::path::Path;

use kubebake_vdisk::Format;
use sample::{ok, opts, s, same_bytes, write};

/// Write `format` with 1 and 2 threads (twice): all three identical.
fn reproducible(format: Format, raw: &Path, dir: &Path) -> std::path::PathBuf {
    let ext = format.extension();
    let paths = [1, 2, 2].map(|t| (t, dir.join(format!("t{t}-{}.{ext}", rand_tag(dir)))));
    for (t, p) in &paths {
        write(format, raw, p, &opts(*t));
    }
    let first = std::fs::read(&paths[0].1).expect("read");
    for (t, p) in &paths[1..] {
        assert!(
            std::fs::read(p).expect("read") == first,
            "{format} with {t} threads differs from 1 thread"
        );
    }
    paths[0].1.clone()
}

/// A distinct file name per call.
fn rand_tag(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn raw_xz_tests_clean_and_decompresses_to_the_raw() {
    kubebake_hosttool::need(&["xz", "cmp"]);
    let smp = sample::sample();
    let xz = reproducible(Format::RawXz, &smp.raw, smp.dir.path());
    ok("xz", &["-t", s(&xz)]);
    // One stream of 4 MiB blocks, its index right.
    let list = ok("xz", &["--robot", "-lvv", s(&xz)]);
    let blocks = list.lines().filter(|l| l.starts_with("block\t")).count() as u64;
    assert_eq!(blocks, smp.size.div_ceil(4 << 20), "{list}");
    assert!(list.lines().any(|l| l.starts_with("stream\t1\t")), "{list}");
    assert!(list.contains("CRC64"), "{list}");
    let back = smp.dir.path().join("back.raw");
    let out = std::process::Command::new("sh")
        .args(["-c", "xz -dc \"$1\" > \"$2\"", "sh", s(&xz), s(&back)])
        .status()
        .expect("xz -dc");
    assert!(out.success());
    same_bytes(&smp.raw, &back);
    // Far smaller than the raw: the holes cost next to nothing.
    let len = std::fs::metadata(&xz).expect("stat").len();
    assert!(len < 6 << 20, "{len}");
}

#[test]
fn raw_zst_tests_clean_and_decompresses_to_the_raw() {
    kubebake_hosttool::need(&["zstd", "cmp"]);
    let smp = sample::sample();
    let zst = reproducible(Format::RawZst, &smp.raw, smp.dir.path());
    ok("zstd", &["-q", "-t", s(&zst)]);
    let list = ok("zstd", &["-lv", s(&zst)]);
    assert!(
        list.contains(&format!("({} B)", smp.size)),
        "content size: {list}"
    );
    assert!(list.contains("XXH64"), "content checksum: {list}");
    let back = smp.dir.path().join("back.raw");
    ok("zstd", &["-q", "-d", s(&zst), "-o", s(&back)]);
    same_bytes(&smp.raw, &back);
    let len = std::fs::metadata(&zst).expect("stat").len();
    assert!(len < 8 << 20, "{len}");
}

#[test]
fn a_disk_not_a_whole_number_of_blocks_and_a_tiny_disk() {
    kubebake_hosttool::need(&["xz", "zstd", "cmp"]);
    let dir = tempfile::tempdir().expect("tmp");
    for (i, size) in [1u64, 4095, (4 << 20) + 1].into_iter().enumerate() {
        let raw = dir.path().join(format!("r{i}.raw"));
        std::fs::write(&raw, sample::bytes(i as u64, size as usize, true)).expect("raw");
        for format in [Format::RawXz, Format::RawZst] {
            let out = dir.path().join(format!("r{i}.{}", format.extension()));
            write(format, &raw, &out, &opts(2));
            let back = dir.path().join(format!("r{i}.{}.back", format.extension()));
            let tool = if format == Format::RawXz {
                "xz"
            } else {
                "zstd"
            };
            let status = std::process::Command::new("sh")
                .args([
                    "-c",
                    &format!("{tool} -dc \"$1\" > \"$2\""),
                    "sh",
                    s(&out),
                    s(&back),
                ])
                .status()
                .expect("decompress");
            assert!(status.success(), "{format} of {size} bytes");
            same_bytes(&raw, &back);
        }
    }
}
