//! VM test of the first-boot agent (issue 5, Acceptance 4 and 5), amd64,
//! QEMU TCG + OVMF. One image is built by `kubebake build` from the cached
//! Debian trixie test rootfs with the kubeadm/kubelet/kubectl doubles, the
//! agent, and a test-only checker layer (firstboot_vm/layer.rs); every case
//! boots a grown copy of it with a CIDATA seed disk made by
//! `kubebake seed image` and two NICs on different user-mode subnets
//! (`restrict=on`: nothing leaves the host), the seed advertising the second.
//!
//! The checker reports on a channel of its own (a virtio serial port; see
//! common/vm.rs): the agent's redacted status (`status --json`, every phase
//! it completed on any boot), its `kubebake: phase=…` lines of this boot from
//! the journal, the doubles' records (argv, config with tokens hashed, the
//! kubeadm call's uptime) and `BOOTTEST` facts. The serial console, where a
//! kernel message can split any line (issue 9, defect 30), is only read to
//! cut the power at the right moment and searched for leaked secrets. A
//! missing qemu/OVMF/rootfs/agent fails the test, whoever runs it.
//!
//! Run: `cargo build --release --workspace && cargo test --release -p kubebake
//! --test firstboot_vm -- --nocapture --test-threads=1`.

mod common;
#[path = "firstboot_vm/console.rs"]
mod console;
#[path = "firstboot_vm/layer.rs"]
mod layer;
#[path = "firstboot_vm/seeds.rs"]
mod seeds;

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use common::vm::{
    agent_for, boot_timeout, boot_with, build_image, components, copy_and_grow, host_ready,
    test_rootfs, Arch, Boot,
};
use seeds::{Role, Seed, CA_HASH, ENDPOINT};
use sha2::{Digest, Sha256};

const ARCH: Arch = Arch::Amd64;
/// The agent's own work before kubeadm under TCG, which emulates every
/// instruction: 0.4–1.3 s measured, 3.7–4.3 s on a loaded host; the
/// regression this catches took 8.8–12.4 s. (Under KVM the bound is 1 s.)
const OWN_WORK_TCG_MS: f64 = 8000.0;
/// The agent's phases, in order.
const PHASES: [&str; 9] = [
    "acquire",
    "validate",
    "host",
    "preflight",
    "render",
    "kubeadm",
    "cni",
    "runcmd",
    "done",
];

/// The image every case boots a copy of.
struct Fixture {
    work: PathBuf,
    img: PathBuf,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// Build the image once (a missing prerequisite fails the test).
fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        host_ready(ARCH);
        let rootfs = test_rootfs(ARCH);
        let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("firstboot-vm");
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).expect("create work dir");
        let layer = layer::write(&work, ARCH.tty());
        let comps = components(ARCH, &work, agent_for(ARCH));
        let img = work.join("node.img");
        let secs = build_image(ARCH, &rootfs, &layer, &comps, &img);
        eprintln!("kubebake build (amd64, firstboot VM test): {secs:.1} s");
        Fixture { work, img }
    })
}

/// One VM: a grown copy of the image plus its CIDATA seed disk.
struct Node {
    fx: &'static Fixture,
    name: &'static str,
    disk: PathBuf,
    cidata: PathBuf,
    seed: Seed,
}

impl Node {
    fn new(fx: &'static Fixture, name: &'static str, seed: Seed) -> Node {
        let disk = fx.work.join(format!("{name}.img"));
        copy_and_grow(&fx.img, &disk);
        let cidata = seeds::cidata(&seed, &fx.work, name, layer::CNI_PATH, layer::DOUBLE_ETC);
        Node {
            fx,
            name,
            disk,
            cidata,
            seed,
        }
    }

