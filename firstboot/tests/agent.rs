//! End-to-end runs of the `kubebake-firstboot` binary on a fixture root:
//! kubeadm/kubelet/kubectl doubles on PATH, a private dbus-daemon with
//! hostname1/timedate1/systemd1 test services, the real `ip` and sockets.
//! Covers resume after a crash at every phase, retries, permanent failures
//! with advice, and that the token never leaks into output or status.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOKEN: &str = "abcdef.0123456789abcdef";
const HASH: &str = "sha256:8d1f4e0c2b7a9d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6";

fn worker_seed(mode: &str) -> String {
    format!(
        "#cloud-config\nhostname: worker-1\nwrite_files:\n  - path: /etc/kubeadm-double/mode\n    content: \"{mode}\\n\"\nkubernetes:\n  role: worker\n  endpoint: 192.168.6.10:6443\n  token: {TOKEN}\n  ca_cert_hash: {HASH}\n  advertise: {{ cidr: 127.0.0.0/8 }}\n  registry_mirrors: {{ docker.io: [\"https://mirror.example\"] }}\n"
    )
}

fn init_seed() -> String {
    format!("#cloud-config\nhostname: cp-1\nkubernetes:\n  role: init\n  token: {TOKEN}\n  advertise: {{ cidr: 127.0.0.0/8 }}\n")
}

struct Node {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
    _sock: UnixListener,
    bus: common::PrivateBus,
    svc: common::Services,
    port: u16,
}

fn write(root: &Path, p: &str, c: &str) {
    let f = root.join(p.trim_start_matches('/'));
    std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
    std::fs::write(f, c).expect("write");
}

fn node(seed: &str) -> Node {
    node_with(seed, &[])
}

/// Activation timeout of the private bus for [`node_with`]'s slow names.
const SLOW_START_MS: u32 = 1_000;

