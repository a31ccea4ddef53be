//! Hostile profiles and build inputs (issue 9, defects 7, 8, 12, 19, 20, 23).
//! Every case runs `kubebake build` on a small synthetic rootfs with
//! component doubles, so a case that is not refused builds an image and the
//! test fails on its exit code. Refusals must come before anything is
//! written or downloaded: one `error:` line naming the file and the key,
//! nothing at `OUT`, `OUT.tmp` or in `TMPDIR`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{self, assert_refused, Expect, Run, Work};
use crate::support;

/// Peak-RSS ceiling for the size that used to allocate gigabytes.
const RSS_MIB: u64 = 64;
/// The kubelet pin kubebake's release table has for 1.34.4 (amd64).
const KUBELET_1_34_4: &str = "03b8fea715a7ef82eeaf518dee34c72670c57cc7bc40dc1320c04fbf4f15172f";
/// The shipped profile's kubelet pin, for 1.35.1 (amd64).
const KUBELET_1_35_1: &str = "e7343310e03ff0d424df4397bdfa4468947d6d1f0f93dac586c1e8d6e4086d5d";
/// A proxy nothing listens on: any download fails at once.
const DEAD_PROXY: &str = "http://127.0.0.1:9";

/// A work dir holding `r.tar` (a small rootfs for `arch`) and the
/// component doubles; returns it with the `--rootfs` and `--component`
/// arguments, minus the components named in `skip`.
pub(crate) fn setup(arch: &'static str, skip: &[&str]) -> (Work, Vec<String>) {
    let work = Work::new();
    let args = inputs(&work, arch, skip);
    (work, args)
}

/// [`setup`]'s inputs written into an existing `work`, and the arguments.
fn inputs(work: &Work, arch: &'static str, skip: &[&str]) -> Vec<String> {
    support::write_rootfs(&work.join("r.tar"), support::Rootfs::full(arch));
    let mut args = vec!["--rootfs".to_string(), "r.tar".to_string()];
    for c in support::write_components(work.path()) {
        let name = c.split('=').next().unwrap_or_default();
        if !skip.contains(&name) {
            args.push("--component".into());
            args.push(c);
        }
    }
    args
}

/// `kubebake build -o o.raw ARGS EXTRA` in `work`, downloads going nowhere.
pub(crate) fn build(work: &Work, args: &[String], extra: &[&str]) -> Command {
    let mut all: Vec<&str> = vec!["build", "-o", "o.raw"];
    all.extend(args.iter().map(String::as_str));
    all.extend(extra);
    let mut c = work.kubebake(&all);
    offline(&mut c);
    c
}

pub(crate) fn offline(c: &mut Command) {
    for v in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
        c.env(v, DEAD_PROXY);
    }
    for v in ["ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"] {
        c.env_remove(v);
    }
}

pub(crate) fn refused(
    case: &str,
    work: &Work,
    cmd: Command,
    names: &[&str],
    rss_mib: Option<u64>,
) -> Run {
    let run = harness::run(cmd);
    let out = work.join("o.raw");
    let want = Expect {
        code: 1,
        names,
        out: Some(&out),
        rss_mib,
    };
    assert_refused(case, &run, &want, work);
    run
}

/// One `[disk]` key, the range the error must state, and absurd values.
struct SizeKey {
    key: &'static str,
    lo: &'static str,
    hi: &'static str,
    bad: &'static [&'static str],
}

/// 17592186044672 is 2^44 + 256: shifted left by 20 it wraps to 256 MiB.
const SIZE_KEYS: &[SizeKey] = &[
    SizeKey {
        key: "esp_mib",
        lo: "32",
        hi: "4096",
        bad: &[
            "17592186044672",
            "9223372036854775807",
            "-1",
            "0",
            "31",
            "4097",
        ],
    },
    SizeKey {
        key: "state_min_mib",
        lo: "64",
        hi: "1048576",
        bad: &[
            "17592186044416",
            "9223372036854775807",
            "-1",
            "0",
            "1048577",
        ],
    },
    SizeKey {
        key: "root_size_mib",
        lo: "1",
        hi: "262144",
        bad: &["17592186044416", "9223372036854775807", "-1", "0", "262145"],
    },
    SizeKey {
        key: "root_headroom_mib",
        lo: "0",
        hi: "262144",
        bad: &["17592186044416", "9223372036854775807", "-1", "262145"],
    },
    SizeKey {
        key: "root_headroom_percent",
        lo: "0",
        hi: "1000",
        bad: &["4000000000", "9223372036854775807", "-1", "1001"],
    },
];

