//! Image checks with real tools (sgdisk, fsck.vfat, mtools, e2fsck, debugfs)
//! on images built by the `kubebake` binary from a synthetic rootfs.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use support::*;

const MIB: u64 = 1 << 20;

fn sha256_hex(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).expect("read")))
}

fn check_image(arch: &'static str) {
    kubebake_hosttool::need(&["sgdisk", "fsck.vfat", "mtype", "mcopy", "e2fsck", "debugfs"]);
    let dir = tempfile::tempdir().expect("tmp");
    let base = dir.path().join("rootfs.tar.gz");
    let data_bytes = write_rootfs(&base, Rootfs::full(arch));
    let layer = dir.path().join("layer2.tar");
    write_whiteout_layer(&layer);
    let img = dir.path().join("node.raw");
    let o = build(
        dir.path(),
        &[base, layer],
        &img,
        &[&format!("generic-{arch}")],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "build failed: {stderr}");

    // --json summary, checked against the file itself.
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json on stdout");
    let size = std::fs::metadata(&img).expect("image").len();
    assert_eq!(j["output"].as_str().map(PathBuf::from), Some(img.clone()));
    assert_eq!(j["size"].as_u64(), Some(size));
    assert_eq!(j["sha256"].as_str(), Some(sha256_hex(&img).as_str()));
    assert_eq!(
        j["profile"].as_str(),
        Some(format!("generic-{arch}").as_str())
    );
    assert_eq!(j["arch"].as_str(), Some(arch));
    assert!(j["seconds"].as_f64().is_some_and(|s| s > 0.0));
    assert!(!PathBuf::from(format!("{}.tmp", img.display())).exists());

    // GPT
    let (ok, out) = run(kubebake_hosttool::command("sgdisk").arg("-v").arg(&img));
    assert!(ok && out.contains("No problems found"), "sgdisk -v: {out}");
    let root_type = if arch == "amd64" {
        "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
    } else {
        "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"
    };
    let (esp_off, esp_len, esp_info) = sgdisk_info(&img, 1);
    assert!(
        esp_info.contains("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
        "{esp_info}"
    );
    assert!(esp_info.contains("Partition name: 'ESP'"), "{esp_info}");
    assert_eq!(esp_off, MIB);
    assert_eq!(esp_len, 256 * MIB, "profile esp_mib = 256");
    let (root_off, root_len, root_info) = sgdisk_info(&img, 2);
    assert!(root_info.contains(root_type), "{root_info}");
    assert!(
        root_info.contains("Partition name: 'root-a'"),
        "{root_info}"
    );
    assert!(
        root_info.contains("Attribute flags: 1000000000000000"),
        "read-only bit 60: {root_info}"
    );
    let (b_off, b_len, b_info) = sgdisk_info(&img, 3);
    assert!(b_info.contains(root_type), "{b_info}");
    assert!(b_info.contains("Partition name: 'root-b'"), "{b_info}");
    assert_eq!(b_len, root_len, "root B is the size of root A");
    assert_eq!(b_off, root_off + root_len);
    // generic profiles: state_min_mib = 1024, left free for systemd-repart.
    let state_room = 1024 * MIB;
    assert_eq!(
        size,
        b_off + b_len + state_room + MIB,
        "disk ends after root B + room for STATE + backup GPT"
    );
    let root_guid = root_info
        .lines()
        .find_map(|l| l.strip_prefix("Partition unique GUID: "))
        .expect("guid")
        .trim()
        .to_ascii_lowercase();

    // Size: content + configured headroom (128 MiB + 10 %), for root A and
    // root B, plus the ESP. Content = every byte of file data baked.
    let comps: u64 = [
        "kubelet",
        "kubeadm",
        "kubectl",
        "kubebake-firstboot",
        "crictl.tar.gz",
    ]
    .iter()
    .map(|n| std::fs::metadata(dir.path().join(n)).expect("comp").len())
    .sum();
    let content = data_bytes + comps;
    let root_expected = content + 128 * MIB + content / 10;
    let expected = 256 * MIB + 2 * root_expected + state_room;
    let ratio = size as f64 / expected as f64;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "image {size} vs content+headroom {expected}: {ratio}"
    );

    // ESP
    let esp = dir.path().join("esp.img");
    extract(&img, esp_off, esp_len, &esp);
    let (ok, out) = run(kubebake_hosttool::command("fsck.vfat").arg("-n").arg(&esp));
    assert!(ok, "fsck.vfat -n: {out}");
    let (ok, entry) = run(Command::new("mtype")
        .arg("-i")
        .arg(&esp)
        .arg("::/loader/entries/kubebake.conf"));
    assert!(ok, "mtype: {entry}");
    let options = entry
        .lines()
        .find_map(|l| l.strip_prefix("options "))
        .expect("options line");
    let console = if arch == "amd64" {
        "console=ttyS0,115200"
    } else {
        "console=ttyAMA0,115200"
    };
    for flag in [
        &format!("root=PARTUUID={root_guid}")[..],
        "ro",
        "rootfstype=ext4",
        "systemd.unified_cgroup_hierarchy=1",
        "init=/usr/libexec/kubebake/init",
        console,
    ] {
        assert!(
            options.split_whitespace().any(|w| w == flag),
            "{flag} missing: {options}"
        );
    }
    assert!(entry.contains("linux /kubebake/vmlinuz") && entry.contains("initrd /kubebake/initrd"));
    let (ok, conf) = run(Command::new("mtype")
        .arg("-i")
        .arg(&esp)
        .arg("::/loader/loader.conf"));
    assert!(ok && conf.contains("default kubebake.conf"), "{conf}");
    let efi = if arch == "amd64" { "x64" } else { "aa64" };
    for (inside, want) in [
        (
            format!("EFI/BOOT/BOOT{}.EFI", efi.to_ascii_uppercase()),
            "systemd-boot",
        ),
        (format!("EFI/systemd/systemd-boot{efi}.efi"), "systemd-boot"),
        ("kubebake/vmlinuz".to_string(), "kernel"),
        ("kubebake/initrd".to_string(), "initrd"),
    ] {
        let dest = dir.path().join("copied");
        let _ = std::fs::remove_file(&dest);
        let (ok, out) = run(Command::new("mcopy")
            .arg("-i")
            .arg(&esp)
            .arg(format!("::/{inside}"))
            .arg(&dest));
        assert!(ok, "mcopy {inside}: {out}");
        let got = std::fs::read(&dest).expect("copied");
        let expect = match want {
            "kernel" => filler(KERNEL_BYTES, 4),
            "initrd" => filler(INITRD_BYTES, 5),
            _ => {
                let mut v = b"MZ".to_vec();
                v.extend(filler(120_000, 7));
                v
            }
        };
        assert!(got == expect, "{inside} is not the rootfs {want}");
    }

    // Root A
    let root = dir.path().join("root.img");
    extract(&img, root_off, root_len, &root);
    let (ok, out) = run(kubebake_hosttool::command("e2fsck").arg("-fn").arg(&root));
    assert!(ok, "e2fsck -fn: {out}");
    let (_, kubelet) = debugfs(&root, "cat /usr/bin/kubelet");
    assert!(kubelet.contains("kubelet-double"), "{kubelet}");
    let (_, stat) = debugfs(&root, "stat /usr/bin/kubelet");
    assert!(stat.contains("Mode:  0755"), "{stat}");
    let (_, crictl) = debugfs(&root, "cat /usr/bin/crictl");
    assert!(
        crictl.contains("crictl-double"),
        "crictl extracted from its tgz: {crictl}"
    );
    let (ok, mid) = debugfs(&root, "stat /etc/machine-id");
    assert!(
        ok && mid.contains("Size: 0") && mid.contains("Mode:  0444"),
        "{mid}"
    );
    for gone in [
        "/etc/ssh/ssh_host_ed25519_key",
        "/var/lib/dbus/machine-id",
        "/etc/motd",
    ] {
        let (present, out) = debugfs(&root, &format!("stat {gone}"));
        assert!(!present, "{gone} must not be in the image: {out}");
    }
    let (ok, _) = debugfs(&root, "stat /etc/layer2");
    assert!(ok, "second --rootfs layer applied");
    let (ok, cni) = debugfs(&root, "stat /opt/cni/bin/bridge");
    assert!(
        ok && cni.contains("symlink") && cni.contains("/usr/lib/cni/bridge"),
        "{cni}"
    );
    for wants in [
        "kubebake-firstboot.service",
        "kubelet.service",
        "containerd.service",
    ] {
        let (ok, out) = debugfs(
            &root,
            &format!("stat /etc/systemd/system/multi-user.target.wants/{wants}"),
        );
        assert!(ok && out.contains("symlink"), "{wants} not enabled: {out}");
    }
    let (ok, unit) = debugfs(
        &root,
        "cat /usr/lib/systemd/system/kubebake-firstboot.service",
    );
    assert!(ok && unit.contains("[Service]"), "agent unit: {unit}");
    let (_, cfg) = debugfs(&root, "cat /etc/containerd/config.toml");
    assert!(
        cfg.contains("SystemdCgroup = true"),
        "overlays baked: {cfg}"
    );
    let (_, sysctl) = debugfs(&root, "cat /usr/lib/sysctl.d/60-kubebake-profile.conf");
    assert!(sysctl.contains("net.ipv4.ip_forward = 1"), "{sysctl}");
    let (_, mods) = debugfs(
        &root,
        "cat /usr/lib/modules-load.d/60-kubebake-profile.conf",
    );
    assert!(
        mods.contains("br_netfilter") && mods.contains("overlay"),
        "{mods}"
    );
    let (_, swap) = debugfs(&root, "stat /etc/systemd/system/swap.target");
    assert!(swap.contains("/dev/null"), "swap.target masked: {swap}");
    let (_, commit) = debugfs(
        &root,
        "stat /etc/systemd/system/systemd-machine-id-commit.service",
    );
    assert!(
        commit.contains("/dev/null"),
        "machine-id commit masked (kubebake-state persists it): {commit}"
    );

    // inspect --json reads it back with the project's own code.
    let o = kubebake()
        .arg("inspect")
        .arg(&img)
        .arg("--json")
        .output()
        .expect("inspect");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("inspect json");
    assert_eq!(r["table"], "gpt");
    assert_eq!(r["size"].as_u64(), Some(size));
    let parts = r["partitions"].as_array().expect("partitions");
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0]["filesystem"]["type"], "fat");
    assert_eq!(parts[1]["filesystem"]["type"], "ext4");
    assert_eq!(parts[1]["guid"].as_str(), Some(root_guid.as_str()));
    assert_eq!(r["cmdline"].as_str(), Some(options.trim()));
    let m = &r["manifest"];
    assert_eq!(m["profile"], format!("generic-{arch}"));
    // Every component was a local file: no Kubernetes version is claimed.
    assert_eq!(m["kubernetes_version"], serde_json::Value::Null);
    assert_eq!(m["profile_kubernetes_version"], "1.35.1");
    assert_eq!(m["kernel_version"], format!("6.12.0-1-{arch}"));
    let baked = m["components"].as_array().expect("components");
    for (name, file) in [
        ("kubelet", "kubelet"),
        ("kubeadm", "kubeadm"),
        ("kubectl", "kubectl"),
        ("crictl", "crictl.tar.gz"),
        ("kubebake-firstboot", "kubebake-firstboot"),
    ] {
        let c = baked
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} in manifest"));
        assert_eq!(
            c["sha256"].as_str(),
            Some(sha256_hex(&dir.path().join(file)).as_str()),
            "{name}"
        );
        assert_eq!(c["origin"], "local-file", "{name}");
        assert_eq!(c["version"], serde_json::Value::Null, "{name}");
    }
    let text = kubebake()
        .arg("inspect")
        .arg(&img)
        .output()
        .expect("inspect");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("root-a") && text.contains("kubelet"),
        "{text}"
    );
    assert!(!text.contains("kubernetes 1.35.1"), "{text}");
    assert!(
        text.contains("kubernetes version unknown: kubelet (local file)"),
        "{text}"
    );
}