/// A node whose bus can activate each of `slow` but never starts it (a
/// call waits [`SLOW_START_MS`], then fails with dbus-daemon's `TimedOut`);
/// the other test services answer at once.
fn node_with(seed: &str, slow: &[&str]) -> Node {
    let bus = common::PrivateBus::start_with_slow(slow, SLOW_START_MS);
    kubebake_hosttool::need(&["ip", "sha256sum"]);
    let shared = common::Shared::default();
    shared.ntp.store(true, std::sync::atomic::Ordering::SeqCst);
    let names: Vec<&'static str> = [common::HOSTNAME1, common::TIMEDATE1, common::SYSTEMD1]
        .into_iter()
        .filter(|n| !slow.contains(n))
        .collect();
    let svc = common::serve_names(&bus.address, shared, &names);
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("root");
    write(
        &root,
        "/proc/swaps",
        "Filename\tType\tSize\tUsed\tPriority\n",
    );
    write(
        &root,
        "/proc/modules",
        "br_netfilter 32768 0 - Live 0x0\noverlay 151552 0 - Live 0x0\n",
    );
    for k in [
        "net/bridge/bridge-nf-call-iptables",
        "net/bridge/bridge-nf-call-ip6tables",
        "net/ipv4/ip_forward",
    ] {
        write(&root, &format!("/proc/sys/{k}"), "1\n");
    }
    write(
        &root,
        "/sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    );
    write(&root, "/sys/class/dmi/id/sys_vendor", "QEMU\n");
    write(
        &root,
        "/sys/class/dmi/id/product_uuid",
        "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f\n",
    );
    write(&root, "/etc/containerd/config.toml", "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n");
    write(&root, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    write(&root, "/usr/lib/kubebake/cni/flannel.yaml", "kind: List\n");
    write(&root, "/boot/efi/user-data", seed);
    std::fs::create_dir_all(root.join("run/containerd")).expect("mk");
    let sock = UnixListener::bind(root.join("run/containerd/containerd.sock")).expect("sock");
    let port = std::net::TcpListener::bind(("0.0.0.0", 0))
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let bin = common::double_bin(dir.path());
    Node {
        _dir: dir,
        root,
        bin,
        _sock: sock,
        bus,
        svc,
        port,
    }
}

impl Node {
    fn cmd(&self, args: &[&str]) -> Command {
        // KUBEBAKE_AGENT_BIN lets the same scenario time a release build
        let exe = std::env::var("KUBEBAKE_AGENT_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_kubebake-firstboot").to_string());
        self.cmd_of(&exe, args)
    }

    fn cmd_of(&self, exe: &str, args: &[&str]) -> Command {
        let mut c = Command::new(exe);
        c.args(args)
            .arg("--root")
            .arg(&self.root)
            .env("PATH", common::path_with(&self.bin))
            .env("KUBEADM_DOUBLE_ROOT", &self.root)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus.address)
            .env("KUBEBAKE_BOOT_DIRS", "/boot/efi")
            .env("KUBEBAKE_NO_MOUNT", "1")
            .env("KUBEBAKE_NTP_TIMEOUT_MS", "500")
            .env("KUBEBAKE_RETRY_BASE_MS", "20")
            .env("KUBEBAKE_RETRY_MAX_MS", "100")
            .env("KUBEBAKE_RETRY_ATTEMPTS", "5")
            .env("KUBEBAKE_ADDRESS_TIMEOUT_MS", "500")
            .env("KUBEBAKE_PREFLIGHT_PORTS", self.port.to_string())
            .env_remove("KUBEBAKE_TEST_CRASH_AFTER")
            .env_remove("KUBEBAKE_ROOT")
            .env_remove("KUBEADM_DOUBLE_MODE");
        c
    }

    /// One boot; `crash_after` runs the test build, which stops after
    /// persisting that phase (the shipped agent has no such hook).
    fn run(&self, crash_after: Option<&str>) -> Output {
        let mut c = match crash_after {
            Some(p) => {
                let mut c = self.cmd_of(
                    env!("CARGO_BIN_EXE_kubebake-firstboot-test-hooks"),
                    &["run"],
                );
                c.env("KUBEBAKE_TEST_CRASH_AFTER", p);
                c
            }
            None => self.cmd(&["run"]),
        };
        let o = c.output().expect("run agent");
        assert_no_secret(&o);
        o
    }

    /// One boot of the shipped agent with `env` added.
    fn run_env(&self, env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(&["run"]);
        c.envs(env.iter().copied());
        let o = c.output().expect("run agent");
        assert_no_secret(&o);
        o
    }

    fn count(&self, f: &str) -> u32 {
        std::fs::read_to_string(self.root.join("var/lib/kubeadm-double").join(f))
            .map(|s| s.trim().parse().expect("count"))
            .unwrap_or(0)
    }

    fn status_json(&self) -> serde_json::Value {
        let o = self.cmd(&["status", "--json"]).output().expect("status");
        serde_json::from_slice(&o.stdout).expect("status json")
    }

    fn files_without_secret(&self) {
        for p in ["run/kubebake/status.json", "var/lib/kubebake/state.json"] {
            let t = std::fs::read_to_string(self.root.join(p)).unwrap_or_default();
            assert!(
                !t.contains(TOKEN) && !t.contains("0123456789abcdef"),
                "{p} leaks the token"
            );
        }
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn assert_no_secret(o: &Output) {
    let (out, err) = text(o);
    for t in [&out, &err] {
        assert!(
            !t.contains(TOKEN) && !t.contains("0123456789abcdef"),
            "token leaked:\n{t}"
        );
    }
}

/// The first `kubebake: phase=PHASE result=RESULT` line of a run's output.
fn phase_line<'a>(out: &'a str, phase: &str, result: &str) -> &'a str {
    let want = format!("kubebake: phase={phase} result={result}");
    out.lines()
        .find(|l| l.starts_with(&want))
        .unwrap_or_else(|| panic!("no `{want}` line:\n{out}"))
}

