//! The validator's `ca_cert_hash` hint is a shell pipeline the user runs on
//! a control plane: it must print the hash the seed needs, for RSA and EC
//! cluster CAs alike (kubeadm makes RSA CAs, `kubebake cluster new` and
//! other tools EC ones). Checked with the real `openssl`, whose absence is
//! a failure, not a skip.

use std::path::Path;

const SEED: &str = "#cloud-config\nkubernetes:\n  role: worker\n  endpoint: 10.0.0.1:6443\n  token: abcdef.0123456789abcdef\n  ca_cert_hash: sha256:not-hex\n";

/// The command the hint tells the user to run.
fn hinted_command() -> String {
    let msg = kubebake_seed::parse(SEED, "user-data")
        .expect_err("a non-hex hash is refused")
        .to_string();
    msg.split("run `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .unwrap_or_else(|| panic!("no command in the hint: {msg}"))
        .to_string()
}

fn make_ca(dir: &Path, name: &str, newkey: &[&str]) -> std::path::PathBuf {
    let crt = dir.join(format!("{name}.crt"));
    let o = kubebake_hosttool::command("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=kubebake-test-ca",
        ])
        .args(newkey)
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("run openssl req");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    crt
}

#[test]
fn hint_pipeline_prints_the_hash_for_rsa_and_ec_cas() {
    kubebake_hosttool::need(&["openssl", "bash", "sha256sum"]);
    let cmd = hinted_command();
    assert!(
        cmd.contains("/etc/kubernetes/pki/ca.crt"),
        "the hint names kubeadm's CA path: {cmd}"
    );
    let d = tempfile::tempdir().expect("tmp");
    let cas = [
        ("rsa", make_ca(d.path(), "rsa", &["-newkey", "rsa:2048"])),
        (
            "ec",
            make_ca(
                d.path(),
                "ec",
                &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
            ),
        ),
    ];
    for (kind, crt) in cas {
        let pem = std::fs::read_to_string(&crt).expect("read CA");
        let want = kubebake_seed::ca_cert_hash(&pem).expect("hash of the CA");
        let run = cmd.replace("/etc/kubernetes/pki/ca.crt", &crt.display().to_string());
        let o = kubebake_hosttool::command("bash")
            .args(["-o", "pipefail", "-c", &run])
            .output()
            .expect("run the hinted pipeline");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{kind} CA: `{run}` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let hex = out
            .split(|c: char| !c.is_ascii_hexdigit())
            .find(|w| w.len() == 64)
            .unwrap_or_else(|| panic!("{kind} CA: no hash in {out:?}"));
        assert_eq!(format!("sha256:{hex}"), want, "{kind} CA");
    }
}
