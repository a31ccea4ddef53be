//! qcow2 writer and reader against the real oracles: `qemu-img check`,
//! `info` and `compare` judge what we write; images `qemu-img` makes (v2,
//! v3, small clusters, zero clusters) are read back by our reader; hostile
//! headers and tables are refused with an error, never a panic.

mod hostile;
mod oracles;
#[path = "../sample/mod.rs"]
mod sample;

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use kubebake_vdisk::{Format, RawDisk, VirtualDisk};
use sample::{ok, opts, s};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const CLUSTER: u64 = 64 * KIB;

/// Run a host tool; (success, stdout, stderr).
fn run(tool: &str, args: &[&str]) -> (bool, String, String) {
    let out = sample::run(tool, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Deterministic pseudo-random bytes (never a whole zero cluster).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8 | 1
        })
        .collect()
}

/// A sparse raw disk of `size` bytes with `writes` (offset, bytes) in it.
fn raw_disk(dir: &Path, name: &str, size: u64, writes: &[(u64, Vec<u8>)]) -> PathBuf {
    let path = dir.join(name);
    let f = File::create(&path).expect("create raw");
    f.set_len(size).expect("size raw");
    for (at, bytes) in writes {
        f.write_all_at(bytes, *at).expect("write raw");
    }
    path
}

/// The test disk: holes; data in a partial first cluster; an all-zero
/// block written as data; one non-zero byte alone in a cluster; data across
/// the first L2 table's span (512 MiB); data up to the very end of a size
/// that is not a whole cluster.
fn mixed_disk(dir: &Path, name: &str) -> PathBuf {
    let size = 600 * MIB + CLUSTER + 1536;
    raw_disk(
        dir,
        name,
        size,
        &[
            (0, noise(4096, 1)),
            (10 * MIB, vec![0; 256 * KIB as usize]),
            (100 * MIB + 7777, vec![0x5a]),
            (512 * MIB - 100 * KIB, noise(200 * KIB as usize, 2)),
            (size - 3000, noise(3000, 3)),
        ],
    )
}

/// Write the raw disk at `raw` as qcow2 at `out` (two writer threads).
fn write_qcow2(raw: &Path, out: &Path) {
    write_qcow2_threads(raw, out, 2);
}

/// Write the raw disk at `raw` as qcow2 at `out` with `threads`.
fn write_qcow2_threads(raw: &Path, out: &Path, threads: usize) {
    sample::write(Format::Qcow2, raw, out, &opts(threads));
}

/// Clusters of `raw` holding a non-zero byte.
fn nonzero_clusters(raw: &Path) -> u64 {
    let d = RawDisk::open(raw).expect("open raw");
    let mut buf = vec![0u8; CLUSTER as usize];
    (0..d.size().div_ceil(CLUSTER))
        .filter(|c| {
            d.read_at(c * CLUSTER, &mut buf).expect("read raw");
            !kubebake_vdisk::is_zero(&buf)
        })
        .count() as u64
}

/// `disk` reads back the same bytes as the raw disk at `raw`.
fn assert_reads_as(disk: &dyn VirtualDisk, raw: &Path) {
    let want = RawDisk::open(raw).expect("open raw");
    assert_eq!(disk.size(), want.size(), "virtual size");
    let (mut a, mut b) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
    // Odd-sized reads at odd offsets cross cluster and L2 boundaries.
    let step = MIB - 4097;
    let mut off = 0;
    while off < want.size() {
        let n = step.min(want.size() - off) as usize;
        disk.read_at(off, &mut a[..n]).expect("read qcow2");
        want.read_at(off, &mut b[..n]).expect("read raw");
        assert!(
            a[..n] == b[..n],
            "bytes differ in [{off}, {})",
            off + n as u64
        );
        off += n as u64;
    }
    let mut past = [9u8; 100];
    disk.read_at(want.size() - 50, &mut past)
        .expect("read past the end");
    assert_eq!(past[50..], [0u8; 50], "past the virtual size reads zero");
}

/// The `qemu-img` oracles on a qcow2 we wrote from `raw`.
fn assert_qemu_accepts(raw: &Path, q: &Path) {
    let (good, out, err) = run("qemu-img", &["check", "-f", "qcow2", s(q)]);
    assert!(good, "qemu-img check failed:\n{out}\n{err}");
    assert!(out.contains("No errors were found on the image."), "{out}");
    assert!(!out.contains("leak"), "{out}");
    let info: serde_json::Value =
        serde_json::from_str(&ok("qemu-img", &["info", "--output=json", s(q)])).expect("json");
    let raw_size = std::fs::metadata(raw).expect("stat").len();
    assert_eq!(info["format"], "qcow2", "{info}");
    assert_eq!(info["virtual-size"], raw_size, "{info}");
    assert_eq!(info["cluster-size"], CLUSTER, "{info}");
    assert_eq!(info["format-specific"]["data"]["compat"], "1.1", "{info}");
    assert_eq!(
        info["format-specific"]["data"]["refcount-bits"], 16,
        "{info}"
    );
    assert!(info.get("backing-filename").is_none(), "{info}");
    let out = ok(
        "qemu-img",
        &["compare", "-f", "raw", "-F", "qcow2", s(raw), s(q)],
    );
    assert!(out.contains("Images are identical."), "{out}");
}

fn be64(b: &[u8], at: u64) -> u64 {
    let at = at as usize;
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Every cluster of the file has refcount exactly 1 and no refcount is set
/// past the end (`qemu-img check` does not look there).
fn assert_refcounts_exact(q: &Path) {
    let b = std::fs::read(q).expect("read qcow2");
    let clusters = b.len() as u64 / CLUSTER;
    assert_eq!(b.len() as u64 % CLUSTER, 0, "whole clusters");
    let table = be64(&b, 48);
    let table_clusters = u32::from_be_bytes(b[56..60].try_into().expect("4")) as u64;
    let mut seen = 0u64;
    for i in 0..table_clusters * CLUSTER / 8 {
        let block = be64(&b, table + i * 8);
        for j in 0..CLUSTER / 2 {
            let c = i * (CLUSTER / 2) + j;
            let r = if block == 0 {
                0
            } else {
                let at = (block + j * 2) as usize;
                u16::from_be_bytes([b[at], b[at + 1]])
            };
            assert_eq!(
                r,
                u16::from(c < clusters),
                "refcount of cluster {c} of {clusters}"
            );
            seen += u64::from(r);
        }
    }
    assert_eq!(seen, clusters);
}
