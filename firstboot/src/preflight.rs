//! kubeadm prerequisites, each with a one-line diagnosis and a fix.
//!
//! Every `/proc`, `/sys` and `/etc` path is read under the configured root so
//! unit tests run against fixture trees. Values that need commands
//! (versions) are gathered by the caller and passed in; the clock check is
//! [`crate::clock`].

use crate::config::Config;
use std::path::Path;
use std::time::Duration;

/// Severity of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fine.
    Ok,
    /// Suspicious; the run continues.
    Warn,
    /// kubeadm would fail: the run stops.
    Fail,
}

/// One check result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// Short name (`swap`, `cgroup-memory`, …).
    pub name: &'static str,
    /// Result.
    pub level: Level,
    /// What is wrong (or what was seen).
    pub diagnosis: String,
    /// What to do about it (empty when ok).
    pub fix: String,
}

fn ok(name: &'static str, diagnosis: impl Into<String>) -> Check {
    Check {
        name,
        level: Level::Ok,
        diagnosis: diagnosis.into(),
        fix: String::new(),
    }
}

fn bad(
    name: &'static str,
    level: Level,
    diagnosis: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        name,
        level,
        diagnosis: diagnosis.into(),
        fix: fix.into(),
    }
}

fn read(cfg: &Config, p: &str) -> Option<String> {
    std::fs::read_to_string(cfg.path(p)).ok()
}

/// Swap must be off: `/proc/swaps` lists nothing past its header.
pub fn swap(cfg: &Config) -> Check {
    let Some(s) = read(cfg, "/proc/swaps") else {
        return ok("swap", "no /proc/swaps (kernel without swap)");
    };
    let devs: Vec<&str> = s
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if devs.is_empty() {
        ok("swap", "off")
    } else {
        bad(
            "swap",
            Level::Fail,
            format!("swap is on ({})", devs.join(", ")),
            "run `swapoff -a` and remove swap from /etc/fstab (kubelet refuses swap by default)",
        )
    }
}

fn module_loaded(cfg: &Config, m: &str) -> bool {
    cfg.path(format!("/sys/module/{m}")).exists()
        || read(cfg, "/proc/modules")
            .is_some_and(|t| t.lines().any(|l| l.split_whitespace().next() == Some(m)))
}

/// `br_netfilter` and `overlay` loaded.
pub fn modules(cfg: &Config) -> Check {
    let missing: Vec<&str> = ["br_netfilter", "overlay"]
        .into_iter()
        .filter(|m| !module_loaded(cfg, m))
        .collect();
    if missing.is_empty() {
        ok("modules", "br_netfilter overlay loaded")
    } else {
        bad(
            "modules",
            Level::Fail,
            format!("kernel modules not loaded: {}", missing.join(" ")),
            format!(
                "run `modprobe {}` and list them in /etc/modules-load.d/k8s.conf",
                missing.join(" ")
            ),
        )
    }
}

/// Bridge netfilter and forwarding sysctls are 1.
pub fn sysctls(cfg: &Config) -> Check {
    let keys = [
        "net/bridge/bridge-nf-call-iptables",
        "net/bridge/bridge-nf-call-ip6tables",
        "net/ipv4/ip_forward",
    ];
    let wrong: Vec<String> = keys
        .iter()
        .filter(|k| {
            read(cfg, &format!("/proc/sys/{k}"))
                .map(|v| v.trim().to_string())
                .as_deref()
                != Some("1")
        })
        .map(|k| k.replace('/', "."))
        .collect();
    if wrong.is_empty() {
        ok(
            "sysctls",
            "bridge-nf-call-iptables/ip6tables and ip_forward are 1",
        )
    } else {
        bad(
            "sysctls",
            Level::Fail,
            format!("sysctls not 1: {}", wrong.join(" ")),
            format!(
                "set {} in /etc/sysctl.d/k8s.conf and run `sysctl --system` (bridge-nf-* need br_netfilter)",
                wrong.iter().map(|w| format!("{w}=1")).collect::<Vec<_>>().join(" ")
            ),
        )
    }
}

/// Whether this is a Raspberry Pi (device-tree model).
pub fn is_raspberry_pi(cfg: &Config) -> bool {
    [
        "/proc/device-tree/model",
        "/sys/firmware/devicetree/base/model",
    ]
    .iter()
    .any(|p| read(cfg, p).is_some_and(|m| m.contains("Raspberry Pi")))
}