/// Defect 7, from a profile file: the error names the file and line, the
/// key and the accepted range; nothing is built. The percentage that used to
/// take gigabytes stays under the RSS ceiling.
#[test]
fn absurd_sizes_in_a_profile_file_are_refused_with_key_file_and_range() {
    for k in SIZE_KEYS {
        for v in k.bad {
            let (work, args) = setup("amd64", &[]);
            std::fs::write(
                work.join("p.toml"),
                format!(
                    "extends = \"generic-amd64\"\nname = \"p\"\n\n[disk]\n{} = {v}\n",
                    k.key
                ),
            )
            .expect("profile");
            let key = format!("disk.{}", k.key);
            let cmd = build(&work, &args, &["p.toml"]);
            refused(
                &format!("{key} = {v} in a file"),
                &work,
                cmd,
                &["p.toml:5", &key, v, k.lo, k.hi],
                Some(RSS_MIB),
            );
        }
    }
}

/// Defect 7, from `--set`: the error names the `--set` argument.
#[test]
fn absurd_sizes_from_set_are_refused_with_key_and_range() {
    for k in SIZE_KEYS {
        let v = k.bad[0];
        let (work, args) = setup("amd64", &[]);
        let set = format!("disk.{}={v}", k.key);
        let cmd = build(&work, &args, &["--set", &set]);
        refused(
            &format!("--set {set}"),
            &work,
            cmd,
            &[&format!("--set {set}"), k.lo, k.hi],
            Some(RSS_MIB),
        );
    }
    // Not a number at all: still the key, not just "after --set".
    let (work, args) = setup("amd64", &[]);
    let cmd = build(&work, &args, &["--set", "disk.esp_mib=big"]);
    refused(
        "--set disk.esp_mib=big",
        &work,
        cmd,
        &["--set disk.esp_mib=big", "integer"],
        None,
    );
}

/// Defect 8: a missing `extends` target names the file that references it,
/// wherever it is in the chain.
#[test]
fn missing_extends_target_names_the_referencing_file() {
    /// (case, files written as (name, text), needles).
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
    );
    let cases: &[Case] = &[
        (
            "missing path",
            &[("p.toml", "extends = \"gone.toml\"\nname = \"p\"\n")],
            &["p.toml", "gone.toml", "extends"],
        ),
        (
            "missing grandparent",
            &[
                ("p.toml", "extends = \"mid.toml\"\nname = \"p\"\n"),
                ("mid.toml", "extends = \"sub/gone.toml\"\nname = \"m\"\n"),
            ],
            &["mid.toml", "sub/gone.toml", "extends"],
        ),
        (
            "unknown shipped name",
            &[("p.toml", "extends = \"generic-amd65\"\nname = \"p\"\n")],
            &["p.toml", "generic-amd65", "extends", "generic-amd64"],
        ),
    ];
    for (case, files, names) in cases {
        let (work, args) = setup("amd64", &[]);
        for (f, text) in *files {
            std::fs::write(work.join(f), text).expect("profile");
        }
        let cmd = build(&work, &args, &["p.toml"]);
        refused(case, &work, cmd, names, None);
    }
}

/// The agent listed as a Kubernetes component (with or without a url) is
/// refused naming the profile key and the fix, not ignored and not asked
/// for a url: kubebake bakes its own build of the agent.
#[test]
fn agent_listed_as_a_kubernetes_component_is_refused() {
    for (case, body) in [
        ("with a url", "url = \"https://example.invalid/a\"\n"),
        ("without a url", ""),
    ] {
        let (work, args) = setup("amd64", &[]);
        let text = format!(
            "extends = \"generic-amd64\"\nname = \"p\"\n\
             [kubernetes.components.kubebake-firstboot]\n{body}"
        );
        std::fs::write(work.join("p.toml"), text).expect("profile");
        let cmd = build(&work, &args, &["p.toml"]);
        refused(
            case,
            &work,
            cmd,
            &[
                "kubernetes.components.kubebake-firstboot",
                "remove",
                "--component kubebake-firstboot=",
            ],
            None,
        );
    }
}

