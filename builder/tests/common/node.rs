//! The boot test proper (issue 4, Acceptance 3 and 4; issue 9): the
//! checker layer baked into the test image, the seed it boots with, what
//! every boot must show (`check_node`), and `run`, which builds one image
//! and boots copies A, B and A again.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;

use super::vm::{
    agent_for, boot, build_image_seeded, components, copy_and_grow, guest_wait_cap, host_ready,
    overlay_and_grow, sha256_file, test_rootfs, Arch, Boot, Component, GROW_BYTES,
};

/// The checker script baked into test images (never into real images).
pub const CHECKER: &str = include_str!("boottest.sh");

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

/// Write the test-only rootfs layer: the checker script and its unit, the
/// CRI client built beside `agent` (same arch, same build) and the private
/// half of the test's SSH client key (test images only).
pub fn checker_layer(dir: &Path, arch: Arch, agent: &Path, ssh: &SshKey) -> PathBuf {
    let path = dir.join(format!("boottest-{}.tar", arch.name()));
    let f = fs::File::create(&path).expect("create checker layer");
    let mut b = tar::Builder::new(f);
    let unit = format!(
        "# Test only: prints BOOTTEST lines on the serial console, then powers off.\n\
         [Unit]\nDescription=kubebake boot test checker\nAfter=multi-user.target\n\n\
         [Service]\nType=simple\nExecStart=/usr/local/bin/kubebake-boottest {} {}\n\n\
         [Install]\nWantedBy=multi-user.target\n",
        arch.tty(),
        guest_wait_cap(arch)
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
    let private = fs::read(&ssh.private).expect("read the test SSH client key");
    tar_file(
        &mut b,
        "usr/local/libexec/kubebake-test/ssh-client-key",
        0o600,
        &private,
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

/// The boot test's SSH client key pair, made for each run by `ssh-keygen`:
/// the seed gives user `ops` the public half, the checker logs in with the
/// private half (baked into the test image only).
#[derive(Clone, Debug)]
pub struct SshKey {
    pub private: PathBuf,
    /// The public key line (`ssh-ed25519 AAAA… ops@boottest`).
    pub public: String,
}

/// Make the run's [`SshKey`] in `dir`.
pub fn ssh_client_key(dir: &Path) -> SshKey {
    kubebake_hosttool::need(&["ssh-keygen"]);
    let private = dir.join("ssh-client-key");
    let out = kubebake_hosttool::command("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ops@boottest", "-f"])
        .arg(&private)
        .output()
        .expect("running ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = fs::read_to_string(private.with_extension("pub"))
        .expect("read the public key")
        .trim()
        .to_string();
    SshKey { private, public }
}

/// The image `img` carries no SSH host key: every node makes its own at
/// first boot (read with debugfs from root A).
pub fn assert_no_host_keys_in_image(img: &Path) {
    kubebake_hosttool::need(&["sfdisk", "debugfs"]);
    let out = kubebake_hosttool::command("sfdisk")
        .arg("-J")
        .arg(img)
        .output()
        .expect("running sfdisk -J");
    assert!(out.status.success(), "sfdisk -J {}", img.display());
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sfdisk JSON");
    let root = t["partitiontable"]["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "root-a")
        .unwrap_or_else(|| panic!("no root-a partition in {t}"));
    let offset = root["start"].as_u64().expect("root-a start") * 512;
    let out = kubebake_hosttool::command("debugfs")
        .arg("-R")
        .arg("ls -l /etc/ssh")
        .arg(format!("{}?offset={offset}", img.display()))
        .output()
        .expect("running debugfs");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("sshd_config"),
        "debugfs could not list /etc/ssh of root-a: {listing}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !listing.contains("ssh_host_"),
        "the image carries SSH host keys:\n{listing}"
    );
}

/// The seed embedded in boot-test images: a worker joining a (double)
/// cluster, with the host settings the agent applies through /etc's overlay.
fn boot_seed(ssh_key: &str) -> String {
    format!(
        "#cloud-config
hostname: boottest-node
timezone: Europe/Berlin
users:
  - name: ops
    groups: [adm]
    shell: /bin/bash
    ssh_authorized_keys:
      - {ssh_key}
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

/// Every `(key, want)` of `pairs` via [`flag`].
fn flags(b: &Boot, pairs: &[(&str, &str)]) {
    for (k, v) in pairs {
        flag(b, k, v);
    }
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

/// kubelet runs as the unit's kubeadm drop-in wires it (issue 9, defect 28):
/// the kubelet double's argv after the kubeadm double's kubelet-start wrote
/// config.yaml and kubeadm-flags.env (the CRI endpoint from the rendered
/// config's criSocket) and restarted kubelet.
fn check_kubelet_wiring(b: &Boot) {
    let cri = kubebake_seed::kubeadm::DEFAULT_CRI_SOCKET;
    let endpoint = format!("--container-runtime-endpoint={cri}");
    let argv: Vec<&str> = b.get("kubelet_argv").split(' ').collect();
    for want in [
        "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
        "--kubeconfig=/etc/kubernetes/kubelet.conf",
        "--config=/var/lib/kubelet/config.yaml",
        endpoint.as_str(),
    ] {
        assert!(argv.contains(&want), "kubelet argv lacks {want}: {argv:?}");
    }
    flag(b, "kubelet_config", "present");
    flag(
        b,
        "kubeadm_flags_env",
        &format!("KUBELET_KUBEADM_ARGS=\"{endpoint}\""),
    );
    // The double found its files where the flags point, and the CRI socket.
    let recs: Vec<&str> = b
        .records
        .lines()
        .filter_map(|l| l.strip_prefix("kubelet-double: "))
        .collect();
    for want in [
        "file --config=/var/lib/kubelet/config.yaml present".to_string(),
        "file --kubeconfig=/etc/kubernetes/kubelet.conf present".to_string(),
        format!("endpoint={cri} socket"),
    ] {
        assert!(
            recs.contains(&want.as_str()),
            "kubelet double records lack {want:?}: {recs:#?}"
        );
    }
}

/// sshd runs, keys only, with host keys of this node kept on STATE; the
/// seed's user logs in with the seed's key (issue 9, defect 31).
fn check_ssh(b: &Boot, ssh_key: &str) {
    flag(b, "ssh_active", "active");
    assert!(
        b.get("ssh_host_key").starts_with("SHA256:"),
        "ssh_host_key {}",
        b.get("ssh_host_key")
    );
    flag(b, "ssh_host_key_on_state", "yes");
    flag(b, "ssh_host_key_mode", "600 root");
    flag(
        b,
        "sshd_auth",
        "kbdinteractiveauthentication=no,passwordauthentication=no,pubkeyauthentication=yes",
    );
    flag(b, "user_ops_keys", &format!("600 ops {ssh_key}"));
    flag(b, "ssh_login", "ops");
    flag(b, "ssh_password_login", "Permission denied (publickey)");
}

/// Every runtime property of Acceptance 3 that one boot shows.
pub fn check_node(arch: Arch, b: &Boot, comps: &[Component], ssh_key: &str) {
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
    let ctl: Vec<&str> = b.get("cgroup_controllers").split(' ').collect();
    assert!(ctl.contains(&"memory"), "cgroup controllers {ctl:?}");
    // ... and containerd with the systemd cgroup driver.
    flags(
        b,
        &[
            ("cgroup_fs", "cgroup2fs"),
            ("module_br_netfilter", "loaded"),
            ("module_overlay", "loaded"),
            ("sysctl_net.bridge.bridge-nf-call-iptables", "1"),
            ("sysctl_net.bridge.bridge-nf-call-ip6tables", "1"),
            ("sysctl_net.ipv4.ip_forward", "1"),
            ("swaps", "0"),
            ("containerd_active", "active"),
            ("containerd_config_systemdcgroup", "SystemdCgroup=true"),
        ],
    );

    // The CRI answers.
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
    // The embedded worker seed ran to the end (join through the double).
    // /etc and /opt/cni/bin are overlays with their upper layer on STATE;
    // kubeadm's directories are writable through /etc's. The seed's host
    // settings, applied by the agent to the read-only image through the /etc
    // overlay (and kept across reboots).
    flags(
        b,
        &[
            ("resolv_conf", "present"),
            ("firstboot_done", "yes"),
            ("mount_etc", "overlay"),
            ("mount_opt_cni_bin", "overlay"),
            ("writable_etc_kubernetes", "yes"),
            ("writable_etc_cni_net_d", "yes"),
            ("writable_etc_containerd_certs_d", "yes"),
            ("cni_bridge", "present"),
            ("hostname", "boottest-node"),
            ("etc_hostname", "boottest-node"),
            ("user_ops", "ops:/bin/bash"),
            ("user_ops_groups", "ops adm"),
            ("timezone", "../usr/share/zoneinfo/Europe/Berlin"),
            ("seed_file", "640 root written-by-the-seed"),
        ],
    );
    check_kubelet_wiring(b);
    check_ssh(b, ssh_key);
}

/// The whole boot test for one arch: build once, boot two grown copies (A, B)
/// in parallel, then A again. Asserts Acceptance 3 on every boot, machine-ids
/// differing between A and B, and A's identity and state kept across reboots.
pub fn run(arch: Arch, timeout: Duration) {
    // The agent first: a missing one fails at once, before ci/test-rootfs
    // spends half an hour making an arm64 rootfs.
    let agent = agent_for(arch);
    host_ready(arch);
    let rootfs = test_rootfs(arch);
    let dir = tempfile::Builder::new()
        .prefix(&format!("kubebake-boot-{}-", arch.name()))
        .tempdir()
        .expect("tempdir");
    // Kept on failure (serial logs, images) for a look; removed on success.
    let work_dir = dir.keep();
    let work = work_dir.as_path();
    eprintln!("boot test work dir: {}", work.display());
    let ssh = ssh_client_key(work);
    let layer = checker_layer(work, arch, &agent, &ssh);
    let comps = components(arch, work, agent);
    // A worker seed, so the agent runs to `done` against the kubeadm double
    // (an unseeded node reports "no seed found" and its unit fails, as it should).
    let seed = work.join("seed.yaml");
    fs::write(&seed, boot_seed(&ssh.public)).expect("write boot-test seed");
    // amd64 boots the formats kubebake writes for hypervisors (issue 10):
    // A from the qcow2 (Proxmox, OpenStack, libvirt), B from the
    // streamOptimized VMDK (the OVA's disk); the same node checks apply.
    // arm64 boots the raw disk.
    let img = work.join("node.raw");
    let formats: &[&str] = match arch {
        Arch::Amd64 => &["qcow2", "vmdk"],
        Arch::Arm64 => &[],
    };
    let build_s = build_image_seeded(arch, &rootfs, &layer, &comps, Some(&seed), &img, formats);
    eprintln!("kubebake build ({}): {build_s:.1} s", arch.name());
    assert_no_host_keys_in_image(&img);
    let (a, b) = match arch {
        Arch::Amd64 => {
            let (a, b) = (work.join("a.qcow2"), work.join("b.qcow2"));
            copy_and_grow(&work.join("node.qcow2"), &a);
            overlay_and_grow(&work.join("node.vmdk"), "vmdk", &b);
            (a, b)
        }
        Arch::Arm64 => {
            let (a, b) = (work.join("a.img"), work.join("b.img"));
            copy_and_grow(&img, &a);
            copy_and_grow(&img, &b);
            (a, b)
        }
    };

    let (a1, b1) = std::thread::scope(|s| {
        let ta = s.spawn(|| boot(arch, &a, work, "a1", timeout));
        let tb = s.spawn(|| boot(arch, &b, work, "b1", timeout));
        (ta.join(), tb.join())
    });
    let (a1, b1) = match (a1, b1) {
        (Ok(a1), Ok(b1)) => (a1, b1),
        (Err(e), _) | (_, Err(e)) => std::panic::resume_unwind(e),
    };
    check_node(arch, &a1, &comps, &ssh.public);
    check_node(arch, &b1, &comps, &ssh.public);
    flag(&a1, "boot_count", "1");
    flag(&b1, "boot_count", "1");
    assert_ne!(
        a1.get("machine_id"),
        b1.get("machine_id"),
        "two copies share a machine-id"
    );
    assert_ne!(
        a1.get("ssh_host_key"),
        b1.get("ssh_host_key"),
        "two copies share an SSH host key"
    );

    let a2 = boot(arch, &a, work, "a2", timeout);
    check_node(arch, &a2, &comps, &ssh.public);
    flag(&a2, "ssh_host_key", a1.get("ssh_host_key"));
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
