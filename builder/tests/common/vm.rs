//! VM boot tests: build an image with `kubebake build` from the cached Debian
//! trixie test rootfs plus a test-only checker layer, boot copies of it in
//! QEMU (TCG, OVMF/AAVMF), and parse the `BOOTTEST key=value` lines the checker
//! prints on the serial console.
//!
//! Under `CI=true` every missing prerequisite (qemu, firmware, test rootfs,
//! kubelet/kubeadm doubles, agent binary) is a failure; without CI the test
//! prints a loud message and returns early.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The checker script baked into test images (never into real images).
pub const CHECKER: &str = include_str!("boottest.sh");

/// Bytes added to each disk copy before its first boot (STATE must span them).
pub const GROW_BYTES: u64 = 3 << 30;

/// Target architecture of a boot test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    /// Debian architecture name.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// Serial console device inside the guest.
    pub fn tty(self) -> &'static str {
        match self {
            Arch::Amd64 => "/dev/ttyS0",
            Arch::Arm64 => "/dev/ttyAMA0",
        }
    }

    fn console(self) -> &'static str {
        match self {
            Arch::Amd64 => "console=ttyS0",
            Arch::Arm64 => "console=ttyAMA0",
        }
    }

    fn qemu(self) -> &'static str {
        match self {
            Arch::Amd64 => "qemu-system-x86_64",
            Arch::Arm64 => "qemu-system-aarch64",
        }
    }

    fn firmware(self) -> (&'static str, &'static str) {
        match self {
            Arch::Amd64 => (
                "/usr/share/OVMF/OVMF_CODE_4M.fd",
                "/usr/share/OVMF/OVMF_VARS_4M.fd",
            ),
            Arch::Arm64 => (
                "/usr/share/AAVMF/AAVMF_CODE.fd",
                "/usr/share/AAVMF/AAVMF_VARS.fd",
            ),
        }
    }
}

/// True when running under CI (`CI=true`): prerequisites must be present.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Check a prerequisite. Missing under CI: panic. Missing locally: print a
/// loud message and return false (the caller returns early).
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if ci() {
        panic!("boot test prerequisite missing under CI=true: {what}");
    }
    eprintln!("\n!!!!!! SKIPPING VM BOOT TEST: {what} (set CI=true to make this a failure)\n");
    false
}

/// Is `tool` installed (PATH, then the sbin directories)?
pub fn have_tool(tool: &str) -> bool {
    kubebake_hosttool::find(tool).is_some()
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("builder/ has a parent")
        .to_path_buf()
}

/// The cached test rootfs: `$KUBEBAKE_TEST_ROOTFS_<ARCH>`, else made (or
/// reused from the cache) by `ci/test-rootfs ARCH`.
pub fn test_rootfs(arch: Arch) -> Option<PathBuf> {
    let var = format!("KUBEBAKE_TEST_ROOTFS_{}", arch.name().to_uppercase());
    if let Ok(p) = std::env::var(&var) {
        let p = PathBuf::from(p);
        return require(p.is_file(), &format!("{var}={} is not a file", p.display())).then_some(p);
    }
    let out = Command::new(repo().join("ci/test-rootfs"))
        .arg(arch.name())
        .stderr(Stdio::inherit())
        .output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    if !require(ok, &format!("ci/test-rootfs {} failed", arch.name())) {
        return None;
    }
    let out = out.expect("checked above");
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
    require(p.is_file(), &format!("test rootfs {} missing", p.display())).then_some(p)
}

/// Every host tool and firmware file a boot test needs.
pub fn host_ready(arch: Arch) -> bool {
    let (code, vars) = arch.firmware();
    require(
        have_tool(arch.qemu()),
        &format!("{} not installed", arch.qemu()),
    ) && require(have_tool("qemu-img"), "qemu-img not installed")
        && require(
            Path::new(code).is_file(),
            &format!("firmware {code} missing"),
        )
        && require(
            Path::new(vars).is_file(),
            &format!("firmware {vars} missing"),
        )
}

/// A root-owned header with a fixed mtime (the builder rejects empty numeric
/// fields, so uid/gid are always set).
fn tar_header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_735_689_600);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(kind);
    h
}