/// Defect 23: a Kubernetes version kubebake has no pins for is refused
/// before any download, naming the version's origin and the keys to set.
#[test]
fn version_without_pins_is_refused_naming_the_keys_to_set() {
    let (work, args) = setup("amd64", &["kubelet", "kubeadm", "kubectl"]);
    let cmd = build(&work, &args, &["--set", "kubernetes.version=1.34.0"]);
    let run = refused(
        "--set kubernetes.version=1.34.0",
        &work,
        cmd,
        &[
            "--set kubernetes.version=1.34.0",
            "kubernetes.components.kubelet.sha256.amd64",
            "kubeadm",
            "kubectl",
            "1.34.4",
        ],
        None,
    );
    assert!(!run.stderr.contains(DEAD_PROXY), "{}", run.stderr);

    let (work, args) = setup("amd64", &["kubelet", "kubeadm", "kubectl"]);
    std::fs::write(
        work.join("p.toml"),
        "extends = \"generic-amd64\"\nname = \"p\"\n[kubernetes]\nversion = \"1.36.0\"\n",
    )
    .expect("profile");
    let cmd = build(&work, &args, &["p.toml"]);
    refused(
        "version 1.36.0 in a file",
        &work,
        cmd,
        &[
            "p.toml:4",
            "1.36.0",
            "kubernetes.components.kubelet.sha256.amd64",
        ],
        None,
    );
}

/// Defect 23: a version in the release table takes its pins from there,
/// not the shipped profile's (1.35.1); pins a profile writes for its own
/// version still win. Seen through a mirror serving the wrong bytes.
#[test]
fn pins_follow_the_version_and_explicit_pins_win() {
    let url = format!("{}/kubelet", support::serve(b"not the real kubelet"));
    let (work, args) = setup("amd64", &["kubelet"]);
    let kubelet = format!("kubelet={url}");
    let mut cmd = build(
        &work,
        &args,
        &[
            "--set",
            "kubernetes.version=1.34.4",
            "--component",
            &kubelet,
        ],
    );
    support::no_proxy(&mut cmd);
    let run = refused(
        "1.34.4 from the table",
        &work,
        cmd,
        &[&url, KUBELET_1_34_4],
        None,
    );
    assert!(!run.stderr.contains(KUBELET_1_35_1), "{}", run.stderr);

    let pin = "ab".repeat(32);
    let (work, args) = setup("amd64", &["kubelet"]);
    std::fs::write(
        work.join("p.toml"),
        format!(
            "extends = \"generic-amd64\"\nname = \"p\"\n[kubernetes]\nversion = \"1.36.0\"\n\
             [kubernetes.components.kubelet]\nsha256.amd64 = \"{pin}\"\n"
        ),
    )
    .expect("profile");
    let mut cmd = build(&work, &args, &["p.toml", "--component", &kubelet]);
    support::no_proxy(&mut cmd);
    refused("explicit pin for 1.36.0", &work, cmd, &[&url, &pin], None);
}

/// Defect 20: every component that cannot be downloaded is in one error.
#[test]
fn several_missing_components_are_listed_in_one_error() {
    let (work, args) = setup("amd64", &["kubelet", "kubeadm", "kubectl", "crictl"]);
    let cmd = build(&work, &args, &[]);
    refused(
        "four downloads offline",
        &work,
        cmd,
        &[
            "kubelet",
            "kubeadm",
            "kubectl",
            "crictl",
            "--component kubelet=",
            "--component crictl=",
        ],
        None,
    );
}

/// A minimal 64-bit little-endian ELF header for `machine`.
fn elf(machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[6] = 1;
    h[16..18].copy_from_slice(&2u16.to_le_bytes());
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h
}

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// A crictl release archive whose `crictl` member is `body`.
fn crictl_tgz(path: &Path, body: &[u8]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create"),
        flate2::Compression::fast(),
    );
    let mut b = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_path("crictl").expect("path");
    h.set_mode(0o755);
    h.set_size(body.len() as u64);
    h.set_cksum();
    b.append(&h, body).expect("append");
    b.into_inner().expect("tar").finish().expect("gz");
}

