//! Fixed VHD checked against qemu-img (info, compare, its own footer) and
//! read back with our reader; the footer checksum recomputed here.

mod sample;

use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use kubebake_vdisk::{Format, Reader};
use sample::{ok, opts, run, s, write, MIB};

/// The last 512 bytes of `path`.
fn footer(path: &Path) -> [u8; 512] {
    let f = File::open(path).expect("open vhd");
    let len = f.metadata().expect("stat").len();
    let mut b = [0u8; 512];
    f.read_exact_at(&mut b, len - 512).expect("read footer");
    b
}

/// A copy of the sample's raw, padded with a hole to the VHD's size.
fn padded(smp: &sample::Sample) -> std::path::PathBuf {
    let padded = smp.dir.path().join("padded.raw");
    std::fs::copy(&smp.raw, &padded).expect("copy");
    File::options()
        .write(true)
        .open(&padded)
        .and_then(|f| f.set_len(smp.size.div_ceil(MIB) * MIB))
        .expect("pad");
    padded
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0, |a, x| a << 8 | u64::from(*x))
}

/// The spec's checksum, computed independently of the crate.
fn spec_checksum(f: &[u8; 512]) -> u32 {
    let mut sum: u32 = 0;
    for (i, b) in f.iter().enumerate() {
        if !(64..68).contains(&i) {
            sum = sum.wrapping_add(u32::from(*b));
        }
    }
    !sum
}

#[test]
fn vhd_opens_in_qemu_with_the_size_rounded_to_a_mib() {
    kubebake_hosttool::need(&["qemu-img", "cmp"]);
    let smp = sample::sample();
    let vhd = smp.dir.path().join("disk.vhd");
    write(Format::Vhd, &smp.raw, &vhd, &opts(2));
    let rounded = smp.size.div_ceil(MIB) * MIB;
    assert_ne!(rounded, smp.size, "the sample must need padding");
    assert_eq!(std::fs::metadata(&vhd).expect("stat").len(), rounded + 512);

    let f = footer(&vhd);
    assert_eq!(&f[0..8], b"conectix");
    assert_eq!(be(&f[8..12]), 2, "features");
    assert_eq!(be(&f[12..16]), 0x0001_0000, "version");
    assert_eq!(be(&f[16..24]), u64::MAX, "data offset of a fixed disk");
    assert_eq!(be(&f[24..28]), 1_700_000_000 - 946_684_800, "timestamp");
    assert_eq!(&f[28..32], b"kbke");
    assert_eq!(be(&f[40..48]), rounded, "original size");
    assert_eq!(be(&f[48..56]), rounded, "current size");
    assert_eq!(be(&f[60..64]), 2, "fixed");
    assert_eq!(be(&f[64..68]), u64::from(spec_checksum(&f)), "checksum");
    assert_eq!(f[84], 0, "saved state");
    assert!(f[85..].iter().all(|b| *b == 0), "reserved bytes are zero");

    // qemu sees exactly the rounded size (it reads CHS unless it is the maximum).
    let info = ok("qemu-img", &["info", "-f", "vpc", "--output=json", s(&vhd)]);
    assert!(
        info.contains(&format!("\"virtual-size\": {rounded},")),
        "{info}"
    );
    // The same data. Non-strict compare accepts the zero padding; strict
    // compare (-s) also wants equal block status, which a raw and a VHD made
    // by qemu-img itself fail, so the sizes are checked by `info` above.
    ok(
        "qemu-img",
        &["compare", "-f", "raw", "-F", "vpc", s(&smp.raw), s(&vhd)],
    );
    let padded = padded(&smp);
    ok(
        "qemu-img",
        &["compare", "-f", "raw", "-F", "vpc", s(&padded), s(&vhd)],
    );
    // A changed byte is seen.
    let damaged = smp.dir.path().join("damaged.vhd");
    std::fs::copy(&vhd, &damaged).expect("copy");
    File::options()
        .write(true)
        .open(&damaged)
        .and_then(|f| f.write_all_at(b"X", 3 * MIB + 17))
        .expect("damage");
    let differ = run(
        "qemu-img",
        &["compare", "-f", "raw", "-F", "vpc", s(&padded), s(&damaged)],
    );
    assert_eq!(
        differ.status.code(),
        Some(1),
        "compare must see the changed byte"
    );
    // qemu-img 10 has no check for vpc; if a later one has, it must pass.
    let check = run("qemu-img", &["check", "-f", "vpc", s(&vhd)]);
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        check.status.success() || err.contains("does not support checks"),
        "{err}"
    );

    // Holes stay holes: far less allocated than the virtual size.
    assert!(
        sample::allocated(&vhd) < 16 * MIB,
        "{}",
        sample::allocated(&vhd)
    );

    // Our reader gives back the raw, then zeros.
    let disk = kubebake_vdisk::open(&vhd).expect("open vhd");
    assert_eq!((disk.format(), disk.size()), (Format::Vhd, rounded));
    let mut got = Vec::new();
    Reader::new(disk).read_to_end(&mut got).expect("read");
    let want = std::fs::read(&padded).expect("read raw");
    assert!(got == want, "reader bytes differ from the padded raw");
}