fn tar_file(b: &mut tar::Builder<fs::File>, path: &str, mode: u32, data: &[u8]) {
    let mut h = tar_header(tar::EntryType::Regular, data.len() as u64, mode);
    b.append_data(&mut h, path, data).expect("tar append file");
}

fn tar_link(b: &mut tar::Builder<fs::File>, path: &str, target: &str) {
    let mut h = tar_header(tar::EntryType::Symlink, 0, 0o777);
    b.append_link(&mut h, path, target)
        .expect("tar append symlink");
}

/// Write the test-only rootfs layer: the checker script and its unit, and
/// the CRI client built beside `agent` (same arch, same build).
pub fn checker_layer(dir: &Path, arch: Arch, agent: &Path) -> PathBuf {
    let path = dir.join(format!("boottest-{}.tar", arch.name()));
    let f = fs::File::create(&path).expect("create checker layer");
    let mut b = tar::Builder::new(f);
    let unit = format!(
        "# Test only: prints BOOTTEST lines on the serial console, then powers off.\n\
         [Unit]\nDescription=kubebake boot test checker\nAfter=multi-user.target\n\n\
         [Service]\nType=simple\nExecStart=/usr/local/bin/kubebake-boottest {}\n\n\
         [Install]\nWantedBy=multi-user.target\n",
        arch.tty()
    );
    tar_file(
        &mut b,
        "usr/local/bin/kubebake-boottest",
        0o755,
        CHECKER.as_bytes(),
    );
    tar_file(
        &mut b,
        "etc/systemd/system/kubebake-boottest.service",
        0o644,
        unit.as_bytes(),
    );
    // TCG on a busy 2-core host can be 10x slower than hardware: give jobs and
    // devices more than systemd's 90 s defaults (test images only).
    // systemd-modules-load.service sets its own 90 s TimeoutSec.
    for d in [
        "etc/systemd/system.conf.d/",
        "etc/systemd/system/systemd-modules-load.service.d/",
        "usr/local/libexec/",
        "usr/local/libexec/kubebake-test/",
    ] {
        let mut h = tar_header(tar::EntryType::Directory, 0, 0o755);
        b.append_data(&mut h, d, std::io::empty())
            .expect("tar append dir");
    }
    tar_file(
        &mut b,
        "etc/systemd/system/systemd-modules-load.service.d/90-boottest-slow-tcg.conf",
        0o644,
        b"[Service]\nTimeoutSec=900s\n",
    );
    tar_file(
        &mut b,
        "etc/systemd/system.conf.d/90-boottest-slow-tcg.conf",
        0o644,
        b"[Manager]\nDefaultTimeoutStartSec=900s\nDefaultDeviceTimeoutSec=900s\n",
    );
    // The guest has no route to an NTP server (restrict=on): keep the agent's
    // bounded NTP wait short (it then warns, as on a node without NTP).
    tar_file(
        &mut b,
        "etc/kubebake/firstboot.env",
        0o644,
        b"KUBEBAKE_NTP_TIMEOUT_MS=5000\n",
    );
    // `crictl info`'s stand-in (see boottest.sh); test images only.
    let cri = agent.with_file_name("kubebake-cri-info");
    let data = fs::read(&cri).unwrap_or_else(|e| {
        panic!(
            "reading {} ({e}): `cargo build --release --workspace` (host arch) or \
             ci/cross-agent (other arches) builds it beside the agent",
            cri.display()
        )
    });
    tar_file(
        &mut b,
        "usr/local/libexec/kubebake-test/kubebake-cri-info",
        0o755,
        &data,
    );
    tar_link(
        &mut b,
        "etc/systemd/system/multi-user.target.wants/kubebake-boottest.service",
        "/etc/systemd/system/kubebake-boottest.service",
    );
    b.finish().expect("finish checker layer");
    path
}