/// Defect 19: a `--component` file built for another CPU is refused before
/// anything is built, naming the component, the file and both arches.
#[test]
fn wrong_arch_components_are_refused() {
    struct Case {
        name: &'static str,
        arch: &'static str,
        component: &'static str,
        file: &'static str,
        body: fn(&Path),
        names: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "amd64 agent for arm64",
            arch: "arm64",
            component: "kubebake-firstboot",
            file: "agent-x86",
            body: |p| std::fs::write(p, elf(EM_X86_64)).expect("w"),
            names: &["kubebake-firstboot", "agent-x86", "x86-64", "arm64"],
        },
        Case {
            name: "arm64 kubelet for amd64",
            arch: "amd64",
            component: "kubelet",
            file: "kubelet-aa64",
            body: |p| std::fs::write(p, elf(EM_AARCH64)).expect("w"),
            names: &["kubelet", "kubelet-aa64", "aarch64", "amd64"],
        },
        Case {
            name: "arm64 crictl in its archive for amd64",
            arch: "amd64",
            component: "crictl",
            file: "crictl-arm64.tar.gz",
            body: |p| crictl_tgz(p, &elf(EM_AARCH64)),
            names: &["crictl", "crictl-arm64.tar.gz", "aarch64", "amd64"],
        },
        Case {
            name: "kubeadm that is neither ELF nor script",
            arch: "amd64",
            component: "kubeadm",
            file: "kubeadm.bin",
            body: |p| std::fs::write(p, support::filler(4096, 9)).expect("w"),
            names: &["kubeadm", "kubeadm.bin", "ELF"],
        },
    ];
    for c in cases {
        let (work, args) = setup(c.arch, &[c.component]);
        (c.body)(&work.join(c.file));
        let profile = format!("generic-{}", c.arch);
        let comp = format!("{}={}", c.component, c.file);
        let cmd = build(&work, &args, &[&profile, "--component", &comp]);
        refused(c.name, &work, cmd, c.names, None);
    }
}

/// The kubebake binary at `work/<rel>/kubebake` (a fresh clone's
/// `target/release/`), run with the environment and arguments of `like`.
///
/// A hard link, or a copy made by `cp`: never written through a descriptor
/// of this process. A test thread that forks while such a descriptor is
/// open (every test spawns) hands it to its child until that child execs,
/// and exec'ing the copy meanwhile fails with ETXTBSY ("Text file busy").
fn relocated(work: &Work, rel: &str, like: &Command) -> Command {
    let dir = work.join(rel);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let exe = dir.join("kubebake");
    let src = env!("CARGO_BIN_EXE_kubebake");
    if !exe.exists() && std::fs::hard_link(src, &exe).is_err() {
        let cp = Command::new("cp")
            .arg(src)
            .arg(&exe)
            .status()
            .expect("run cp");
        assert!(cp.success(), "cp {src} {}: {cp}", exe.display());
    }
    let mut c = support::command_like(exe, like);
    c.args(like.get_args());
    c
}

/// Defect 19: with no agent beside kubebake (a fresh clone after
/// `cargo run -p kubebake`), the build says where it looked and how to
/// build it, before downloading anything.
#[test]
fn missing_agent_is_reported_before_any_download() {
    for (arch, rel, looked, fix) in [
        (
            "amd64",
            "target/release",
            "target/release/kubebake-firstboot",
            "cargo build --release -p kubebake-firstboot",
        ),
        (
            "amd64",
            "target/debug",
            "target/debug/kubebake-firstboot",
            "cargo build -p kubebake-firstboot",
        ),
        (
            "arm64",
            "target/release",
            "target/aarch64-unknown-linux-gnu/release/kubebake-firstboot",
            "--component kubebake-firstboot=",
        ),
    ] {
        let work = Work::new();
        support::write_rootfs(&work.join("r.tar"), support::Rootfs::full(arch));
        let profile = format!("generic-{arch}");
        let args = vec!["--rootfs".to_string(), "r.tar".to_string()];
        let cmd = relocated(&work, rel, &build(&work, &args, &[&profile]));
        let run = refused(
            &format!("{arch} from {rel}"),
            &work,
            cmd,
            &["kubebake-firstboot", looked, fix],
            None,
        );
        assert!(
            !run.stderr.contains("downloading"),
            "downloads came first: {}",
            run.stderr
        );
    }
}