#[test]
fn amd64_image_passes_real_tools() {
    check_image("amd64");
}

#[test]
fn arm64_image_passes_real_tools() {
    check_image("arm64");
}

#[test]
fn two_builds_with_same_inputs_are_identical() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = dir.path().join("rootfs.tar");
    write_rootfs(&base, Rootfs::full("amd64"));
    let mut sums = Vec::new();
    for name in ["a.raw", "b.raw"] {
        let img = dir.path().join(name);
        let o = build(
            dir.path(),
            std::slice::from_ref(&base),
            &img,
            &["--set", "disk.esp_mib=48"],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        sums.push(sha256_hex(&img));
    }
    assert_eq!(
        sums[0], sums[1],
        "same inputs + SOURCE_DATE_EPOCH must give the same bytes"
    );
    // A different SOURCE_DATE_EPOCH changes the image (the check can fail).
    let img = dir.path().join("c.raw");
    let mut c = kubebake();
    c.args(["build", "--json", "--set", "disk.esp_mib=48", "-o"])
        .arg(&img)
        .arg("--rootfs")
        .arg(&base)
        .env("SOURCE_DATE_EPOCH", "1700000001")
        .env("XDG_CACHE_HOME", dir.path().join("cache"));
    for a in write_components(dir.path()) {
        c.arg("--component").arg(a);
    }
    let o = c.output().expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_ne!(sha256_hex(&img), sums[0]);
}