/// `crictl info` (or kubebake-cri-info) answered from the node's containerd:
/// the runtime is ready and its CRI config uses the systemd cgroup driver.
fn check_cri_info(b: &Boot) {
    flag(b, "crictl_info_rc", "0");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b.get("crictl_info_b64"))
        .expect("crictl_info_b64 is base64");
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_else(|e| {
        panic!(
            "CRI info is not JSON ({e}): {}",
            String::from_utf8_lossy(&raw)
        )
    });
    let ready = v["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "RuntimeReady");
    assert_eq!(
        ready.map(|c| &c["status"]),
        Some(&serde_json::Value::Bool(true)),
        "RuntimeReady in {v}"
    );
    // crictl puts the verbose info at the top level, kubebake-cri-info under
    // "info"; either way the CRI's runc runtime runs with SystemdCgroup.
    let config = if v["info"].is_object() {
        &v["info"]["config"]
    } else {
        &v["config"]
    };
    fn find<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
        match v {
            serde_json::Value::Object(m) => {
                m.get(key).or_else(|| m.values().find_map(|x| find(x, key)))
            }
            serde_json::Value::Array(a) => a.iter().find_map(|x| find(x, key)),
            _ => None,
        }
    }
    assert_eq!(
        find(config, "SystemdCgroup"),
        Some(&serde_json::Value::Bool(true)),
        "SystemdCgroup in the CRI config: {config}"
    );
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(p: &Path) -> String {
    let data = fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    hex::encode(Sha256::digest(&data))
}

/// A component supplied by `--component NAME=PATH`.
#[derive(Clone, Debug)]
pub struct Component {
    pub name: &'static str,
    pub path: PathBuf,
    /// False for clearly named stand-ins (kubectl/crictl cannot be downloaded).
    pub real: bool,
}

/// A clearly named stand-in for a binary that cannot be downloaded here; it
/// says so and exits 1, so nothing mistakes it for the real tool.
fn stand_in(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(format!("{name}-double"));
    let mut f = fs::File::create(&p).expect("create stand-in");
    writeln!(
        f,
        "#!/bin/sh\n# {name}-double: test stand-in; the real {name} cannot be downloaded in this \
         environment.\necho \"{name}-double: not the real {name}\" >&2\nexit 1"
    )
    .expect("write stand-in");
    drop(f);
    let st = Command::new("chmod")
        .arg("755")
        .arg(&p)
        .status()
        .expect("chmod");
    assert!(st.success());
    p
}

/// The components for a boot-test build: the kubelet/kubeadm doubles, the
/// agent, and kubectl/crictl (real ones from `$KUBEBAKE_TEST_KUBECTL_<ARCH>` /
/// `$KUBEBAKE_TEST_CRICTL_<ARCH>` when given, else tests/doubles/NAME-double,
/// else a stand-in that only says what it is).
pub fn components(arch: Arch, dir: &Path, agent: PathBuf) -> Option<Vec<Component>> {
    let doubles = repo().join("tests/doubles");
    let mut out = Vec::new();
    for name in ["kubelet", "kubeadm"] {
        let p = doubles.join(format!("{name}-double"));
        if !require(
            p.is_file(),
            &format!("{} missing (the agent helper writes it)", p.display()),
        ) {
            return None;
        }
        out.push(Component {
            name,
            path: p,
            real: false,
        });
    }
    for name in ["kubectl", "crictl"] {
        let var = format!(
            "KUBEBAKE_TEST_{}_{}",
            name.to_uppercase(),
            arch.name().to_uppercase()
        );
        match std::env::var(&var) {
            Ok(p) => out.push(Component {
                name,
                path: PathBuf::from(p),
                real: true,
            }),
            Err(_) => {
                // The agent helper's recording double when there is one.
                let double = doubles.join(format!("{name}-double"));
                let path = if double.is_file() {
                    double
                } else {
                    stand_in(dir, name)
                };
                out.push(Component {
                    name,
                    path,
                    real: false,
                });
            }
        }
    }
    out.push(Component {
        name: "kubebake-firstboot",
        path: agent,
        real: true,
    });
    Some(out)
}

/// Run `kubebake build generic-ARCH` from the test rootfs + checker layer.
/// Returns the build time in seconds.
pub fn build_image(
    arch: Arch,
    rootfs: &Path,
    layer: &Path,
    comps: &[Component],
    out: &Path,
) -> f64 {
    build_image_seeded(arch, rootfs, layer, comps, None, out)
}

