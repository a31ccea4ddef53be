//! Seed datasources, tried in a fixed order: kernel cmdline → boot partition
//! → CIDATA volume → embedded → VMware guestinfo → EC2 IMDSv2.
//!
//! The platform is read from DMI first, so the network sources are only
//! probed on the platform that serves them (no long timeouts elsewhere).

pub mod bootpart;
pub mod cidata;
pub mod cmdline;
pub mod ec2;
pub mod embedded;
pub mod ovfenv;
pub mod vmware;

use crate::config::Config;
use kubebake_seed::limits::{read_capped, SeedFile, NODE_OVERRIDES_TOTAL};
use std::path::{Path, PathBuf};

/// The NoCloud file set of a seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedFiles {
    /// `user-data` (the `#cloud-config` document).
    pub user_data: Vec<u8>,
    /// `meta-data`, when the source has one.
    pub meta_data: Option<Vec<u8>>,
    /// `network-config`, when the source has one.
    pub network_config: Option<Vec<u8>>,
    /// Per-node overrides found beside the seed: (`<mac>.yaml`, content).
    pub node_overrides: Vec<(String, Vec<u8>)>,
    /// Human name of the source (`cidata:/dev/sdb`, `ec2`, …).
    pub source: String,
}

/// The platform, from DMI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// VMware (vSphere, Workstation, Fusion).
    Vmware,
    /// Amazon EC2 (Xen or Nitro).
    Ec2,
    /// Anything else (metal, QEMU, Raspberry Pi, …).
    Other,
}

/// Datasource errors.
#[derive(Debug, thiserror::Error)]
pub enum DsError {
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// HTTP failed.
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    /// A seed file is over its cap (`kubebake_seed::limits`).
    #[error("{what}: {}", .kind.too_large())]
    TooLarge {
        /// File or URL concerned.
        what: String,
        /// Which seed file it is.
        kind: SeedFile,
    },
    /// Decoding (base64, gzip, FAT, …) failed.
    #[error("{what}: {why}")]
    Decode {
        /// What was decoded.
        what: String,
        /// Why it failed.
        why: String,
    },
    /// An external command failed.
    #[error("{cmd}: {why}")]
    Command {
        /// Command line.
        cmd: String,
        /// Why it failed.
        why: String,
    },
}

impl DsError {
    /// Maps an HTTP error on a seed file's URL (its cap named as such).
    pub fn http(e: crate::http::HttpError, kind: SeedFile) -> Self {
        match e {
            crate::http::HttpError::TooLarge { url, .. } => DsError::TooLarge { what: url, kind },
            e => DsError::Http(e),
        }
    }
}