#[test]
fn inspect_reads_an_image_made_by_other_tools() {
    kubebake_hosttool::need(&["sgdisk", "mkfs.vfat", "mkfs.ext4"]);
    let dir = tempfile::tempdir().expect("tmp");
    let img = dir.path().join("foreign.img");
    std::fs::File::create(&img)
        .expect("create")
        .set_len(64 * MIB)
        .expect("size");
    let (ok, out) = run(kubebake_hosttool::command("sgdisk")
        .args([
            "-n1:2048:+40M",
            "-t1:ef00",
            "-c1:EFI",
            "-n2:0:0",
            "-t2:8300",
            "-c2:data",
        ])
        .arg(&img));
    assert!(ok, "{out}");
    let (ok, out) = run(kubebake_hosttool::command("mkfs.vfat")
        .args([
            "-F",
            "32",
            "-s",
            "1",
            "-n",
            "FOREIGN",
            "--offset=2048",
            "-i",
            "1234abcd",
        ])
        .arg(&img)
        .arg("40960"));
    assert!(ok, "mkfs.vfat: {out}");
    let (p2, _, _) = sgdisk_info(&img, 2);
    let (ok, out) = run(kubebake_hosttool::command("mkfs.ext4")
        .args(["-q", "-F", "-L", "foreign", "-E"])
        .arg(format!("offset={p2},nodiscard"))
        .arg(&img)
        .arg("16000k"));
    assert!(ok, "mkfs.ext4: {out}");
    let o = kubebake()
        .arg("inspect")
        .arg("--json")
        .arg(&img)
        .output()
        .expect("inspect");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let parts = r["partitions"].as_array().expect("parts");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["name"], "EFI");
    assert_eq!(parts[0]["type_name"], "esp");
    assert_eq!(parts[0]["filesystem"]["type"], "fat");
    assert_eq!(
        parts[0]["filesystem"]["volume_id"].as_u64(),
        Some(0x1234_abcd)
    );
    assert_eq!(parts[1]["filesystem"]["type"], "ext4");
    assert_eq!(parts[1]["filesystem"]["label"], "foreign");
    assert!(
        r.get("manifest").is_none(),
        "no manifest section on a foreign image"
    );
    assert!(r.get("cmdline").is_none());
}
