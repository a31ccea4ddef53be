//! kubeadm config rendering: committed snapshots (reviewed by hand) for each
//! role in v1beta3 and v1beta4, and a check that every key path rendered
//! exists in the kubeadm API field tables (`tests/data/kubeadm-config-fields.md`,
//! public API facts kept in the repository).
//!
//! Regenerate snapshots with `UPDATE_SNAPSHOTS=1 cargo test -p kubebake-seed
//! --test kubeadm_render`, then review the diff. CI (`CI=true`) refuses
//! `UPDATE_SNAPSHOTS`: there the snapshots are only ever compared.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use kubebake_seed::kubeadm::{self, NodeFacts, RenderError};
use kubebake_seed::{Kubernetes, Version};
use serde_norway::Value;

const V1BETA3_KUBEADM: &str = "1.30.4";
const V1BETA4_KUBEADM: &str = "1.35.1";
const ADVERTISE: &str = "192.168.6.21";

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn seed(name: &str) -> (Kubernetes, String) {
    let text =
        fs::read_to_string(manifest().join("tests/fixtures/valid").join(name)).expect("fixture");
    let seed = kubebake_seed::parse(&text, name).expect("valid").seed;
    (
        seed.kubernetes.expect("kubernetes section"),
        seed.hostname.expect("hostname"),
    )
}

fn render(name: &str, kubeadm: &str) -> String {
    let (mut k, host) = seed(name);
    let version: Version = kubeadm.parse().expect("version");
    if k.kubernetes_version
        .is_some_and(|v| v.minor > version.minor)
    {
        // The v1beta3 case renders the same seed for an older kubeadm.
        k.kubernetes_version = None;
    }
    let mut facts = NodeFacts::new(host, version);
    if name != "init-minimal.yaml" {
        facts.advertise_address = Some(ADVERTISE.parse().expect("ip"));
    }
    kubeadm::render(&k, &facts).expect("render")
}

const CASES: [&str; 5] = [
    "init.yaml",
    "init-minimal.yaml",
    "worker.yaml",
    "control-plane.yaml",
    "control-plane-certkey.yaml",
];

fn snapshot_path(name: &str, api: &str) -> PathBuf {
    manifest()
        .join("tests/snapshots")
        .join(format!("{}.{api}.yaml", name.trim_end_matches(".yaml")))
}

/// Whether to rewrite the snapshots; refused under CI, where a rewrite
/// would compare the renderer with itself.
fn update_requested() -> bool {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    assert!(
        !(update && std::env::var("CI").as_deref() == Ok("true")),
        "UPDATE_SNAPSHOTS is refused under CI=true: snapshots are reviewed by hand, \
         regenerate them on a workstation and commit the diff"
    );
    update
}

