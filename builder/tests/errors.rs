//! Bad inputs: each exits 1 with a one-line `error:` naming cause and fix,
//! and leaves neither OUT nor OUT.tmp behind. Also the default path offline.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::*;

fn assert_clean_failure(o: &Output, out: &Path, must_contain: &[&str]) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "exit code; stderr: {stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "exactly one error line: {stderr}");
    for m in must_contain {
        assert!(errors[0].contains(m), "`{m}` missing from: {}", errors[0]);
    }
    assert!(!out.exists(), "{} must not exist", out.display());
    let tmp = PathBuf::from(format!("{}.tmp", out.display()));
    assert!(!tmp.exists(), "{} must not exist", tmp.display());
}

fn build_cmd(dir: &Path, out: &Path, rootfs: &Path) -> Command {
    let mut c = kubebake();
    c.arg("build")
        .arg("-o")
        .arg(out)
        .arg("--rootfs")
        .arg(rootfs)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .current_dir(dir);
    c
}

fn with_components(c: &mut Command, dir: &Path, skip: &str) {
    for a in write_components(dir) {
        if !a.starts_with(&format!("{skip}=")) {
            c.arg("--component").arg(a);
        }
    }
}

#[test]
fn unknown_profile_key_names_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tmp");
    let rootfs = dir.path().join("r.tar");
    write_rootfs(&rootfs, Rootfs::full("amd64"));
    let prof = dir.path().join("typo.toml");
    std::fs::write(
        &prof,
        "extends = \"generic-amd64\"\nname = \"typo\"\n\n[disk]\nesp_mb = 64\n",
    )
    .expect("write");
    let out = dir.path().join("o.raw");
    let mut c = build_cmd(dir.path(), &out, &rootfs);
    c.arg(&prof);
    with_components(&mut c, dir.path(), "");
    assert_clean_failure(
        &c.output().expect("run"),
        &out,
        &["typo.toml:5:1", "esp_mb"],
    );
}

#[test]
fn rootfs_without_kernel_names_the_package() {
    let dir = tempfile::tempdir().expect("tmp");
    let rootfs = dir.path().join("r.tar");
    write_rootfs(
        &rootfs,
        Rootfs {
            kernel: false,
            ..Rootfs::full("amd64")
        },
    );
    let out = dir.path().join("o.raw");
    let mut c = build_cmd(dir.path(), &out, &rootfs);
    with_components(&mut c, dir.path(), "");
    assert_clean_failure(
        &c.output().expect("run"),
        &out,
        &["no kernel", "linux-image-amd64"],
    );
}

#[test]
fn rootfs_without_systemd_boot_names_the_package() {
    let dir = tempfile::tempdir().expect("tmp");
    let rootfs = dir.path().join("r.tar");
    write_rootfs(
        &rootfs,
        Rootfs {
            systemd_boot: false,
            ..Rootfs::full("amd64")
        },
    );
    let out = dir.path().join("o.raw");
    let mut c = build_cmd(dir.path(), &out, &rootfs);
    with_components(&mut c, dir.path(), "");
    assert_clean_failure(
        &c.output().expect("run"),
        &out,
        &["systemd-bootx64.efi", "systemd-boot-efi"],
    );
}

#[test]
fn disk_too_small_says_how_to_fix() {
    let dir = tempfile::tempdir().expect("tmp");
    let rootfs = dir.path().join("r.tar");
    write_rootfs(&rootfs, Rootfs::full("amd64"));
    let out = dir.path().join("o.raw");
    let mut c = build_cmd(dir.path(), &out, &rootfs);
    c.args(["--set", "disk.root_size_mib=1"]);
    with_components(&mut c, dir.path(), "");
    assert_clean_failure(
        &c.output().expect("run"),
        &out,
        &["does not fit", "root_size_mib"],
    );
}

#[test]
fn bad_sha256_names_url_expected_and_got() {
    let dir = tempfile::tempdir().expect("tmp");
    let rootfs = dir.path().join("r.tar");
    write_rootfs(&rootfs, Rootfs::full("amd64"));
    let url = format!("{}/kubelet", serve(b"not the real kubelet"));
    let out = dir.path().join("o.raw");
    let mut c = build_cmd(dir.path(), &out, &rootfs);
    with_components(&mut c, dir.path(), "kubelet");
    // A mirror URL without #sha256= is checked against the profile's pin.
    c.arg("--component").arg(format!("kubelet={url}"));
    no_proxy(&mut c);
    assert_clean_failure(
        &c.output().expect("run"),
        &out,
        &[
            &url,
            "e7343310e03ff0d424df4397bdfa4468947d6d1f0f93dac586c1e8d6e4086d5d",
            "sha256",
        ],
    );
    // nothing unverified is left in the cache
    let cached = dir.path().join("cache/kubebake/downloads/sha256");
    let n = std::fs::read_dir(&cached).map(|d| d.count()).unwrap_or(0);
    assert_eq!(n, 0, "a mismatching download must not be cached");
}