    /// Boot `n` of this node; asserts no secret reached the console.
    fn boot(&self, n: u32, stop_on: &[&str]) -> Boot {
        let extra: Vec<String> = [
            "-nic",
            "user,model=virtio-net-pci,net=10.0.2.0/24,restrict=on",
            "-nic",
            "user,model=virtio-net-pci,net=10.0.3.0/24,restrict=on",
            "-drive",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!(
            "file={},format=raw,if=virtio,readonly=on",
            self.cidata.display()
        )])
        .collect();
        let name = format!("{}{n}", self.name);
        let b = boot_with(
            ARCH,
            &self.disk,
            &self.fx.work,
            &name,
            boot_timeout(ARCH),
            &extra,
            stop_on,
        );
        eprintln!("VM {name}: {:.0} s", b.seconds);
        assert_no_secrets(&b, &self.seed, &name);
        b
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.disk);
    }
}

/// The token (and its secret half) and the seed's private keys never reach
/// the serial console, the journal or the doubles' records.
fn assert_no_secrets(b: &Boot, seed: &Seed, name: &str) {
    let secret = &seed.token[7..];
    let pki = common::vm::repo().join("seed/tests/fixtures/pki");
    for (what, text) in [
        ("serial console", &b.serial),
        ("report channel", &b.channel),
    ] {
        assert!(
            !text.contains(seed.token) && !text.contains(secret),
            "boot {name}: the bootstrap token appears on the {what}"
        );
        for key in ["ca.key", "sa.key", "front-proxy-ca.key", "etcd-ca.key"] {
            let pem = fs::read_to_string(pki.join(key)).expect("read fixture key");
            for l in pem.lines().filter(|l| !l.starts_with("-----")) {
                assert!(
                    !text.contains(l),
                    "boot {name}: a line of {key} appears on the {what}"
                );
            }
        }
        assert!(
            !text.contains("PRIVATE KEY-----"),
            "boot {name}: a PEM private key header appears on the {what}"
        );
    }
}

/// The checker's `status_json` (the agent's redacted status).
fn status(b: &Boot) -> serde_json::Value {
    serde_json::from_str(b.get("status_json"))
        .unwrap_or_else(|e| panic!("status_json: {e}\n{}", b.get("status_json")))
}

