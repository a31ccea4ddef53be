//! Layers through `tar::add_tar` (issue 9): OCI whiteouts hide only what
//! lower layers added, never entries of their own layer; a whiteout with an
//! empty name is an error; a file below a lower layer's `bin -> usr/bin`
//! symlink is refused with the path to use instead. Images are read back
//! with the pure-Rust `ext4-view`.

mod common;

use common::rawtar::RawTar;
use common::*;
use ext4w::Writer;

/// Build an image from `layers` (plain tar bytes), one `add_tar` each.
fn image(layers: &[Vec<u8>]) -> Result<ext4_view::Ext4, ext4w::Error> {
    let mut w = Writer::new(std::io::Cursor::new(Vec::new()), test_options(1))?;
    for (i, l) in layers.iter().enumerate() {
        ext4w::tar::add_tar(&mut w, &l[..], &format!("layer{i}.tar"))?;
    }
    let (_, cur) = w.finish_into_inner()?;
    Ok(ext4_view::Ext4::load(Box::new(cur.into_inner())).expect("ext4-view loads the image"))
}

fn tar(members: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut t = RawTar::new();
    for &(name, typeflag, link, data) in members {
        t.member(name, typeflag, link, data);
    }
    t.finish()
}

fn exists(fs: &ext4_view::Ext4, p: &str) -> bool {
    fs.exists(p)
        .unwrap_or_else(|e| panic!("looking up {p}: {e}"))
}

#[test]
fn whiteouts_hide_only_lower_layers() {
    let lower = tar(&[
        ("etc/a", b'0', "", b"a"),
        ("etc/b", b'0', "", b"old b"),
        ("d/x", b'0', "", b"x"),
        ("d/sub/old", b'0', "", b"old"),
        ("opt/x", b'0', "", b"x"),
        ("srv/x", b'0', "", b"x"),
        ("keep", b'0', "", b"keep"),
    ]);
    let upper = tar(&[
        // Same layer: the whiteout does not hide it.
        ("etc/c", b'0', "", b"c"),
        ("etc/.wh.c", b'0', "", b""),
        // Lower: hidden.
        ("etc/.wh.a", b'0', "", b""),
        // Hidden, then added again by this layer.
        ("etc/.wh.b", b'0', "", b""),
        ("etc/b", b'0', "", b"new b"),
        // Opaque: lower d/x and d/sub/old go, this layer's d/sub/new stays.
        ("d/sub/new", b'0', "", b"new"),
        ("d/.wh..wh..opq", b'0', "", b""),
        // A lower directory hidden after this layer added to it, and one
        // hidden before: either way only this layer's entry is left.
        ("opt/y", b'0', "", b"y"),
        (".wh.opt", b'0', "", b""),
        (".wh.srv", b'0', "", b""),
        ("srv/y", b'0', "", b"y"),
    ]);
    let fs = image(&[lower, upper]).expect("image");
    for p in [
        "/etc/c",
        "/etc/b",
        "/d/sub/new",
        "/opt/y",
        "/srv/y",
        "/keep",
    ] {
        assert!(exists(&fs, p), "{p} was hidden");
    }
    for p in ["/etc/a", "/d/x", "/d/sub/old", "/opt/x", "/srv/x"] {
        assert!(!exists(&fs, p), "{p} was not hidden");
    }
    assert_eq!(fs.read("/etc/b").expect("read"), b"new b");
    // A whiteout in the first layer has nothing below it to hide.
    let fs = image(&[tar(&[("f", b'0', "", b"f"), (".wh.f", b'0', "", b"")])]).expect("image");
    assert!(exists(&fs, "/f"));
}

#[test]
fn whiteout_with_an_empty_name_is_an_error() {
    let lower = tar(&[("etc/motd", b'0', "", b"hi")]);
    for name in ["etc/.wh.", "etc/.wh..", ".wh."] {
        let mut t = RawTar::new();
        t.file("etc/other", b"x");
        let off = t.file(name, b"");
        let msg = image(&[lower.clone(), t.finish()])
            .err()
            .unwrap_or_else(|| panic!("{name} accepted"))
            .to_string();
        for want in ["layer1.tar", name, "empty name", &off.to_string()] {
            assert!(msg.contains(want), "{want:?} missing from {msg:?}");
        }
    }
}

#[test]
fn file_below_a_merged_usr_symlink_names_the_real_path() {
    let base = tar(&[
        ("usr/bin/", b'5', "", b""),
        ("usr/sbin/", b'5', "", b""),
        ("bin", b'2', "usr/bin", b""),
        ("sbin", b'2', "/usr/sbin", b""),
    ]);
    for (path, better) in [("bin/tool", "usr/bin/tool"), ("sbin/a/b", "usr/sbin/a/b")] {
        let layer = tar(&[(path, b'0', "", b"#!/bin/sh\n")]);
        let msg = image(&[base.clone(), layer])
            .err()
            .unwrap_or_else(|| panic!("{path} accepted"))
            .to_string();
        for want in [
            "layer1.tar",
            path,
            "symlink",
            "lower layer",
            "merged-/usr",
            better,
        ] {
            assert!(msg.contains(want), "{want:?} missing from {msg:?}");
        }
    }
    // Below a regular file: no suggestion, still the plain reason.
    let layer = tar(&[("usr/bin/x/y", b'0', "", b"")]);
    let base = tar(&[("usr/bin/x", b'0', "", b"file")]);
    let msg = image(&[base, layer]).expect_err("refused").to_string();
    assert!(msg.contains("is not a directory"), "{msg}");
}