fn phase_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("kubebake: phase="))
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn worker_joins_once() {
    let n = node(&worker_seed("ok"));
    let o = n.run(None);
    let (out, err) = text(&o);
    eprintln!("--- agent stdout ---\n{out}--- agent stderr ---\n{err}");
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let lines = phase_lines(&out);
    let expect: Vec<String> = [
        "acquire",
        "validate",
        "host",
        "preflight",
        "render",
        "kubeadm",
        "cni",
        "runcmd",
        "done",
    ]
    .iter()
    .map(|p| format!("kubebake: phase={p} result=ok"))
    .collect();
    assert_eq!(lines, expect, "{out}");
    assert!(
        out.contains("phase=acquire result=ok source=bootpart:/boot/efi"),
        "{out}"
    );
    assert!(
        out.contains("phase=cni result=ok skipped: not an init node"),
        "{out}"
    );
    assert_eq!(n.count("count"), 1);
    // kubeadm got `join --config <file>` and the file holds the seed's values
    assert!(err.contains("kubeadm-double: argv= join --config"), "{err}");
    let cfgp = n.root.join("var/lib/kubebake/kubeadm.yaml");
    assert_eq!(
        std::fs::metadata(&cfgp)
            .expect("config")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let cfg = std::fs::read_to_string(&cfgp).expect("config");
    assert!(
        cfg.contains(TOKEN) && cfg.contains(HASH) && cfg.contains("192.168.6.10:6443"),
        "{cfg}"
    );
    assert!(
        cfg.contains("127.0.0.1"),
        "advertise address from the CIDR:\n{cfg}"
    );
    // hostname went through hostname1, containerd restarted through systemd1
    assert_eq!(*n.svc.shared.hostname.lock().expect("lock"), "worker-1");
    let jobs = n.svc.shared.jobs.lock().expect("lock").clone();
    assert!(
        jobs.iter()
            .any(|j| j.0 == "RestartUnit" && j.1 == "containerd.service"),
        "{jobs:?}"
    );
    assert!(n
        .root
        .join("etc/containerd/certs.d/docker.io/hosts.toml")
        .exists());
    // seed copy is private
    let sd = n.root.join("var/lib/kubebake/seed/user-data");
    assert_eq!(
        std::fs::metadata(sd).expect("seed").permissions().mode() & 0o777,
        0o600
    );
    // status
    let st = n.status_json();
    assert_eq!(st["finished"], true);
    assert_eq!(st["completed"].as_array().map(Vec::len), Some(9));
    assert!(st["to_kubeadm_ms"].as_u64().is_some());
    n.files_without_secret();
    // second boot: nothing runs again
    let o2 = n.run(None);
    assert_eq!(o2.status.code(), Some(0));
    assert!(text(&o2).0.contains("already finished"));
    assert_eq!(n.count("count"), 1);
}

/// Defect 29: the agent that images get has no crash hook: the variable
/// does nothing and its name is not even in the binary.
#[test]
fn shipped_agent_has_no_crash_hook() {
    let exe = env!("CARGO_BIN_EXE_kubebake-firstboot");
    let bytes = std::fs::read(exe).expect("read agent binary");
    let needle = b"KUBEBAKE_TEST_CRASH_AFTER";
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "{exe} carries the crash hook"
    );
    let n = node(&worker_seed("ok"));
    let o = n
        .cmd_of(exe, &["run"])
        .env("KUBEBAKE_TEST_CRASH_AFTER", "host")
        .output()
        .expect("run agent");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("phase=done result=ok"), "{out}");
}

#[test]
fn init_applies_cni() {
    let n = node(&init_seed());
    let o = n.run(None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(err.contains("kubeadm-double: argv= init --config"), "{err}");
    assert!(
        out.contains("phase=cni result=ok applied /usr/lib/kubebake/cni/flannel.yaml"),
        "{out}"
    );
    assert_eq!(n.count("kubectl-count"), 1);
    assert!(err.contains("kubectl-double: argv=--kubeconfig"), "{err}");
    n.files_without_secret();
}

#[test]
fn transient_failures_are_retried() {
    let n = node(&worker_seed("fail-twice-connection-refused"));
    let o = n.run(None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let retries: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("phase=kubeadm result=retry"))
        .collect();
    assert_eq!(retries.len(), 2, "{out}");
    assert!(
        retries[0].contains("attempt=1 reason=\"connection refused\""),
        "{}",
        retries[0]
    );
    assert!(
        out.contains("phase=kubeadm result=ok join attempts=3"),
        "{out}"
    );
    assert_eq!(n.count("count"), 3);
    // Every console line is kept on STATE, after one header for the run,
    // 0600 (cloud-init's cloud-init-output.log; the VM test reads it).
    let log = n.root.join("var/log/kubebake-firstboot.log");
    let kept = std::fs::read_to_string(&log).expect("kept log");
    let mode = std::fs::metadata(&log).expect("log").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", log.display());
    let (head, body) = kept.split_once('\n').expect("header line");
    assert!(head.starts_with("# kubebake-firstboot boot_id="), "{kept}");
    let printed: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("kubebake: "))
        .collect();
    assert_eq!(body.lines().collect::<Vec<_>>(), printed, "{kept}");
    assert!(printed.len() >= 11, "{out}");
    assert!(!kept.contains(TOKEN) && !kept.contains("0123456789abcdef"));
    // A later run appends its own lines after its own header, on a line of
    // its own even when a power cut tore the last one (zeros, no newline).
    let torn = format!("{kept}kubebake: phase=kubeadm res\0\0\0");
    std::fs::write(&log, &torn).expect("tear the log");
    let o2 = n.run(None);
    assert_eq!(o2.status.code(), Some(0));
    let kept2 = std::fs::read_to_string(&log).expect("kept log");
    assert!(kept2.starts_with(&torn), "{kept2}");
    let tail = &kept2[torn.len()..];
    assert!(
        tail.starts_with("\n# kubebake-firstboot boot_id="),
        "{tail}"
    );
    assert!(
        tail.contains("already finished on an earlier boot"),
        "{tail}"
    );
}