/// The last kubeadm init/join argv the double recorded.
fn kubeadm_argv(records: &str) -> Vec<String> {
    console::records(records, "kubeadm-double", "argv")
        .into_iter()
        .map(|a| a.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .rfind(|a| matches!(a.first().map(String::as_str), Some("init" | "join")))
        .unwrap_or_else(|| panic!("no kubeadm init/join argv on the console"))
}

/// Every phase completed (ok, or skipped where it does not apply) in the
/// agent's persisted state, in order, `done` last, and no failure recorded:
/// read from `status --json` on the last boot, not from console lines.
fn assert_all_phases_ok(last: &Boot) {
    let st = status(last);
    let done: Vec<(&str, &str)> = st["completed"]
        .as_array()
        .unwrap_or_else(|| panic!("status has no completed list: {st}"))
        .iter()
        .map(|r| {
            (
                r["phase"].as_str().unwrap_or("?"),
                r["result"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    let phases: Vec<&str> = done.iter().map(|(p, _)| *p).collect();
    assert_eq!(phases, PHASES, "completed phases in status {st}");
    for (p, r) in &done {
        assert!(
            *r == "ok" || *r == "skipped",
            "phase {p} completed with result {r}: {st}"
        );
    }
    let failures = st["failures"].as_array().map_or(0, Vec::len);
    assert_eq!(failures, 0, "failures recorded: {st}");
}

/// The address the VM has in the second subnet (from the checker).
fn second_nic_address(b: &Boot) -> String {
    let addrs = b.get("addresses");
    addrs
        .split(',')
        .filter_map(|a| a.split_once('='))
        .map(|(_, cidr)| cidr.split('/').next().unwrap_or(cidr))
        .find(|ip| ip.starts_with("10.0.3."))
        .unwrap_or_else(|| panic!("no address in 10.0.3.0/24: {addrs}"))
        .to_string()
}

/// The node-ip kubelet argument in a rendered kubeadm config (v1beta4 list
/// form `- name: node-ip` / `value: …`, or v1beta3 map form `node-ip: …`).
fn node_ip(config: &str) -> Option<String> {
    let lines: Vec<&str> = config.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start().trim_start_matches("- ");
        if t == "name: node-ip" {
            return lines
                .get(i + 1)
                .and_then(|n| console::yaml_value(n, "value"))
                .map(str::to_string);
        }
        if let Some(v) = console::yaml_value(l, "node-ip") {
            return Some(v.to_string());
        }
    }
    None
}

/// A finished run on `last` (its last boot): phases, argv, recorded config
/// against the seed, checker facts.
fn assert_finished_run(last: &Boot, seed: &Seed) -> String {
    assert_all_phases_ok(last);
    assert_eq!(last.get("firstboot_result"), "success", "{}", last.tail());
    assert_eq!(last.get("done_marker"), "present");
    assert_eq!(last.get("hostname"), seed.hostname);

    let argv = kubeadm_argv(&last.records);
    assert_eq!(
        argv,
        [
            seed.role.kubeadm(),
            "--config",
            "/var/lib/kubebake/kubeadm.yaml"
        ],
        "kubeadm argv"
    );

    let config = console::kubeadm_configs(&last.records)
        .pop()
        .unwrap_or_else(|| panic!("no kubeadm config on the console\n{}", last.tail()));
    let token_hash = seed.token_sha256();
    assert!(
        config.contains(&format!("sha256:{token_hash}")),
        "config lacks the seed token (by hash):\n{config}"
    );
    let printed = console::records(&last.records, "kubeadm-double", "token-sha256");
    assert!(
        printed.contains(&token_hash.as_str()),
        "token-sha256 records {printed:?} lack {token_hash}"
    );
    if seed.role == Role::Init {
        // kubeadm init has no CA pin: it must use the seed's CA (the one
        // CA_HASH pins), placed in /etc/kubernetes/pki.
        assert!(!config.contains("caCertHashes"), "{config}");
    } else {
        assert!(
            config.contains(CA_HASH),
            "config lacks the CA hash:\n{config}"
        );
    }
    if seed.role != Role::Worker {
        let placed = console::base64_decode(last.get("pki_ca_b64"));
        let want = fs::read(common::vm::repo().join("seed/tests/fixtures/pki/ca.crt"))
            .expect("read fixture ca.crt");
        assert_eq!(
            String::from_utf8_lossy(&placed).trim(),
            String::from_utf8_lossy(&want).trim(),
            "/etc/kubernetes/pki/ca.crt is not the seed's CA"
        );
        assert_eq!(last.get("pki_ca_key_mode"), "600");
    }
    assert!(
        !config.contains("unsafeSkipCAVerification: true"),
        "CA not pinned:\n{config}"
    );
    assert!(
        config.contains(ENDPOINT),
        "config lacks the endpoint {ENDPOINT}:\n{config}"
    );
    let addr = second_nic_address(last);
    let ip = node_ip(&config).unwrap_or_else(|| panic!("no node-ip in:\n{config}"));
    assert_eq!(ip, addr, "node-ip is not the second NIC's address");
    if seed.role != Role::Worker {
        assert_eq!(
            console::yaml_value(&config, "advertiseAddress"),
            Some(addr.as_str()),
            "advertiseAddress is not the second NIC's address:\n{config}"
        );
    }
    // At least one record (an empty list passed `.all()` before, issue 9
    // defect 29), every one in the seed's mode.
    let modes = console::records(&last.records, "kubeadm-double", "mode");
    assert!(
        !modes.is_empty()
            && modes
                .iter()
                .all(|m| m.starts_with(&format!("{} ", seed.mode))),
        "kubeadm double not in mode {}: {modes:?}",
        seed.mode
    );

    let st = status(last);
    assert_eq!(st["finished"], true, "status {st}");
    assert!(st["last_error"].is_null(), "status {st}");
    assert_eq!(last.get("seed_copy_mode"), "600");
    assert_eq!(last.get("kubeadm_yaml_mode"), "600");
    eprintln!(
        "{} {}: argv {argv:?}; advertise {addr}; endpoint, token hash and CA hash in the config",
        seed.role.name(),
        seed.hostname
    );
    addr
}

fn num(v: &serde_json::Value, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

/// Acceptance 5: unit start to the kubeadm invocation minus the waits, in
/// ms. The start is systemd's (the unit leaving inactive, CLOCK_MONOTONIC),
/// the end the kubeadm double's `/proc/uptime` when it was called on this
/// boot (the same clock without suspend): neither comes from the agent. Only
/// the waits (network, time sync, containerd socket) are the agent's figure.
fn own_work_ms(b: &Boot) -> f64 {
    let st = status(b);
    let waits = num(&st["waits_before_kubeadm_ms"], "waits_before_kubeadm_ms");
    let us = |k: &str| -> u64 {
        b.get(k)
            .parse()
            .unwrap_or_else(|e| panic!("BOOTTEST {k}={}: {e}", b.get(k)))
    };
    let start_ms = us("firstboot_inactive_exit_us") as f64 / 1000.0;
    let called = console::kubeadm_called(&b.records, b.get("boot_id")).unwrap_or_else(|| {
        panic!(
            "no kubeadm-double `called` record of boot {}:\n{}",
            b.get("boot_id"),
            b.records
        )
    });
    let to_kubeadm_ms = called * 1000.0 - start_ms;
    let mut breakdown = Vec::new();
    if let Some(phases) = st["completed"].as_array() {
        for p in phases {
            breakdown.push(format!(
                "{}={}ms(wait {}ms)",
                p["phase"].as_str().unwrap_or("?"),
                p["duration_ms"],
                p["wait_ms"]
            ));
        }
    }
    let own = to_kubeadm_ms - waits as f64;
    eprintln!(
        "AGENT OWN WORK (unit start -> kubeadm invocation, minus waits): {own:.0} ms \
         = {to_kubeadm_ms:.0} ms (systemd start to the double's uptime) - waits {waits} ms; \
         agent's own figure to_kubeadm {} ms; phases: {}",
        st["to_kubeadm_ms"],
        breakdown.join(" ")
    );
    assert!(
        to_kubeadm_ms > 0.0,
        "kubeadm called {called} s after boot, before the unit started ({start_ms} ms)"
    );
    own
}

/// A later boot's journal is the node's: filed under the kept machine-id
/// from its first entry, in the one directory of that id, and
/// `journalctl -b` shows it, the agent's lines included if it ran. (It used
/// to start with a transient id: a second directory and nothing under `-b`.)
fn assert_journal_of_a_later_boot(b: &Boot, agent_ran: bool) {
    let id = b.get("machine_id");
    assert_eq!(id.len(), 32, "machine-id {id:?}\n{}", b.tail());
    assert_eq!(b.get("journal_dirs"), id, "journal directories");
    assert_eq!(
        b.get("journal_boot_machine_ids"),
        id,
        "machine-ids in this boot's journal"
    );
    assert!(
        num_str(b.get("journal_boot_lines")) > 100,
        "journalctl -b lines"
    );
    assert_eq!(
        num_str(b.get("journal_agent_lines")) > 0,
        agent_ran,
        "agent lines under journalctl -b -u kubebake-firstboot.service"
    );
}

fn num_str(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

#[test]
fn vm_firstboot_worker_joins_on_second_nic_hostname_persists() {
    let fx = fixture();
    let node = Node::new(
        fx,
        "worker",
        Seed {
            role: Role::Worker,
            hostname: "vm-worker-1",
            token: "wk5vm1.a1b2c3d4e5f6a7b8",
            mode: "ok",
        },
    );
    let b1 = node.boot(1, &[]);
    assert_finished_run(&b1, &node.seed);
    assert_eq!(b1.get("kubeadm_calls"), "1");
    // Under TCG every instruction is emulated: a loose bound that still
    // catches a real regression; the 1 s bound is asserted under KVM below.
    let own = own_work_ms(&b1);
    assert!(
        own < OWN_WORK_TCG_MS,
        "the agent's own work before kubeadm is {own:.0} ms under TCG (bound {OWN_WORK_TCG_MS} ms; \
         host load average now {})",
        fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );

    let b2 = node.boot(2, &[]);
    assert_ne!(b1.get("boot_id"), b2.get("boot_id"), "not a second boot");
    assert_eq!(b2.get("hostname"), "vm-worker-1", "hostname after reboot");
    assert_eq!(b2.get("etc_hostname"), "vm-worker-1");
    assert_eq!(b2.get("done_marker"), "present");
    let again: Vec<_> = console::phases(&b2.agent);
    assert!(
        !again.iter().any(|l| l.phase == "acquire"),
        "the agent ran again on boot 2: {again:#?}"
    );
    assert_eq!(b2.get("firstboot_condition"), "no", "{}", b2.tail());
    assert_eq!(b2.get("firstboot_active"), "inactive");
    assert_eq!(b2.get("kubeadm_calls"), "1", "kubeadm ran again on boot 2");
    assert_journal_of_a_later_boot(&b2, false);
    eprintln!("(figure above: {own:.0} ms, bound {OWN_WORK_TCG_MS} ms under TCG; 1 s under KVM)");
}

/// Acceptance 5 on hardware virtualisation: the same worker seed, booted
/// with KVM (`KUBEBAKE_BOOT_ACCEL=kvm`, the boot tests' knob) so the guest
/// runs at host speed; the agent's own work from unit start to the kubeadm
/// invocation, minus the network and time-sync waits, must stay under 1 s.
/// TCG emulates every instruction (the worker case asserts a loose TCG
/// bound), so without KVM this case cannot be decided: it is ignored (cargo
/// lists it; `ci/test` says NOT RUN) and, when run anyway, fails without KVM.
#[test]
#[ignore = "needs KVM: KUBEBAKE_BOOT_ACCEL=kvm ci/test runs it"]
fn vm_firstboot_kvm_own_work_before_kubeadm_under_one_second() {
    let kvm = std::env::var("KUBEBAKE_BOOT_ACCEL").is_ok_and(|v| v == "kvm");
    common::vm::require(
        kvm,
        "the own-work timing needs KUBEBAKE_BOOT_ACCEL=kvm on a host with working KVM",
    );
    let fx = fixture();
    let node = Node::new(
        fx,
        "timing",
        Seed {
            role: Role::Worker,
            hostname: "vm-worker-3",
            token: "tm5vm1.0a1b2c3d4e5f6a7b",
            mode: "ok",
        },
    );
    let b = node.boot(1, &[]);
    assert_finished_run(&b, &node.seed);
    let own = own_work_ms(&b);
    assert!(
        own < 1000.0,
        "the agent's own work before kubeadm is {own:.0} ms (>= 1 s)"
    );
}

#[test]
fn vm_firstboot_init_killed_mid_run_resumes_and_applies_cni() {
    let fx = fixture();
    let node = Node::new(
        fx,
        "init",
        Seed {
            role: Role::Init,
            hostname: "vm-cp-1",
            token: "in5vm1.0011223344556677",
            mode: "fail-twice-connection-refused",
        },
    );
    // Power cut while the agent waits to retry kubeadm: on the agent's retry
    // line or the double's failure record before it (either console line
    // may be split by a kernel message; both are unlikely).
    let b1 = node.boot(
        1,
        &[
            "kubebake: phase=kubeadm result=retry",
            "kubeadm-double: result=fail reason=connection-refused",
        ],
    );
    assert!(b1.stopped, "boot 1 was not cut mid-run\n{}", b1.tail());
    let b2 = node.boot(2, &[]);
    // Boot 1 had not finished (the agent ran again) ...
    assert_eq!(b2.get("firstboot_condition"), "yes", "{}", b2.tail());
    assert_eq!(status(&b2)["runs"], 2, "status {}", status(&b2));
    assert_finished_run(&b2, &node.seed);
    // ... and had got past preflight: the resumed run went on from kubeadm
    // (runs=2 and 3 kubeadm calls above). Boot 2 must not redo a finished
    // phase: neither its lines in the agent's log nor its console show one.
    let mut p2 = console::phases(&b2.agent);
    assert!(
        p2.iter().any(|l| l.phase == "kubeadm"),
        "boot 2's agent lines: {}\n{}",
        b2.agent,
        b2.tail()
    );
    p2.extend(console::phases(&b2.serial));
    assert!(
        !p2.iter().any(|l| matches!(
            l.phase.as_str(),
            "acquire" | "host" | "preflight" | "render"
        )),
        "boot 2 redid finished phases: {p2:#?}"
    );
    assert_eq!(b2.get("kubeadm_calls"), "3");
    assert_journal_of_a_later_boot(&b2, true);
    // The CNI manifest applied with admin.conf after init.
    let want = hex::encode(Sha256::digest(layer::CNI_MANIFEST.as_bytes()));
    let applied = console::records(&b2.records, "kubectl-double", "apply-file");
    assert!(
        applied
            .iter()
            .any(|a| *a == format!("{} sha256={want}", layer::CNI_PATH)),
        "CNI manifest not applied: {applied:?}"
    );
    let kubectl = console::records(&b2.records, "kubectl-double", "argv");
    assert!(
        kubectl
            .iter()
            .any(|a| a.contains("/etc/kubernetes/admin.conf") && a.contains("apply")),
        "kubectl argv {kubectl:?}"
    );
}

#[test]
fn vm_firstboot_control_plane_join_retries_connection_refused() {
    let fx = fixture();
    let node = Node::new(
        fx,
        "cp",
        Seed {
            role: Role::ControlPlane,
            hostname: "vm-cp-2",
            token: "cp5vm1.8899aabbccddeeff",
            mode: "fail-twice-connection-refused",
        },
    );
    let b = node.boot(1, &[]);
    assert_finished_run(&b, &node.seed);
    let lines = console::phases(&b.agent);
    let kubeadm: Vec<_> = lines.iter().filter(|l| l.phase == "kubeadm").collect();
    let shape: Vec<&str> = kubeadm.iter().map(|l| l.result.as_str()).collect();
    assert_eq!(
        shape,
        ["retry", "retry", "ok"],
        "kubeadm lines {kubeadm:#?}"
    );
    for r in &kubeadm[..2] {
        assert!(
            r.detail.contains("connection refused"),
            "retry without the reason: {r:?}"
        );
    }
    assert!(kubeadm[2].detail.contains("attempts=3"), "{:?}", kubeadm[2]);
    assert_eq!(b.get("kubeadm_calls"), "3");
}

#[test]
fn vm_firstboot_jws_error_stops_with_expired_token_advice() {
    let fx = fixture();
    let node = Node::new(
        fx,
        "jws",
        Seed {
            role: Role::Worker,
            hostname: "vm-worker-2",
            token: "jw5vm1.ffeeddccbbaa9988",
            mode: "jws",
        },
    );
    let b = node.boot(1, &[]);
    let lines = console::phases(&b.agent);
    let fail: Vec<_> = lines
        .iter()
        .filter(|l| l.phase == "kubeadm" && l.result == "fail")
        .collect();
    assert_eq!(fail.len(), 1, "phase lines {lines:#?}");
    assert!(
        fail[0].detail.contains("kubeadm token create"),
        "no expired-token advice: {:?}",
        fail[0]
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.result == "retry" || l.phase == "done"),
        "a permanent error was retried or finished: {lines:#?}"
    );
    assert_eq!(b.get("kubeadm_calls"), "1");
    assert_eq!(b.get("done_marker"), "absent");
    assert_ne!(b.get("firstboot_result"), "success");
    let st = status(&b);
    assert_eq!(st["finished"], false, "status {st}");
    let advice = st["advice"].as_str().unwrap_or_default();
    assert!(advice.contains("kubeadm token create"), "status {st}");
    eprintln!("jws: {}", fail[0].detail);
}

/// Issue 9, defect 25: with a missing input and no `CI=true`, the VM cases
/// used to print "SKIPPING" and pass. Given a rootfs that does not exist,
/// a case must fail (fast: before any image is built).
#[test]
fn firstboot_vm_fails_rather_than_returns_on_a_missing_input() {
    common::vm::assert_rerun_fails(
        "vm_firstboot_worker_joins_on_second_nic_hostname_persists",
        &[("KUBEBAKE_TEST_ROOTFS_AMD64", "/nonexistent/rootfs.tar")],
        "KUBEBAKE_TEST_ROOTFS_AMD64=/nonexistent/rootfs.tar is not a file",
    );
}