/// README's first command offline: the agent is there, nothing can be
/// downloaded, and one error lists every download with the offline hint.
#[test]
fn default_build_offline_lists_every_download_with_the_hint() {
    let dir = tempfile::tempdir().expect("tmp");
    let agent = write_components(dir.path())
        .into_iter()
        .find(|c| c.starts_with("kubebake-firstboot="))
        .expect("agent double");
    let started = Instant::now();
    let o = kubebake()
        .args(["build", "--component", &agent])
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        // No network here anyway; a dead proxy makes it fail fast everywhere.
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("https_proxy", "http://127.0.0.1:9")
        .current_dir(dir.path())
        .output()
        .expect("run");
    let out = dir.path().join("generic-amd64.raw");
    assert_clean_failure(
        &o,
        &out,
        &[
            "kubelet from https://dl.k8s.io/release/v1.35.1/bin/linux/amd64/kubelet",
            "kubeadm from https://dl.k8s.io/release/v1.35.1/bin/linux/amd64/kubeadm",
            "crictl from https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.35.0/",
            "offline",
            "--component kubelet=",
            "--component crictl=",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "must fail quickly"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !stderr.contains("running mmdebstrap"),
        "mmdebstrap ran before the downloads: {stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let o = kubebake()
        .args(["build", "--no-such-flag"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
}

const VALID_SEED: &str = "#cloud-config\nhostname: worker-1\nkubernetes:\n  role: worker\n  \
endpoint: 192.168.6.10:6443\n  token: abcdef.0123456789abcdef\n  ca_cert_hash: \
sha256:a4853df8cab8e1cb0e4856fa816156be2df8895cdd1c7265f572d3777c8f9878\n";

#[test]
fn invalid_seed_is_rejected_with_its_problems() {
    let dir = tempfile::tempdir().expect("tmp");
    let rootfs = dir.path().join("r.tar");
    write_rootfs(&rootfs, Rootfs::full("amd64"));
    let seed = dir.path().join("user-data");
    std::fs::write(
        &seed,
        VALID_SEED.replace("abcdef.0123456789abcdef", "ABCDEF.0123456789ABCDEF"),
    )
    .expect("seed");
    let out = dir.path().join("o.raw");
    let mut c = build_cmd(dir.path(), &out, &rootfs);
    c.arg("--seed").arg(&seed);
    with_components(&mut c, dir.path(), "");
    assert_clean_failure(
        &c.output().expect("run"),
        &out,
        &["seed is invalid", "kubernetes.token"],
    );
}

#[test]
fn valid_seed_is_embedded_0600() {
    kubebake_hosttool::need(&["debugfs"]);
    let dir = tempfile::tempdir().expect("tmp");
    let rootfs = dir.path().join("r.tar");
    write_rootfs(&rootfs, Rootfs::full("amd64"));
    let seed = dir.path().join("user-data");
    std::fs::write(&seed, VALID_SEED).expect("seed");
    let out = dir.path().join("o.raw");
    let mut c = build_cmd(dir.path(), &out, &rootfs);
    c.arg("--seed")
        .arg(&seed)
        .args(["--set", "disk.esp_mib=48"]);
    with_components(&mut c, dir.path(), "");
    let o = c.output().expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // root A starts right after the 48 MiB ESP at 1 MiB
    let root = dir.path().join("root.img");
    let len = std::fs::metadata(&out).expect("img").len();
    extract(&out, 49 << 20, (len - (50 << 20)) / 2, &root);
    let (ok, text) = run(kubebake_hosttool::command("debugfs")
        .args(["-R", "cat /usr/lib/kubebake/seed/user-data"])
        .arg(&root));
    assert!(
        ok && text.contains("token: abcdef.0123456789abcdef"),
        "{text}"
    );
    let (_, stat) = run(kubebake_hosttool::command("debugfs")
        .args(["-R", "stat /usr/lib/kubebake/seed/user-data"])
        .arg(&root));
    assert!(stat.contains("Mode:  0600"), "{stat}");
}

/// Defect 13: an image that embeds a seed (tokens, keys) is written 0600,
/// whatever the umask and whatever was at OUT or OUT.tmp before, and the
/// log and --json say so; without a seed the umask decides as usual.
#[test]
fn seeded_image_is_written_0600_and_says_so() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tmp");
    let rootfs = dir.path().join("r.tar");
    write_rootfs(&rootfs, Rootfs::full("amd64"));
    let seed = dir.path().join("user-data");
    std::fs::write(&seed, VALID_SEED).expect("seed");
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    for seeded in [true, false] {
        let out = dir.path().join(format!("o-{seeded}.raw"));
        let tmp = PathBuf::from(format!("{}.tmp", out.display()));
        for p in [&out, &tmp] {
            std::fs::write(p, b"old").expect("old");
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let mut c = build_cmd(dir.path(), &out, &rootfs);
        with_components(&mut c, dir.path(), "");
        c.arg("--json").env("KUBEBAKE_LOG", "info");
        if seeded {
            c.arg("--seed").arg(&seed);
        }
        // Under a permissive umask: the mode must not depend on it.
        let mut sh = command_like("sh", &c);
        sh.arg("-c")
            .arg("umask 000; exec \"$@\"")
            .arg("sh")
            .arg(c.get_program())
            .args(c.get_args());
        let o = sh.output().expect("run");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{stderr}");
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert!(!tmp.exists());
        if seeded {
            assert_eq!(mode(&out), 0o600, "seeded image mode");
            assert_eq!(j["secrets"], true, "{j}");
            assert_eq!(j["mode"], "0600", "{j}");
            assert!(
                stderr
                    .lines()
                    .any(|l| l.contains("0600") && l.contains("secret")),
                "the log says why the image is 0600: {stderr}"
            );
        } else {
            assert_eq!(mode(&out), 0o666, "unseeded image: umask 000 applies");
            assert_eq!(j["secrets"], false, "{j}");
        }
    }
}

/// An SGR (colour) escape sequence: ESC [ digits/semicolons m.
fn has_sgr(text: &str) -> bool {
    text.split('\x1b').skip(1).any(|rest| {
        let Some(body) = rest.strip_prefix('[') else {
            return false;
        };
        let end = body
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(body.len());
        body[end..].starts_with('m')
    })
}

/// Defect 21: no colour when stderr is not a terminal; on a terminal
/// colour unless NO_COLOR is set (`script` gives the run a pty).
#[test]
fn log_colour_only_on_a_terminal_and_never_with_no_color() {
    let dir = tempfile::tempdir().expect("tmp");
    let args = ["build", "--rootfs", "missing.tar", "-o", "o.raw"];
    let o = kubebake()
        .args(args)
        .env("KUBEBAKE_LOG", "info")
        .env_remove("NO_COLOR")
        .current_dir(dir.path())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("INFO"), "an info line to check: {stderr}");
    assert!(!has_sgr(&stderr), "colour on a pipe: {stderr:?}");

    assert!(
        Path::new("/usr/bin/script").is_file(),
        "/usr/bin/script (util-linux) missing: run ci/install-host-tools"
    );
    let line = format!("{} {}", env!("CARGO_BIN_EXE_kubebake"), args.join(" "));
    for (no_color, want) in [(None, true), (Some("1"), false)] {
        let mut c = Command::new("/usr/bin/script");
        c.args(["-qec", &line, "/dev/null"])
            .env("KUBEBAKE_LOG", "info")
            .current_dir(dir.path());
        match no_color {
            Some(v) => c.env("NO_COLOR", v),
            None => c.env_remove("NO_COLOR"),
        };
        let o = c.output().expect("run script");
        let tty = String::from_utf8_lossy(&o.stdout);
        assert!(tty.contains("INFO"), "an info line to check: {tty:?}");
        assert_eq!(has_sgr(&tty), want, "NO_COLOR={no_color:?}: {tty:?}");
    }
}

/// Defect 21: a bar for each download and for the image write on a
/// terminal (`script` gives the run a pty); none of it on a pipe.
#[test]
fn progress_bars_only_on_a_terminal() {
    use sha2::{Digest, Sha256};
    const KUBELET: &[u8] = b"#!/bin/sh\necho served-kubelet\n";
    let url = format!("{}/kubelet", serve(KUBELET));
    let sha = hex::encode(Sha256::digest(KUBELET));
    let dir = tempfile::tempdir().expect("tmp");
    let rootfs = dir.path().join("r.tar");
    write_rootfs(&rootfs, Rootfs::full("amd64"));
    let mut c = build_cmd(dir.path(), &dir.path().join("o.raw"), &rootfs);
    with_components(&mut c, dir.path(), "kubelet");
    c.arg("--component")
        .arg(format!("kubelet={url}#sha256={sha}"));
    no_proxy(&mut c);
    let o = c.output().expect("run");
    let piped = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{piped}");
    for bar in ["downloaded", "rootfs", "[=="] {
        assert!(!piped.contains(bar), "a bar on a pipe: {piped:?}");
    }

    assert!(
        Path::new("/usr/bin/script").is_file(),
        "/usr/bin/script (util-linux) missing: run ci/install-host-tools"
    );
    let _ = std::fs::remove_file(dir.path().join("o.raw"));
    let _ = std::fs::remove_dir_all(dir.path().join("cache"));
    let line: Vec<String> = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut t = command_like("/usr/bin/script", &c);
    t.args(["-qec", &line.join(" "), "/dev/null"]);
    let o = t.output().expect("run script");
    let tty = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{tty}");
    assert!(
        tty.lines()
            .any(|l| l.contains("kubelet [") && l.contains("downloaded")),
        "a finished download bar: {tty:?}"
    );
    assert!(tty.contains("rootfs ["), "the image write bar: {tty:?}");
}
