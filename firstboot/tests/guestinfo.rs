//! VMware guestinfo through the vmware-rpctool double: plain, base64 and
//! gzip+base64 (`gz+b64`) encodings, the VMware-only ordering, and the OVF
//! environment (`guestinfo.ovfEnv`, a document in the shape vSphere writes:
//! `tests/data/ovf-env-vsphere.xml`) with its precedence below the
//! extraConfig keys.

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
    let _ = std::fs::remove_dir_all(&g); // only these keys are set
    std::fs::create_dir_all(&g).expect("mk");
    for (k, v) in values {
        std::fs::write(g.join(k), v).expect("w");
    }
    std::env::set_var(
        "KUBEBAKE_RPCTOOL",
        common::doubles().join("vmware-rpctool-double"),
    );
    std::env::set_var("VMWARE_RPCTOOL_DOUBLE_DIR", &g);
    std::env::remove_var("VMWARE_RPCTOOL_DOUBLE_OVFENV");
}

fn gz_b64(s: &str) -> String {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(s.as_bytes()).expect("gz");
    base64::engine::general_purpose::STANDARD.encode(e.finish().expect("finish"))
}

fn fetch(dir: &Path) -> Result<Option<datasource::SeedFiles>, datasource::DsError> {
    vmware::fetch(&Config::from_env(Some(dir.to_path_buf())))
}

/// The agent's configuration under `dir` with no boot partition or volume
/// to find: only the network sources can answer.
fn only_guestinfo(dir: &Path) -> Config {
    let mut cfg = Config::from_env(Some(dir.to_path_buf()));
    cfg.boot_dirs = vec![];
    cfg.mount = false;
    cfg
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
    let s = fetch(d.path()).expect("fetch").expect("some");
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
    let s = fetch(d.path()).expect("fetch").expect("some");
    assert_eq!(s.user_data, UD.as_bytes());
    assert_eq!(s.meta_data, None);
    let e = tempfile::tempdir().expect("tmp");
    setup(e.path(), &[]);
    assert!(fetch(e.path()).expect("fetch").is_none());
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
    let e = fetch(d.path()).expect_err("bad");
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
    let cfg = only_guestinfo(d.path());
    let a = datasource::acquire(&cfg, Platform::Other);
    assert!(a.seed.is_none(), "{:?}", a.tried);
    assert!(!a.tried.iter().any(|t| t.starts_with("vmware")));
    let a = datasource::acquire(&cfg, Platform::Vmware);
    assert_eq!(a.seed.expect("seed").source, "vmware-guestinfo");
    assert_eq!(a.tried.last().map(String::as_str), Some("vmware: found"));
}

/// The OVF environment vSphere hands a VM deployed from the template with
/// the seed pasted in its properties (base64 user-data, gzip+base64
/// meta-data).
const OVF_ENV: &str = include_str!("data/ovf-env-vsphere.xml");
/// The user-data inside [`OVF_ENV`], decoded.
const OVF_UD: &str = "#cloud-config\nhostname: vsphere-node-1\nkubernetes:\n  role: worker\n  endpoint: 192.168.6.10:6443\n  token: ovfenv.0123456789ovfenv\n  ca_cert_hash: sha256:8d1f4e0c2b7a9d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6\n";
/// The meta-data inside [`OVF_ENV`], decoded.
const OVF_MD: &str = "instance-id: vsphere-node-1\nlocal-hostname: vsphere-node-1\n";

/// [`OVF_ENV`] with the `oe:value` of property `key` replaced by `value`
/// (XML-escaped already).
fn with_property(doc: &str, key: &str, value: &str) -> String {
    let at = format!("oe:key=\"{key}\" oe:value=\"");
    let start = doc.find(&at).expect("property in the document") + at.len();
    let end = start + doc[start..].find('"').expect("closing quote");
    format!("{}{value}{}", &doc[..start], &doc[end..])
}

