//! Shared helpers for the ext4w integration tests: host tools, the
//! Python tar generators, building images, and the independent oracle
//! (`oracle`, `debugfs`) that reads images back without any ext4w code.
#![allow(dead_code)]

pub mod debugfs;
pub mod expect;
pub mod oracle;
pub mod rawtar;

use std::path::{Path, PathBuf};
use std::process::Command;

use ext4w::{Options, Sizing, Summary, Writer};

pub use expect::{Expect, Kind};

/// The tools the oracle needs.
pub const ORACLE_TOOLS: &[&str] = &["python3", "e2fsck", "dumpe2fs", "debugfs", "tar"];

/// A `Command` for host tool `name` (PATH, then the sbin directories).
pub fn tool(name: &str) -> Command {
    kubebake_hosttool::command(name)
}

fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools")
}

/// A scratch directory under $TMPDIR, removed on drop.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ext4w-test-")
        .tempdir()
        .expect("creating a scratch dir")
}

/// Run `gen_tar.py CASE OUT`.
pub fn gen_tar(case: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{case}.tar"));
    let st = tool("python3")
        .arg(tools_dir().join("gen_tar.py"))
        .arg(case)
        .arg(&out)
        .status()
        .expect("running gen_tar.py");
    assert!(st.success(), "gen_tar.py {case} failed: {st}");
    out
}

/// The oracle's view of a tarball (tar_manifest.py, Python's tarfile).
pub fn manifest(tar: &Path) -> Vec<Expect> {
    let out = tool("python3")
        .arg(tools_dir().join("tar_manifest.py"))
        .arg(tar)
        .output()
        .expect("running tar_manifest.py");
    assert!(
        out.status.success(),
        "tar_manifest.py {} failed: {}",
        tar.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    expect::from_json(&out.stdout)
}

/// `len` bytes of deterministic noise (xorshift from `seed`, not 0).
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// Options used by most tests: fixed UUID, no clamping (so tar times survive).
pub fn test_options(uuid_byte: u8) -> Options {
    let mut o = Options::new([uuid_byte; 16], 1_700_000_000);
    o.clamp_times = false;
    o.label = "ext4w-test".into();
    o
}

/// Build `img` from `tar` through ext4w's tar front end.
pub fn build_from_tar(tar: &Path, img: &Path, opts: Options) -> Result<Summary, ext4w::Error> {
    let file = std::fs::File::create(img).expect("creating image file");
    let mut w = Writer::new(file, opts)?;
    let r = ext4w::tar::open(tar)?;
    ext4w::tar::add_tar(&mut w, r, &tar.display().to_string())?;
    w.finish()
}

/// Build an image in memory from tar bytes through ext4w's tar front end.
pub fn build_from_bytes(tar: &[u8], source: &str, sizing: Sizing) -> Result<Summary, ext4w::Error> {
    let mut opts = test_options(1);
    opts.sizing = sizing;
    let mut w = Writer::new(std::io::Cursor::new(Vec::new()), opts)?;
    ext4w::tar::add_tar(&mut w, tar, source)?;
    w.finish()
}

/// `Sizing::Fixed` helper.
pub fn fixed(bytes: u64) -> Sizing {
    Sizing::Fixed { bytes }
}

/// `e2fsck -fn` must exit 0.
pub fn assert_fsck_clean(img: &Path) {
    let out = tool("e2fsck")
        .args(["-fn"])
        .arg(img)
        .output()
        .expect("running e2fsck");
    assert!(
        out.status.code() == Some(0),
        "e2fsck -fn {} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        img.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The ext4 features every image must have (issue 3).
pub const REQUIRED_FEATURES: &[&str] = &[
    "ext_attr",
    "filetype",
    "extent",
    "flex_bg",
    "sparse_super",
    "large_file",
    "huge_file",
    "dir_nlink",
    "extra_isize",
    "metadata_csum",
    "dir_index",
];

/// Features that must NOT be set on the read-only root image.
pub const FORBIDDEN_FEATURES: &[&str] = &["has_journal", "gdt_csum", "uninit_bg"];

/// `dumpe2fs -h` output as (key, value) lines.
pub fn dumpe2fs_header(img: &Path) -> Vec<(String, String)> {
    let out = tool("dumpe2fs")
        .arg("-h")
        .arg(img)
        .output()
        .expect("running dumpe2fs");
    assert!(
        out.status.success(),
        "dumpe2fs -h failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub fn assert_features(img: &Path) {
    let hdr = dumpe2fs_header(img);
    let get = |k: &str| {
        hdr.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("dumpe2fs -h has no {k:?} line"))
    };
    let feats = get("Filesystem features");
    let set: Vec<&str> = feats.split_whitespace().collect();
    for f in REQUIRED_FEATURES {
        assert!(set.contains(f), "feature {f} missing from [{feats}]");
    }
    for f in FORBIDDEN_FEATURES {
        assert!(!set.contains(f), "feature {f} must not be set: [{feats}]");
    }
    assert_eq!(get("Block size"), "4096");
    assert_eq!(get("Filesystem state"), "clean");
    assert_eq!(get("Checksum type"), "crc32c");
}

/// The full check of one image against its expected content.
pub fn check_image(img: &Path, expected: &[Expect]) {
    assert_fsck_clean(img);
    assert_features(img);
    oracle::compare(img, expected);
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).expect("opening file to hash");
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).expect("hashing file");
    hex::encode(h.finalize())
}
