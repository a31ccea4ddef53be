//! Sample raw disks for the format tests: holes, data (text-like and
//! random), data ranges that hold only zeros, data in the last, partial
//! block, and a size that is neither 4 KiB- nor MiB-aligned; plus running
//! the host tools that check the outputs.

#![allow(dead_code)] // each test binary uses its own part

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use kubebake_vdisk::{Format, NoProgress, RawDisk, WriteOptions};

pub const MIB: u64 = 1 << 20;

/// A sample raw disk in its own directory.
pub struct Sample {
    pub dir: tempfile::TempDir,
    pub raw: PathBuf,
    pub size: u64,
}

/// Deterministic bytes: text-like when `text` (compressible), else noise.
pub fn bytes(seed: u64, len: usize, text: bool) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let words: [&[u8]; 6] = [b"kubelet ", b"node ", b"image ", b"kube", b"\n", b"etcd "];
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if text {
            out.extend_from_slice(words[(x % 6) as usize]);
        } else {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

/// The standard sample: 37 MiB + 2560 bytes, mostly holes.
pub fn sample() -> Sample {
    build(37 * MIB + 2560, true)
}

/// The sample without its data ranges of zeros: every block SEEK_DATA
/// reports holds data (what `bmaptool create` maps is then what we map).
pub fn sample_without_zero_data() -> Sample {
    build(37 * MIB + 2560, false)
}

/// A sample of `size` bytes (at least 34 MiB), with data ranges of zeros
/// when `zero_data`.
pub fn build(size: u64, zero_data: bool) -> Sample {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = dir.path().join("disk.raw");
    let f = File::create(&raw).expect("create raw");
    f.set_len(size).expect("size raw");
    let put = |off: u64, data: &[u8]| f.write_all_at(data, off).expect("write raw");
    put(0, &bytes(1, 64 << 10, false)); // partition table, boot code
    put(MIB + 4000, &bytes(2, 100, false)); // unaligned, straddles a block
    put(3 * MIB, &bytes(3, 5 * MIB as usize, true)); // compressible files
    if zero_data {
        put(9 * MIB, &vec![0u8; 2 * MIB as usize]); // data range of zeros
        put(20 * MIB, &[0u8; 4096]); // a lone zero block
        put(3 * MIB + 8192, &[0u8; 4096]); // a zero block inside data
    }
    put(11 * MIB + 8192, &bytes(4, 3 << 20, false)); // incompressible
    put(33 * MIB - 10, &bytes(5, 20, true)); // across a MiB boundary
    put(size - 700, &bytes(6, 700, false)); // the last, partial block
    f.sync_all().expect("sync raw");
    Sample { dir, raw, size }
}

/// Options with a fixed identity and epoch.
pub fn opts(threads: usize) -> WriteOptions {
    WriteOptions {
        identity: [7u8; 32],
        epoch: 1_700_000_000,
        threads,
        vm: Default::default(),
    }
}

/// Write `raw` as `format` to `out` with `opts`.
pub fn write(format: Format, raw: &Path, out: &Path, opts: &WriteOptions) {
    let src = RawDisk::open(raw).expect("open raw");
    let mut f = File::create(out).expect("create output");
    kubebake_vdisk::write(format, &src, &mut f, out, opts, &NoProgress)
        .unwrap_or_else(|e| panic!("writing {format}: {e}"));
}

/// Run `tool args`, which must succeed; its stdout.
pub fn ok(tool: &str, args: &[&str]) -> String {
    let out = run(tool, args);
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `tool args` (found like the builder finds it).
pub fn run(tool: &str, args: &[&str]) -> Output {
    kubebake_hosttool::command(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// A path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Bytes of `path` actually allocated on disk.
pub fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).expect("stat").blocks() * 512
}

/// `cmp` of two files (identical bytes, same length).
pub fn same_bytes(a: &Path, b: &Path) {
    ok("cmp", &[s(a), s(b)]);
}
