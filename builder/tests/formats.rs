//! Issue 10: one build writes every format from one raw disk, and each
//! output passes the real tools: `qemu-img check/info/compare`, `bmaptool
//! copy`, `xz -t`, `zstd -t`, `tar`, `sha256sum`, `xmllint` and Python's XML
//! parser on the OVF. Builds are byte-reproducible in every format, and
//! `kubebake convert` of the raw gives the build's bytes.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kubebake_hosttool as host;
use serde_json::Value;
use support::{run, write_rootfs, Rootfs};

const ALL: &str = "raw,qcow2,vmdk,ova,vhd,raw.zst,raw.xz";

fn tools() {
    host::need(&[
        "qemu-img",
        "bmaptool",
        "xz",
        "zstd",
        "tar",
        "sha256sum",
        "xmllint",
        "python3",
        "cmp",
    ]);
}

/// Build `generic-amd64` from a small synthetic rootfs into `dir/node.*`.
fn build_all(dir: &Path, formats: &str) -> Value {
    let base = dir.join("rootfs.tar");
    if !base.exists() {
        write_rootfs(&base, Rootfs::full("amd64"));
    }
    let o = support::build(dir, &[base], &dir.join("node.raw"), &["--format", formats]);
    assert!(
        o.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("--json")
}

/// `format → (path, sha256)` from a `--json` result's `outputs`.
fn outputs(v: &Value) -> BTreeMap<String, (PathBuf, String)> {
    v["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| {
            (
                o["format"].as_str().expect("format").to_string(),
                (
                    PathBuf::from(o["path"].as_str().expect("path")),
                    o["sha256"].as_str().expect("sha256").to_string(),
                ),
            )
        })
        .collect()
}

fn tool(name: &str) -> Command {
    host::command(name)
}

fn ok(cmd: &mut Command) -> String {
    let (ok, out) = run(cmd);
    assert!(ok, "{cmd:?} failed: {out}");
    out
}

fn qemu_info(p: &Path, fmt: &str) -> Value {
    let out = ok(tool("qemu-img")
        .args(["info", "--output=json", "-f", fmt])
        .arg(p));
    serde_json::from_str(&out).expect("qemu-img info json")
}

fn check_qemu(raw: &Path, p: &Path, fmt: &str, size: u64) {
    if fmt != "vpc" {
        ok(tool("qemu-img").args(["check", "-f", fmt]).arg(p));
    }
    let info = qemu_info(p, fmt);
    assert_eq!(info["virtual-size"].as_u64(), Some(size), "{fmt}: {info}");
    ok(tool("qemu-img")
        .args(["compare", "-f", "raw", "-F", fmt])
        .arg(raw)
        .arg(p));
}

fn sha256sum(p: &Path) -> String {
    let out = ok(tool("sha256sum").arg(p));
    out.split_whitespace().next().expect("hash").to_string()
}

/// `bmaptool copy IMAGE --bmap BMAP DEST` reproduces the raw disk.
fn check_bmap(raw: &Path, image: &Path, bmap: &Path, dir: &Path) {
    let dest = dir.join("flashed.img");
    let _ = std::fs::remove_file(&dest);
    ok(tool("bmaptool")
        .arg("copy")
        .arg(image)
        .arg("--bmap")
        .arg(bmap)
        .arg(&dest));
    ok(tool("cmp").arg(raw).arg(&dest));
    std::fs::remove_file(&dest).expect("rm");
}

/// The OVA: tar order, manifest, well-formed OVF with the guestinfo
/// properties, and a VMDK equal to the raw disk.
fn check_ova(raw: &Path, ova: &Path, dir: &Path, size: u64) {
    let list = ok(tool("tar").arg("-tf").arg(ova));
    let names: Vec<&str> = list.lines().collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names[0].ends_with(".ovf"), "{names:?}");
    assert!(names[1].ends_with(".mf"), "{names:?}");
    assert!(names[2].ends_with(".vmdk"), "{names:?}");
    let x = dir.join("ova");
    std::fs::create_dir_all(&x).expect("mkdir");
    ok(tool("tar").arg("-xf").arg(ova).arg("-C").arg(&x));
    let mf = std::fs::read_to_string(x.join(names[1])).expect("mf");
    for n in [names[0], names[2]] {
        let line = format!("SHA256({n})= {}", sha256sum(&x.join(n)));
        assert!(mf.lines().any(|l| l == line), "{line} not in:\n{mf}");
    }
    let ovf = x.join(names[0]);
    ok(tool("xmllint").arg("--noout").arg(&ovf));
    let script = r#"
