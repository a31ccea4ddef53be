//! CIDATA datasource read-back: FAT volumes made by the seed crate's builder
//! and by mkfs.vfat+mcopy, and an iso9660 volume made by xorriso; found via
//! `/dev/disk/by-label/CIDATA` under a fixture root with mounting disabled.

mod common;

use kubebake_firstboot::config::Config;
use kubebake_firstboot::datasource::{self, bootpart, cidata};
use std::path::Path;
use std::process::Command;

const USER_DATA: &[u8] = b"#cloud-config\nhostname: cidata-node\n";
const META: &[u8] = b"instance-id: iid-1\nlocal-hostname: cidata-node\n";
const NET: &[u8] = b"version: 2\nethernets:\n  eth0:\n    dhcp4: true\n";

fn cfg(root: &Path) -> Config {
    let mut c = Config::from_env(Some(root.to_path_buf()));
    c.mount = false;
    c
}

fn link_label(root: &Path, label: &str, img: &Path) {
    let d = root.join("dev/disk/by-label");
    std::fs::create_dir_all(&d).expect("mk");
    std::os::unix::fs::symlink(img, d.join(label)).expect("link");
}

#[test]
fn fat_from_seed_crate_builder() {
    let d = tempfile::tempdir().expect("tmp");
    let img = kubebake_seed::cidata::fat_image(&[
        ("user-data", USER_DATA),
        ("meta-data", META),
        ("network-config", NET),
    ])
    .expect("fat image");
    let p = d.path().join("seed.img");
    std::fs::write(&p, img).expect("w");
    assert_eq!(cidata::sniff(&p).expect("sniff"), cidata::FsKind::Fat);
    link_label(d.path(), "CIDATA", &p);
    let s = cidata::fetch(&cfg(d.path()))
        .expect("fetch")
        .expect("found");
    assert_eq!(s.user_data, USER_DATA);
    assert_eq!(s.meta_data.as_deref(), Some(META));
    assert_eq!(s.network_config.as_deref(), Some(NET));
    assert_eq!(s.source, "cidata:CIDATA");
}

#[test]
fn fat_from_mkfs_vfat_and_mcopy_lowercase_label() {
    kubebake_hosttool::need(&["mkfs.vfat", "mcopy"]);
    let d = tempfile::tempdir().expect("tmp");
    let img = d.path().join("seed.img");
    let f = std::fs::File::create(&img).expect("create");
    f.set_len(2 * 1024 * 1024).expect("size");
    drop(f);
    let ok = kubebake_hosttool::command("mkfs.vfat")
        .args(["-n", "cidata"])
        .arg(&img)
        .output()
        .expect("mkfs");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let src = d.path().join("src");
    std::fs::create_dir_all(src.join("nodes")).expect("mk");
    std::fs::write(src.join("user-data"), USER_DATA).expect("w");
    std::fs::write(src.join("meta-data"), META).expect("w");
    std::fs::write(src.join("nodes/52-54-00-12-34-56.yaml"), "hostname: n2\n").expect("w");
    let i = format!("{}", img.display());
    let ok = Command::new("mcopy")
        .args(["-s", "-i", &i])
        .arg(src.join("user-data"))
        .arg(src.join("meta-data"))
        .arg(src.join("nodes"))
        .arg("::/")
        .output()
        .expect("mcopy");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    link_label(d.path(), "cidata", &img);
    let s = cidata::fetch(&cfg(d.path()))
        .expect("fetch")
        .expect("found");
    assert_eq!(s.user_data, USER_DATA);
    assert_eq!(s.network_config, None);
    assert_eq!(
        s.node_overrides,
        vec![(
            "52-54-00-12-34-56.yaml".to_string(),
            b"hostname: n2\n".to_vec()
        )]
    );
    assert_eq!(s.source, "cidata:cidata");
}