#[test]
fn expired_token_stops_with_advice() {
    let n = node(&worker_seed("jws"));
    let o = n.run(None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let fail = phase_line(&out, "kubeadm", "fail");
    assert!(
        fail.contains(kubebake_firstboot::kubeadm::ADVICE_TOKEN),
        "{fail}"
    );
    assert_eq!(n.count("count"), 1, "no retry on a permanent error");
    assert!(!n.root.join("var/lib/kubebake/firstboot.done").exists());
    let st = n.status_json();
    assert_eq!(st["advice"], kubebake_firstboot::kubeadm::ADVICE_TOKEN);
    assert!(st["last_error"]
        .as_str()
        .expect("err")
        .starts_with("kubeadm: bootstrap token not found or expired"));
    let h = n.cmd(&["status"]).output().expect("status");
    assert_eq!(h.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&h.stdout).contains("advice: token not found or expired"));
    n.files_without_secret();
}

#[test]
fn crash_after_each_phase_resumes_and_finishes_once() {
    for phase in [
        "acquire",
        "validate",
        "host",
        "preflight",
        "render",
        "kubeadm",
        "cni",
        "runcmd",
    ] {
        let n = node(&worker_seed("ok"));
        let o = n.run(Some(phase));
        let (out, err) = text(&o);
        assert_eq!(
            o.status.code(),
            Some(99),
            "crash after {phase}:\n{out}\n{err}"
        );
        let last = phase_lines(&out).last().cloned().unwrap_or_default();
        assert_eq!(last, format!("kubebake: phase={phase} result=ok"));
        let o = n.run(None);
        let (out2, err2) = text(&o);
        assert_eq!(
            o.status.code(),
            Some(0),
            "resume after {phase}:\n{out2}\n{err2}"
        );
        // the resumed run starts after the crashed phase (acquire is redone
        // only while validate has not completed)
        let first = phase_lines(&out2).first().cloned().unwrap_or_default();
        if phase != "acquire" {
            assert!(
                !first.contains(&format!("phase={phase} ")),
                "{phase} re-ran:\n{out2}"
            );
        }
        assert_eq!(
            n.count("count"),
            1,
            "kubeadm ran more than once (crash after {phase})"
        );
        let st = n.status_json();
        let names: Vec<String> = st["completed"]
            .as_array()
            .expect("completed")
            .iter()
            .map(|r| r["phase"].as_str().expect("phase").to_string())
            .collect();
        assert_eq!(
            names,
            [
                "acquire",
                "validate",
                "host",
                "preflight",
                "render",
                "kubeadm",
                "cni",
                "runcmd",
                "done"
            ],
            "after crash at {phase}"
        );
        assert_eq!(st["runs"], 2);
    }
}