#[test]
fn snapshots() {
    let update = update_requested();
    let mut failures = Vec::new();
    for name in CASES {
        for (api, kubeadm) in [("v1beta3", V1BETA3_KUBEADM), ("v1beta4", V1BETA4_KUBEADM)] {
            let got = render(name, kubeadm);
            let path = snapshot_path(name, api);
            if update {
                fs::write(&path, &got).expect("write snapshot");
                continue;
            }
            match fs::read_to_string(&path) {
                Ok(want) if want == got => {}
                Ok(want) => failures.push(format!(
                    "{}:\n--- want\n{want}\n--- got\n{got}",
                    path.display()
                )),
                Err(e) => failures.push(format!(
                    "{}: {e} (run with UPDATE_SNAPSHOTS=1)",
                    path.display()
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A run with `UPDATE_SNAPSHOTS=1` under `CI=true` fails and leaves the
/// snapshots as they are (the test binary runs its `snapshots` test again).
#[test]
fn update_snapshots_is_refused_under_ci() {
    let before: Vec<String> = CASES
        .iter()
        .map(|n| fs::read_to_string(snapshot_path(n, "v1beta4")).expect("snapshot"))
        .collect();
    let exe = std::env::current_exe().expect("test binary");
    let o = std::process::Command::new(exe)
        .args(["--exact", "snapshots", "--test-threads", "1"])
        .env("CI", "true")
        .env("UPDATE_SNAPSHOTS", "1")
        .output()
        .expect("run the snapshots test");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.status.success(), "UPDATE_SNAPSHOTS ran under CI:\n{out}");
    assert!(
        out.contains("UPDATE_SNAPSHOTS is refused under CI=true"),
        "{out}"
    );
    for (n, want) in CASES.iter().zip(before) {
        let now = fs::read_to_string(snapshot_path(n, "v1beta4")).expect("snapshot");
        assert_eq!(now, want, "{n} rewritten");
    }
}

/// Key paths per (apiVersion, kind) from the field reference.
struct Fields {
    paths: BTreeMap<(String, String), BTreeSet<String>>,
}

const FIELDS: &str = "tests/data/kubeadm-config-fields.md";

fn load_fields() -> Fields {
    let path = manifest().join(FIELDS);
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (part of the repository)", path.display()));
    let mut paths: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut api: Option<&str> = None;
    let mut kind: Option<String> = None;
    let mut in_block = false;
    let mut kubelet_keys = false;
    for line in text.lines() {
        if line.starts_with("### Flattened key paths (v1beta4)") {
            api = Some("kubeadm.k8s.io/v1beta4");
        } else if line.starts_with("### Flattened key paths (v1beta3)") {
            api = Some("kubeadm.k8s.io/v1beta3");
        } else if line
            .starts_with("All top-level keys accepted by the checker for KubeletConfiguration")
        {
            kubelet_keys = true;
        } else if line.starts_with("```") {
            in_block = !in_block;
            if !in_block {
                api = None;
                kubelet_keys = false;
            }
        } else if in_block && kubelet_keys {
            let set = paths
                .entry((
                    "kubelet.config.k8s.io/v1beta1".into(),
                    "KubeletConfiguration".into(),
                ))
                .or_default();
            set.extend(
                line.split(',')
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty()),
            );
        } else if in_block {
            let Some(api) = api else { continue };
            if let Some(k) = line.strip_prefix("# ") {
                kind = Some(k.trim().to_string());
            } else if let (Some(k), Some(path)) = (&kind, line.split_whitespace().next()) {
                let set = paths.entry((api.to_string(), k.clone())).or_default();
                set.insert(path.to_string());
                // `key  : map` takes free-form keys below it.
                if line.trim_end().ends_with(": map") {
                    set.insert(format!("{path}.*"));
                }
            }
        }
    }
    Fields { paths }
}

/// Flattens a rendered document into the table's notation: `a.b`,
/// `list[].field`; lists of scalars are the list's own path.
fn flatten(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, val) in m {
                let k = k.as_str().expect("string key");
                let p = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(val, &p, out);
            }
        }
        Value::Sequence(items) if items.iter().any(Value::is_mapping) => {
            let p = format!("{prefix}[]");
            for item in items {
                flatten(item, &p, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

#[test]
fn rendered_keys_exist_in_the_kubeadm_api() {
    let fields = load_fields();
    // The parser must have found every table; a format change must fail here.
    for key in [
        ("kubeadm.k8s.io/v1beta4", "InitConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "JoinConfiguration"),
        ("kubeadm.k8s.io/v1beta3", "InitConfiguration"),
        ("kubeadm.k8s.io/v1beta3", "ClusterConfiguration"),
        ("kubeadm.k8s.io/v1beta3", "JoinConfiguration"),
        ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"),
    ] {
        let n = fields
            .paths
            .get(&(key.0.to_string(), key.1.to_string()))
            .map_or(0, BTreeSet::len);
        assert!(
            n > 5,
            "{key:?}: only {n} paths parsed from the field reference"
        );
    }
    // Sanity of the oracle: the v1beta3/v1beta4 difference is visible.
    let v3 = &fields.paths[&(
        "kubeadm.k8s.io/v1beta3".to_string(),
        "JoinConfiguration".to_string(),
    )];
    let v4 = &fields.paths[&(
        "kubeadm.k8s.io/v1beta4".to_string(),
        "JoinConfiguration".to_string(),
    )];
    assert!(
        v3.contains("nodeRegistration.kubeletExtraArgs")
            && !v3.contains("nodeRegistration.kubeletExtraArgs[].name")
    );
    assert!(v4.contains("nodeRegistration.kubeletExtraArgs[].name"));

    let mut checked = 0;
    let mut bad = Vec::new();
    for name in CASES {
        for kubeadm in [V1BETA3_KUBEADM, V1BETA4_KUBEADM] {
            let yaml = render(name, kubeadm);
            for doc in serde_norway::Deserializer::from_str(&yaml) {
                let v: Value = serde::Deserialize::deserialize(doc).expect("yaml doc");
                let api = v["apiVersion"].as_str().expect("apiVersion").to_string();
                let kind = v["kind"].as_str().expect("kind").to_string();
                let Some(known) = fields.paths.get(&(api.clone(), kind.clone())) else {
                    bad.push(format!("{name} @ {kubeadm}: no table for {api} {kind}"));
                    continue;
                };
                let mut got = BTreeSet::new();
                flatten(&v, "", &mut got);
                for p in got {
                    checked += 1;
                    // Object-valued keys with only object children are listed as
                    // `key  (object)`; an empty mapping flattens to its own path.
                    let under_map = p
                        .match_indices('.')
                        .any(|(i, _)| known.contains(&format!("{}.*", &p[..i])));
                    let empty_list = known.contains(&format!("{p}[]"));
                    if !known.contains(&p) && !under_map && !empty_list {
                        bad.push(format!(
                            "{name} @ kubeadm {kubeadm}: {api} {kind}: `{p}` is not a field"
                        ));
                    }
                }
                assert!(!yaml.contains("unsafeSkipCAVerification"));
            }
        }
    }
    assert!(checked > 50, "checked only {checked} paths");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn version_skew_and_old_kubeadm_are_errors() {
    let (k, host) = seed("init.yaml");
    let facts = NodeFacts::new(host.clone(), "1.30.4".parse().expect("v"));
    assert!(matches!(
        kubeadm::render(&k, &facts),
        Err(RenderError::VersionSkew { .. })
    ));
    let facts = NodeFacts::new(host, "1.25.3".parse().expect("v"));
    assert!(matches!(
        kubeadm::render(&k, &facts),
        Err(RenderError::UnsupportedKubeadm(_))
    ));
}

#[test]
fn render_uses_the_seed_and_facts() {
    let (k, host) = seed("worker.yaml");
    let mut facts = NodeFacts::new(host, V1BETA4_KUBEADM.parse().expect("v"));
    facts.advertise_address = Some("10.1.2.3".parse().expect("ip"));
    let yaml = kubeadm::render(&k, &facts).expect("render");
    let v: Value = serde_norway::from_str(&yaml).expect("one doc");
    assert_eq!(v["kind"].as_str(), Some("JoinConfiguration"));
    let bt = &v["discovery"]["bootstrapToken"];
    assert_eq!(bt["apiServerEndpoint"].as_str(), Some("192.168.6.10:6443"));
    assert_eq!(bt["token"].as_str(), k.token.as_ref().map(|t| t.expose()));
    assert_eq!(bt["caCertHashes"][0].as_str(), k.ca_cert_hash.as_deref());
    let args = v["nodeRegistration"]["kubeletExtraArgs"]
        .as_sequence()
        .expect("list");
    let node_ip = args
        .iter()
        .find(|a| a["name"].as_str() == Some("node-ip"))
        .expect("node-ip");
    assert_eq!(node_ip["value"].as_str(), Some("10.1.2.3"));
    assert!(v.get("controlPlane").is_none());
}