#[test]
fn iso9660_from_xorriso() {
    kubebake_hosttool::need(&["xorriso"]);
    let d = tempfile::tempdir().expect("tmp");
    let src = d.path().join("src");
    std::fs::create_dir_all(&src).expect("mk");
    std::fs::write(src.join("user-data"), USER_DATA).expect("w");
    std::fs::write(src.join("meta-data"), META).expect("w");
    std::fs::write(src.join("network-config"), NET).expect("w");
    let iso = d.path().join("seed.iso");
    let ok = Command::new("xorriso")
        .args(["-as", "mkisofs", "-V", "CIDATA", "-J", "-R", "-o"])
        .arg(&iso)
        .arg(&src)
        .output()
        .expect("xorriso");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(cidata::sniff(&iso).expect("sniff"), cidata::FsKind::Iso9660);
    let root = d.path().join("root");
    link_label(&root, "CIDATA", &iso);
    let s = cidata::fetch(&cfg(&root)).expect("fetch").expect("found");
    assert_eq!(s.user_data, USER_DATA);
    assert_eq!(s.meta_data.as_deref(), Some(META));
    assert_eq!(s.network_config.as_deref(), Some(NET));
    // the scratch directory is cleaned up
    let leftovers: Vec<_> = std::fs::read_dir(root.join("run/kubebake"))
        .map(|r| r.flatten().collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn garbage_volume_is_an_error_not_a_seed() {
    let d = tempfile::tempdir().expect("tmp");
    let p = d.path().join("junk.img");
    std::fs::write(&p, vec![0u8; 64 * 1024]).expect("w");
    link_label(d.path(), "CIDATA", &p);
    let e = cidata::fetch(&cfg(d.path())).expect_err("junk");
    assert!(e.to_string().contains("neither FAT nor iso9660"), "{e}");
}

#[test]
fn no_volume_is_none() {
    let d = tempfile::tempdir().expect("tmp");
    assert!(cidata::fetch(&cfg(d.path())).expect("ok").is_none());
}

/// A CIDATA volume from the seed crate's builder whose `user-data` entry
/// starts at `cluster` (0 and 1 are not data clusters; a large one is past
/// the end of the volume).
fn volume_with_user_data_at(cluster: u16) -> Vec<u8> {
    let mut img =
        kubebake_seed::cidata::fat_image(&[("user-data", USER_DATA), ("meta-data", META)])
            .expect("fat image");
    // fatfs gives `user-data` (not 8.3) the short name USER-D~1.
    let at = img
        .windows(11)
        .position(|w| w == b"USER-D~1   ")
        .expect("the short entry of user-data");
    img[at + 26..at + 28].copy_from_slice(&cluster.to_le_bytes());
    img
}

/// Clusters that fatfs turned into offsets unchecked (`cluster - 2`: a panic
/// with overflow checks, a read of another place of the volume without).
const BAD_CLUSTERS: [u16; 3] = [0, 1, 4000];

/// A damaged CIDATA volume (a file pointing at cluster 0, 1 or past the end)
/// is an error naming the volume, the file and the cluster, not a panic and
/// not a seed made of whatever bytes the wrong offset held.
#[test]
fn fat_file_outside_the_data_area_is_an_error_naming_volume_and_file() {
    for cluster in BAD_CLUSTERS {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("seed.img");
        std::fs::write(&p, volume_with_user_data_at(cluster)).expect("w");
        link_label(d.path(), "CIDATA", &p);
        let got = std::panic::catch_unwind(|| cidata::fetch(&cfg(d.path())))
            .unwrap_or_else(|_| panic!("cluster {cluster}: reading the volume panicked"));
        let e = match got {
            Err(e) => e.to_string(),
            Ok(s) => panic!("cluster {cluster}: read as a seed: {s:?}"),
        };
        for needle in [
            "dev/disk/by-label/CIDATA",
            "user-data",
            &format!("cluster {cluster} is outside the data area"),
        ] {
            assert!(
                e.contains(needle),
                "cluster {cluster}: `{needle}` missing: {e}"
            );
        }
    }
}

/// The same damage on the boot partition (which users edit): the boot
/// partition source reports it instead of passing over it quietly.
#[test]
fn damaged_boot_partition_is_reported() {
    let d = tempfile::tempdir().expect("tmp");
    let p = d.path().join("boot.img");
    std::fs::write(&p, volume_with_user_data_at(0)).expect("w");
    link_label(d.path(), "bootfs", &p);
    let mut c = cfg(d.path());
    c.boot_dirs = Vec::new();
    let e = bootpart::fetch(&c).expect_err("a damaged boot partition");
    let e = e.to_string();
    assert!(
        e.contains("dev/disk/by-label/bootfs")
            && e.contains("user-data")
            && e.contains("cluster 0"),
        "{e}"
    );
}

/// The agent reports the damaged source in its list and goes on to the next
/// one (here the embedded seed), as it does for any bad source.
#[test]
fn damaged_cidata_falls_through_to_the_next_source() {
    let d = tempfile::tempdir().expect("tmp");
    let p = d.path().join("seed.img");
    std::fs::write(&p, volume_with_user_data_at(1)).expect("w");
    link_label(d.path(), "CIDATA", &p);
    let c = cfg(d.path());
    let embedded = c.path(datasource::embedded::DIR);
    std::fs::create_dir_all(&embedded).expect("mk");
    std::fs::write(embedded.join("user-data"), USER_DATA).expect("w");
    let got = datasource::acquire(&c, datasource::Platform::Other);
    let seed = got.seed.expect("the embedded seed");
    assert_eq!(seed.source, "embedded");
    let cidata = got
        .tried
        .iter()
        .find(|t| t.starts_with("cidata: "))
        .expect("a cidata line");
    assert!(
        cidata.contains("CIDATA") && cidata.contains("user-data") && cidata.contains("cluster 1"),
        "{cidata}"
    );
}