/// cgroup v2 with the memory controller.
pub fn cgroup(cfg: &Config) -> Check {
    let pi = is_raspberry_pi(cfg);
    match read(cfg, "/sys/fs/cgroup/cgroup.controllers") {
        None => bad(
            "cgroup-v2",
            Level::Fail,
            "cgroup v2 is not mounted on /sys/fs/cgroup (v1 or hybrid hierarchy)",
            "boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line",
        ),
        Some(c) if c.split_whitespace().any(|x| x == "memory") => {
            ok("cgroup-v2", c.trim().to_string())
        }
        Some(_) => bad(
            "cgroup-memory",
            Level::Fail,
            "cgroup v2 has no memory controller",
            if pi {
                "add cgroup_enable=memory cgroup_memory=1 to cmdline.txt on the boot partition and reboot"
            } else {
                "remove cgroup_disable=memory from the kernel command line and reboot"
            },
        ),
    }
}

/// containerd uses the systemd cgroup driver like the kubelet config we render.
pub fn cgroup_driver(cfg: &Config) -> Check {
    let Some(t) = read(cfg, "/etc/containerd/config.toml") else {
        return bad(
            "cgroup-driver",
            Level::Warn,
            "no /etc/containerd/config.toml: containerd's default runc options apply",
            "set SystemdCgroup = true under the runc options in /etc/containerd/config.toml",
        );
    };
    let setting = t
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("SystemdCgroup"))
        .filter_map(|r| r.trim_start().strip_prefix('='))
        .map(|v| v.trim().to_string())
        .next_back();
    match setting.as_deref() {
        Some("true") => ok(
            "cgroup-driver",
            "containerd SystemdCgroup = true, kubelet cgroupDriver: systemd",
        ),
        other => bad(
            "cgroup-driver",
            Level::Fail,
            format!(
                "containerd SystemdCgroup is {} but kubelet uses cgroupDriver: systemd",
                other.unwrap_or("unset (cgroupfs)")
            ),
            "set SystemdCgroup = true in /etc/containerd/config.toml and restart containerd",
        ),
    }
}