/// [`build_image`] with a seed embedded through `kubebake build --seed`.
pub fn build_image_seeded(
    arch: Arch,
    rootfs: &Path,
    layer: &Path,
    comps: &[Component],
    seed: Option<&Path>,
    out: &Path,
) -> f64 {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubebake"));
    cmd.arg("build")
        .arg(format!("generic-{}", arch.name()))
        .arg("--rootfs")
        .arg(rootfs)
        .arg("--rootfs")
        .arg(layer)
        .arg("-o")
        .arg(out);
    for c in comps {
        cmd.arg("--component")
            .arg(format!("{}={}", c.name, c.path.display()));
    }
    if let Some(seed) = seed {
        cmd.arg("--seed").arg(seed);
    }
    let t = Instant::now();
    let st = cmd.status().expect("running kubebake build");
    let secs = t.elapsed().as_secs_f64();
    assert!(st.success(), "kubebake build failed: {st}");
    assert!(out.is_file(), "kubebake build wrote no {}", out.display());
    secs
}

/// The boot seed's SSH key for user `ops` (a public key; nothing secret).
const BOOT_SEED_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKubebakeBootTestKeyOnlyForTheChecker ops@boottest";

/// The seed embedded in boot-test images: a worker joining a (double)
/// cluster, with the host settings the agent applies through /etc's overlay.
fn boot_seed() -> String {
    format!(
        "#cloud-config
hostname: boottest-node
timezone: Europe/Berlin
users:
  - name: ops
    groups: [adm]
    shell: /bin/bash
    ssh_authorized_keys:
      - {BOOT_SEED_KEY}
write_files:
  - path: /etc/kubebake-boottest.conf
    content: written-by-the-seed
    permissions: '0640'
kubernetes:
  role: worker
  endpoint: 10.0.2.2:6443
  token: abcdef.0123456789abcdef
  ca_cert_hash: sha256:a4853df8cab8e1cb0e4856fa816156be2df8895cdd1c7265f572d3777c8f9878
"
    )
}

/// Copy `img` sparsely to `dst` and grow it by [`GROW_BYTES`].
pub fn copy_and_grow(img: &Path, dst: &Path) {
    let st = Command::new("cp")
        .arg("--sparse=always")
        .arg(img)
        .arg(dst)
        .status()
        .expect("cp");
    assert!(st.success(), "copying {}", img.display());
    let st = Command::new("qemu-img")
        .args(["resize", "-q", "-f", "raw"])
        .arg(dst)
        .arg(format!("+{GROW_BYTES}"))
        .status()
        .expect("qemu-img resize");
    assert!(st.success(), "qemu-img resize {}", dst.display());
}

/// What one boot printed.
#[derive(Debug, Default)]
pub struct Boot {
    /// `BOOTTEST key=value` pairs.
    pub report: BTreeMap<String, String>,
    /// `BOOTTEST-LOG` lines (status of failed units).
    pub logs: Vec<String>,
    /// Wall time from QEMU start to power-off.
    pub seconds: f64,
    /// The whole serial log (for failure messages).
    pub serial: String,
}

impl Boot {
    /// A reported value; panics with the serial tail when absent.
    pub fn get(&self, key: &str) -> &str {
        match self.report.get(key) {
            Some(v) => v,
            None => panic!(
                "BOOTTEST {key}= missing from the serial console\n{}",
                self.tail()
            ),
        }
    }

    /// The last lines of the serial log.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.serial.lines().collect();
        let start = lines.len().saturating_sub(60);
        format!(
            "--- serial (last 60 lines) ---\n{}",
            lines[start..].join("\n")
        )
    }
}

