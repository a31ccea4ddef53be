//! CIDATA volumes read back by real tools: the FAT image from
//! `kubebake_seed::cidata::fat_image` with mtools and `fsck.vfat -n`, and an
//! iso9660 CIDATA made with xorriso (`cidata::iso9660_command`).
//!
//! Tools missing: the test fails under `CI=true`, else it prints and returns.

use std::fs;
use std::path::Path;
use std::process::Command;

use kubebake_seed::cidata;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn fixture(name: &str) -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/valid")
            .join(name),
    )
    .expect("fixture")
}

const NETWORK: &str = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n";

#[test]
fn fat_cidata_reads_back_with_mtools() {
    kubebake_hosttool::need(&["mdir", "mtype", "fsck.vfat", "fatlabel"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let user_data = fixture("init.yaml");
    let meta = cidata::meta_data(&cidata::instance_id(&user_data), Some("cp1"));
    let files = cidata::files(&user_data, &meta, Some(NETWORK));
    let img = dir.path().join("seed.img");
    fs::write(&img, cidata::fat_image(&files).expect("image")).expect("write");

    run(kubebake_hosttool::command("fsck.vfat").arg("-n").arg(&img));
    let label = run(kubebake_hosttool::command("fatlabel").arg(&img));
    assert_eq!(label.trim(), "CIDATA");
    let listing = run(Command::new("mdir").arg("-i").arg(&img).args(["-b", "::"]));
    let mut names: Vec<&str> = listing
        .lines()
        .map(|l| l.trim_start_matches("::/").trim())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["meta-data", "network-config", "user-data"],
        "{listing}"
    );
    for (name, want) in [
        ("user-data", user_data.as_str()),
        ("meta-data", meta.as_str()),
        ("network-config", NETWORK),
    ] {
        let got = run(Command::new("mtype")
            .arg("-i")
            .arg(&img)
            .arg(format!("::{name}")));
        assert_eq!(got, want, "{name}");
    }
    assert!(meta.contains("local-hostname: cp1\n") && meta.starts_with("instance-id: kubebake-"));
}

#[test]
fn fat_cidata_grows_for_big_seeds() {
    kubebake_hosttool::need(&["fsck.vfat", "mtype"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let big = format!(
        "#cloud-config\nruncmd:\n{}",
        "  - echo 0123456789abcdef0123456789abcdef\n".repeat(60_000)
    );
    let files = cidata::files(&big, "instance-id: big\n", None);
    let bytes = cidata::fat_image(&files).expect("image");
    assert!(bytes.len() > big.len());
    let img = dir.path().join("big.img");
    fs::write(&img, &bytes).expect("write");
    run(kubebake_hosttool::command("fsck.vfat").arg("-n").arg(&img));
    let got = run(Command::new("mtype").arg("-i").arg(&img).arg("::user-data"));
    assert_eq!(got.len(), big.len());
    assert!(got == big);
}

#[test]
fn iso9660_cidata_with_xorriso() {
    kubebake_hosttool::need(&["xorriso", "isoinfo"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir(&src).expect("mkdir");
    let user_data = fixture("worker.yaml");
    let meta = cidata::meta_data("iid-worker-1", Some("worker-1"));
    for (name, data) in cidata::files(&user_data, &meta, Some(NETWORK)) {
        fs::write(src.join(name), data).expect("write");
    }
    let a = dir.path().join("a.iso");
    let b = dir.path().join("b.iso");
    run(&mut cidata::iso9660_command(&src, &a, 0));
    run(&mut cidata::iso9660_command(&src, &b, 0));
    assert!(
        fs::read(&a).expect("a") == fs::read(&b).expect("b"),
        "xorriso output not reproducible"
    );

    let pvd = run(Command::new("isoinfo").arg("-d").arg("-i").arg(&a));
    assert!(
        pvd.lines().any(|l| l.trim() == "Volume id: CIDATA"),
        "{pvd}"
    );
    // Rock Ridge names, read back through isoinfo.
    let got = run(Command::new("isoinfo")
        .arg("-R")
        .arg("-i")
        .arg(&a)
        .args(["-x", "/user-data"]));
    assert_eq!(got, user_data);
    let got = run(Command::new("isoinfo")
        .arg("-R")
        .arg("-i")
        .arg(&a)
        .args(["-x", "/meta-data"]));
    assert_eq!(got, meta);
    // The seed inside still validates.
    kubebake_seed::parse(&got_user_data(&a), "iso:user-data").expect("valid seed");
}

fn got_user_data(iso: &Path) -> String {
    run(Command::new("isoinfo")
        .arg("-R")
        .arg("-i")
        .arg(iso)
        .args(["-x", "/user-data"]))
}