/// Defect 19: the agent is found in the same target dir for the profile's
/// arch (`target/release/` for the host, `target/<triple>/release/` for
/// others) and checked like any component.
#[test]
fn agent_is_found_in_the_target_dir_for_the_profile_arch() {
    let (work, args) = setup("arm64", &["kubebake-firstboot"]);
    let triple = work.join("target/aarch64-unknown-linux-gnu/release");
    std::fs::create_dir_all(&triple).expect("mkdir");
    // An amd64 binary where the arm64 agent belongs is refused ...
    std::fs::write(triple.join("kubebake-firstboot"), elf(EM_X86_64)).expect("w");
    let cmd = relocated(
        &work,
        "target/release",
        &build(&work, &args, &["generic-arm64"]),
    );
    refused(
        "amd64 binary in the arm64 target dir",
        &work,
        cmd,
        &[
            "target/aarch64-unknown-linux-gnu/release/kubebake-firstboot",
            "x86-64",
            "arm64",
        ],
        None,
    );
    // ... and an arm64 one is baked.
    std::fs::write(triple.join("kubebake-firstboot"), elf(EM_AARCH64)).expect("w");
    let cmd = relocated(
        &work,
        "target/release",
        &build(&work, &args, &["generic-arm64"]),
    );
    let run = harness::run(cmd);
    assert_eq!(
        run.code,
        Some(0),
        "arm64 agent from its dir: {}",
        run.stderr
    );
    assert!(work.join("o.raw").is_file());

    // The host arch's agent sits beside kubebake (`cargo build --release`).
    let (work, args) = setup("amd64", &["kubebake-firstboot"]);
    let release = work.join("target/release");
    std::fs::create_dir_all(&release).expect("mkdir");
    std::fs::write(release.join("kubebake-firstboot"), elf(EM_X86_64)).expect("w");
    let cmd = relocated(&work, "target/release", &build(&work, &args, &[]));
    let run = harness::run(cmd);
    assert_eq!(
        run.code,
        Some(0),
        "amd64 agent beside kubebake: {}",
        run.stderr
    );
    assert!(work.join("o.raw").is_file());
}

// ---------------------------------------------------------------- defect 12

/// A stand-in for mmdebstrap that writes a rootfs up to the middle of a
/// large file and then trickles its data, so the build is caught mid-write;
/// it dies of SIGPIPE once nobody reads.
fn slow_mmdebstrap(work: &Work) -> PathBuf {
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let head = bin.join("mmdebstrap.head");
    support::write_rootfs(&head, support::Rootfs::full("amd64"));
    // Drop the two end-of-archive blocks and start a 1 GiB member.
    let mut tar = std::fs::read(&head).expect("read");
    while tar.len() >= 512 && tar[tar.len() - 512..].iter().all(|b| *b == 0) {
        tar.truncate(tar.len() - 512);
    }
    let mut h = tar::Header::new_gnu();
    h.set_path("./usr/big").expect("path");
    h.set_mode(0o644);
    h.set_size(1 << 30);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    std::fs::write(&head, tar).expect("write head");
    let script = bin.join("mmdebstrap");
    std::fs::write(
        &script,
        "#!/bin/sh\ncat \"$0.head\"\nwhile printf '%512s' ''; do sleep 0.05; done\n",
    )
    .expect("script");
    support::chmod_x(&script);
    bin
}

/// The PIDs of processes holding `path` open.
fn holders(path: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    for p in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == path))
        {
            out.push(pid);
        }
    }
    out
}

/// Start a default build (mmdebstrap base) and wait until it is writing
/// `OUT.tmp` with the boot files captured in `TMPDIR`.
fn start_slow_build(work: &Work) -> std::process::Child {
    use std::os::unix::process::CommandExt as _;
    let bin = slow_mmdebstrap(work);
    let mut args = Vec::new();
    for c in support::write_components(work.path()) {
        args.push("--component".to_string());
        args.push(c);
    }
    let mut cmd = build(work, &args, &[]);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().expect("spawn kubebake");
    let tmp = work.join("o.raw.tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            let o = child.wait_with_output().expect("output");
            panic!(
                "the build ended before it was interrupted: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let captured = walk_files(&work.join("tmp"));
        if tmp.exists() && captured >= 3 && !holders(&tmp).is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the build never reached the rootfs write (o.raw.tmp {}, {captured} captured files)",
            tmp.exists()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

fn walk_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_files(&p)
            } else {
                1
            }
        })
        .sum()
}