/// Parse `BOOTTEST key=value` lines from a serial log.
pub fn parse(serial: &str) -> Boot {
    let mut b = Boot {
        serial: serial.to_string(),
        ..Boot::default()
    };
    for line in serial.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(i) = line.find("BOOTTEST-LOG ") {
            b.logs.push(line[i + 13..].to_string());
        } else if let Some(i) = line.find("BOOTTEST ") {
            if let Some((k, v)) = line[i + 9..].split_once('=') {
                b.report.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    b
}

/// Boot `disk` until the guest powers off (or `timeout`), with a fresh copy
/// of the firmware variables in `work`.
pub fn boot(arch: Arch, disk: &Path, work: &Path, name: &str, timeout: Duration) -> Boot {
    boot_with(arch, disk, work, name, timeout, &[], None)
}

/// [`boot`] with `extra` QEMU arguments (when they contain `-nic`, they
/// replace the default NIC) and, with `stop_on`, QEMU killed as soon as the
/// serial log contains that text (no checker output expected then).
pub fn boot_with(
    arch: Arch,
    disk: &Path,
    work: &Path,
    name: &str,
    timeout: Duration,
    extra: &[String],
    stop_on: Option<&str>,
) -> Boot {
    let (code, vars) = arch.firmware();
    let vars_copy = work.join(format!("{name}-vars.fd"));
    fs::copy(vars, &vars_copy).expect("copy firmware vars");
    let serial = work.join(format!("{name}-serial.log"));
    let _ = fs::remove_file(&serial);
    let mut cmd = Command::new(arch.qemu());
    // TCG as the acceptance criteria say; KUBEBAKE_BOOT_ACCEL=kvm speeds up
    // local amd64 runs on hosts with /dev/kvm.
    let accel = std::env::var("KUBEBAKE_BOOT_ACCEL").unwrap_or_else(|_| "tcg".to_string());
    match arch {
        Arch::Amd64 => cmd.args(["-machine", "q35", "-accel", &accel]),
        Arch::Arm64 => cmd.args(["-M", "virt", "-cpu", "max,pauth-impdef=on", "-accel", "tcg"]),
    };
    cmd.args(["-m", "2048", "-smp", "2"])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,readonly=on,file={code}"))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars_copy.display()))
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", disk.display()));
    if !extra.iter().any(|a| a == "-nic") {
        // restrict=on: the guest reaches nothing outside QEMU's own network.
        cmd.args(["-nic", "user,model=virtio-net-pci,restrict=on"]);
    }
    cmd.args(extra)
        .args(["-nographic", "-monitor", "none"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let t = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", arch.qemu()));
    let mut stopped = false;
    let poll_ms = if stop_on.is_some() { 100 } else { 500 };
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for qemu") {
            break Some(st);
        }
        if let Some(text) = stop_on {
            let log = fs::read(&serial).unwrap_or_default();
            if String::from_utf8_lossy(&log).contains(text) {
                let _ = child.kill();
                stopped = true;
                break child.wait().ok();
            }
        }
        if t.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(poll_ms));
    };
    let seconds = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&fs::read(&serial).unwrap_or_default()).into_owned();
    let mut b = parse(&text);
    b.seconds = seconds;
    eprintln!(
        "boot {name} ({}): {seconds:.0} s, qemu exit {status:?}; {}",
        arch.name(),
        b.report
            .get("analyze")
            .map(String::as_str)
            .unwrap_or("no systemd-analyze line")
    );
    assert!(
        status.is_some(),
        "boot {name} timed out after {timeout:?}\n{}",
        b.tail()
    );
    if stopped {
        eprintln!("boot {name}: killed after the serial log showed {stop_on:?}");
        return b;
    }
    assert!(
        b.report.contains_key("done"),
        "boot {name}: checker did not finish\n{}",
        b.tail()
    );
    b
}

fn flag(b: &Boot, key: &str, want: &str) {
    assert_eq!(
        b.get(key),
        want,
        "BOOTTEST {key}\n{}\n{}",
        b.logs.join("\n"),
        b.tail()
    );
}

