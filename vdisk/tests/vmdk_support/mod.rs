//! Shared by the VMDK and OVA tests: raw disks with holes, data and zero
//! blocks, the write options, and the host tools run with their output
//! captured (a missing tool fails the test: `kubebake_hosttool::need`).
#![allow(dead_code)]

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use kubebake_vdisk::{NoProgress, RawDisk, VirtualDisk, VmSpec, WriteOptions};

pub const MIB: u64 = 1 << 20;

/// What to write at an offset of a raw disk.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    /// Pseudo-random (incompressible) bytes from a seed.
    Random(u64, u64),
    /// Text-like, compressible bytes.
    Text(u64),
    /// Written zeros: data on disk, zero in content.
    Zeros(u64),
}

/// A sparse raw disk of `size` bytes with `parts` written at their offsets.
pub fn raw(dir: &Path, name: &str, size: u64, parts: &[(u64, Fill)]) -> PathBuf {
    let path = dir.join(name);
    let f = File::create(&path).expect("create raw");
    f.set_len(size).expect("size raw");
    for &(at, fill) in parts {
        let bytes = match fill {
            Fill::Random(len, seed) => random(len, seed),
            Fill::Text(len) => text(len),
            Fill::Zeros(len) => vec![0u8; len as usize],
        };
        f.write_all_at(&bytes, at).expect("write raw");
    }
    path
}

fn random(len: u64, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn text(len: u64) -> Vec<u8> {
    let words = b"kubelet containerd etcd kube-proxy node pod sandbox image layer ";
    (0..len as usize)
        .map(|i| words[(i * 7 + i / 61) % words.len()])
        .collect()
}

/// The usual test disk: holes, random and text data, written zeros, data
/// across grain-table boundaries (32 MiB each), a size that is not a whole
/// sector.
pub fn mixed(dir: &Path, name: &str) -> PathBuf {
    raw(
        dir,
        name,
        100 * MIB + 777,
        &[
            (0, Fill::Random(3 * MIB + 5, 1)),
            (5 * MIB, Fill::Zeros(2 * MIB)),
            (7 * MIB + 100, Fill::Text(MIB)),
            (32 * MIB - 4096, Fill::Random(8192, 2)),
            (70 * MIB, Fill::Text(4 * MIB)),
            (100 * MIB + 1, Fill::Random(776, 3)),
        ],
    )
}

/// Write options with `threads` threads.
pub fn opts(threads: usize) -> WriteOptions {
    WriteOptions {
        identity: [7; 32],
        epoch: 1_700_000_000,
        threads,
        vm: VmSpec::default(),
    }
}

/// Write `raw` as `format` to `out`.
pub fn write(format: kubebake_vdisk::Format, raw: &Path, out: &Path, o: &WriteOptions) {
    let src = RawDisk::open(raw).expect("open raw");
    let mut f = File::create(out).expect("create out");
    kubebake_vdisk::write(format, &src, &mut f, out, o, &NoProgress).expect("write");
}

/// Run `tool args`, which must succeed; its output.
pub fn run(tool: &str, args: &[&str]) -> Output {
    kubebake_hosttool::need(&[tool]);
    let out = kubebake_hosttool::command(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `qemu-img check`, `info` (vmdk, streamOptimized, the virtual size) and
/// `compare` against the raw.
pub fn qemu_accepts_vmdk(raw: &Path, vmdk: &Path) {
    let (r, v) = (raw.to_str().expect("utf8"), vmdk.to_str().expect("utf8"));
    run("qemu-img", &["check", "-f", "vmdk", v]);
    let info = run("qemu-img", &["info", "--output=json", "-f", "vmdk", v]);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("info json");
    assert_eq!(info["format"], "vmdk", "{info}");
    assert_eq!(
        info["format-specific"]["data"]["create-type"], "streamOptimized",
        "{info}"
    );
    let size = std::fs::metadata(raw).expect("raw").len();
    assert_eq!(info["virtual-size"], size.next_multiple_of(512), "{info}");
    run("qemu-img", &["compare", "-f", "raw", "-F", "vmdk", r, v]);
}

/// Whether `disk` reads back exactly as the raw file (zero past its end).
pub fn same_as_raw(disk: &dyn VirtualDisk, raw: &Path) {
    let want = std::fs::read(raw).expect("read raw");
    assert!(disk.size() >= want.len() as u64);
    let mut got = vec![0u8; disk.size() as usize];
    // Odd-sized reads that straddle grains.
    for (i, chunk) in got.chunks_mut(100_003).enumerate() {
        disk.read_at(i as u64 * 100_003, chunk).expect("read");
    }
    assert!(got[want.len()..].iter().all(|b| *b == 0));
    assert!(got[..want.len()] == want[..], "content differs");
}