/// Power cut after `kubeadm join` finished but before the agent recorded it:
/// the next boot keeps the join (no reset, no second join) and finishes.
/// A join cut before the kubelet's TLS bootstrap ended is reset and re-run.
#[test]
fn power_cut_after_a_finished_join_keeps_it() {
    for (bootstrap_left, expect_joins) in [(false, 0), (true, 1)] {
        let n = node(&worker_seed("ok"));
        let o = n.run(Some("render"));
        assert_eq!(o.status.code(), Some(99), "{:?}", text(&o));
        // What `kubeadm join` leaves on disk (the double's own join run
        // writes kubelet.conf the same way).
        write(&n.root, "/etc/kubernetes/kubelet.conf", "# joined\n");
        if bootstrap_left {
            write(
                &n.root,
                "/etc/kubernetes/bootstrap-kubelet.conf",
                "# mid-join\n",
            );
        }
        let o = n.run(None);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
        assert_eq!(n.count("count"), expect_joins, "joins run:\n{out}");
        let reset = out.contains("running kubeadm reset --force");
        assert_eq!(reset, bootstrap_left, "reset ran?\n{out}");
        if !bootstrap_left {
            assert!(
                out.contains("phase=kubeadm result=ok join completed before the interruption"),
                "{out}"
            );
        }
        assert!(n.root.join("var/lib/kubebake/firstboot.done").exists());
    }
}

#[test]
fn preflight_failure_names_check_and_fix() {
    let n = node(&worker_seed("ok"));
    write(
        &n.root,
        "/proc/swaps",
        "Filename\tType\tSize\tUsed\tPriority\n/swap.img file 1048572 0 -2\n",
    );
    write(
        &n.root,
        "/sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io pids\n",
    );
    let o = n.run(None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "phase=preflight result=fail check=swap swap is on (/swap.img); fix: run `swapoff -a`"
        ),
        "{out}"
    );
    assert!(out.contains("check=cgroup-memory"), "{out}");
    assert!(
        out.contains("kubebake: phase=preflight result=fail 2 check(s) failed: swap,cgroup-memory"),
        "{out}"
    );
    assert_eq!(n.count("count"), 0);
}

#[test]
fn invalid_seed_then_fixed_seed_is_picked_up() {
    let bad = worker_seed("ok").replace(TOKEN, "ABCDEF.0123456789ABCDEF");
    let n = node(&bad);
    let o = n.run(None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let fail = phase_line(&out, "validate", "fail");
    assert!(fail.contains("kubernetes.token"), "{fail}");
    assert!(
        !out.contains("0123456789ABCDEF"),
        "invalid token echoed:\n{out}"
    );
    write(&n.root, "/boot/efi/user-data", &worker_seed("ok"));
    let o = n.run(None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).0);
    assert_eq!(n.count("count"), 1);
}

