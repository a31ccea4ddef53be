//! Components: pinned downloads (kubelet, kubeadm, kubectl, crictl, optional
//! cni-plugins) and the first-boot agent, with `--component` overrides.
//!
//! `--component NAME=PATH` uses a local file as is (its sha256 is recorded in
//! the manifest). `--component NAME=URL` fetches from another URL but still
//! verifies the profile's pinned sha256 (mirrors); `NAME=URL#sha256=HEX` pins
//! a different hash. A URL for a component the profile does not pin must carry
//! `#sha256=`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::cache::{normalize_sha256, sha256_file, Cache};
use crate::profile::{Arch, Resolved};
pub use crate::profile::{AGENT, KNOWN};

/// A `--component` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Override {
    /// Local file, used as is.
    File(PathBuf),
    /// Other URL, with an optional pinned sha256.
    Url {
        /// Where to download from.
        url: String,
        /// Hash to verify (else the profile's).
        sha256: Option<String>,
    },
}

/// A component ready to bake.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Component name.
    pub name: String,
    /// Version (`local` for local files).
    pub version: String,
    /// sha256 of the file used.
    pub sha256: String,
    /// URL or local path it came from.
    pub source: String,
    /// Local file holding it (a cache entry or the user's file).
    pub path: PathBuf,
}

/// Parse every `--component NAME=VALUE`.
pub fn parse_overrides(args: &[String]) -> Result<BTreeMap<String, Override>> {
    let mut out = BTreeMap::new();
    for a in args {
        let (name, value) = a.split_once('=').with_context(|| {
            format!("--component {a}: expected NAME=PATH or NAME=URL, e.g. kubelet=./kubelet")
        })?;
        if !KNOWN.contains(&name) {
            bail!(
                "--component {a}: unknown component `{name}`; known: {}",
                KNOWN.join(", ")
            );
        }
        let ov = if value.starts_with("https://") || value.starts_with("http://") {
            match value.split_once("#sha256=") {
                Some((url, h)) => Override::Url {
                    url: url.to_string(),
                    sha256: Some(normalize_sha256(h).with_context(|| format!("--component {a}"))?),
                },
                None => Override::Url {
                    url: value.to_string(),
                    sha256: None,
                },
            }
        } else {
            let p = PathBuf::from(value);
            if !p.is_file() {
                bail!(
                    "--component {a}: {} is not a file; give an existing file or a URL",
                    p.display()
                );
            }
            Override::File(p)
        };
        if out.insert(name.to_string(), ov).is_some() {
            bail!("--component {name} given twice; keep one");
        }
    }
    Ok(out)
}

/// Expand `{version}` and `{arch}` in a URL template.
pub fn expand(template: &str, version: &str, arch: Arch) -> String {
    template
        .replace("{version}", version)
        .replace("{arch}", arch.as_str())
}

fn local(name: &str, p: &std::path::Path) -> Result<Fetched> {
    Ok(Fetched {
        name: name.to_string(),
        version: "local".to_string(),
        sha256: sha256_file(p)?,
        source: std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string(),
        path: p.to_path_buf(),
    })
}

