//! The shipped platform profiles (issue 10, acceptance 3): `aws-amd64`,
//! `vsphere-amd64` and `aws-arm64` built by the real `kubebake` with
//! `--component` doubles, and their images read back with host tools: the
//! initrd on the ESP listed by GNU cpio (and zstd) carries the drivers, the
//! loader entry has the platform's console, root A (debugfs) has the tools.
//!
//! The amd64 profiles run their own mmdebstrap recipe (about a minute each
//! natively), so the recipe's initramfs hook and packages are what is
//! checked. An arm64 mmdebstrap runs under qemu-user (10-30 min), so
//! `aws-arm64` is built from the cached arm64 test rootfs instead
//! (`--rootfs`, `KUBEBAKE_TEST_ROOTFS_ARM64`; Debian's MODULES=most initrd
//! carries nvme and ena), and its test is named `arm64_rootfs_…` so that
//! `ci/test` runs it after the arm64 inputs it makes in the background
//! (run alone, `ci/test-rootfs arm64` makes or reuses the rootfs).

mod common;
mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::*;

/// What a profile's image must show.
struct Want {
    profile: &'static str,
    /// Modules whose `NAME.ko*` the ESP's initrd must hold.
    modules: &'static [&'static str],
    /// Kernel command line words the loader entry must have.
    cmdline: &'static [&'static str],
    /// The last `console=` (the kernel's /dev/console).
    console: &'static str,
    /// Files root A must have.
    files: &'static [&'static str],
    /// The profile's own formats besides the raw disk the checks read.
    formats: &'static [&'static str],
}

/// Run `tool ARGS` with `input` on stdin: (stdout, stderr, success).
fn pipe(tool: &str, args: &[&str], input: &[u8]) -> (Vec<u8>, String, bool) {
    kubebake_hosttool::need(&[tool]);
    let mut child = kubebake_hosttool::command(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let owned = input.to_vec();
    // cpio may stop reading at its trailer: a broken pipe is not an error.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&owned);
    });
    let out = child.wait_with_output().expect("wait");
    feeder.join().expect("feeder");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.stdout, err, out.status.success())
}

