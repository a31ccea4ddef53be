//! The build manifest (`/usr/lib/kubebake/manifest.json`, read back by
//! `kubebake inspect`), `/etc/kubebake/release`, and the embedded seed.

use std::io::{Seek, Write};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::capture::BootFiles;
use super::{Plan, Sink};

/// Where the manifest lives in the root filesystem.
pub const MANIFEST_PATH: &str = kubebake_seed::paths::BUILD_MANIFEST;
/// Where an embedded seed lives.
pub const SEED_PATH: &str = kubebake_seed::paths::SEED_USER_DATA;

/// One baked component.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestComponent {
    /// Component name.
    pub name: String,
    /// Version (`local` for `--component NAME=PATH`).
    pub version: String,
    /// sha256 of the file baked (the archive for crictl/cni-plugins).
    pub sha256: String,
    /// URL, or `file:<name>` for local files.
    pub source: String,
}

/// What was baked into an image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Profile name.
    pub profile: String,
    /// Target arch.
    pub arch: String,
    /// Kubernetes version of the profile.
    pub kubernetes_version: String,
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

/// Build the manifest for `plan`.
pub fn manifest(plan: &Plan<'_>, boot: &BootFiles) -> Manifest {
    let components = plan
        .components
        .iter()
        .map(|c| ManifestComponent {
            name: c.name.clone(),
            version: c.version.clone(),
            sha256: c.sha256.clone(),
            source: if c.source.contains("://") {
                c.source.clone()
            } else {
                let base = c.source.rsplit('/').next().unwrap_or(&c.source);
                format!("file:{base}")
            },
        })
        .collect();
    Manifest {
        profile: plan.profile.name.clone(),
        arch: plan.profile.arch.as_str().to_string(),
        kubernetes_version: plan
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
    let release = format!(
        "PROFILE={}\nARCH={}\nKUBERNETES_VERSION={}\nKERNEL_VERSION={}\nBUILT_AT={}\nKUBEBAKE_VERSION={}\n",
        m.profile, m.arch, m.kubernetes_version, m.kernel_version, m.built_at, m.kubebake_version
    );
    sink.file(kubebake_seed::paths::RELEASE, 0o644, release.as_bytes())?;
    if let Some(seed) = plan.seed {
        sink.dir(kubebake_seed::paths::SEED_DIR, 0o700)?;
        sink.file(SEED_PATH, 0o600, seed)?;
    }
    Ok(())
}