#[test]
fn ovf_environment_as_vsphere_writes_it() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    setup(d.path(), &[]);
    // the double answers `info-get guestinfo.ovfEnv` from the fixture itself
    std::env::set_var(
        "VMWARE_RPCTOOL_DOUBLE_OVFENV",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ovf-env-vsphere.xml"),
    );
    let s = fetch(d.path()).expect("fetch").expect("a seed");
    assert_eq!(String::from_utf8_lossy(&s.user_data), OVF_UD);
    assert_eq!(s.meta_data.as_deref(), Some(OVF_MD.as_bytes()));
    assert_eq!(s.source, "vmware-ovfenv");
    let cfg = only_guestinfo(d.path());
    let a = datasource::acquire(&cfg, Platform::Vmware);
    assert_eq!(a.seed.expect("seed").source, "vmware-ovfenv");
    assert_eq!(a.tried.last().map(String::as_str), Some("vmware: found"));
}

#[test]
fn ovf_environment_gzip_userdata_and_plain_metadata() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    let doc = with_property(OVF_ENV, "guestinfo.userdata", &gz_b64(UD));
    let doc = with_property(&doc, "guestinfo.userdata.encoding", "gz+b64");
    // plain text, its line breaks escaped as vSphere escapes them
    let doc = with_property(
        &doc,
        "guestinfo.metadata",
        "instance-id: vm-2&#10;local-hostname: vm-2&#10;",
    );
    let doc = with_property(&doc, "guestinfo.metadata.encoding", "");
    setup(d.path(), &[("guestinfo.ovfEnv", &doc)]);
    let s = fetch(d.path()).expect("fetch").expect("a seed");
    assert_eq!(s.user_data, UD.as_bytes());
    // trailing white space is dropped, as cloud-init does
    assert_eq!(
        s.meta_data.as_deref(),
        Some(&b"instance-id: vm-2\nlocal-hostname: vm-2"[..])
    );
    let doc = with_property(&doc, "guestinfo.userdata.encoding", "gzip+base64");
    setup(d.path(), &[("guestinfo.ovfEnv", &doc)]);
    assert_eq!(
        fetch(d.path()).expect("fetch").expect("a seed").user_data,
        UD.as_bytes()
    );
}

/// The template's properties default to empty: a VM deployed without
/// pasting a seed has an OVF environment, but no seed in it.
#[test]
fn empty_ovf_property_is_no_seed() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    for empty in ["", "   ", "&#10;"] {
        let doc = with_property(OVF_ENV, "guestinfo.userdata", empty);
        setup(d.path(), &[("guestinfo.ovfEnv", &doc)]);
        assert!(fetch(d.path()).expect("fetch").is_none(), "{empty:?}");
    }
    // an environment without our properties at all (another template)
    let doc = OVF_ENV.replace("guestinfo.", "appliance.");
    setup(d.path(), &[("guestinfo.ovfEnv", &doc)]);
    assert!(fetch(d.path()).expect("fetch").is_none());
    let cfg = only_guestinfo(d.path());
    let a = datasource::acquire(&cfg, Platform::Vmware);
    assert!(a.seed.is_none());
    assert_eq!(a.tried.last().map(String::as_str), Some("vmware: none"));
}