/// `cpio -it` of the archive at the start of `data`: its paths and the
/// 512-byte blocks cpio read (initramfs-tools pads each archive to them).
fn cpio_list(data: &[u8]) -> (Vec<String>, usize) {
    let (out, err, ok) = pipe("cpio", &["-it"], data);
    assert!(ok, "cpio -it: {err}");
    let blocks = err
        .lines()
        .find_map(|l| l.strip_suffix(" blocks"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no block count from cpio: {err}"));
    let paths = String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_string)
        .collect();
    (paths, blocks)
}

/// Every path in an initrd, as the host's tools see it: each uncompressed
/// archive in turn, then the compressed rest through zstd, gzip or xz.
fn initrd_paths(initrd: &Path) -> Vec<String> {
    let data = std::fs::read(initrd).expect("read initrd");
    let mut paths = Vec::new();
    let mut off = 0;
    while off < data.len() {
        if data[off] == 0 {
            off += 1;
            continue;
        }
        let rest = &data[off..];
        if rest.starts_with(b"0707") {
            let (list, blocks) = cpio_list(rest);
            paths.extend(list);
            off += blocks * 512;
            continue;
        }
        let tool = match rest {
            [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd",
            [0x1f, 0x8b, ..] => "gzip",
            [0xfd, b'7', b'z', b'X', b'Z', ..] => "xz",
            _ => panic!("initrd offset {off}: neither cpio nor zstd/gzip/xz"),
        };
        let (plain, err, ok) = pipe(tool, &["-dc"], rest);
        assert!(ok, "{tool} -dc: {err}");
        paths.extend(cpio_list(&plain).0);
        break;
    }
    paths
}

/// Does `paths` hold a `lib/modules/…/NAME.ko*`?
fn has_module(paths: &[String], name: &str) -> bool {
    paths.iter().any(|p| {
        p.contains("lib/modules/")
            && p.rsplit('/').next().is_some_and(|f| {
                f.strip_prefix(name)
                    .is_some_and(|ext| matches!(ext, ".ko" | ".ko.xz" | ".ko.zst" | ".ko.gz"))
            })
    })
}

/// Build `want.profile` (from `rootfs`, or its own recipe when empty) and
/// check the image with host tools.
fn build_and_check(rootfs: &[PathBuf], want: &Want) {
    kubebake_hosttool::need(&["sgdisk", "mtype", "mcopy", "debugfs"]);
    let dir = tempfile::tempdir().expect("tmp");
    let img = dir.path().join("node.raw");
    let mut formats = vec!["raw"];
    formats.extend(want.formats);
    let formats = formats.join(",");
    let o = build(
        dir.path(),
        rootfs,
        &img,
        &[want.profile, "--format", &formats],
    );
    let name = want.profile;
    assert!(
        o.status.success(),
        "{name}: build failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    for f in want.formats {
        let out = img.with_extension(f);
        assert!(out.is_file(), "{name}: no {}", out.display());
    }

    let (esp_off, esp_len, _) = sgdisk_info(&img, 1);
    let esp = dir.path().join("esp.img");
    extract(&img, esp_off, esp_len, &esp);
    let (ok, entry) = run(Command::new("mtype")
        .arg("-i")
        .arg(&esp)
        .arg("::/loader/entries/kubebake.conf"));
    assert!(ok, "{name}: mtype: {entry}");
    let options = entry
        .lines()
        .find_map(|l| l.strip_prefix("options "))
        .unwrap_or_else(|| panic!("{name}: no options line: {entry}"));
    let words: Vec<&str> = options.split_whitespace().collect();
    for w in want.cmdline {
        assert!(words.contains(w), "{name}: {w} missing: {options}");
    }
    let last = words.iter().rev().find(|w| w.starts_with("console="));
    assert_eq!(last, Some(&want.console), "{name}: /dev/console: {options}");

    let initrd = dir.path().join("initrd");
    let (ok, out) = run(Command::new("mcopy")
        .arg("-i")
        .arg(&esp)
        .arg("::/kubebake/initrd")
        .arg(&initrd));
    assert!(ok, "{name}: mcopy initrd: {out}");
    let paths = initrd_paths(&initrd);
    for m in want.modules {
        assert!(
            has_module(&paths, m),
            "{name}: the ESP's initrd has no {m}.ko* ({} paths)",
            paths.len()
        );
    }

    let (root_off, root_len, _) = sgdisk_info(&img, 2);
    let root = dir.path().join("root.img");
    extract(&img, root_off, root_len, &root);
    for f in want.files {
        let (found, stat) = debugfs(&root, &format!("stat {f}"));
        assert!(found, "{name}: root A has no {f}: {stat}");
    }
}

const AWS_CMDLINE: &[&str] = &["console=ttyS0,115200", "nvme_core.io_timeout=4294967295"];

#[test]
fn aws_amd64_image_has_nvme_ena_and_the_ec2_console() {
    build_and_check(
        &[],
        &Want {
            profile: "aws-amd64",
            modules: &["nvme", "ena"],
            cmdline: AWS_CMDLINE,
            console: "console=ttyS0,115200",
            // The recipe's hook listed them for initramfs-tools.
            files: &["/etc/initramfs-tools/modules"],
            formats: &[],
        },
    );
}

#[test]
fn vsphere_amd64_image_has_open_vm_tools_and_the_vmware_drivers() {
    build_and_check(
        &[],
        &Want {
            profile: "vsphere-amd64",
            modules: &["vmxnet3", "vmw_pvscsi", "nvme"],
            cmdline: &["console=ttyS0,115200"],
            console: "console=tty0",
            // kubebake-firstboot's guestinfo source calls vmware-rpctool.
            files: &["/usr/bin/vmware-rpctool", "/usr/bin/vmtoolsd"],
            // The template itself (tests/formats.rs judges an OVA's contents).
            formats: &["ova"],
        },
    );
}

#[test]
fn arm64_rootfs_aws_arm64_image_has_nvme_ena_and_the_graviton_console() {
    build_and_check(
        &[common::vm::test_rootfs(common::vm::Arch::Arm64)],
        &Want {
            profile: "aws-arm64",
            modules: &["nvme", "ena"],
            cmdline: AWS_CMDLINE,
            console: "console=ttyS0,115200",
            files: &["/usr/bin/kubelet"],
            formats: &[],
        },
    );
}
