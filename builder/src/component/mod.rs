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

mod agent;
mod arch;

use crate::cache::{normalize_sha256, sha256_file, Cache, FetchError};
use crate::profile::{Arch, Resolved, Unpinned};
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

/// Where one component comes from.
enum Source {
    /// `--component NAME=PATH`.
    Local(PathBuf),
    /// A download, verified against `sha256`.
    Download { url: String, sha256: String },
}

/// One component to fetch, not fetched yet.
struct Planned {
    name: String,
    version: String,
    from: Source,
}

/// The components to fetch besides the agent: the fixed order (kubelet
/// first) of those the profile pins or `--component` gives, then the rest.
fn names<'a>(r: &'a Resolved, overrides: &'a BTreeMap<String, Override>) -> Vec<&'a str> {
    let pinned = &r.profile.kubernetes.components;
    let mut names: Vec<&str> = KNOWN
        .iter()
        .copied()
        .filter(|n| *n != AGENT && (pinned.contains_key(*n) || overrides.contains_key(*n)))
        .collect();
    for n in pinned.keys() {
        if !names.contains(&n.as_str()) && n != AGENT {
            names.push(n);
        }
    }
    names
}

/// Decide where each component comes from and check every local file's
/// arch, before anything is downloaded; every component without a sha256
/// pin is reported in one error.
fn plan(r: &Resolved, overrides: &BTreeMap<String, Override>) -> Result<Vec<Planned>> {
    let k8s = &r.profile.kubernetes;
    let arch = r.arch.as_str();
    let mut planned = Vec::new();
    let mut unpinned = Vec::new();
    for name in names(r, overrides) {
        let spec = k8s.components.get(name);
        let version = spec
            .and_then(|s| s.version.clone())
            .or_else(|| k8s.version.clone())
            .unwrap_or_default();
        let pinned = match spec.and_then(|s| s.sha256.get(arch)) {
            Some(h) => Some(normalize_sha256(h).with_context(|| {
                format!(
                    "profile {}: kubernetes.components.{name}.sha256.{arch}",
                    r.name
                )
            })?),
            None => None,
        };
        let (url, sha) = match overrides.get(name) {
            Some(Override::File(p)) => {
                arch::check(name, p, &format!("--component {name}={}", p.display()), r)?;
                planned.push(Planned {
                    name: name.to_string(),
                    version,
                    from: Source::Local(p.clone()),
                });
                continue;
            }
            Some(Override::Url { url, sha256 }) => (url.clone(), sha256.clone().or(pinned)),
            None => {
                let tmpl = spec.and_then(|s| s.url.clone()).unwrap_or_default();
                (expand(&tmpl, &version, r.arch), pinned)
            }
        };
        match (sha, r.unpinned.get(name)) {
            (Some(sha256), _) => planned.push(Planned {
                name: name.to_string(),
                version,
                from: Source::Download { url, sha256 },
            }),
            (None, Some(u)) => unpinned.push((name, u)),
            (None, None) => bail!(
                "component {name} has no sha256 for {arch}; add kubernetes.components.{name}.sha256.{arch} \
                 to the profile or pass --component {name}=URL#sha256=HEX"
            ),
        }
    }
    if !unpinned.is_empty() {
        return Err(unpinned_error(&unpinned, r.arch));
    }
    Ok(planned)
}

/// One error for every component whose version has no pin.
fn unpinned_error(list: &[(&str, &Unpinned)], arch: Arch) -> anyhow::Error {
    let a = arch.as_str();
    // Group by (version, key, origin): "kubelet, kubeadm 1.34.0 (kubernetes.version, set by …)".
    let mut groups: Vec<(Vec<&str>, &Unpinned)> = Vec::new();
    for (name, u) in list {
        match groups
            .iter_mut()
            .find(|(_, g)| g.version == u.version && g.key == u.key && g.origin == u.origin)
        {
            Some((names, _)) => names.push(name),
            None => groups.push((vec![name], u)),
        }
    }
    let what: Vec<String> = groups
        .iter()
        .map(|(names, u)| {
            format!(
                "{} {} ({}, set by {})",
                names.join(", "),
                u.version,
                u.key,
                u.origin
            )
        })
        .collect();
    let (first, u) = list[0];
    let others: Vec<&str> = list[1..].iter().map(|(n, _)| *n).collect();
    let and_others = if others.is_empty() {
        String::new()
    } else {
        format!(" (and the same for {})", others.join(", "))
    };
    anyhow::anyhow!(
        "no sha256 pin on {a} for {}: kubebake's release table pins {first} {}; use one of \
         those versions, set kubernetes.components.{first}.sha256.{a}{and_others}, or pass \
         --component {first}=PATH{and_others}",
        what.join("; "),
        u.known.join(", ")
    )
}

/// One error for every failed download, with the offline hint when any
/// URL could not be reached.
fn download_error(failed: &[(String, String, String, FetchError)]) -> anyhow::Error {
    let mut parts = Vec::new();
    let mut offline = Vec::new();
    for (name, url, sha256, e) in failed {
        parts.push(match e {
            FetchError::Unreachable(cause) => {
                offline.push(format!("--component {name}=/path/to/{name}"));
                format!("{name} from {url}: {cause}")
            }
            FetchError::Mismatch { got } => format!(
                "downloaded {name} from {url} has sha256 {got} but the profile pins {sha256}; \
                 fix the pinned sha256 or the URL"
            ),
            FetchError::Local(e) => format!("{name} from {url}: {e:#}"),
        });
    }
    let hint = if offline.is_empty() {
        String::new()
    } else {
        format!("; offline or air-gapped? pass {}", offline.join(" "))
    };
    match (parts.len(), &failed[0].3) {
        (1, FetchError::Mismatch { .. }) => anyhow::anyhow!("{}", parts[0]),
        (1, _) => anyhow::anyhow!("downloading {}{hint}", parts[0]),
        (n, _) => anyhow::anyhow!("{n} downloads failed: {}{hint}", parts.join("; ")),
    }
}

/// Resolve and fetch every component (profile pins + overrides + the
/// agent). The agent and every local file are checked first, then every
/// download is tried and all failures are reported together.
pub fn fetch_all(
    r: &Resolved,
    overrides: &BTreeMap<String, Override>,
    cache: &Cache,
) -> Result<Vec<Fetched>> {
    let agent = agent::locate(r, overrides.get(AGENT))?;
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for p in plan(r, overrides)? {
        match p.from {
            Source::Local(path) => out.push(local(&p.name, &path)?),
            Source::Download { url, sha256 } => match cache.fetch(&p.name, &url, &sha256) {
                Ok(path) => {
                    arch::check(&p.name, &path, &format!("{} from {url}", p.name), r)?;
                    out.push(Fetched {
                        name: p.name,
                        version: p.version,
                        sha256,
                        source: url,
                        path,
                    });
                }
                Err(e) => failed.push((p.name, url, sha256, e)),
            },
        }
    }
    if !failed.is_empty() {
        return Err(download_error(&failed));
    }
    out.push(agent);
    Ok(out)
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
