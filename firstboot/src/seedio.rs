//! Adapter between the agent and the `kubebake-seed` crate: loads the stored
//! seed (with the per-node override for a local MAC), registers its secrets
//! for redaction, and turns it into the agent's plans (host settings,
//! advertise choice, PKI files, kubeadm config).

use crate::datasource::SeedFiles;
use crate::host::{FileSpec, HostPlan, UserSpec};
use crate::kubeadm::PkiFile;
use crate::network::Want;
use kubebake_seed::{Advertise, Kubernetes, Seed};

/// A parsed, validated seed.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The seed.
    pub seed: Seed,
    /// Non-fatal remarks (unsupported cloud-init keys, …).
    pub warnings: Vec<String>,
    /// networkd files from `network-config`, when given.
    pub network_files: Vec<(String, String)>,
    /// The override merged in, if any (`nodes/<mac>.yaml`).
    pub node_override: Option<String>,
}

/// Registers every secret of the seed for redaction.
pub fn register_secrets(k: &Kubernetes) {
    use crate::redact::register_secret;
    if let Some(t) = &k.token {
        register_secret(t.expose());
    }
    if let Some(c) = &k.certificate_key {
        register_secret(c.expose());
    }
    if let Some(p) = &k.pki {
        for f in p.files() {
            if f.secret {
                register_secret(f.contents);
            }
        }
    }
}

/// Parses the seed files; `macs` select a `nodes/<mac>.yaml` override.
/// The error lists every problem, one per line, redacted.
pub fn load(files: &SeedFiles, macs: &[String]) -> Result<Loaded, String> {
    let redacted = |e: &dyn std::fmt::Display| crate::redact::redact(&e.to_string());
    let text = String::from_utf8_lossy(&files.user_data).into_owned();
    let mut doc = text.clone();
    let mut node_override = None;
    for mac in macs {
        let Some(want) = kubebake_seed::node_override_name(mac) else {
            continue;
        };
        if let Some((name, body)) = files
            .node_overrides
            .iter()
            .find(|(n, _)| format!("nodes/{n}") == want)
        {
            doc = kubebake_seed::merge_override(
                &text,
                "user-data",
                &String::from_utf8_lossy(body),
                &want,
            )
            .map_err(|e| redacted(&e))?;
            node_override = Some(format!("nodes/{name}"));
            break;
        }
    }
    let parsed = kubebake_seed::parse(&doc, "user-data").map_err(|e| redacted(&e))?;
    if let Some(k) = &parsed.seed.kubernetes {
        register_secrets(k);
    }
    let network_files = match &files.network_config {
        Some(n) => {
            let nc = kubebake_seed::network::parse(&String::from_utf8_lossy(n), "network-config")
                .map_err(|e| redacted(&e))?;
            kubebake_seed::network::render_networkd(&nc)
        }
        None => Vec::new(),
    };
    Ok(Loaded {
        seed: parsed.seed,
        warnings: parsed.warnings,
        network_files,
        node_override,
    })
}

/// The host-phase plan.
pub fn host_plan(l: &Loaded) -> HostPlan {
    let s = &l.seed;
    HostPlan {
        hostname: s.hostname.clone(),
        users: s
            .users
            .iter()
            .map(|u| UserSpec {
                name: u.name.clone(),
                groups: u.groups.clone(),
                sudo: u.sudo.clone(),
                keys: u.ssh_authorized_keys.clone(),
                shell: u.shell.clone(),
            })
            .collect(),
        default_keys: s.ssh_authorized_keys.clone(),
        files: s
            .write_files
            .iter()
            .map(|f| FileSpec {
                path: f.path.clone(),
                content: f.content.clone(),
                mode: f.permissions,
                owner: f.owner.clone(),
                append: f.append,
            })
            .collect(),
        timezone: s.timezone.clone(),
        ntp: s
            .ntp
            .as_ref()
            .filter(|n| n.enabled)
            .map(|n| n.servers.iter().chain(n.pools.iter()).cloned().collect()),
        network_files: l.network_files.clone(),
        mirrors: s
            .kubernetes
            .as_ref()
            .map(|k| kubebake_seed::containerd::hosts_toml(&k.registry_mirrors))
            .unwrap_or_default(),
    }
}