/// Resolve and fetch every component (profile pins + overrides + the agent).
pub fn fetch_all(
    r: &Resolved,
    overrides: &BTreeMap<String, Override>,
    cache: &Cache,
) -> Result<Vec<Fetched>> {
    let k8s = &r.profile.kubernetes;
    let k8s_version = k8s.version.clone().unwrap_or_default();
    let mut out = Vec::new();
    // Fixed order (kubelet first), then anything else the profile pins.
    let mut names: Vec<&str> = KNOWN
        .iter()
        .copied()
        .filter(|n| *n != AGENT && (k8s.components.contains_key(*n) || overrides.contains_key(*n)))
        .collect();
    for n in k8s.components.keys() {
        if !names.contains(&n.as_str()) {
            names.push(n);
        }
    }
    for name in names {
        let spec = k8s.components.get(name);
        let version = spec
            .and_then(|s| s.version.clone())
            .unwrap_or_else(|| k8s_version.clone());
        let pinned = match spec.and_then(|s| s.sha256.get(r.arch.as_str())) {
            Some(h) => Some(normalize_sha256(h).with_context(|| {
                format!(
                    "profile {}: kubernetes.components.{name}.sha256.{}",
                    r.name,
                    r.arch.as_str()
                )
            })?),
            None => None,
        };
        let (url, sha) = match overrides.get(name) {
            Some(Override::File(p)) => {
                out.push(local(name, p)?);
                continue;
            }
            Some(Override::Url { url, sha256 }) => (url.clone(), sha256.clone().or(pinned)),
            None => {
                let tmpl = spec.and_then(|s| s.url.clone()).unwrap_or_default();
                (expand(&tmpl, &version, r.arch), pinned)
            }
        };
        let sha = sha.with_context(|| {
            format!(
                "component {name} has no sha256 for {}; add kubernetes.components.{name}.sha256.{} \
                 to the profile or pass --component {name}=URL#sha256=HEX",
                r.arch.as_str(),
                r.arch.as_str()
            )
        })?;
        let path = cache.fetch(name, &url, &sha)?;
        out.push(Fetched {
            name: name.to_string(),
            version,
            sha256: sha,
            source: url,
            path,
        });
    }
    out.push(agent(r.arch, overrides.get(AGENT))?);
    Ok(out)
}

/// The first-boot agent: `--component kubebake-firstboot=PATH`, or the binary
/// next to the running `kubebake` when building for the host arch.
fn agent(arch: Arch, ov: Option<&Override>) -> Result<Fetched> {
    match ov {
        Some(Override::File(p)) => return local(AGENT, p),
        Some(Override::Url { .. }) => bail!(
            "--component {AGENT}=URL is not supported; build the agent for the target and pass \
             --component {AGENT}=/path/to/{AGENT}"
        ),
        None => {}
    }
    if Arch::host() != Some(arch) {
        bail!(
            "no {AGENT} binary for {}: build it (cargo build --release -p {AGENT} \
             --target {}-unknown-linux-gnu) and pass --component {AGENT}=PATH",
            arch.as_str(),
            match arch {
                Arch::Amd64 => "x86_64",
                Arch::Arm64 => "aarch64",
            }
        );
    }
    let exe = std::env::current_exe().context("locating the running kubebake binary")?;
    let p = exe.with_file_name(AGENT);
    if !p.is_file() {
        bail!(
            "{} not found next to kubebake; build it (cargo build -p {AGENT}) or pass \
             --component {AGENT}=/path/to/{AGENT}",
            p.display()
        );
    }
    let mut f = local(AGENT, &p)?;
    f.version = env!("CARGO_PKG_VERSION").to_string();
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_paths_urls_and_hashes() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("kubelet");
        std::fs::write(&f, b"x").expect("w");
        let h = "ab".repeat(32);
        let o = parse_overrides(&[
            format!("kubelet={}", f.display()),
            "kubeadm=https://mirror.example/kubeadm".into(),
            format!("kubectl=https://mirror.example/kubectl#sha256={h}"),
        ])
        .expect("parse");
        assert_eq!(o["kubelet"], Override::File(f));
        assert_eq!(
            o["kubeadm"],
            Override::Url {
                url: "https://mirror.example/kubeadm".into(),
                sha256: None
            }
        );
        assert_eq!(
            o["kubectl"],
            Override::Url {
                url: "https://mirror.example/kubectl".into(),
                sha256: Some(h)
            }
        );
        assert!(parse_overrides(&["etcd=/x".into()]).is_err());
        assert!(parse_overrides(&["kubelet=/does/not/exist".into()]).is_err());
        assert!(parse_overrides(&["kubelet".into()]).is_err());
    }

    #[test]
    fn templates_expand() {
        assert_eq!(
            expand("https://x/v{version}/{arch}/kubelet", "1.35.1", Arch::Arm64),
            "https://x/v1.35.1/arm64/kubelet"
        );
    }
}
