//! The full comparison on a real Debian trixie rootfs (mmdebstrap minbase +
//! systemd, linux-image-amd64, containerd). The tarball comes from
//! $KUBEBAKE_TEST_ROOTFS_TAR, else from `ci/test-rootfs amd64` (cached).
//! A missing rootfs is a failure, whoever runs the test.

mod common;

use std::path::PathBuf;

use common::*;

fn rootfs_tar() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KUBEBAKE_TEST_ROOTFS_TAR") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "KUBEBAKE_TEST_ROOTFS_TAR={} is not a file",
            p.display()
        );
        return Some(p);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ci/test-rootfs");
    if script.is_file() {
        let out = std::process::Command::new(&script)
            .arg("amd64")
            .output()
            .expect("running ci/test-rootfs");
        if out.status.success() {
            let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if p.is_file() {
                return Some(p);
            }
        }
        eprintln!(
            "ci/test-rootfs amd64 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    None
}

#[test]
fn debian_rootfs_round_trips() {
    kubebake_hosttool::need(ORACLE_TOOLS);
    // A missing rootfs fails the test whoever runs it (issue 9, defect 25).
    let tar = rootfs_tar().unwrap_or_else(|| {
        panic!("no Debian rootfs tarball: set KUBEBAKE_TEST_ROOTFS_TAR or run ci/test-rootfs amd64")
    });
    let dir = scratch();
    let expected = manifest(&tar);
    assert!(
        expected.len() > 5000,
        "rootfs has only {} paths",
        expected.len()
    );
    let img = dir.path().join("rootfs.img");
    let summary = build_from_tar(&tar, &img, test_options(7))
        .unwrap_or_else(|e| panic!("building {}: {e}", tar.display()));
    eprintln!("rootfs image: {summary:?}");
    check_image(&img, &expected);
}