#[test]
fn malformed_ovf_environment_is_one_clear_line() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    let plain = with_property(
        OVF_ENV,
        "guestinfo.userdata",
        "token: ovfenv.0123456789ovfenv",
    );
    let plain = with_property(&plain, "guestinfo.userdata.encoding", "");
    let cut = &plain[..plain.find("0123456789").expect("token") + 4];
    let cases: [(&str, String, &str); 5] = [
        ("truncated", cut.to_string(), "XML"),
        (
            "a < in a value",
            plain.replace("token: ", "token: <"),
            "XML",
        ),
        (
            "the OVF descriptor instead of the environment",
            "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\"/>".into(),
            "Environment",
        ),
        (
            "a property without its oe:key",
            plain.replace("oe:key=\"guestinfo.userdata\" ", ""),
            "oe:key",
        ),
        (
            "an unknown encoding",
            with_property(OVF_ENV, "guestinfo.userdata.encoding", "rot13"),
            "encoding",
        ),
    ];
    for (what, doc, problem) in cases {
        setup(d.path(), &[("guestinfo.ovfEnv", &doc)]);
        let e = fetch(d.path()).expect_err(what).to_string();
        assert!(e.starts_with("guestinfo.ovfEnv"), "{what}: {e}");
        assert!(e.contains(problem) && e.contains("fix:"), "{what}: {e}");
        assert!(!e.contains('\n'), "{what}: one line: {e}");
        assert!(!e.contains("0123456789"), "{what}: the seed leaked: {e}");
    }
}

#[test]
fn oversized_ovf_environment_stops_at_its_cap() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    let huge = with_property(OVF_ENV, "guestinfo.userdata", &"A".repeat(5 << 20));
    setup(d.path(), &[("guestinfo.ovfEnv", &huge)]);
    let e = fetch(d.path()).expect_err("5 MiB").to_string();
    assert!(
        e.starts_with("guestinfo.ovfEnv: larger than 4 MiB") && e.contains("fix:"),
        "{e}"
    );
}

/// cloud-init's order on VMware (DataSourceVMware's extraConfig keys before
/// DataSourceOVF's guestinfo.ovfEnv): the keys are set on purpose, the OVF
/// properties may be the template's. One channel gives the whole seed.
#[test]
fn extra_config_keys_win_over_the_ovf_environment() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    setup(
        d.path(),
        &[("guestinfo.userdata", UD), ("guestinfo.ovfEnv", OVF_ENV)],
    );
    let s = fetch(d.path()).expect("fetch").expect("a seed");
    assert_eq!(s.user_data, UD.trim_end().as_bytes());
    assert_eq!(s.source, "vmware-guestinfo");
    assert_eq!(
        s.meta_data, None,
        "no meta-data taken from the other channel"
    );
    // the OVF environment is not even read then
    setup(
        d.path(),
        &[("guestinfo.userdata", UD), ("guestinfo.ovfEnv", "<broken")],
    );
    assert_eq!(
        fetch(d.path()).expect("fetch").expect("seed").user_data,
        UD.trim_end().as_bytes()
    );
    // meta-data alone in extraConfig is no seed: the OVF environment's is used
    setup(
        d.path(),
        &[
            ("guestinfo.metadata", "instance-id: other\n"),
            ("guestinfo.ovfEnv", OVF_ENV),
        ],
    );
    let s = fetch(d.path()).expect("fetch").expect("a seed");
    assert_eq!(s.source, "vmware-ovfenv");
    assert_eq!(s.meta_data.as_deref(), Some(OVF_MD.as_bytes()));
}

/// `---` is how guestinfo is cleared (the README's scrub step, cloud-init's
/// `redact`): no seed there, so a resumed run keeps the stored copy instead
/// of reading `---` as a changed, invalid seed.
#[test]
fn cleared_guestinfo_is_no_seed() {
    let _l = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    setup(
        d.path(),
        &[
            ("guestinfo.userdata", "---\n"),
            ("guestinfo.userdata.encoding", " "),
        ],
    );
    assert!(fetch(d.path()).expect("fetch").is_none());
    // a cleared key falls through to the OVF environment
    setup(
        d.path(),
        &[("guestinfo.userdata", "---"), ("guestinfo.ovfEnv", OVF_ENV)],
    );
    assert_eq!(
        fetch(d.path()).expect("fetch").expect("seed").source,
        "vmware-ovfenv"
    );
    let doc = with_property(OVF_ENV, "guestinfo.userdata", "---");
    setup(d.path(), &[("guestinfo.ovfEnv", &doc)]);
    assert!(fetch(d.path()).expect("fetch").is_none());
}