/// What address to advertise.
pub fn want(k: &Kubernetes) -> Want {
    match &k.advertise {
        Some(Advertise::Interface(i)) => Want::Interface(i.clone()),
        Some(Advertise::Cidr(c)) => Want::Cidr(c.addr, c.prefix),
        None => Want::Default,
    }
}

/// PKI files to place before init / control-plane join.
pub fn pki_files(k: &Kubernetes) -> Vec<PkiFile> {
    k.pki
        .as_ref()
        .map(|p| {
            p.files()
                .into_iter()
                .map(|f| PkiFile {
                    path: f.path.to_string(),
                    contents: f.contents.to_string(),
                    secret: f.secret,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The seed's Kubernetes version, as text.
pub fn seed_version(k: &Kubernetes) -> Option<String> {
    k.kubernetes_version
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.patch))
}

/// Renders the kubeadm config.
pub fn render(
    k: &Kubernetes,
    node_name: &str,
    advertise: Option<std::net::IpAddr>,
    kubeadm_version: &str,
) -> Result<(String, &'static str), String> {
    let v: kubebake_seed::Version = kubeadm_version
        .trim()
        .parse()
        .map_err(|e: kubebake_seed::VersionError| e.to_string())?;
    let api = kubebake_seed::kubeadm::api_version_for(v).map_err(|e| e.to_string())?;
    let mut facts = kubebake_seed::kubeadm::NodeFacts::new(node_name, v);
    facts.advertise_address = advertise;
    let yaml = kubebake_seed::kubeadm::render(k, &facts)
        .map_err(|e| crate::redact::redact(&e.to_string()))?;
    Ok((yaml, api.as_str()))
}

/// Whether the role runs `kubeadm init`.
pub fn is_init(k: &Kubernetes) -> bool {
    k.role == kubebake_seed::Role::Init
}

/// Whether the role runs a control plane (ports 6443 and PKI).
pub fn is_control_plane(k: &Kubernetes) -> bool {
    k.role != kubebake_seed::Role::Worker
}

/// The CNI manifest to apply after init, if any.
pub fn cni_manifest(k: &Kubernetes) -> Option<String> {
    match &k.cni {
        kubebake_seed::Cni::Flannel => Some(kubebake_seed::paths::FLANNEL_MANIFEST.to_string()),
        kubebake_seed::Cni::None => None,
        kubebake_seed::Cni::Path(p) => Some(p.clone()),
    }
}

/// The Kubernetes node name: the seed's hostname, else the first configured
/// hostname that names this node (`/etc/hostname`, then the kernel's), else
/// `node-<machine-id prefix>`. An empty `/etc/hostname` (as baked) and the
/// fallback names `localhost`/`(none)` never become node names: a fleet of
/// nodes all called `localhost` cannot join one cluster.
pub fn node_name(
    seed: Option<&str>,
    hostnames: &[Option<String>],
    machine_id: Option<&str>,
) -> String {
    if let Some(h) = seed {
        return h.to_string();
    }
    let usable = hostnames
        .iter()
        .flatten()
        .map(|h| h.trim().to_ascii_lowercase())
        .find(|h| {
            !h.is_empty() && h != "localhost" && h != "(none)" && !h.starts_with("localhost.")
        });
    usable.unwrap_or_else(|| {
        let id: String = machine_id
            .unwrap_or_default()
            .trim()
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(12)
            .collect();
        if id.is_empty() {
            "node".to_string()
        } else {
            format!("node-{id}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "#cloud-config\nhostname: worker-1\nkubernetes:\n  role: worker\n  endpoint: 192.168.6.10:6443\n  token: qwerty.0123456789qwerty\n  ca_cert_hash: sha256:8d1f4e0c2b7a9d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6\n  advertise: { interface: eth1 }\n  registry_mirrors: { docker.io: [\"https://mirror.example\"] }\n";

    fn files() -> SeedFiles {
        SeedFiles {
            user_data: SEED.as_bytes().to_vec(),
            meta_data: None,
            network_config: Some(b"version: 2\nethernets:\n  eth1:\n    dhcp4: true\n".to_vec()),
            node_overrides: vec![(
                "52-54-00-12-34-56.yaml".into(),
                b"hostname: worker-9\n".to_vec(),
            )],
            source: "test".into(),
        }
    }

    #[test]
    fn override_for_a_local_mac() {
        let l = load(
            &files(),
            &["aa:bb:cc:dd:ee:ff".into(), "52:54:00:12:34:56".into()],
        )
        .expect("load");
        assert_eq!(l.seed.hostname.as_deref(), Some("worker-9"));
        assert_eq!(
            l.node_override.as_deref(),
            Some("nodes/52-54-00-12-34-56.yaml")
        );
        let l = load(&files(), &["aa:bb:cc:dd:ee:ff".into()]).expect("load");
        assert_eq!(l.seed.hostname.as_deref(), Some("worker-1"));
        assert_eq!(l.node_override, None);
    }

    #[test]
    fn plans_and_secrets() {
        let l = load(&files(), &[]).expect("load");
        // the token is registered for redaction as soon as the seed is loaded
        assert_eq!(
            crate::redact::redact("x qwerty.0123456789qwerty"),
            "x <redacted>"
        );
        let k = l.seed.kubernetes.as_ref().expect("k8s");
        assert_eq!(want(k), Want::Interface("eth1".into()));
        assert!(!is_init(k) && !is_control_plane(k));
        let plan = host_plan(&l);
        assert_eq!(plan.hostname.as_deref(), Some("worker-1"));
        assert!(!plan.network_files.is_empty());
        assert_eq!(plan.mirrors.len(), 1);
        assert!(plan.mirrors[0].0.ends_with("/docker.io/hosts.toml"));
        let (yaml, api) = render(
            k,
            "worker-1",
            Some("192.168.6.21".parse().expect("ip")),
            "v1.35.1",
        )
        .expect("render");
        assert_eq!(api, "kubeadm.k8s.io/v1beta4");
        assert!(yaml.contains("192.168.6.21") && yaml.contains("JoinConfiguration"));
        assert!(!yaml.contains("unsafe"));
        let (_, api) = render(k, "worker-1", None, "v1.30.4").expect("render");
        assert_eq!(api, "kubeadm.k8s.io/v1beta3");
    }

    #[test]
    fn invalid_seed_errors_are_redacted() {
        let mut f = files();
        f.user_data = SEED
            .replace("hostname: worker-1", "hostname: Bad_Name")
            .into_bytes();
        let e = load(&f, &[]).expect_err("invalid");
        assert!(e.contains("hostname"), "{e}");
        assert!(!e.contains("0123456789qwerty"), "{e}");
    }

    #[test]
    fn node_name_prefers_seed_then_real_hostnames_then_machine_id() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(node_name(Some("w1"), &[some("other")], None), "w1");
        // The baked /etc/hostname is empty: fall through to the kernel's.
        assert_eq!(
            node_name(None, &[some("\n"), some("Edge-7\n")], None),
            "edge-7"
        );
        // Only fallback names: derive one from the machine-id.
        assert_eq!(
            node_name(
                None,
                &[some(""), some("localhost\n")],
                Some("0123456789abcdef0123456789abcdef\n")
            ),
            "node-0123456789ab"
        );
        assert_eq!(node_name(None, &[None, some("(none)")], None), "node");
    }
}