#[test]
fn footer_matches_qemus_force_size_footer() {
    kubebake_hosttool::need(&["qemu-img"]);
    let smp = sample::sample();
    let ours = smp.dir.path().join("ours.vhd");
    let theirs = smp.dir.path().join("theirs.vhd");
    write(Format::Vhd, &smp.raw, &ours, &opts(1));
    let padded = padded(&smp);
    // The conversion Azure documents.
    ok(
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "vpc",
            "-o",
            "subformat=fixed,force_size",
            s(&padded),
            s(&theirs),
        ],
    );
    let (a, b) = (footer(&ours), footer(&theirs));
    // Everything but timestamp, creator app and version, checksum and UUID.
    for r in [0..24, 36..64, 84..512] {
        assert_eq!(a[r.clone()], b[r.clone()], "footer bytes {r:?}");
    }
    assert_eq!(
        std::fs::metadata(&ours).expect("stat").len(),
        std::fs::metadata(&theirs).expect("stat").len()
    );
}

#[test]
fn vhd_is_reproducible_and_its_uuid_comes_from_the_identity() {
    let smp = sample::sample();
    let (a, b, c) = (
        smp.dir.path().join("a.vhd"),
        smp.dir.path().join("b.vhd"),
        smp.dir.path().join("c.vhd"),
    );
    write(Format::Vhd, &smp.raw, &a, &opts(1));
    write(Format::Vhd, &smp.raw, &b, &opts(2));
    let mut other = opts(1);
    other.identity[0] ^= 1;
    other.epoch = 0; // before 2000: clamped to 0
    write(Format::Vhd, &smp.raw, &c, &other);
    assert!(std::fs::read(&a).expect("a") == std::fs::read(&b).expect("b"));
    let (fa, fc) = (footer(&a), footer(&c));
    assert_ne!(fa[68..84], fc[68..84], "UUID follows the identity");
    assert_eq!(fc[68 + 6] >> 4, 8, "UUID version 8");
    assert_eq!(be(&fc[24..28]), 0, "timestamp clamped");
}

#[test]
fn reader_rejects_a_damaged_or_dynamic_footer() {
    let smp = sample::sample();
    let vhd = smp.dir.path().join("disk.vhd");
    write(Format::Vhd, &smp.raw, &vhd, &opts(1));
    let len = std::fs::metadata(&vhd).expect("stat").len();
    let f = File::options().write(true).open(&vhd).expect("open");
    let good = footer(&vhd);

    let mut bad = good;
    bad[50] ^= 0x40; // current size, checksum now wrong
    f.write_all_at(&bad, len - 512).expect("write");
    let e = kubebake_vdisk::vhd::open(&vhd)
        .expect_err("bad checksum")
        .to_string();
    assert!(e.contains("disk.vhd") && e.contains("checksum"), "{e}");

    let mut dynamic = good;
    dynamic[63] = 3;
    let sum = spec_checksum(&dynamic);
    dynamic[64..68].copy_from_slice(&sum.to_be_bytes());
    f.write_all_at(&dynamic, len - 512).expect("write");
    let e = kubebake_vdisk::vhd::open(&vhd)
        .expect_err("dynamic")
        .to_string();
    assert!(e.contains("disk.vhd") && e.contains("not fixed"), "{e}");

    f.set_len(len - 1024).expect("truncate");
    f.write_all_at(&good, len - 1536).expect("write");
    let e = kubebake_vdisk::vhd::open(&vhd)
        .expect_err("truncated")
        .to_string();
    assert!(e.contains("truncated"), "{e}");
}
