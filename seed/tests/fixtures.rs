//! Seed fixtures: every valid seed parses (with exactly the expected
//! warnings), every invalid seed fails with each expected message line, and
//! no error message quotes a secret from the fixture.

use std::fs;
use std::path::{Path, PathBuf};

fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

fn yaml_files(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir(kind))
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

/// Values of secret-looking keys in a fixture (token, keys, certificate key).
fn secrets_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        let Some((key, value)) = t.split_once(':') else {
            continue;
        };
        let secret_key = key == "token" || key == "certificate_key" || key.ends_with("_key");
        if !secret_key {
            continue;
        }
        let value = value.trim();
        if value == "|" {
            // A PEM private key: its body lines but the last, which for EC
            // keys may hold only public-key bytes (also found in the cert).
            let mut body = Vec::new();
            while let Some(next) = lines.peek() {
                if next.starts_with("      ") {
                    let l = next.trim();
                    if !l.starts_with("-----") && l.len() >= 6 {
                        body.push(l.to_string());
                    }
                    lines.next();
                } else {
                    break;
                }
            }
            body.pop();
            out.extend(body);
        } else if value.len() >= 6 {
            out.push(value.trim_matches('"').to_string());
        }
    }
    out
}

#[test]
fn valid_fixtures_parse() {
    let files = yaml_files("valid");
    assert!(files.len() >= 5, "expected fixtures for each role");
    let mut roles = std::collections::BTreeSet::new();
    for f in files {
        let text = fs::read_to_string(&f).expect("read");
        let parsed = match kubebake_seed::parse(&text, "user-data") {
            Ok(p) => p,
            Err(e) => panic!("{}: {e}", f.display()),
        };
        if let Some(k) = &parsed.seed.kubernetes {
            roles.insert(k.role.as_str());
        }
        let expect = f.with_extension("expect");
        if expect.exists() {
            let want = fs::read_to_string(&expect).expect("read expect");
            let got = parsed.warnings.join("\n");
            for line in want.lines().filter(|l| !l.is_empty()) {
                assert!(
                    got.contains(line),
                    "{}: warning {line:?} missing in:\n{got}",
                    f.display()
                );
            }
            assert_eq!(
                parsed.warnings.len(),
                want.lines().filter(|l| !l.is_empty()).count(),
                "{got}"
            );
        } else {
            assert!(
                parsed.warnings.is_empty(),
                "{}: unexpected warnings {:?}",
                f.display(),
                parsed.warnings
            );
        }
        // Debug output of the whole seed never shows a secret.
        let debug = format!("{:?}", parsed.seed);
        assert!(
            !debug.contains("PRIVATE KEY"),
            "{}: Debug shows a private key",
            f.display()
        );
        for s in secrets_in(&text) {
            assert!(!debug.contains(&s), "{}: Debug leaks a secret", f.display());
        }
    }
    assert_eq!(
        roles.len(),
        3,
        "valid fixtures cover init, control-plane, worker: {roles:?}"
    );
}