/// containerd answers on its socket; waits up to `timeout` (it may be
/// restarting after the registry mirrors changed). Returns the time waited.
pub fn containerd_socket(cfg: &Config, timeout: Duration) -> (Check, Duration) {
    let sock = cfg.path("/run/containerd/containerd.sock");
    let start = std::time::Instant::now();
    loop {
        match std::os::unix::net::UnixStream::connect(&sock) {
            Ok(_) => return (ok("containerd", "socket up"), start.elapsed()),
            Err(e) if start.elapsed() >= timeout => {
                return (
                    bad(
                        "containerd",
                        Level::Fail,
                        format!("cannot connect to /run/containerd/containerd.sock: {e}"),
                        "check `systemctl status containerd` and `journalctl -u containerd`",
                    ),
                    start.elapsed(),
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The given TCP ports can be bound (nothing listens yet).
pub fn ports(ports: &[u16]) -> Check {
    let busy: Vec<String> = ports
        .iter()
        .filter(|p| std::net::TcpListener::bind(("0.0.0.0", **p)).is_err())
        .map(u16::to_string)
        .collect();
    if busy.is_empty() {
        ok("ports", format!("{ports:?} free"))
    } else {
        bad(
            "ports",
            Level::Fail,
            format!("ports in use: {}", busy.join(" ")),
            "find the listener with `ss -ltnp` (a previous kubeadm run? then `kubeadm reset`)",
        )
    }
}

/// product_uuid and MACs look unique (warn only: peers cannot be seen).
pub fn uniqueness(cfg: &Config, macs: &[String]) -> Check {
    let uuid = read(cfg, "/sys/class/dmi/id/product_uuid").map(|s| s.trim().to_ascii_lowercase());
    let mut issues = Vec::new();
    if let Some(u) = &uuid {
        if u.chars().all(|c| c == '0' || c == '-') || u.chars().all(|c| c == 'f' || c == '-') {
            issues.push(format!("product_uuid {u} is a placeholder"));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in macs {
        if !seen.insert(m) {
            issues.push(format!("MAC {m} appears twice"));
        }
    }
    if issues.is_empty() {
        ok(
            "unique-ids",
            "product_uuid and MACs look unique (peers not checked)",
        )
    } else {
        bad(
            "unique-ids",
            Level::Warn,
            issues.join("; "),
            "give each VM a unique SMBIOS UUID and MAC (cloned templates keep them)",
        )
    }
}

/// Extracts `1.35.1` from `v1.35.1` or `Kubernetes v1.35.1`.
pub fn parse_version(s: &str) -> Option<String> {
    s.split_whitespace()
        .filter_map(|w| w.strip_prefix('v'))
        .map(|w| w.split(['-', '+']).next().unwrap_or(w))
        .find(|w| w.split('.').count() == 3 && w.split('.').all(|p| p.parse::<u32>().is_ok()))
        .map(str::to_string)
}

/// kubeadm and kubelet versions match each other and the seed's version.
pub fn versions(kubeadm: Option<&str>, kubelet: Option<&str>, seed: Option<&str>) -> Check {
    let a = kubeadm.and_then(parse_version);
    let l = kubelet.and_then(parse_version);
    let (Some(a), Some(l)) = (a, l) else {
        return bad(
            "versions",
            Level::Fail,
            format!(
                "cannot read versions (kubeadm: {}, kubelet: {})",
                kubeadm.unwrap_or("missing"),
                kubelet.unwrap_or("missing")
            ),
            "check that kubeadm and kubelet are installed in /usr/bin and executable",
        );
    };
    if a != l {
        return bad(
            "versions",
            Level::Fail,
            format!("kubeadm {a} and kubelet {l} differ"),
            "rebuild the image with one Kubernetes version for both",
        );
    }
    if let Some(s) = seed {
        let s = s.trim_start_matches('v');
        if s != a {
            return bad(
                "versions",
                Level::Fail,
                format!("seed asks for kubernetes_version {s}, the image has {a}"),
                format!("use an image built for {s}, or set kubernetes_version: {a} in the seed"),
            );
        }
    }
    ok("versions", format!("kubeadm and kubelet {a}"))
}

/// Runs `prog args…` and returns trimmed stdout on success.
pub fn command_output(prog: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(prog).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether a path exists under the root (helper for callers).
pub fn exists(cfg: &Config, p: &str) -> bool {
    Path::new(&cfg.path(p)).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
        let d = tempfile::tempdir().expect("tmp");
        for (p, c) in files {
            let f = d.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mk");
            std::fs::write(f, c).expect("w");
        }
        let cfg = Config::from_env(Some(d.path().to_path_buf()));
        (d, cfg)
    }

    const SWAPS_HDR: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

    #[test]
    fn swap_on_and_off() {
        let (_d, c) = tree(&[("/proc/swaps", SWAPS_HDR)]);
        assert_eq!(swap(&c).level, Level::Ok);
        let on = format!("{SWAPS_HDR}/dev/zram0 partition 1024 0 100\n");
        let (_d, c) = tree(&[("/proc/swaps", &on)]);
        let k = swap(&c);
        assert_eq!(k.level, Level::Fail);
        assert!(k.diagnosis.contains("/dev/zram0") && k.fix.contains("swapoff"));
    }

    #[test]
    fn modules_and_sysctls() {
        let (_d, c) = tree(&[
            ("/sys/module/overlay/refcnt", "0"),
            ("/proc/modules", "br_netfilter 32768 0 - Live 0x0\n"),
            ("/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n"),
            ("/proc/sys/net/bridge/bridge-nf-call-ip6tables", "1\n"),
            ("/proc/sys/net/ipv4/ip_forward", "1\n"),
        ]);
        assert_eq!(modules(&c).level, Level::Ok);
        assert_eq!(sysctls(&c).level, Level::Ok);
        let (_d, c) = tree(&[
            ("/proc/modules", ""),
            ("/proc/sys/net/ipv4/ip_forward", "0\n"),
        ]);
        let m = modules(&c);
        assert_eq!(m.level, Level::Fail);
        assert!(m.fix.contains("modprobe br_netfilter overlay"), "{}", m.fix);
        let s = sysctls(&c);
        assert!(
            s.diagnosis.contains("net.ipv4.ip_forward"),
            "{}",
            s.diagnosis
        );
        assert!(s.diagnosis.contains("net.bridge.bridge-nf-call-iptables"));
    }

    #[test]
    fn cgroup_memory_pi_advice() {
        let (_d, c) = tree(&[
            ("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io pids\n"),
            (
                "/proc/device-tree/model",
                "Raspberry Pi 4 Model B Rev 1.5\0",
            ),
        ]);
        let k = cgroup(&c);
        assert_eq!((k.name, k.level), ("cgroup-memory", Level::Fail));
        assert!(
            k.fix.contains("cgroup_enable=memory cgroup_memory=1") && k.fix.contains("cmdline.txt")
        );
        let (_d, c) = tree(&[(
            "/sys/fs/cgroup/cgroup.controllers",
            "cpuset cpu io memory pids\n",
        )]);
        assert_eq!(cgroup(&c).level, Level::Ok);
        let (_d, c) = tree(&[]);
        assert!(cgroup(&c)
            .fix
            .contains("systemd.unified_cgroup_hierarchy=1"));
    }

    #[test]
    fn containerd_driver() {
        let on = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n";
        let (_d, c) = tree(&[("/etc/containerd/config.toml", on)]);
        assert_eq!(cgroup_driver(&c).level, Level::Ok);
        let off = "# SystemdCgroup = true\n  SystemdCgroup = false\n";
        let (_d, c) = tree(&[("/etc/containerd/config.toml", off)]);
        let k = cgroup_driver(&c);
        assert_eq!(k.level, Level::Fail);
        assert!(k.diagnosis.contains("false"));
        let (_d, c) = tree(&[]);
        assert_eq!(cgroup_driver(&c).level, Level::Warn);
    }

    #[test]
    fn containerd_socket_up_and_down() {
        let (d, c) = tree(&[]);
        let (k, _) = containerd_socket(&c, Duration::from_millis(50));
        assert_eq!(k.level, Level::Fail);
        let sock = d.path().join("run/containerd/containerd.sock");
        std::fs::create_dir_all(sock.parent().expect("p")).expect("mk");
        let _l = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        let (k, _) = containerd_socket(&c, Duration::from_millis(50));
        assert_eq!(k.level, Level::Ok);
    }

    #[test]
    fn busy_port_detected() {
        let l = std::net::TcpListener::bind(("0.0.0.0", 0)).expect("bind");
        let p = l.local_addr().expect("addr").port();
        let k = ports(&[p]);
        assert_eq!(k.level, Level::Fail);
        assert!(k.diagnosis.contains(&p.to_string()));
        drop(l);
        assert_eq!(ports(&[p]).level, Level::Ok);
    }

    #[test]
    fn uniqueness_warns() {
        let (_d, c) = tree(&[(
            "/sys/class/dmi/id/product_uuid",
            "00000000-0000-0000-0000-000000000000\n",
        )]);
        let k = uniqueness(
            &c,
            &["52:54:00:00:00:01".into(), "52:54:00:00:00:01".into()],
        );
        assert_eq!(k.level, Level::Warn);
        assert!(k.diagnosis.contains("placeholder") && k.diagnosis.contains("twice"));
        let (_d, c) = tree(&[(
            "/sys/class/dmi/id/product_uuid",
            "4c4c4544-0042-3510-8052-b3c04f4d3732\n",
        )]);
        assert_eq!(
            uniqueness(&c, &["52:54:00:00:00:01".into()]).level,
            Level::Ok
        );
    }

    #[test]
    fn version_rules() {
        assert_eq!(
            parse_version("Kubernetes v1.35.1").as_deref(),
            Some("1.35.1")
        );
        assert_eq!(parse_version("v1.31.0-rc.1").as_deref(), Some("1.31.0"));
        assert_eq!(
            versions(Some("v1.35.1"), Some("Kubernetes v1.35.1"), Some("1.35.1")).level,
            Level::Ok
        );
        let k = versions(Some("v1.35.1"), Some("Kubernetes v1.34.2"), None);
        assert_eq!(k.level, Level::Fail);
        assert!(k.diagnosis.contains("1.35.1") && k.diagnosis.contains("1.34.2"));
        let k = versions(Some("v1.35.1"), Some("Kubernetes v1.35.1"), Some("v1.34.0"));
        assert!(
            k.diagnosis
                .contains("seed asks for kubernetes_version 1.34.0"),
            "{}",
            k.diagnosis
        );
        assert_eq!(
            versions(None, Some("Kubernetes v1.35.1"), None).level,
            Level::Fail
        );
    }
}