/// Defect 16: a 55 MB user-data on the boot partition is refused with the
/// cap named, without the agent reading it whole (peak RSS measured by
/// /usr/bin/time).
#[test]
fn oversized_seed_is_refused_with_little_memory() {
    let n = node("");
    let mut big = b"#cloud-config\nwrite_files:\n  - path: /big\n    content: ".to_vec();
    big.resize(55 << 20, b'a');
    std::fs::write(n.root.join("boot/efi/user-data"), &big).expect("write");
    let time = Path::new("/usr/bin/time");
    assert!(
        time.is_file(),
        "/usr/bin/time missing (Debian package time)"
    );
    let rss = n.root.join("../rss");
    let agent = n.cmd(&["run"]);
    let o = Command::new(time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(agent.get_program())
        .args(agent.get_args())
        .envs(agent.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env_remove("KUBEBAKE_TEST_CRASH_AFTER")
        .output()
        .expect("run agent");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let fail = phase_line(&out, "acquire", "fail");
    assert!(
        fail.contains("boot/efi/user-data: larger than 1 MiB, the cap for user-data"),
        "{fail}"
    );
    let kib: u64 = std::fs::read_to_string(&rss)
        .expect("rss")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back()
        .expect("rss figure");
    assert!(kib < 48 << 10, "peak RSS {kib} KiB");
}

/// `kubebake-firstboot ARGS --root ROOT` with nothing else set up.
fn bare(root: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_kubebake-firstboot"))
        .args(args)
        .arg("--root")
        .arg(root)
        .env_remove("KUBEBAKE_ROOT")
        .env("KUBEBAKE_NO_MOUNT", "1")
        .output()
        .expect("run agent");
    let (out, err) = text(&o);
    (o.status.code(), out, err)
}

/// Defect 18: `status` on a node without STATE says what is missing.
#[test]
fn status_without_state_dir_says_so() {
    let d = tempfile::tempdir().expect("tmp");
    let (code, out, err) = bare(d.path(), &["status"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("var/lib/kubebake does not exist") && err.contains("findmnt /var"),
        "{err}"
    );
}

/// Defect 18: a corrupt state.json is reported once, with the fix, by
/// `status` and by `run`.
#[test]
fn corrupt_state_is_reported_once_with_the_fix() {
    let d = tempfile::tempdir().expect("tmp");
    write(
        d.path(),
        "/var/lib/kubebake/state.json",
        "{\"completed\": [tru",
    );
    for args in [&["status"][..], &["status", "--json"], &["run"]] {
        let (code, out, err) = bare(d.path(), args);
        assert_eq!(code, Some(1), "{args:?}: {out}{err}");
        let line = err
            .lines()
            .find(|l| l.starts_with("kubebake-firstboot: "))
            .unwrap_or_else(|| panic!("{args:?}: no error line:\n{err}"));
        assert!(line.contains("state.json is corrupt"), "{args:?}: {line}");
        assert_eq!(
            line.matches("line 1 column").count(),
            1,
            "{args:?}: twice: {line}"
        );
        assert!(
            line.contains("kubeadm reset --force") && line.contains("and reboot"),
            "{args:?}: no fix: {line}"
        );
    }
}

/// The phases a run printed, in order.
fn phases_run(out: &str) -> Vec<String> {
    phase_lines(out)
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|p| p.trim_start_matches("phase=").to_string())
        .collect()
}

/// Defect 15: a permanent kubeadm failure (expired token), then a new
/// token on the boot partition: the next run notices, validates it and
/// redoes render and kubeadm only.
#[test]
fn new_token_after_a_permanent_failure_resumes_from_render() {
    let n = node(&worker_seed("jws"));
    let o = n.run(None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).0);
    // an unchanged seed: the same failure, nothing re-read or redone
    let o = n.run(None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(phases_run(&out), ["kubeadm"], "{out}");
    assert_eq!(n.count("count"), 2);
    // a new token (the cluster accepts it: the double's mode file says so)
    let token = "qwerty.0123456789qwerty";
    write(
        &n.root,
        "/boot/efi/user-data",
        &worker_seed("jws").replace(TOKEN, token),
    );
    write(&n.root, "/etc/kubeadm-double/mode", "ok\n");
    let o = n.run(None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("phase=acquire result=ok the seed on bootpart:/boot/efi changed and is valid: resuming from render"),
        "{out}"
    );
    assert!(!out.contains(token), "new token printed:\n{out}");
    assert_eq!(
        phases_run(&out),
        ["acquire", "render", "kubeadm", "cni", "runcmd", "done"],
        "{out}"
    );
    let cfg = std::fs::read_to_string(n.root.join("var/lib/kubebake/kubeadm.yaml")).expect("cfg");
    assert!(cfg.contains(token) && !cfg.contains(TOKEN), "{cfg}");
    let stored =
        std::fs::read_to_string(n.root.join("var/lib/kubebake/seed/user-data")).expect("copy");
    assert!(stored.contains(token), "stored copy not replaced");
    assert_eq!(n.count("count"), 3);
}

/// Defect 15: a new hostname redoes everything from host; an invalid new
/// seed changes nothing (progress and the stored copy are kept).
#[test]
fn changed_seed_is_validated_then_resumes_from_the_first_phase_it_affects() {
    let n = node(&worker_seed("jws"));
    assert_eq!(n.run(None).status.code(), Some(1));
    let before = n.status_json()["completed"].clone();
    write(
        &n.root,
        "/boot/efi/user-data",
        &worker_seed("ok").replace("hostname: worker-1", "hostname: Worker_2"),
    );
    let o = n.run(None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let fail = phase_line(&out, "validate", "fail");
    assert!(
        fail.contains("changed and is invalid") && fail.contains("hostname"),
        "{fail}"
    );
    assert_eq!(n.status_json()["completed"], before, "progress changed");
    assert_eq!(n.count("count"), 1, "kubeadm ran on an invalid seed");
    write(
        &n.root,
        "/boot/efi/user-data",
        &worker_seed("ok").replace("hostname: worker-1", "hostname: worker-2"),
    );
    let o = n.run(None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("resuming from host"), "{out}");
    assert_eq!(
        phases_run(&out),
        [
            "acquire",
            "host",
            "preflight",
            "render",
            "kubeadm",
            "cni",
            "runcmd",
            "done"
        ],
        "{out}"
    );
    assert_eq!(*n.svc.shared.hostname.lock().expect("lock"), "worker-2");
}

/// Defect 15: after kubeadm init succeeded (and the CNI phase failed), a
/// changed token cannot be applied and is refused with advice; a changed
/// CNI manifest path resumes from cni.
#[test]
fn change_after_kubeadm_ran_is_refused_unless_it_is_later() {
    let seed = |cni: &str| format!("{}  cni: {cni}\n  pod_subnet: 10.244.0.0/16\n", init_seed());
    let n = node(&seed("/etc/cni/missing.yaml"));
    let o = n.run(None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("phase=cni result=fail"), "{out}");
    write(
        &n.root,
        "/boot/efi/user-data",
        &seed("/etc/cni/missing.yaml").replace(TOKEN, "qwerty.0123456789qwerty"),
    );
    let o = n.run(None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let fail = phase_line(&out, "validate", "fail");
    assert!(
        fail.contains("changed what the render phase applies, after kubeadm already ran")
            && fail.contains("kubeadm reset --force"),
        "{fail}"
    );
    assert_eq!(n.count("count"), 1);
    write(
        &n.root,
        "/boot/efi/user-data",
        &seed(kubebake_seed::paths::FLANNEL_MANIFEST),
    );
    let o = n.run(None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert_eq!(
        phases_run(&out),
        ["acquire", "cni", "runcmd", "done"],
        "{out}"
    );
    assert_eq!(n.count("count"), 1, "kubeadm init ran twice");
    assert_eq!(n.count("kubectl-count"), 1);
}

/// One run with NTP never synchronising and a 3 s NTP timeout; returns the
/// output and the preflight phase's wait.
fn run_without_ntp(n: &Node) -> (String, u64) {
    n.svc
        .shared
        .ntp
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let o = n
        .cmd(&["run"])
        .env("KUBEBAKE_NTP_TIMEOUT_MS", "3000")
        .output()
        .expect("run agent");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let st = n.status_json();
    let wait = st["completed"]
        .as_array()
        .expect("completed")
        .iter()
        .find(|r| r["phase"] == "preflight")
        .and_then(|r| r["wait_ms"].as_u64())
        .expect("preflight record");
    (out, wait)
}

/// Defect 24: with an RTC and a clock after the image's build time, an
/// unreachable NTP server costs no wait; the diagnosis line stays.
#[test]
fn trusted_clock_does_not_wait_for_ntp() {
    let n = node(&worker_seed("ok"));
    std::fs::create_dir_all(n.root.join("sys/class/rtc/rtc0")).expect("rtc");
    write(
        &n.root,
        kubebake_seed::paths::BUILD_MANIFEST,
        "{\"built_at\": 1764547200}\n",
    );
    let (out, wait) = run_without_ntp(&n);
    assert!(wait < 1000, "waited {wait} ms:\n{out}");
    assert!(
        out.contains("check=clock clock at")
            && out.contains("is not NTP-synchronised; not waiting: it is trusted (RTC rtc0, after the image's build time)"),
        "{out}"
    );
}

/// Defect 24: without an RTC (a Raspberry Pi) the agent waits for NTP.
#[test]
fn untrusted_clock_waits_for_ntp() {
    let n = node(&worker_seed("ok"));
    let (out, wait) = run_without_ntp(&n);
    assert!(wait >= 3000, "waited only {wait} ms:\n{out}");
    assert!(
        out.contains("is not NTP-synchronised after 3 s (no RTC"),
        "{out}"
    );
}

#[test]
fn no_seed_lists_sources() {
    let n = node("");
    std::fs::remove_file(n.root.join("boot/efi/user-data")).expect("rm");
    let o = n.run(None);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    let l = phase_line(&out, "acquire", "fail");
    assert!(
        l.contains("cmdline: none") && l.contains("cidata: none") && l.contains("embedded: none"),
        "{l}"
    );
    assert!(
        !l.contains("ec2") && !l.contains("vmware"),
        "network sources probed on QEMU: {l}"
    );
}

#[test]
fn runcmd_output_stays_off_the_console_and_marker_is_recovered() {
    let d = tempfile::tempdir().expect("tmp");
    let flag = d.path().join("ran");
    let seed = format!(
        "{}runcmd:\n  - echo {TOKEN} && touch {}\n  - [\"false\"]\n",
        worker_seed("ok"),
        flag.display()
    );
    let n = node(&seed);
    let o = n.run(None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(flag.exists(), "runcmd did not run");
    assert!(
        out.contains("phase=runcmd result=warn command 2 of 2 failed"),
        "{out}"
    );
    assert!(
        out.contains("phase=runcmd result=warn commands=2 failed=1"),
        "{out}"
    );
    assert!(err.contains("runcmd[1]: <redacted>"), "{err}");
    // power cut after `done` was saved but before the marker was written
    std::fs::remove_file(n.root.join("var/lib/kubebake/firstboot.done")).expect("rm");
    let o = n.run(None);
    assert_eq!(o.status.code(), Some(0));
    assert!(n.root.join("var/lib/kubebake/firstboot.done").exists());
    assert_eq!(n.count("count"), 1);
}

/// The agent's `kubebake: waiting …` lines (not phase lines).
fn waiting_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.starts_with("kubebake: waiting"))
        .collect()
}

/// Bug B of the VM tests: on a loaded node, activating hostnamed took
/// longer than the bus's activation timeout and the host phase failed with
/// "hostname1.SetStaticHostname: TimedOut: Failed to activate service". The
/// agent now waits for a slowly starting service (bounded, one line saying
/// what for) and goes on; the wait is a wait, not the agent's own work.
#[test]
fn host_waits_for_a_slowly_activated_hostname1() {
    let n = node_with(&worker_seed("ok"), &[common::HOSTNAME1]);
    // The first activation times out after SLOW_START_MS; hostname1 comes
    // up later, as hostnamed does once systemd gets to it.
    let later = common::serve_later(
        &n.bus.address,
        n.svc.shared.clone(),
        common::HOSTNAME1,
        std::time::Duration::from_millis(2_500),
    );
    let o = n.run_env(&[("KUBEBAKE_DBUS_WAIT_MS", "30000")]);
    let (out, err) = text(&o);
    let _hostname1 = later.join().expect("hostname1 service");
    eprintln!("--- agent stdout ---\n{out}");
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        phase_lines(&out).iter().all(|l| l.ends_with("result=ok")),
        "{out}"
    );
    let waits = waiting_lines(&out);
    assert_eq!(
        waits.len(),
        1,
        "one line says what the agent waits for:\n{out}"
    );
    assert!(
        waits[0].contains("org.freedesktop.hostname1") && waits[0].contains("TimedOut"),
        "{}",
        waits[0]
    );
    assert_eq!(*n.svc.shared.hostname.lock().expect("lock"), "worker-1");
    let st = n.status_json();
    let host = st["completed"]
        .as_array()
        .and_then(|c| c.iter().find(|p| p["phase"] == "host"))
        .unwrap_or_else(|| panic!("no host phase in {st}"))
        .clone();
    let wait = host["wait_ms"].as_u64().unwrap_or(0);
    assert!(
        wait >= u64::from(SLOW_START_MS),
        "the D-Bus wait is counted as a wait: {host}"
    );
}

/// A service that never starts fails the host phase after the bounded wait,
/// before anything was changed: no hostname, no `write_files` (the host
/// phase is never half-applied; the next boot applies all of it). No
/// `users:` here: the agent runs the host's `useradd`.
#[test]
fn host_changes_nothing_when_timedate1_never_starts() {
    let seed =
        worker_seed("ok").replace("#cloud-config\n", "#cloud-config\ntimezone: Europe/Paris\n");
    let n = node_with(&seed, &[common::TIMEDATE1]);
    let t = std::time::Instant::now();
    let o = n.run_env(&[("KUBEBAKE_DBUS_WAIT_MS", "2500")]);
    let took = t.elapsed();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let fail = phase_line(&out, "host", "fail");
    assert!(
        fail.contains("org.freedesktop.timedate1") && fail.contains("TimedOut"),
        "{fail}"
    );
    assert_eq!(waiting_lines(&out).len(), 1, "{out}");
    assert!(
        took < std::time::Duration::from_secs(20),
        "the wait is bounded: {took:?}"
    );
    assert_eq!(
        *n.svc.shared.hostname.lock().expect("lock"),
        "",
        "hostname set before the phase failed"
    );
    assert!(
        !n.root.join("etc/kubeadm-double/mode").exists(),
        "write_files applied before the phase failed"
    );
}