#[test]
fn invalid_fixtures_fail_with_their_message() {
    let files = yaml_files("invalid");
    assert!(files.len() >= 25, "only {} invalid fixtures", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).expect("read");
        let want = fs::read_to_string(f.with_extension("expect"))
            .unwrap_or_else(|_| panic!("{}: missing .expect sidecar", f.display()));
        match kubebake_seed::parse(&text, "user-data") {
            Ok(_) => failures.push(format!("{}: parsed but should fail", f.display())),
            Err(problems) => {
                let got = problems.to_string();
                for line in want.lines().filter(|l| !l.is_empty()) {
                    if !got.contains(line) {
                        failures.push(format!("{}: expected {line:?} in:\n{got}", f.display()));
                    }
                }
                for s in secrets_in(&text) {
                    if got.contains(&s) || format!("{problems:?}").contains(&s) {
                        failures.push(format!("{}: message leaks a secret value", f.display()));
                    }
                }
                for p in &problems.list {
                    if p.source != "user-data" {
                        failures.push(format!("{}: wrong source {:?}", f.display(), p.source));
                    }
                    // a problem with a YAML path says on which line it is
                    if !p.path.is_empty() && p.line.is_none() {
                        failures.push(format!("{}: no line for {p}", f.display()));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = fs::read_to_string(dir("invalid").join("many-problems.yaml")).expect("read");
    let problems = kubebake_seed::parse(&text, "user-data").expect_err("invalid");
    assert!(problems.list.len() >= 6, "{problems}");
}

#[test]
fn parsed_values() {
    let text = fs::read_to_string(dir("valid").join("init.yaml")).expect("read");
    let seed = kubebake_seed::parse(&text, "user-data")
        .expect("valid")
        .seed;
    assert_eq!(seed.hostname.as_deref(), Some("cp1"));
    assert_eq!(seed.write_files[1].content, b"hello\n");
    assert_eq!(seed.write_files[1].permissions, 0o600);
    assert_eq!(seed.write_files[2].content, b"hello gzip\n");
    assert_eq!(
        seed.users[0].sudo,
        vec!["ALL=(ALL) NOPASSWD:ALL".to_string()]
    );
    assert_eq!(seed.runcmd.len(), 2);
    let k = seed.kubernetes.expect("kubernetes");
    assert_eq!(
        k.token.as_ref().map(|t| t.expose()),
        Some("abcdef.0123456789abcdef")
    );
    assert_eq!(
        k.kubelet_extra_args.get("max-pods").map(String::as_str),
        Some("200")
    );
    assert_eq!(k.registry_mirrors["docker.io"].len(), 2);
    let pki = k.pki.expect("pki");
    let files: Vec<&str> = pki.files().iter().map(|f| f.path).collect();
    assert_eq!(
        files,
        [
            "ca.crt",
            "ca.key",
            "sa.pub",
            "sa.key",
            "front-proxy-ca.crt",
            "front-proxy-ca.key",
            "etcd/ca.crt",
            "etcd/ca.key"
        ]
    );
    assert_eq!(
        k.kubernetes_version.map(|v| v.to_string()).as_deref(),
        Some("1.35.1")
    );
}

#[test]
fn node_override_changes_role() {
    let base = fs::read_to_string(dir("valid").join("worker.yaml")).expect("read");
    let name = kubebake_seed::node_override_name("52:54:00:12:34:56").expect("mac");
    assert_eq!(name, "nodes/52-54-00-12-34-56.yaml");
    let over = "hostname: worker-9\nkubernetes:\n  node_labels:\n    example.com/tier: core\n";
    let merged = kubebake_seed::merge_override(&base, "user-data", over, &name).expect("merge");
    let seed = kubebake_seed::parse(&merged, "merged").expect("valid").seed;
    assert_eq!(seed.hostname.as_deref(), Some("worker-9"));
    let k = seed.kubernetes.expect("k");
    assert_eq!(k.node_labels["example.com/tier"], "core");
    assert_eq!(k.role, kubebake_seed::Role::Worker);
    assert!(k.token.is_some(), "base fields kept");
}

#[test]
fn ca_cert_hash_matches_openssl() {
    kubebake_hosttool::need(&["openssl"]);
    for name in ["ca.crt", "front-proxy-ca.crt", "etcd-ca.crt"] {
        let path = dir("pki").join(name);
        let pem = fs::read_to_string(&path).expect("read");
        let ours = kubebake_seed::ca_cert_hash(&pem).expect("hash");
        // kubeadm's documented recipe, generalised to any key type.
        let script = format!(
            "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex",
            path.display()
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("openssl");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let hex = text.trim().rsplit(' ').next().expect("digest");
        assert_eq!(ours, format!("sha256:{hex}"), "{name}");
    }
    assert!(kubebake_seed::ca_cert_hash(
        &fs::read_to_string(dir("pki").join("sa.pub")).expect("read")
    )
    .is_err());
}

/// The CA's validity, as `openssl x509 -dates` prints it for the fixture
/// (notBefore a UTCTime, notAfter past 2049 a GeneralizedTime).
#[test]
fn cert_validity_of_the_fixture_ca() {
    let pem = fs::read_to_string(dir("pki").join("ca.crt")).expect("read");
    // notBefore=Nov 23 05:48:03 2026 GMT, notAfter=Oct 30 05:48:03 2126 GMT
    assert_eq!(
        kubebake_seed::cert_validity(&pem),
        Ok((1_795_412_883, 4_949_012_883))
    );
    assert!(kubebake_seed::cert_validity(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    .is_err());
}

/// Every valid fixture with one line removed, and every prefix cut at a
/// line boundary, parses or fails cleanly (no panic), and a failure always
/// names at least one problem.
#[test]
fn damaged_seeds_never_panic() {
    let mut cases = 0;
    for f in yaml_files("valid") {
        let text = fs::read_to_string(&f).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        for i in 1..lines.len() {
            let mut damaged: Vec<&str> = lines.clone();
            damaged.remove(i);
            let joined = damaged.join("\n");
            if let Err(p) = kubebake_seed::parse(&joined, "user-data") {
                assert!(!p.list.is_empty());
            }
            let prefix = lines[..i].join("\n");
            if let Err(p) = kubebake_seed::parse(&prefix, "user-data") {
                assert!(!p.list.is_empty());
            }
            cases += 2;
        }
    }
    assert!(cases > 100);
}
