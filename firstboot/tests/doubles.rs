//! The kubeadm double's failure texts are classified as the agent expects,
//! and the double never prints a token or certificate key in clear.

mod common;

use kubebake_firstboot::kubeadm::{classify, Class, ADVICE_CA_HASH, ADVICE_SKEW, ADVICE_TOKEN};
use std::process::Command;

const CONFIG: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 10.0.0.1:6443\n    token: abcdef.0123456789abcdef\ncontrolPlane:\n  certificateKey: \"e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204\"\n";

fn run_double(mode: &str) -> Option<(bool, String)> {
    kubebake_hosttool::need(&["sha256sum", "base64"]);
    let d = tempfile::tempdir().expect("tmp");
    let c = d.path().join("c.yaml");
    std::fs::write(&c, CONFIG).expect("w");
    let o = Command::new(common::doubles().join("kubeadm-double"))
        .args(["join", "--config"])
        .arg(&c)
        .env("KUBEADM_DOUBLE_ROOT", d.path())
        .env("KUBEADM_DOUBLE_MODE", mode)
        .output()
        .expect("double");
    let mut t = String::from_utf8_lossy(&o.stdout).into_owned();
    t.push_str(&String::from_utf8_lossy(&o.stderr));
    Some((o.status.success(), t))
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[test]
fn failure_modes_classify() {
    for (mode, advice) in [
        ("jws", ADVICE_TOKEN),
        ("ca-hash", ADVICE_CA_HASH),
        ("skew", ADVICE_SKEW),
    ] {
        let Some((ok, out)) = run_double(mode) else {
            return;
        };
        assert!(!ok, "{mode}");
        match classify(&out) {
            Class::Permanent { advice: a, .. } => assert_eq!(a, advice, "{mode}"),
            c => panic!("{mode}: {c:?}"),
        }
    }
    let Some((ok, out)) = run_double("fail-twice-connection-refused") else {
        return;
    };
    assert!(!ok);
    assert_eq!(
        classify(&out),
        Class::Transient("connection refused".into())
    );
}

#[test]
fn ok_mode_records_hashes_not_secrets() {
    use base64::Engine;
    let Some((ok, out)) = run_double("ok") else {
        return;
    };
    assert!(ok, "{out}");
    assert!(
        !out.contains("0123456789abcdef") && !out.contains("e6a2eb8581237ab7"),
        "{out}"
    );
    let tok = sha256_hex("abcdef.0123456789abcdef");
    assert!(
        out.contains(&format!("kubeadm-double: token-sha256={tok}")),
        "{out}"
    );
    let b64 = out
        .lines()
        .find_map(|l| l.strip_prefix("kubeadm-double: config-b64="))
        .expect("config line");
    let cfg = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("b64"),
    )
    .expect("utf8");
    assert!(cfg.contains(&format!("token: sha256:{tok}")), "{cfg}");
    assert!(cfg.contains("apiServerEndpoint: 10.0.0.1:6443"), "{cfg}");
    let key = sha256_hex("e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204");
    assert!(cfg.contains(&key), "{cfg}");
}