import sys, xml.etree.ElementTree as ET
ns = {'ovf': 'http://schemas.dmtf.org/ovf/envelope/1',
      'vmw': 'http://www.vmware.com/schema/ovf',
      'rasd': 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData'}
root = ET.parse(sys.argv[1]).getroot()
O = '{http://schemas.dmtf.org/ovf/envelope/1}'
props = {p.get(O + 'key'): p.get(O + 'userConfigurable') for p in root.iter(O + 'Property')}
for k in ['guestinfo.userdata', 'guestinfo.userdata.encoding', 'guestinfo.metadata', 'guestinfo.metadata.encoding']:
    assert props.get(k) == 'true', (k, props)
hw = root.find('.//ovf:VirtualHardwareSection', ns)
assert 'com.vmware.guestInfo' in (hw.get(O + 'transport') or ''), hw.attrib
fw = [c for c in root.iter('{http://www.vmware.com/schema/ovf}Config')
      if c.get('{http://www.vmware.com/schema/ovf}key') == 'firmware']
assert fw and fw[0].get('{http://www.vmware.com/schema/ovf}value') == 'efi', fw
subtypes = [(e.text or '').lower() for e in root.iter('{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}ResourceSubType')]
assert 'vmxnet3' in subtypes, subtypes
disk = root.find('.//ovf:DiskSection/ovf:Disk', ns)
assert int(disk.get(O + 'capacity')) == int(sys.argv[2]), disk.attrib
print('ok')
"#;
    let out = ok(tool("python3")
        .arg("-c")
        .arg(script)
        .arg(&ovf)
        .arg(size.to_string()));
    assert!(out.contains("ok"), "{out}");
    check_qemu(raw, &x.join(names[2]), "vmdk", size);
}

