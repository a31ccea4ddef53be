//! OVA: tar order and reproducible headers, the manifest recomputed with
//! sha256sum, the OVF well-formed (xmllint) and saying what vSphere needs
//! (parsed with roxmltree), the VMDK inside equal to the raw for qemu-img
//! and for our reader, nothing left beside the output.

mod vmdk_support;

use std::path::Path;

use kubebake_vdisk::{Error, Format, VmSpec};
use vmdk_support::{mixed, opts, run, same_as_raw, write, MIB};

const OVF_NS: &str = "http://schemas.dmtf.org/ovf/envelope/1";
const VMW_NS: &str = "http://www.vmware.com/schema/ovf";
const RASD_NS: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData";

fn spec() -> VmSpec {
    VmSpec {
        name: "vsphere-amd64 <&> \"test\"".into(),
        description: "Node 'one' & <two>".into(),
        cpus: 4,
        memory_mib: 8192,
    }
}

#[test]
fn an_ova_vsphere_and_qemu_accept() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = mixed(dir.path(), "disk.raw");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let ova = out.join("node.ova");
    let mut o = opts(2);
    o.vm = spec();
    write(Format::Ova, &r, &ova, &o);
    // Nothing but the OVA beside it: the VMDK's temporary file is gone.
    let left: Vec<_> = std::fs::read_dir(&out)
        .expect("ls")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(left, ["node.ova"]);

    let stem = "vsphere-amd64______test_";
    let (ovf, mf, disk) = (
        format!("{stem}.ovf"),
        format!("{stem}.mf"),
        format!("{stem}-disk1.vmdk"),
    );
    let list = run(
        "tar",
        &[
            "--numeric-owner",
            "--utc",
            "-tvf",
            ova.to_str().expect("utf8"),
        ],
    );
    let list = String::from_utf8(list.stdout).expect("utf8");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    for (line, name) in lines.iter().zip([&ovf, &mf, &disk]) {
        assert!(line.starts_with("-rw-r--r-- 0/0 "), "{line}");
        assert!(
            line.contains(" 2023-11-14 22:13 "),
            "mtime is the epoch: {line}"
        );
        assert!(line.ends_with(&format!(" {name}")), "{line}");
    }

    let x = dir.path().join("x");
    std::fs::create_dir(&x).expect("x");
    run(
        "tar",
        &[
            "-xf",
            ova.to_str().expect("utf8"),
            "-C",
            x.to_str().expect("utf8"),
        ],
    );
    let manifest = std::fs::read_to_string(x.join(&mf)).expect("mf");
    let mut want = String::new();
    for name in [&ovf, &disk] {
        let sum = run("sha256sum", &[x.join(name).to_str().expect("utf8")]);
        let hex = String::from_utf8(sum.stdout).expect("utf8");
        want.push_str(&format!("SHA256({name})= {}\n", &hex[..64]));
    }
    assert_eq!(manifest, want);

    let ovf_path = x.join(&ovf);
    run("xmllint", &["--noout", ovf_path.to_str().expect("utf8")]);
    let vmdk_path = x.join(&disk);
    check_envelope(
        &std::fs::read_to_string(&ovf_path).expect("ovf"),
        &disk,
        &vmdk_path,
        &r,
    );

    vmdk_support::qemu_accepts_vmdk(&r, &vmdk_path);
    // Our reader finds the VMDK inside the OVA.
    let d = kubebake_vdisk::open(&ova).expect("open ova");
    assert_eq!(d.format(), Format::Ova);
    same_as_raw(d.as_ref(), &r);
}

