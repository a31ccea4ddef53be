//! The build manifest (`/usr/lib/kubebake/manifest.json`, read back by
//! `kubebake inspect`), `/etc/kubebake/release`, and the embedded seed.

use std::io::{Seek, Write};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::capture::BootFiles;
use super::{Plan, Sink};
use crate::component::{self, Fetched};
use crate::profile::Resolved;

/// Where the manifest lives in the root filesystem.
pub const MANIFEST_PATH: &str = kubebake_seed::paths::BUILD_MANIFEST;
/// Where an embedded seed lives.
pub const SEED_PATH: &str = kubebake_seed::paths::SEED_USER_DATA;

/// Where a baked component came from, which says whether its version is known.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Downloaded from the profile's URL and checked against the profile's sha256 pin: the
    /// version is the profile's.
    Pinned,
    /// Downloaded from a URL given with `--component NAME=URL`: what version it is, only the
    /// user knows.
    Url,
    /// A local file given with `--component NAME=PATH`: version unknown.
    LocalFile,
    /// The agent found next to the running `kubebake`: built from the same source, so its
    /// version is kubebake's.
    Bundled,
}

impl Origin {
    /// True when the recorded version is a fact rather than a guess.
    pub fn version_known(self) -> bool {
        matches!(self, Origin::Pinned | Origin::Bundled)
    }

    /// How `inspect` names it.
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Pinned => "pinned download",
            Origin::Url => "URL given with --component",
            Origin::LocalFile => "local file",
            Origin::Bundled => "built with kubebake",
        }
    }
}

/// One baked component.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestComponent {
    /// Component name.
    pub name: String,
    /// Version, when it is known (`null` for local files and URLs given with
    /// `--component`).
    pub version: Option<String>,
    /// Where it came from.
    pub origin: Origin,
    /// sha256 of the file baked (the archive for crictl/cni-plugins).
    pub sha256: String,
    /// URL, or `file:<name>` for local files.
    pub source: String,
}

/// The Kubernetes binaries: their versions make "the Kubernetes version" of an image.
pub const KUBERNETES_BINARIES: &[&str] = &["kubelet", "kubeadm", "kubectl"];

/// What was baked into an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Profile name.
    pub profile: String,
    /// Target arch.
    pub arch: String,
    /// Kubernetes version of the baked binaries: set only when every one of
    /// [`KUBERNETES_BINARIES`] baked is a pinned download and they agree.
    pub kubernetes_version: Option<String>,
    /// The Kubernetes version the profile names (what pinned downloads would be).
    pub profile_kubernetes_version: String,
    /// Kernel version booted from the ESP.
    pub kernel_version: String,
    /// Components baked.
    pub components: Vec<ManifestComponent>,
    /// Kernel command line.
    pub cmdline: String,
    /// SOURCE_DATE_EPOCH of the build.
    pub built_at: i64,
    /// kubebake version that built it.
    pub kubebake_version: String,
    /// Whether a seed is embedded.
    pub embedded_seed: bool,
}

/// Where `c` came from. `component::fetch_all` records local files with the version
/// `local` and their path as source; the agent next to kubebake keeps its path as source
/// but gets kubebake's version; downloads have a URL as source, which is the profile's
/// URL exactly when nothing overrode it.
fn origin(profile: &Resolved, c: &Fetched) -> Origin {
    if !c.source.contains("://") {
        return if c.version == "local" {
            Origin::LocalFile
        } else {
            Origin::Bundled
        };
    }
    let profile_url = profile
        .profile
        .kubernetes
        .components
        .get(&c.name)
        .and_then(|s| s.url.as_deref())
        .map(|t| component::expand(t, &c.version, profile.arch));
    if profile_url.as_deref() == Some(c.source.as_str()) {
        Origin::Pinned
    } else {
        Origin::Url
    }
}

/// The one version of the baked Kubernetes binaries, when every one of them is known.
pub fn kubernetes_version(components: &[ManifestComponent]) -> Option<String> {
    let mut version: Option<&str> = None;
    for c in components
        .iter()
        .filter(|c| KUBERNETES_BINARIES.contains(&c.name.as_str()))
    {
        let v = c.version.as_deref().filter(|_| c.origin.version_known())?;
        if version.is_some_and(|seen| seen != v) {
            return None;
        }
        version = Some(v);
    }
    version.map(str::to_string)
}