/// Every runtime property of Acceptance 3 that one boot shows.
pub fn check_node(arch: Arch, b: &Boot, comps: &[Component]) {
    let failed = b.get("failed_units");
    assert!(
        failed.is_empty(),
        "failed units: {failed}\n{}",
        b.logs.join("\n")
    );
    flag(b, "system_state", "running");

    // Read-only root.
    let opts: Vec<&str> = b.get("root_options").split(',').collect();
    assert!(opts.contains(&"ro"), "/ mounted {opts:?}");
    flag(b, "root_writable", "no");

    // STATE at /var spans the rest of the enlarged disk.
    let state = b.get("state_dev");
    assert!(
        !state.is_empty(),
        "no /dev/disk/by-partlabel/STATE\n{}",
        b.tail()
    );
    flag(b, "var_source", state);
    flag(b, "var_fstype", "ext4");
    let n = |k: &str| -> u64 {
        b.get(k)
            .parse()
            .unwrap_or_else(|e| panic!("BOOTTEST {k}={} : {e}", b.get(k)))
    };
    let (start, sectors, disk) = (
        n("state_part_start"),
        n("state_part_sectors"),
        n("disk_sectors"),
    );
    let end_gap = disk - (start + sectors);
    assert!(
        end_gap <= 2048 + 34,
        "STATE ends {end_gap} sectors before the disk end"
    );
    assert!(
        sectors * 512 >= GROW_BYTES,
        "STATE is {} bytes, disk grew by {GROW_BYTES}",
        sectors * 512
    );
    assert!(
        n("var_size_bytes") * 10 >= sectors * 512 * 9,
        "/var fs smaller than STATE"
    );
    let parts = b.get("partitions");
    for label in [":ESP:", ":root-a:", ":root-b:", ":STATE:"] {
        assert!(parts.contains(label), "partition {label} missing: {parts}");
    }

    // Kernel command line.
    let cmdline = b.get("cmdline");
    for want in [
        "root=PARTUUID=",
        " ro ",
        "rootfstype=ext4",
        "systemd.unified_cgroup_hierarchy=1",
        arch.console(),
    ] {
        assert!(cmdline.contains(want), "cmdline lacks {want:?}: {cmdline}");
    }

    // cgroup v2 with memory; modules, sysctls, swap.
    flag(b, "cgroup_fs", "cgroup2fs");
    let ctl: Vec<&str> = b.get("cgroup_controllers").split(' ').collect();
    assert!(ctl.contains(&"memory"), "cgroup controllers {ctl:?}");
    flag(b, "module_br_netfilter", "loaded");
    flag(b, "module_overlay", "loaded");
    flag(b, "sysctl_net.bridge.bridge-nf-call-iptables", "1");
    flag(b, "sysctl_net.bridge.bridge-nf-call-ip6tables", "1");
    flag(b, "sysctl_net.ipv4.ip_forward", "1");
    flag(b, "swaps", "0");

    // containerd with the systemd cgroup driver; the CRI answers.
    flag(b, "containerd_active", "active");
    flag(b, "containerd_config_systemdcgroup", "SystemdCgroup=true");
    let crictl_real = comps.iter().any(|c| c.name == "crictl" && c.real);
    flag(
        b,
        "cri_info_tool",
        if crictl_real {
            "crictl"
        } else {
            "kubebake-cri-info"
        },
    );
    check_cri_info(b);

    // kubelet enabled and the baked build; kubeadm baked too.
    flag(b, "kubelet_enabled", "enabled");
    for c in comps
        .iter()
        .filter(|c| c.name == "kubelet" || c.name == "kubeadm")
    {
        flag(b, &format!("{}_sha256", c.name), &sha256_file(&c.path));
    }

    // Identity and the persisted directories.
    let id = b.get("machine_id");
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "machine-id {id:?}"
    );
    flag(b, "resolv_conf", "present");
    // The embedded worker seed ran to the end (join through the double).
    flag(b, "firstboot_done", "yes");
    // /etc and /opt/cni/bin are overlays with their upper layer on STATE;
    // kubeadm's directories are writable through /etc's.
    flag(b, "mount_etc", "overlay");
    flag(b, "mount_opt_cni_bin", "overlay");
    for d in [
        "_etc_kubernetes",
        "_etc_cni_net_d",
        "_etc_containerd_certs_d",
    ] {
        flag(b, &format!("writable{d}"), "yes");
    }
    flag(b, "cni_bridge", "present");
    // The seed's host settings, applied by the agent to the read-only image
    // through the /etc overlay (and kept across reboots).
    flag(b, "hostname", "boottest-node");
    flag(b, "etc_hostname", "boottest-node");
    flag(b, "user_ops", "ops:/bin/bash");
    flag(b, "user_ops_groups", "ops adm");
    flag(b, "user_ops_keys", &format!("600 ops {BOOT_SEED_KEY}"));
    flag(b, "timezone", "../usr/share/zoneinfo/Europe/Berlin");
    flag(b, "seed_file", "640 root written-by-the-seed");
}