fn check_envelope(text: &str, disk: &str, vmdk: &Path, raw: &Path) {
    let doc = roxmltree::Document::parse(text).expect("OVF parses");
    let ovf = |n: roxmltree::Node, a: &str| n.attribute((OVF_NS, a)).map(str::to_owned);
    let vmw = |n: roxmltree::Node, a: &str| n.attribute((VMW_NS, a)).map(str::to_owned);
    let named = |tag: &'static str| {
        doc.descendants()
            .filter(move |n| n.tag_name().name() == tag)
    };

    let file = named("File").next().expect("References/File");
    assert_eq!(ovf(file, "href").as_deref(), Some(disk));
    let size = std::fs::metadata(vmdk).expect("vmdk").len();
    assert_eq!(ovf(file, "size"), Some(size.to_string()));
    let d = named("Disk").next().expect("Disk");
    let capacity = std::fs::metadata(raw)
        .expect("raw")
        .len()
        .next_multiple_of(512);
    assert_eq!(ovf(d, "capacity"), Some(capacity.to_string()));
    assert_eq!(ovf(d, "capacityAllocationUnits").as_deref(), Some("byte"));
    assert!(ovf(d, "format")
        .expect("format")
        .ends_with("vmdk.html#streamOptimized"));
    let populated: u64 = ovf(d, "populatedSize")
        .expect("populated")
        .parse()
        .expect("number");
    assert!(populated > 8 * MIB && populated < 20 * MIB, "{populated}");

    // The escaped name and description read back as given.
    let text_of = |tag: &'static str| named(tag).next().and_then(|n| n.text()).map(str::to_owned);
    assert_eq!(text_of("Name"), Some(spec().name));
    assert_eq!(text_of("Annotation"), Some(spec().description));

    for key in [
        "guestinfo.userdata",
        "guestinfo.userdata.encoding",
        "guestinfo.metadata",
        "guestinfo.metadata.encoding",
    ] {
        let p = named("Property")
            .find(|p| ovf(*p, "key").as_deref() == Some(key))
            .unwrap_or_else(|| panic!("no property {key}"));
        assert_eq!(ovf(p, "userConfigurable").as_deref(), Some("true"), "{key}");
        assert_eq!(ovf(p, "type").as_deref(), Some("string"), "{key}");
        assert_eq!(
            p.parent().map(|s| s.tag_name().name()),
            Some("ProductSection")
        );
        let label = p.children().find(|c| c.tag_name().name() == "Label");
        assert!(
            label.and_then(|l| l.text()).is_some_and(|t| !t.is_empty()),
            "{key}"
        );
    }
    let seed = named("Property")
        .find(|p| ovf(*p, "key").as_deref() == Some("guestinfo.userdata"))
        .and_then(|p| {
            p.descendants()
                .find(|c| c.tag_name().name() == "Description")
        })
        .and_then(|d| d.text())
        .expect("seed description");
    assert!(
        seed.contains("base64") && seed.contains("#cloud-config"),
        "{seed}"
    );

    let hw = named("VirtualHardwareSection").next().expect("hardware");
    assert_eq!(
        ovf(hw, "transport").as_deref(),
        Some("com.vmware.guestInfo")
    );
    let config = |key: &str| {
        hw.children()
            .find(|c| c.is_element() && vmw(*c, "key").as_deref() == Some(key))
            .and_then(|c| vmw(c, "value"))
    };
    assert_eq!(config("firmware").as_deref(), Some("efi"));
    assert_eq!(config("disk.enableUUID").as_deref(), Some("TRUE"));
    let vst = named("VirtualSystemType")
        .next()
        .and_then(|n| n.text())
        .expect("vmx");
    assert!(vst
        .strip_prefix("vmx-")
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|v| v >= 15));

    // Items by resource type: CPUs, memory, controller, disk, NIC.
    let rasd = |item: roxmltree::Node, tag: &str| {
        item.children()
            .find(|c| c.tag_name().name() == tag && c.tag_name().namespace() == Some(RASD_NS))
            .and_then(|c| c.text())
            .map(str::to_owned)
    };
    let item = |ty: &str| {
        hw.children()
            .find(|i| {
                i.tag_name().name() == "Item" && rasd(*i, "ResourceType").as_deref() == Some(ty)
            })
            .unwrap_or_else(|| panic!("no Item of ResourceType {ty}"))
    };
    assert_eq!(rasd(item("3"), "VirtualQuantity").as_deref(), Some("4"));
    assert_eq!(rasd(item("4"), "VirtualQuantity").as_deref(), Some("8192"));
    assert_eq!(
        rasd(item("6"), "ResourceSubType").as_deref(),
        Some("VirtualSCSI")
    );
    let controller = rasd(item("6"), "InstanceID");
    assert_eq!(
        rasd(item("17"), "Parent"),
        controller,
        "the disk is on the controller"
    );
    assert_eq!(
        rasd(item("17"), "HostResource").as_deref(),
        Some("ovf:/disk/vmdisk1")
    );
    assert_eq!(
        rasd(item("10"), "ResourceSubType").as_deref(),
        Some("VmxNet3")
    );
}

#[test]
fn reproducible_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = mixed(dir.path(), "disk.raw");
    let ova = dir.path().join("a.ova");
    let mut outs = Vec::new();
    for threads in [1, 2] {
        write(Format::Ova, &r, &ova, &opts(threads));
        outs.push(std::fs::read(&ova).expect("ova"));
    }
    assert!(outs[0] == outs[1], "two OVAs differ");
}

#[test]
fn bad_vm_and_bad_archives_are_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = mixed(dir.path(), "disk.raw");
    let ova = dir.path().join("a.ova");
    let mut o = opts(1);
    o.vm.cpus = 0;
    let src = kubebake_vdisk::RawDisk::open(&r).expect("raw");
    let mut f = std::fs::File::create(&ova).expect("create");
    let e = kubebake_vdisk::write(
        Format::Ova,
        &src,
        &mut f,
        &ova,
        &o,
        &kubebake_vdisk::NoProgress,
    )
    .expect_err("0 CPUs");
    assert!(
        matches!(e, Error::Unsuitable { .. }) && e.to_string().contains("0 CPUs"),
        "{e}"
    );

    // A tar without a VMDK; a tar whose VMDK is cut short.
    let t = dir.path().join("t");
    std::fs::create_dir(&t).expect("t");
    std::fs::write(t.join("a.ovf"), "<x/>").expect("ovf");
    let no_disk = dir.path().join("no-disk.ova");
    run(
        "tar",
        &[
            "--format=ustar",
            "-cf",
            no_disk.to_str().expect("utf8"),
            "-C",
            t.to_str().expect("utf8"),
            "a.ovf",
        ],
    );
    let e = kubebake_vdisk::ova::open(&no_disk).expect_err("no vmdk");
    assert!(
        matches!(&e, Error::Invalid { what, .. } if what.contains("no .vmdk member")),
        "{e}"
    );

    write(Format::Ova, &r, &ova, &opts(1));
    let mut b = std::fs::read(&ova).expect("ova");
    b.truncate(b.len() - 4096);
    let cut = dir.path().join("cut.ova");
    std::fs::write(&cut, &b).expect("cut");
    let e = kubebake_vdisk::open(&cut)
        .map(|_| ())
        .expect_err("truncated");
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
}
