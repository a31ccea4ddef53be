//! The test-only rootfs layer of the first-boot VM test (never in real
//! images): a checker unit ordered after `kubebake-firstboot.service` that
//! prints `BOOTTEST key=value` lines and powers off, the agent knobs a slow
//! TCG guest needs, a CNI manifest for the init case, and a route for the
//! kubeadm double's mode file onto STATE (the root and `/etc` are read-only,
//! so the seed's `write_files` writes the mode under `/var`).

use std::fs;
use std::path::{Path, PathBuf};

/// The checker script.
pub const CHECK: &str = include_str!("check.sh");

/// Where the seed's `write_files` puts the kubeadm double's mode file; the
/// layer links `/etc/kubeadm-double` (where the double reads it) there.
pub const DOUBLE_ETC: &str = "/var/lib/kubeadm-double-etc";

/// A CNI manifest baked by this layer; the init seed names it in `cni:`.
pub const CNI_PATH: &str = "/usr/lib/kubebake-test/cni.yaml";

/// Its content (the kubectl double prints the sha256 of what it applies).
pub const CNI_MANIFEST: &str = "# kubebake first-boot VM test: a stand-in CNI manifest\n\
apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kubebake-test-cni\n  namespace: kube-system\n";

/// Agent knobs for the test image: a short NTP wait (the guest has no route
/// to any NTP server; the wait is excluded from the agent's own work anyway).
pub const AGENT_ENV: &str = "KUBEBAKE_NTP_TIMEOUT_MS=5000\n";

const MTIME: u64 = 1_735_689_600;

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(kind);
    h
}

fn file(b: &mut tar::Builder<fs::File>, path: &str, mode: u32, data: &[u8]) {
    let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
    b.append_data(&mut h, path, data).expect("tar append file");
}

fn dir(b: &mut tar::Builder<fs::File>, path: &str) {
    let mut h = header(tar::EntryType::Directory, 0o755, 0);
    b.append_data(&mut h, path, std::io::empty())
        .expect("tar append dir");
}

fn link(b: &mut tar::Builder<fs::File>, path: &str, target: &str) {
    let mut h = header(tar::EntryType::Symlink, 0o777, 0);
    b.append_link(&mut h, path, target)
        .expect("tar append symlink");
}

/// Write the layer tarball into `work` and return its path.
pub fn write(work: &Path, tty: &str) -> PathBuf {
    let path = work.join("firstboot-check.tar");
    let f = fs::File::create(&path).expect("create check layer");
    let mut b = tar::Builder::new(f);
    let unit = format!(
        "# Test only: reports the first-boot agent's outcome, then powers off.\n\
         [Unit]\nDescription=kubebake first-boot VM test checker\n\
         After=kubebake-firstboot.service\n\n\
         [Service]\nType=simple\nExecStart=/usr/local/bin/kubebake-fbcheck {tty}\n\n\
         [Install]\nWantedBy=multi-user.target\n"
    );
    file(
        &mut b,
        "usr/local/bin/kubebake-fbcheck",
        0o755,
        CHECK.as_bytes(),
    );
    file(
        &mut b,
        "etc/systemd/system/kubebake-fbcheck.service",
        0o644,
        unit.as_bytes(),
    );
    link(
        &mut b,
        "etc/systemd/system/multi-user.target.wants/kubebake-fbcheck.service",
        "/etc/systemd/system/kubebake-fbcheck.service",
    );
    // TCG on a busy host: more than systemd's 90 s job/device defaults.
    dir(&mut b, "etc/systemd/system.conf.d/");
    file(
        &mut b,
        "etc/systemd/system.conf.d/90-fbcheck-slow-tcg.conf",
        0o644,
        b"[Manager]\nDefaultTimeoutStartSec=900s\nDefaultDeviceTimeoutSec=900s\n",
    );
    dir(&mut b, "etc/kubebake/");
    file(
        &mut b,
        "etc/kubebake/firstboot.env",
        0o644,
        AGENT_ENV.as_bytes(),
    );
    link(&mut b, "etc/kubeadm-double", DOUBLE_ETC);
    dir(&mut b, "usr/lib/kubebake-test/");
    file(
        &mut b,
        CNI_PATH.trim_start_matches('/'),
        0o644,
        CNI_MANIFEST.as_bytes(),
    );
    b.finish().expect("finish check layer");
    path
}
