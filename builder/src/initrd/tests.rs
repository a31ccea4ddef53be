//! The initrd reader against archives made by the host's GNU cpio, gzip, xz
//! and zstd, laid out as Debian's: uncompressed archives, zero padding,
//! then a compressed one.

use std::path::Path;
use std::process::Stdio;

use super::*;

const KDIR: &str = "usr/lib/modules/6.12.0-1-amd64";

/// A newc archive of `files` (path, bytes) made by `cpio -o -H newc`.
fn cpio(dir: &Path, files: &[(&str, &[u8])]) -> Vec<u8> {
    kubebake_hosttool::need(&["cpio"]);
    let tree = tempfile::tempdir_in(dir).expect("tree");
    for (p, data) in files {
        let f = tree.path().join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(&f, data).expect("write");
    }
    let list: String = files.iter().map(|(p, _)| format!("{p}\n")).collect();
    let mut c = kubebake_hosttool::command("cpio");
    c.args(["-o", "-H", "newc", "--quiet"])
        .current_dir(tree.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = c.spawn().expect("cpio");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(list.as_bytes())
        .expect("list");
    let out = child.wait_with_output().expect("cpio output");
    assert!(out.status.success(), "cpio -o failed");
    out.stdout
}

/// `data` through the host's `tool -c` (gzip, xz, zstd).
fn compress(tool: &str, data: &[u8]) -> Vec<u8> {
    kubebake_hosttool::need(&[tool]);
    let mut child = kubebake_hosttool::command(tool)
        .args(["-c", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("compressor");
    let mut stdin = child.stdin.take().expect("stdin");
    let owned = data.to_vec();
    let feeder = std::thread::spawn(move || {
        use std::io::Write as _;
        stdin.write_all(&owned).expect("feed");
    });
    let out = child.wait_with_output().expect("output");
    feeder.join().expect("feeder");
    assert!(out.status.success(), "{tool} -c failed");
    out.stdout
}

/// Pad to a 512-byte boundary with zeros, as initramfs-tools does.
fn pad512(v: &mut Vec<u8>) {
    v.resize(v.len().div_ceil(512) * 512, 0);
}

/// Early microcode + uncompressed modules + `tool`-compressed main archive.
fn debian_like(dir: &Path, tool: &str) -> Vec<u8> {
    let early = cpio(
        dir,
        &[(
            "kernel/x86/microcode/GenuineIntel.bin",
            b"ucode, odd length",
        )],
    );
    let nvme = format!("{KDIR}/kernel/drivers/nvme/host/nvme.ko.xz");
    let core = format!("{KDIR}/kernel/drivers/nvme/host/nvme-core.ko.xz");
    let mods = cpio(dir, &[(&nvme, b"xz module"), (&core, b"core")]);
    let ena = format!("{KDIR}/kernel/drivers/net/ethernet/amazon/ena/ena.ko");
    let builtin = format!("{KDIR}/modules.builtin");
    let main = cpio(
        dir,
        &[
            ("init", b"#!/bin/sh\n"),
            (&ena, b"plain module"),
            (
                &builtin,
                b"kernel/drivers/block/virtio_blk.ko\nkernel/fs/ext4/ext4.ko\n",
            ),
            ("etc/not-a-module.ko.txt", b"x"),
        ],
    );
    let mut img = early;
    pad512(&mut img);
    img.extend(mods);
    pad512(&mut img);
    img.extend(compress(tool, &main));
    img
}

fn write(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write initrd");
    p
}

#[test]
fn reads_every_archive_of_a_debian_like_initrd() {
    let dir = tempfile::tempdir().expect("tmp");
    for tool in ["zstd", "gzip", "xz"] {
        let p = write(dir.path(), tool, &debian_like(dir.path(), tool));
        let got = modules(&p, "test").expect("read");
        let want: BTreeSet<String> = ["ena", "ext4", "nvme", "nvme_core", "virtio_blk"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(got, want, "{tool}");
    }
}

#[test]
fn an_uncompressed_initrd_is_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = format!("{KDIR}/kernel/drivers/scsi/vmw_pvscsi.ko.zst");
    let p = write(dir.path(), "plain", &cpio(dir.path(), &[(&m, b"m")]));
    let got = modules(&p, "test").expect("read");
    assert_eq!(got.into_iter().collect::<Vec<_>>(), ["vmw_pvscsi"]);
}

#[test]
fn unreadable_initrds_are_errors_with_the_offset() {
    let dir = tempfile::tempdir().expect("tmp");
    let full = debian_like(dir.path(), "zstd");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", full[..700].to_vec(), "truncated"),
        (
            "lz4",
            {
                let mut v = cpio(dir.path(), &[("a", b"a")]);
                pad512(&mut v);
                v.extend([0x02, 0x21, 0x4c, 0x18, 1, 2, 3, 4]);
                v
            },
            "offset 512 that is neither a cpio archive nor gzip, xz or zstd",
        ),
        (
            "not cpio inside",
            compress("zstd", b"plain text, no archive"),
            "not a cpio archive at its offset 0",
        ),
        ("synthetic", vec![7u8; 4096], "offset 0 that is neither"),
    ];
    for (case, data, want) in cases {
        let p = write(dir.path(), case, &data);
        let e = modules(&p, "/boot/initrd.img-X").expect_err(case);
        let msg = format!("{e:#}");
        assert!(
            msg.contains(want) && msg.contains("/boot/initrd.img-X"),
            "{case}: {msg}"
        );
    }
}

#[test]
fn module_names_follow_modprobe() {
    assert_eq!(
        module_name("a/b/nvme-core.ko.xz").as_deref(),
        Some("nvme_core")
    );
    assert_eq!(
        module_name("kernel/fs/ext4/ext4.ko").as_deref(),
        Some("ext4")
    );
    assert_eq!(module_name("x/ena.ko.zst").as_deref(), Some("ena"));
    assert_eq!(module_name("x/notes.ko.txt"), None);
    assert_eq!(module_name("x/.ko"), None);
    assert_eq!(module_name("x/modules.order"), None);
}