/// The agent binary for `arch`: the workspace build for the host arch, else
/// `$KUBEBAKE_TEST_FIRSTBOOT_<ARCH>` (a real cross-built agent; never a fake).
pub fn agent_for(arch: Arch) -> Option<PathBuf> {
    let (p, fix) = if arch == Arch::Amd64 && cfg!(target_arch = "x86_64") {
        (
            Some(
                PathBuf::from(env!("CARGO_BIN_EXE_kubebake")).with_file_name("kubebake-firstboot"),
            ),
            "run cargo build --release --workspace first".to_string(),
        )
    } else {
        let var = format!("KUBEBAKE_TEST_FIRSTBOOT_{}", arch.name().to_uppercase());
        (
            std::env::var(&var).ok().map(PathBuf::from),
            format!(
                "{var} must name a kubebake-firstboot built for {}",
                arch.name()
            ),
        )
    };
    match p {
        Some(p) if p.is_file() => Some(p),
        p => {
            let what = p.map_or("the agent".into(), |p| p.display().to_string());
            require(false, &format!("{what} missing: {fix}"));
            None
        }
    }
}

/// The whole boot test for one arch: build once, boot two grown copies (A, B)
/// in parallel, then A again. Asserts Acceptance 3 on every boot, machine-ids
/// differing between A and B, and A's identity and state kept across reboots.
pub fn run(arch: Arch, timeout: Duration) {
    if !host_ready(arch) {
        return;
    }
    let Some(rootfs) = test_rootfs(arch) else {
        return;
    };
    let Some(agent) = agent_for(arch) else { return };
    let dir = tempfile::Builder::new()
        .prefix(&format!("kubebake-boot-{}-", arch.name()))
        .tempdir()
        .expect("tempdir");
    // Kept on failure (serial logs, images) for a look; removed on success.
    let work_dir = dir.keep();
    let work = work_dir.as_path();
    eprintln!("boot test work dir: {}", work.display());
    let layer = checker_layer(work, arch, &agent);
    let Some(comps) = components(arch, work, agent) else {
        return;
    };
    // A worker seed, so the agent runs to `done` against the kubeadm double
    // (an unseeded node reports "no seed found" and its unit fails, as it should).
    let seed = work.join("seed.yaml");
    fs::write(&seed, boot_seed()).expect("write boot-test seed");
    let img = work.join("node.img");
    let build_s = build_image_seeded(arch, &rootfs, &layer, &comps, Some(&seed), &img);
    eprintln!("kubebake build ({}): {build_s:.1} s", arch.name());
    let (a, b) = (work.join("a.img"), work.join("b.img"));
    copy_and_grow(&img, &a);
    copy_and_grow(&img, &b);

    let (a1, b1) = std::thread::scope(|s| {
        let ta = s.spawn(|| boot(arch, &a, work, "a1", timeout));
        let tb = s.spawn(|| boot(arch, &b, work, "b1", timeout));
        (ta.join(), tb.join())
    });
    let (a1, b1) = match (a1, b1) {
        (Ok(a1), Ok(b1)) => (a1, b1),
        (Err(e), _) | (_, Err(e)) => std::panic::resume_unwind(e),
    };
    check_node(arch, &a1, &comps);
    check_node(arch, &b1, &comps);
    flag(&a1, "boot_count", "1");
    flag(&b1, "boot_count", "1");
    assert_ne!(
        a1.get("machine_id"),
        b1.get("machine_id"),
        "two copies share a machine-id"
    );

    let a2 = boot(arch, &a, work, "a2", timeout);
    check_node(arch, &a2, &comps);
    flag(&a2, "boot_count", "2");
    flag(&a2, "machine_id", a1.get("machine_id"));
    flag(&a2, "first_machine_id", a1.get("machine_id"));
    flag(&a2, "etc_kubernetes_marker", "written-on-boot-1");
    eprintln!(
        "VM boot timings ({}): build {build_s:.0} s; boot a1 {:.0} s, b1 {:.0} s (parallel), a2 {:.0} s",
        arch.name(),
        a1.seconds,
        b1.seconds,
        a2.seconds
    );
    let _ = fs::remove_dir_all(work);
}