/// Reads a seed file (at most its cap), `None` when it does not exist.
pub fn read_optional(path: &Path, kind: SeedFile) -> Result<Option<Vec<u8>>, DsError> {
    match std::fs::File::open(path).and_then(|f| read_capped(f, kind)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => Err(DsError::TooLarge {
            what: path.display().to_string(),
            kind,
        }),
        Err(source) => Err(DsError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Adds one `nodes/<mac>.yaml` to `overrides`, keeping all of them
/// together under [`NODE_OVERRIDES_TOTAL`].
pub fn push_override(
    overrides: &mut Vec<(String, Vec<u8>)>,
    name: String,
    body: Vec<u8>,
    dir: &str,
) -> Result<(), DsError> {
    let total: u64 = overrides.iter().map(|(_, b)| b.len() as u64).sum();
    if total + body.len() as u64 > NODE_OVERRIDES_TOTAL {
        return Err(DsError::Decode {
            what: format!("{dir}/nodes"),
            why: format!(
                "the node overrides together are larger than {}; fix: keep only this fleet's nodes",
                kubebake_seed::limits::human(NODE_OVERRIDES_TOTAL)
            ),
        });
    }
    overrides.push((name, body));
    Ok(())
}

/// Reads a NoCloud directory: `user-data` is required, the rest optional;
/// `nodes/<mac>.yaml` files are collected as per-node overrides. Every
/// file is read up to its cap only.
pub fn read_nocloud_dir(dir: &Path, source: &str) -> Result<Option<SeedFiles>, DsError> {
    let Some(user_data) = read_optional(&dir.join("user-data"), SeedFile::UserData)? else {
        return Ok(None);
    };
    let mut node_overrides = Vec::new();
    let nodes = dir.join("nodes");
    if let Ok(rd) = std::fs::read_dir(&nodes) {
        let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let n = n.to_string_lossy().into_owned();
            if n.ends_with(".yaml") {
                if let Some(b) = read_optional(&nodes.join(&n), SeedFile::NodeOverride)? {
                    push_override(&mut node_overrides, n, b, &dir.display().to_string())?;
                }
            }
        }
    }
    Ok(Some(SeedFiles {
        user_data,
        meta_data: read_optional(&dir.join("meta-data"), SeedFile::MetaData)?,
        network_config: read_optional(&dir.join("network-config"), SeedFile::NetworkConfig)?,
        node_overrides,
        source: source.to_string(),
    }))
}

fn dmi(cfg: &Config, key: &str) -> String {
    std::fs::read_to_string(cfg.path(format!("/sys/class/dmi/id/{key}")))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Detects the platform from `/sys/class/dmi/id/{sys_vendor,product_name,
/// chassis_asset_tag,product_uuid}` (and `bios_vendor` for Xen-era EC2).
pub fn detect_platform(cfg: &Config) -> Platform {
    let vendor = dmi(cfg, "sys_vendor");
    let product = dmi(cfg, "product_name");
    let asset = dmi(cfg, "chassis_asset_tag");
    let uuid = dmi(cfg, "product_uuid").to_ascii_lowercase();
    let bios = dmi(cfg, "bios_vendor");
    if vendor.starts_with("VMware") || product.starts_with("VMware") {
        return Platform::Vmware;
    }
    if vendor.contains("Amazon EC2")
        || asset.contains("Amazon EC2")
        || (uuid.starts_with("ec2") && (bios.contains("Amazon") || product.contains("HVM")))
    {
        return Platform::Ec2;
    }
    Platform::Other
}

/// The names of the sources tried for a platform, in order.
pub fn order(platform: Platform) -> Vec<&'static str> {
    let mut v = vec!["cmdline", "bootpart", "cidata", "embedded"];
    match platform {
        Platform::Vmware => v.push("vmware"),
        Platform::Ec2 => v.push("ec2"),
        Platform::Other => {}
    }
    v
}

/// Result of a search: the seed, plus what each source said.
#[derive(Debug)]
pub struct Acquired {
    /// The seed found, if any.
    pub seed: Option<SeedFiles>,
    /// One line per tried source (`cidata: not found`, …), redacted.
    pub tried: Vec<String>,
}

/// Tries every source in order and returns the first seed found.
pub fn acquire(cfg: &Config, platform: Platform) -> Acquired {
    let mut tried = Vec::new();
    for name in order(platform) {
        let r = match name {
            "cmdline" => cmdline::fetch(cfg),
            "bootpart" => bootpart::fetch(cfg),
            "cidata" => cidata::fetch(cfg),
            "embedded" => embedded::fetch(cfg),
            "vmware" => vmware::fetch(cfg),
            _ => ec2::fetch(cfg),
        };
        match r {
            Ok(Some(seed)) => {
                tried.push(format!("{name}: found"));
                return Acquired {
                    seed: Some(seed),
                    tried,
                };
            }
            Ok(None) => tried.push(format!("{name}: none")),
            Err(e) => {
                tracing::warn!("datasource {name}: {e}");
                tried.push(format!("{name}: {}", crate::redact::redact(&e.to_string())));
            }
        }
    }
    Acquired { seed: None, tried }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg_with_dmi(vals: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
        let d = tempfile::tempdir().expect("tmp");
        let dir = d.path().join("sys/class/dmi/id");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (k, v) in vals {
            std::fs::write(dir.join(k), format!("{v}\n")).expect("w");
        }
        let cfg = Config::from_env(Some(d.path().to_path_buf()));
        (d, cfg)
    }

    #[test]
    fn dmi_platforms() {
        let (_d, c) = cfg_with_dmi(&[
            ("sys_vendor", "VMware, Inc."),
            ("product_name", "VMware7,1"),
        ]);
        assert_eq!(detect_platform(&c), Platform::Vmware);
        let (_d, c) = cfg_with_dmi(&[("sys_vendor", "Amazon EC2"), ("product_name", "m7g.large")]);
        assert_eq!(detect_platform(&c), Platform::Ec2);
        let (_d, c) = cfg_with_dmi(&[
            ("sys_vendor", "Xen"),
            ("product_name", "HVM domU"),
            ("product_uuid", "EC2E1916-9099-7CAF-FD21-012345ABCDEF"),
            ("bios_vendor", "Amazon EC2"),
        ]);
        assert_eq!(detect_platform(&c), Platform::Ec2);
        let (_d, c) = cfg_with_dmi(&[
            ("sys_vendor", "QEMU"),
            ("product_name", "Standard PC (Q35 + ICH9, 2009)"),
        ]);
        assert_eq!(detect_platform(&c), Platform::Other);
        let (_d, c) = cfg_with_dmi(&[]);
        assert_eq!(detect_platform(&c), Platform::Other);
    }

    #[test]
    fn network_sources_only_on_their_platform() {
        assert!(!order(Platform::Other).contains(&"ec2"));
        assert!(!order(Platform::Other).contains(&"vmware"));
        assert_eq!(order(Platform::Ec2).last(), Some(&"ec2"));
        assert_eq!(order(Platform::Vmware).last(), Some(&"vmware"));
        assert_eq!(order(Platform::Other)[0], "cmdline");
    }

    #[test]
    fn nocloud_dir_with_overrides() {
        let d = tempfile::tempdir().expect("tmp");
        assert!(read_nocloud_dir(d.path(), "x").expect("ok").is_none());
        std::fs::write(d.path().join("user-data"), "#cloud-config\n").expect("w");
        std::fs::create_dir(d.path().join("nodes")).expect("mk");
        std::fs::write(
            d.path().join("nodes/52:54:00:12:34:56.yaml"),
            "hostname: a\n",
        )
        .expect("w");
        let s = read_nocloud_dir(d.path(), "x").expect("ok").expect("some");
        assert_eq!(s.user_data, b"#cloud-config\n");
        assert!(s.meta_data.is_none());
        assert_eq!(s.node_overrides.len(), 1);
    }
}
