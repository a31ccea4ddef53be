//! Bad input gives an error that names the entry and offset (or the sizes),
//! never a panic and never a silently short image.

mod common;

use common::rawtar::RawTar;
use common::*;
use ext4w::{Entry, EntryKind, Metadata, Writer};

const SRC: &str = "bad-input.tar";

fn err_of(tar: &[u8]) -> String {
    match build_from_bytes(tar, SRC, ext4w::Options::new([0; 16], 0).sizing) {
        Ok(s) => panic!("expected an error, got an image: {s:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "error {msg:?} does not mention {p:?}");
    }
}

#[test]
fn dotdot_path_is_rejected() {
    for name in ["../escape", "a/../../escape", "a/b/.."] {
        let mut t = RawTar::new();
        t.file("ok", b"fine");
        let off = t.file(name, b"evil");
        let msg = err_of(&t.finish());
        assert_mentions(&msg, &[SRC, name, &off.to_string()]);
    }
}

#[test]
fn absolute_path_is_rejected() {
    let mut t = RawTar::new();
    t.member("dir/", b'5', "", b"");
    let off = t.file("/etc/passwd", b"root::0:0::/:/bin/sh\n");
    let msg = err_of(&t.finish());
    assert_mentions(&msg, &[SRC, "/etc/passwd", &off.to_string()]);
}

#[test]
fn truncated_archive_names_entry_and_offset() {
    let mut t = RawTar::new();
    t.file("first", &[b'a'; 1000]);
    let off = t.file("second", &[b'b'; 100_000]);
    let bytes = t.finish();
    // Cut in the middle of the second member's data.
    let cut = &bytes[..off as usize + 512 + 5000];
    let msg = err_of(cut);
    assert_mentions(&msg, &[SRC, "second", &off.to_string()]);
    // Cut in the middle of a header.
    let msg = err_of(&bytes[..off as usize + 100]);
    assert_mentions(&msg, &[SRC, &off.to_string()]);
}

#[test]
fn garbage_is_an_error() {
    // Deterministic noise, plus a header with a bad checksum.
    let msg = err_of(&noise(8192, 0x9E37_79B9_7F4A_7C15));
    assert_mentions(&msg, &[SRC]);

    let mut t = RawTar::new();
    t.file("good", b"x");
    let off = t.file("broken", b"y");
    let mut bytes = t.finish();
    bytes[off as usize + 148] = b'7'; // corrupt the checksum field
    let msg = err_of(&bytes);
    assert_mentions(&msg, &[SRC, &off.to_string()]);
}

#[test]
fn hard_link_to_missing_target_is_rejected() {
    let mut t = RawTar::new();
    t.file("present", b"x");
    let off = t.member("dir/link", b'1', "not/there", b"");
    let msg = err_of(&t.finish());
    assert_mentions(&msg, &[SRC, "dir/link", "not/there", &off.to_string()]);
}

#[test]
fn fixed_size_too_small_names_both_sizes() {
    let size: u64 = 4 << 20;
    let mut data = vec![0u8; 16 << 20];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i % 251) as u8 | 1; // no zero blocks: nothing becomes a hole
    }
    let mut t = RawTar::new();
    t.file("big", &data);
    let err = build_from_bytes(&t.finish(), SRC, fixed(size)).expect_err("16 MiB in 4 MiB");
    let msg = err.to_string();
    let nums: Vec<u64> = msg
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    assert!(
        nums.contains(&size),
        "error {msg:?} does not name the fixed size {size}"
    );
    // A streaming writer may only know what it needed when space ran out.
    assert!(
        nums.iter().any(|&n| n > size),
        "error {msg:?} does not name a needed size above {size}"
    );
    assert_mentions(&msg, &["big"]);

    // A size too small for even the metadata is an error too.
    let mut t = RawTar::new();
    t.file("f", b"x");
    let err = build_from_bytes(&t.finish(), SRC, fixed(64 << 10)).expect_err("64 KiB");
    assert!(!err.to_string().is_empty());
}

fn api_writer() -> Writer<std::io::Cursor<Vec<u8>>> {
    Writer::new(std::io::Cursor::new(Vec::new()), test_options(1)).expect("writer")
}

#[test]
fn api_rejects_bad_paths_and_short_data() {
    // (The API may normalise a leading "/"; the tar front end rejects it,
    // see absolute_path_is_rejected.)
    for path in ["../x", "a/../../x"] {
        let mut w = api_writer();
        let e = w
            .add(
                Entry {
                    path: path.into(),
                    kind: EntryKind::Regular { size: 1 },
                    meta: Metadata::new(0o644),
                },
                &mut &b"x"[..],
            )
            .expect_err(path);
        assert_mentions(&e.to_string(), &[path]);
    }
    // The reader delivers fewer bytes than the entry declares.
    let mut w = api_writer();
    let e = w
        .add(
            Entry {
                path: "short".into(),
                kind: EntryKind::Regular { size: 10_000 },
                meta: Metadata::new(0o644),
            },
            &mut &b"only a few bytes"[..],
        )
        .expect_err("short data");
    assert_mentions(&e.to_string(), &["short"]);
    // A hard link to nothing.
    let mut w = api_writer();
    let e = w
        .add(
            Entry {
                path: "link".into(),
                kind: EntryKind::HardLink {
                    target: "missing".into(),
                },
                meta: Metadata::new(0o644),
            },
            &mut std::io::empty(),
        )
        .expect_err("dangling hard link");
    assert_mentions(&e.to_string(), &["link", "missing"]);
}