#[test]
fn one_build_writes_every_format_and_each_passes_the_real_tools() {
    tools();
    let d = tempfile::tempdir().expect("tmp");
    let a = d.path().join("a");
    std::fs::create_dir(&a).expect("mkdir");
    let v = build_all(&a, ALL);
    let outs = outputs(&v);
    let want = [
        "bmap", "ova", "qcow2", "raw", "raw.xz", "raw.zst", "vhd", "vmdk",
    ];
    assert_eq!(outs.keys().collect::<Vec<_>>(), want, "{v}");
    for (fmt, (p, sha)) in &outs {
        assert_eq!(&sha256sum(p), sha, "{fmt}: --json sha256");
    }
    let raw = &outs["raw"].0;
    let size = std::fs::metadata(raw).expect("raw").len();
    assert_eq!(v["size"].as_u64(), Some(size));
    check_qemu(raw, &outs["qcow2"].0, "qcow2", size);
    check_qemu(raw, &outs["vmdk"].0, "vmdk", size);
    let vmdk = qemu_info(&outs["vmdk"].0, "vmdk");
    assert!(
        vmdk.to_string().contains("streamOptimized"),
        "create type: {vmdk}"
    );
    // VHD: Azure wants a whole number of MiB; the layout already is one.
    assert_eq!(size % (1 << 20), 0);
    check_qemu(raw, &outs["vhd"].0, "vpc", size);
    ok(tool("xz").arg("-t").arg(&outs["raw.xz"].0));
    ok(tool("zstd").arg("-t").arg(&outs["raw.zst"].0));
    let bmap = &outs["bmap"].0;
    for f in ["raw", "raw.xz", "raw.zst"] {
        check_bmap(raw, &outs[f].0, bmap, d.path());
    }
    check_ova(raw, &outs["ova"].0, d.path(), size);
    // The compact formats hold the data, not the disk's holes.
    for f in ["qcow2", "vmdk", "raw.zst", "raw.xz", "ova"] {
        let len = std::fs::metadata(&outs[f].0).expect("meta").len();
        assert!(len < size / 4, "{f} is {len} bytes for a {size}-byte disk");
    }

    // `kubebake inspect` reads the containers it writes.
    let raw_json = inspect(raw);
    for f in ["qcow2", "vmdk", "vhd"] {
        let j = inspect(&outs[f].0);
        assert_eq!(j["format"], f, "{f}: {j}");
        assert_eq!(j["disk_id"], raw_json["disk_id"], "{f}");
        assert_eq!(j["partitions"], raw_json["partitions"], "{f}");
        assert_eq!(j["manifest"], raw_json["manifest"], "{f}");
    }

    // Reproducible: a second build in another directory, byte for byte.
    let b = d.path().join("b");
    std::fs::create_dir(&b).expect("mkdir");
    std::fs::copy(a.join("rootfs.tar"), b.join("rootfs.tar")).expect("cp");
    let again = outputs(&build_all(&b, ALL));
    for (fmt, (_, sha)) in &outs {
        assert_eq!(&again[fmt].1, sha, "{fmt} differs between two builds");
    }

    // convert of the raw disk gives the build's bytes.
    let c = d.path().join("c");
    std::fs::create_dir(&c).expect("mkdir");
    let out = support::kubebake()
        .args([
            "convert",
            "--json",
            "--format",
            "qcow2,vmdk,vhd,raw.zst,raw.xz",
            "-o",
        ])
        .arg(c.join("node"))
        .arg(raw)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("convert");
    assert!(
        out.status.success(),
        "convert: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conv = outputs(&serde_json::from_slice(&out.stdout).expect("json"));
    for f in ["qcow2", "vmdk", "vhd", "raw.zst", "raw.xz", "bmap"] {
        assert_eq!(conv[f].1, outs[f].1, "convert {f} differs from build {f}");
    }
}

fn inspect(p: &Path) -> Value {
    let o = support::kubebake()
        .args(["inspect", "--json"])
        .arg(p)
        .output()
        .expect("inspect");
    assert!(
        o.status.success(),
        "inspect {}: {}",
        p.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("inspect json")
}

#[test]
fn profile_output_formats_choose_the_outputs_and_no_raw_is_left() {
    tools();
    let d = tempfile::tempdir().expect("tmp");
    let base = d.path().join("rootfs.tar");
    write_rootfs(&base, Rootfs::full("amd64"));
    let o = support::build(
        d.path(),
        &[base],
        &d.path().join("node.raw"),
        &["--set", r#"output.formats=["qcow2","vhd"]"#],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut names: Vec<String> = std::fs::read_dir(d.path())
        .expect("ls")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("node"))
        .collect();
    names.sort();
    assert_eq!(names, ["node.qcow2", "node.vhd"]);
    ok(tool("qemu-img")
        .args(["check", "-f", "qcow2"])
        .arg(d.path().join("node.qcow2")));
}

#[test]
fn every_output_of_a_seeded_build_is_private() {
    let d = tempfile::tempdir().expect("tmp");
    let base = d.path().join("rootfs.tar");
    write_rootfs(&base, Rootfs::full("amd64"));
    let seed = d.path().join("seed.yaml");
    std::fs::write(
        &seed,
        "#cloud-config\nhostname: worker-1\nkubernetes:\n  role: worker\n  \
         endpoint: 192.168.6.10:6443\n  token: abcdef.0123456789abcdef\n  ca_cert_hash: \
         sha256:a4853df8cab8e1cb0e4856fa816156be2df8895cdd1c7265f572d3777c8f9878\n",
    )
    .expect("seed");
    let o = support::build(
        d.path(),
        &[base],
        &d.path().join("node.raw"),
        &[
            "--seed",
            seed.to_str().expect("utf-8"),
            "--format",
            "raw,qcow2,vhd",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let outs = v["outputs"].as_array().expect("outputs");
    assert_eq!(outs.len(), 4, "{v}");
    for out in outs {
        use std::os::unix::fs::PermissionsExt as _;
        let p = Path::new(out["path"].as_str().expect("path"));
        let mode = std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", p.display());
        assert_eq!(out["mode"], "0600", "{out}");
    }
}