fn kill(sig: &str, target: &str) {
    let st = Command::new("kill")
        .args([sig, "--", target])
        .status()
        .expect("run kill");
    assert!(st.success(), "kill {sig} {target}");
}

/// Wait for `child` and check the interrupted build left nothing behind.
fn assert_interrupted(case: &str, work: &Work, child: std::process::Child, code: i32) {
    let o = child.wait_with_output().expect("wait");
    let run = Run {
        code: o.status.code(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        peak_rss_kib: 0,
    };
    let out = work.join("o.raw");
    let want = Expect {
        code,
        names: &["interrupted", "o.raw.tmp"],
        out: Some(&out),
        rss_mib: None,
    };
    assert_refused(case, &run, &want, work);
    assert!(
        holders(&work.join("o.raw.tmp")).is_empty(),
        "{case}: a process still writes the image"
    );
}

/// Defect 12: Ctrl-C (SIGINT to the whole process group) mid-write.
#[test]
fn sigint_during_a_build_leaves_nothing() {
    let work = Work::new();
    let child = start_slow_build(&work);
    kill("-INT", &format!("-{}", child.id()));
    assert_interrupted("SIGINT", &work, child, 130);
}

/// Defect 12: SIGTERM to kubebake alone (`kill PID`, `timeout`).
#[test]
fn sigterm_during_a_build_leaves_nothing() {
    let work = Work::new();
    let child = start_slow_build(&work);
    kill("-TERM", &child.id().to_string());
    assert_interrupted("SIGTERM", &work, child, 143);
}

/// Defect 12: the process writing the image dies without unwinding (an
/// abort, the OOM killer: SIGKILL here), and still nothing is left.
#[test]
fn a_killed_writer_leaves_nothing() {
    let work = Work::new();
    let child = start_slow_build(&work);
    let writers = holders(&work.join("o.raw.tmp"));
    assert_eq!(writers.len(), 1, "one process writes the image");
    kill("-KILL", &writers[0].to_string());
    assert_interrupted("SIGKILL of the writer", &work, child, 137);
}

/// Defect 12: the supervisor itself SIGKILLed (no cleanup can run in it):
/// its worker dies with it instead of writing on as an orphan and renaming
/// an image nobody waits for into place, and the next build to the same
/// output replaces the stale `OUT.tmp` and leaves only its own image.
#[test]
fn a_killed_supervisor_takes_its_worker_with_it() {
    let work = Work::new();
    let mut child = start_slow_build(&work);
    let tmp = work.join("o.raw.tmp");
    let writers = holders(&tmp);
    assert_eq!(writers.len(), 1, "one process writes the image");
    kill("-KILL", &child.id().to_string());
    // Not wait_with_output: an orphaned worker would hold the pipes open.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let st = child.wait().expect("wait");
    assert_eq!(st.code(), None, "the supervisor died of SIGKILL");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !holders(&tmp).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let orphans = holders(&tmp);
    for pid in &orphans {
        // Leave no process behind when the assertion below fails.
        kill("-KILL", &pid.to_string());
    }
    assert!(
        orphans.is_empty(),
        "the worker {orphans:?} still writes o.raw.tmp 10 s after its supervisor was killed"
    );
    assert!(!work.join("o.raw").exists(), "an image at o.raw");

    // The next build to o.raw: the stale o.raw.tmp gone, a good image.
    let args = inputs(&work, "amd64", &[]);
    let run = harness::run(build(&work, &args, &[]));
    assert_eq!(run.code, Some(0), "the next build: {}", run.stderr);
    assert!(
        work.join("o.raw").is_file(),
        "no image after the next build"
    );
    assert!(!tmp.exists(), "the stale o.raw.tmp is still there");
}

/// Defect 12: SIGTERM in the middle of a download leaves no partial file in
/// the download cache.
#[test]
fn sigterm_during_a_download_leaves_no_partial_download() {
    use std::os::unix::process::CommandExt as _;
    let url = format!(
        "{}/kubelet#sha256={}",
        support::serve_stalling(),
        "ab".repeat(32)
    );
    let (work, args) = setup("amd64", &["kubelet"]);
    let kubelet = format!("kubelet={url}");
    let mut cmd = build(&work, &args, &["--component", &kubelet]);
    support::no_proxy(&mut cmd);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    let child = cmd.spawn().expect("spawn kubebake");
    let cache = work.join("cache/kubebake/downloads/sha256");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while walk_files(&cache) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    kill("-TERM", &child.id().to_string());
    assert_interrupted("SIGTERM mid-download", &work, child, 143);
    let left: Vec<_> = std::fs::read_dir(&cache)
        .expect("cache dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in the download cache: {left:?}");
}

/// A layer replacing the synthetic rootfs's initrd with a real newc cpio
/// (made by the host's GNU cpio) that carries only `nvme.ko.xz`.
fn nvme_only_initrd_layer(work: &Work) -> PathBuf {
    use std::io::Write as _;
    kubebake_hosttool::need(&["cpio"]);
    let tree = work.join("initrd-tree");
    let ko = "usr/lib/modules/6.12.0-1-amd64/kernel/drivers/nvme/host/nvme.ko.xz";
    std::fs::create_dir_all(tree.join(ko).parent().expect("parent")).expect("mkdir");
    std::fs::write(tree.join(ko), b"module").expect("module");
    let mut cpio = kubebake_hosttool::command("cpio");
    cpio.args(["-o", "-H", "newc", "--quiet"])
        .current_dir(&tree)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cpio.spawn().expect("cpio");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(format!("{ko}\n").as_bytes()).expect("list");
    drop(stdin);
    let out = child.wait_with_output().expect("cpio");
    assert!(out.status.success(), "cpio -o failed");
    let layer = work.join("initrd.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&layer).expect("layer"));
    let mut h = tar::Header::new_gnu();
    h.set_path("./boot/initrd.img-6.12.0-1-amd64")
        .expect("path");
    h.set_size(out.stdout.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append(&h, &out.stdout[..]).expect("append");
    b.into_inner().expect("finish");
    layer
}

/// Issue 10: `initramfs_modules` is checked in the initrd the build puts on
/// the ESP, not taken on trust: a module the `--rootfs` initrd lacks, an
/// initrd that is not a cpio at all, or a name that is no module name is one
/// error naming the profile field, the module and the fix; an initrd that
/// has every listed module builds.
#[test]
fn initramfs_modules_missing_from_the_initrd_are_refused() {
    let (work, mut args) = setup("amd64", &[]);
    let names_nvme_ena = r#"initramfs_modules=["nvme","ena"]"#;
    let cmd = build(&work, &args, &["--set", names_nvme_ena]);
    refused(
        "synthetic initrd (not a cpio)",
        &work,
        cmd,
        &[
            "initramfs_modules",
            "/boot/initrd.img-6.12.0-1-amd64",
            "neither a cpio archive",
        ],
        None,
    );
    let cmd = build(
        &work,
        &args,
        &["--set", r#"initramfs_modules=["nvme;reboot"]"#],
    );
    refused(
        "not a module name",
        &work,
        cmd,
        &["initramfs_modules", "`nvme;reboot`", "without .ko"],
        None,
    );
    args.extend([
        "--rootfs".into(),
        nvme_only_initrd_layer(&work).display().to_string(),
    ]);
    let cmd = build(&work, &args, &["--set", names_nvme_ena]);
    let run = refused(
        "ena missing from a cpio initrd",
        &work,
        cmd,
        &[
            "initramfs_modules lists ena but",
            "/boot/initrd.img-6.12.0-1-amd64",
            "update-initramfs -u",
        ],
        None,
    );
    assert!(
        !run.stderr.contains("lists nvme"),
        "nvme is there: {}",
        run.stderr
    );
    let run = harness::run(build(
        &work,
        &args,
        &["--set", r#"initramfs_modules=["nvme"]"#],
    ));
    assert_eq!(
        run.code,
        Some(0),
        "every listed module present: {}",
        run.stderr
    );
}