/// Build the manifest for `plan`.
pub fn manifest(plan: &Plan<'_>, boot: &BootFiles) -> Manifest {
    let components: Vec<ManifestComponent> = plan
        .components
        .iter()
        .map(|c| {
            let origin = origin(plan.profile, c);
            ManifestComponent {
                name: c.name.clone(),
                version: origin.version_known().then(|| c.version.clone()),
                origin,
                sha256: c.sha256.clone(),
                source: if c.source.contains("://") {
                    c.source.clone()
                } else {
                    let base = c.source.rsplit('/').next().unwrap_or(&c.source);
                    format!("file:{base}")
                },
            }
        })
        .collect();
    Manifest {
        profile: plan.profile.name.clone(),
        arch: plan.profile.arch.as_str().to_string(),
        kubernetes_version: kubernetes_version(&components),
        profile_kubernetes_version: plan
            .profile
            .profile
            .kubernetes
            .version
            .clone()
            .unwrap_or_default(),
        kernel_version: boot.kernel_version.clone(),
        components,
        cmdline: plan.cmdline.to_string(),
        built_at: plan.epoch,
        kubebake_version: env!("CARGO_PKG_VERSION").to_string(),
        embedded_seed: plan.seed.is_some(),
    }
}

/// Bake the manifest, release file and seed.
pub fn bake<W: Write + Seek>(
    sink: &mut Sink<'_, W>,
    plan: &Plan<'_>,
    boot: &BootFiles,
) -> Result<()> {
    let m = manifest(plan, boot);
    let mut json = serde_json::to_vec_pretty(&m).context("serialising the manifest")?;
    json.push(b'\n');
    sink.file(MANIFEST_PATH, 0o644, &json)?;
    // KUBERNETES_VERSION is empty when a binary's version is unknown (a local file).
    let release = format!(
        "PROFILE={}\nARCH={}\nKUBERNETES_VERSION={}\nPROFILE_KUBERNETES_VERSION={}\n\
         KERNEL_VERSION={}\nBUILT_AT={}\nKUBEBAKE_VERSION={}\n",
        m.profile,
        m.arch,
        m.kubernetes_version.as_deref().unwrap_or(""),
        m.profile_kubernetes_version,
        m.kernel_version,
        m.built_at,
        m.kubebake_version
    );
    sink.file(kubebake_seed::paths::RELEASE, 0o644, release.as_bytes())?;
    if let Some(seed) = plan.seed {
        sink.dir(kubebake_seed::paths::SEED_DIR, 0o700)?;
        sink.file(SEED_PATH, 0o600, seed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(name: &str, version: &str, source: &str) -> Fetched {
        Fetched {
            name: name.into(),
            version: version.into(),
            sha256: "00".repeat(32),
            source: source.into(),
            path: "/nonexistent".into(),
        }
    }

    fn baked(c: &Fetched, origin: Origin) -> ManifestComponent {
        ManifestComponent {
            name: c.name.clone(),
            version: origin.version_known().then(|| c.version.clone()),
            origin,
            sha256: c.sha256.clone(),
            source: c.source.clone(),
        }
    }

    #[test]
    fn versions_are_known_only_for_pinned_downloads_and_the_bundled_agent() {
        let r = crate::profile::resolve(Some("generic-amd64"), &[]).expect("profile");
        let tmpl = r.profile.kubernetes.components["kubelet"]
            .url
            .clone()
            .expect("kubelet url");
        let pinned = fetched(
            "kubelet",
            "1.35.1",
            &component::expand(&tmpl, "1.35.1", r.arch),
        );
        let url = fetched("kubelet", "1.35.1", "https://mirror.example/kubelet");
        let local = fetched("kubelet", "local", "/home/me/kubelet");
        let agent = fetched(
            component::AGENT,
            env!("CARGO_PKG_VERSION"),
            "/x/kubebake-firstboot",
        );
        assert_eq!(origin(&r, &pinned), Origin::Pinned);
        assert_eq!(origin(&r, &url), Origin::Url);
        assert_eq!(origin(&r, &local), Origin::LocalFile);
        assert_eq!(origin(&r, &agent), Origin::Bundled);
        assert!(Origin::Pinned.version_known() && Origin::Bundled.version_known());
        assert!(!Origin::Url.version_known() && !Origin::LocalFile.version_known());
    }

    #[test]
    fn the_kubernetes_version_needs_every_binary_pinned_and_agreeing() {
        let c = |name: &str, v: &str, o| baked(&fetched(name, v, "x"), o);
        let all = |v2: &str, o2| {
            vec![
                c("kubelet", "1.35.1", Origin::Pinned),
                c("kubeadm", v2, o2),
                c("kubectl", "1.35.1", Origin::Pinned),
                c("crictl", "local", Origin::LocalFile),
            ]
        };
        assert_eq!(
            kubernetes_version(&all("1.35.1", Origin::Pinned)).as_deref(),
            Some("1.35.1"),
            "crictl's version is not the Kubernetes version"
        );
        assert_eq!(kubernetes_version(&all("local", Origin::LocalFile)), None);
        assert_eq!(kubernetes_version(&all("1.35.1", Origin::Url)), None);
        assert_eq!(kubernetes_version(&all("1.34.0", Origin::Pinned)), None);
    }
}
