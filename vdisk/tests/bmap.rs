//! The bmap checked against bmaptool: `bmaptool copy` with it reproduces the
//! raw (plain, .raw.xz, .raw.zst) byte for byte, a damaged range checksum or
//! file checksum makes the copy fail, and on a disk whose data ranges hold
//! no zero blocks it maps what `bmaptool create` maps.

mod sample;

use std::fs::File;
use std::path::{Path, PathBuf};

use kubebake_vdisk::{bmap, Format, RawDisk};
use sample::{ok, opts, run, s, same_bytes, write};
use sha2::{Digest as _, Sha256};

fn write_bmap(raw: &Path) -> PathBuf {
    let out = raw.with_extension("bmap");
    let src = RawDisk::open(raw).expect("open raw");
    let mut f = File::create(&out).expect("create bmap");
    bmap::write(&src, &mut f, &out).expect("write bmap");
    out
}

/// `bmaptool copy --bmap BMAP IMAGE DEST`, which must succeed.
fn copy(bmap: &Path, image: &Path, dest: &Path) {
    ok("bmaptool", &["copy", "--bmap", s(bmap), s(image), s(dest)]);
}

#[test]
fn bmaptool_copy_reproduces_the_raw_from_every_container() {
    kubebake_hosttool::need(&["bmaptool", "xz", "zstd", "cmp"]);
    let smp = sample::sample();
    let map = write_bmap(&smp.raw);
    let text = std::fs::read_to_string(&map).expect("read bmap");
    assert!(text.contains("<bmap version=\"2.0\">"), "{text}");
    assert!(text.contains(&format!("<ImageSize> {} </ImageSize>", smp.size)));
    assert!(text.contains("<BlockSize> 4096 </BlockSize>"));
    // The zero data ranges are not mapped: 9 MiB..11 MiB is not in any range.
    let blocks = |a: u64, b: u64| format!("> {}-{} <", a, b);
    assert!(!text.contains(&blocks(2304, 2815)), "{text}");

    let dir = smp.dir.path();
    let xz = dir.join("disk.raw.xz");
    let zst = dir.join("disk.raw.zst");
    write(Format::RawXz, &smp.raw, &xz, &opts(2));
    write(Format::RawZst, &smp.raw, &zst, &opts(2));
    for (i, image) in [&smp.raw, &xz, &zst].into_iter().enumerate() {
        let fresh = dir.join(format!("fresh{i}.img"));
        copy(&map, image, &fresh);
        same_bytes(&smp.raw, &fresh);
        // Onto a zero-filled file of the disk's size.
        let zeroed = dir.join(format!("zeroed{i}.img"));
        std::fs::write(&zeroed, vec![0u8; smp.size as usize]).expect("zero-fill");
        copy(&map, image, &zeroed);
        same_bytes(&smp.raw, &zeroed);
    }
}

#[test]
fn damaged_checksums_make_bmaptool_copy_fail() {
    kubebake_hosttool::need(&["bmaptool"]);
    let smp = sample::sample();
    let map = write_bmap(&smp.raw);
    let text = std::fs::read_to_string(&map).expect("read bmap");
    let dest = smp.dir.path().join("dest.img");

    // A range checksum changed, the file checksum made right again: the
    // range's data no longer matches.
    let at = text.find("chksum=\"").expect("a range") + 8;
    let mut bad = text.clone();
    let flipped = if &bad[at..at + 1] == "0" { "1" } else { "0" };
    bad.replace_range(at..at + 1, flipped);
    let bad = with_file_checksum(&bad);
    let bad_map = smp.dir.path().join("range.bmap");
    std::fs::write(&bad_map, &bad).expect("write");
    let out = run(
        "bmaptool",
        &["copy", "--bmap", s(&bad_map), s(&smp.raw), s(&dest)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "copy must fail: {err}");
    assert!(err.contains("checksum mismatch"), "{err}");

    // The file itself changed: its own checksum no longer matches.
    let damaged = text.replacen("Size of a block in bytes", "Size of a block in Bytes", 1);
    let bad_map = smp.dir.path().join("file.bmap");
    std::fs::write(&bad_map, damaged).expect("write");
    let out = run(
        "bmaptool",
        &["copy", "--bmap", s(&bad_map), s(&smp.raw), s(&dest)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "copy must fail: {err}");
    assert!(err.contains("checksum"), "{err}");

    // Sanity: our own file checksum is what bmaptool computes.
    assert_eq!(with_file_checksum(&text), text);
}

/// `text` with its BmapFileChecksum recomputed (sha256 of the file with the
/// field all "0").
fn with_file_checksum(text: &str) -> String {
    let start = text.find("<BmapFileChecksum> ").expect("field") + 19;
    let mut zeroed = text.to_string();
    zeroed.replace_range(start..start + 64, &"0".repeat(64));
    let sum = hex::encode(Sha256::digest(zeroed.as_bytes()));
    zeroed.replace_range(start..start + 64, &sum);
    zeroed
}

/// The lines of a bmap that carry values (not the prose comments, whose
/// wording differs between bmaptool versions).
fn values(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("<Image")
                || l.starts_with("<Block")
                || l.starts_with("<Mapped")
                || l.starts_with("<Checksum")
                || l.starts_with("<Range")
                || l.starts_with("<bmap")
                || l.starts_with("<!-- Count of mapped")
                || l.starts_with("<!-- Image size")
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn maps_what_bmaptool_create_maps() {
    kubebake_hosttool::need(&["bmaptool"]);
    let smp = sample::sample_without_zero_data();
    let ours = std::fs::read_to_string(write_bmap(&smp.raw)).expect("ours");
    let theirs = ok("bmaptool", &["create", s(&smp.raw)]);
    assert_eq!(values(&ours), values(&theirs));
    // And the layout byte for byte, bar the prose above the values.
    let tail = |t: &str| t[t.find("<bmap version").expect("bmap")..].to_string();
    let strip = |t: String| {
        let i = t.find("<BmapFileChecksum> ").expect("sum") + 19;
        t[..i].to_string() + &t[i + 64..]
    };
    assert_eq!(
        strip(tail(&ours)),
        strip(tail(&theirs)).replace("has be zero", "has to be zero")
    );
}

#[test]
fn bmap_is_reproducible() {
    let smp = sample::sample();
    let a = std::fs::read(write_bmap(&smp.raw)).expect("a");
    let copy = smp.dir.path().join("copy.raw");
    std::fs::copy(&smp.raw, &copy).expect("copy"); // not sparse where the first was
    let b = std::fs::read(write_bmap(&copy)).expect("b");
    assert!(a == b, "the map depends on the disk's bytes only");
}
