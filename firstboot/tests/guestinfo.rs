//! VMware guestinfo through the vmware-rpctool double: plain, base64 and
//! gzip+base64 (`gz+b64`) encodings, and the VMware-only ordering.

mod common;

use base64::Engine;
use kubebake_firstboot::config::Config;
use kubebake_firstboot::datasource::{self, vmware, Platform};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

// the rpctool double is selected through process-wide env vars
static ENV: Mutex<()> = Mutex::new(());

const UD: &str = "#cloud-config\nhostname: vm-node\n";

fn setup(dir: &Path, values: &[(&str, &str)]) {
    let g = dir.join("guestinfo");
    std::fs::create_dir_all(&g).expect("mk");
    for (k, v) in values {
        std::fs::write(g.join(k), v).expect("w");
    }
    std::env::set_var(
        "KUBEBAKE_RPCTOOL",
        common::doubles().join("vmware-rpctool-double"),
    );
    std::env::set_var("VMWARE_RPCTOOL_DOUBLE_DIR", &g);
}

fn gz_b64(s: &str) -> String {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(s.as_bytes()).expect("gz");
    base64::engine::general_purpose::STANDARD.encode(e.finish().expect("finish"))
}

#[test]
fn base64_userdata_and_gzip_metadata() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    let b64 = base64::engine::general_purpose::STANDARD.encode(UD);
    let meta = gz_b64("instance-id: vm-1\n");
    setup(
        d.path(),
        &[
            ("guestinfo.userdata", &b64),
            ("guestinfo.userdata.encoding", "base64"),
            ("guestinfo.metadata", &meta),
            ("guestinfo.metadata.encoding", "gzip+base64"),
        ],
    );
    let s = vmware::fetch(&Config::from_env(Some(d.path().to_path_buf())))
        .expect("fetch")
        .expect("some");
    assert_eq!(s.user_data, UD.as_bytes());
    assert_eq!(s.meta_data.as_deref(), Some(&b"instance-id: vm-1\n"[..]));
    assert_eq!(s.source, "vmware-guestinfo");
}

#[test]
fn gz_b64_alias_and_unset_keys() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    setup(
        d.path(),
        &[
            ("guestinfo.userdata", &gz_b64(UD)),
            ("guestinfo.userdata.encoding", "gz+b64"),
        ],
    );
    let s = vmware::fetch(&Config::from_env(Some(d.path().to_path_buf())))
        .expect("fetch")
        .expect("some");
    assert_eq!(s.user_data, UD.as_bytes());
    assert_eq!(s.meta_data, None);
    let e = tempfile::tempdir().expect("tmp");
    setup(e.path(), &[]);
    assert!(
        vmware::fetch(&Config::from_env(Some(e.path().to_path_buf())))
            .expect("fetch")
            .is_none()
    );
}

#[test]
fn bad_encoding_is_reported() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    setup(
        d.path(),
        &[
            ("guestinfo.userdata", "not base64 !!"),
            ("guestinfo.userdata.encoding", "base64"),
        ],
    );
    let e = vmware::fetch(&Config::from_env(Some(d.path().to_path_buf()))).expect_err("bad");
    assert!(
        e.to_string().contains("guestinfo guestinfo.userdata"),
        "{e}"
    );
}

#[test]
fn acquire_uses_guestinfo_only_on_vmware() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    setup(d.path(), &[("guestinfo.userdata", UD)]);
    let mut cfg = Config::from_env(Some(d.path().to_path_buf()));
    cfg.boot_dirs = vec![];
    cfg.mount = false;
    let a = datasource::acquire(&cfg, Platform::Other);
    assert!(a.seed.is_none(), "{:?}", a.tried);
    assert!(!a.tried.iter().any(|t| t.starts_with("vmware")));
    let a = datasource::acquire(&cfg, Platform::Vmware);
    assert_eq!(a.seed.expect("seed").source, "vmware-guestinfo");
    assert_eq!(a.tried.last().map(String::as_str), Some("vmware: found"));
}
