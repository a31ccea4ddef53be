//! Bake overlay trees: the embedded overlays/ (runtime files every image
//! needs) and the profile's own overlay directories, modes kept.

use std::io::{Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use super::Sink;
use crate::embedded::{Embedded, OVERLAYS};
use crate::profile::Resolved;

/// The repart definition creating STATE; `disk.state_min_mib` sets its minimum.
const STATE_REPART: &str = "usr/lib/repart.d/50-state.conf";

/// Replace `SizeMinBytes=` in the STATE definition.
fn with_state_min(data: &[u8], mib: u64) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let mut out: String = text
        .lines()
        .map(|l| {
            if l.starts_with("SizeMinBytes=") {
                format!("SizeMinBytes={mib}M\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    if !out.contains("SizeMinBytes=") {
        out.push_str(&format!("SizeMinBytes={mib}M\n"));
    }
    out.into_bytes()
}

/// The overlays/ tree compiled into the binary.
pub fn embedded<W: Write + Seek>(sink: &mut Sink<'_, W>, r: &Resolved) -> Result<()> {
    for e in OVERLAYS {
        match *e {
            Embedded::Dir(p) => sink.dir(p, 0o755)?,
            // One number for both: the room the image leaves (disk.rs) and
            // the minimum systemd-repart asks for.
            Embedded::File(p, mode, data) if p == STATE_REPART => {
                sink.file(p, mode, &with_state_min(data, r.sizes.state_min_mib))?
            }
            Embedded::File(p, mode, data) => sink.file(p, mode, data)?,
            Embedded::Symlink(p, t) => sink.symlink(p, t)?,
        }
    }
    Ok(())
}

/// The profile's `overlays = [..]` directories (relative to the profile file).
pub fn profile_dirs<W: Write + Seek>(sink: &mut Sink<'_, W>, r: &Resolved) -> Result<()> {
    for d in &r.profile.overlays {
        let dir = match &r.dir {
            Some(base) if Path::new(d).is_relative() => base.join(d),
            _ => Path::new(d).to_path_buf(),
        };
        if !dir.is_dir() {
            anyhow::bail!(
                "profile overlay {} is not a directory; fix `overlays` in profile {}",
                dir.display(),
                r.name
            );
        }
        walk(sink, &dir, "")?;
    }
    Ok(())
}

fn walk<W: Write + Seek>(sink: &mut Sink<'_, W>, root: &Path, rel: &str) -> Result<()> {
    let here = root.join(rel);
    let mut names: Vec<_> = std::fs::read_dir(&here)
        .with_context(|| format!("reading overlay dir {}", here.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading overlay dir {}", here.display()))?;
    names.sort();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let p = root.join(&child);
        let md =
            std::fs::symlink_metadata(&p).with_context(|| format!("reading {}", p.display()))?;
        let mode = (md.permissions().mode() & 0o7777) as u16;
        if md.file_type().is_symlink() {
            let t =
                std::fs::read_link(&p).with_context(|| format!("reading link {}", p.display()))?;
            sink.symlink(&child, &t.to_string_lossy())?;
        } else if md.is_dir() {
            sink.dir(&child, mode)?;
            walk(sink, root, &child)?;
        } else if md.is_file() {
            sink.host_file(&child, mode, &p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_min_replaces_or_appends() {
        let out = with_state_min(b"[Partition]\nSizeMinBytes=1G\nFormat=ext4\n", 2048);
        assert_eq!(out, b"[Partition]\nSizeMinBytes=2048M\nFormat=ext4\n");
        let out = with_state_min(b"[Partition]\n", 64);
        assert_eq!(out, b"[Partition]\nSizeMinBytes=64M\n");
    }

    /// The agent applies this manifest after `kubeadm init` (`cni: flannel`),
    /// and the seed validator pins the pod subnet to flannel's network: the
    /// two must agree, and the manifest must be what kubectl accepts.
    #[test]
    fn baked_flannel_manifest_matches_the_seed_pod_subnet() {
        use serde::Deserialize;
        let data = OVERLAYS
            .iter()
            .find_map(|e| match *e {
                Embedded::File(p, _, d)
                    if p == kubebake_seed::paths::FLANNEL_MANIFEST.trim_start_matches('/') =>
                {
                    Some(d)
                }
                _ => None,
            })
            .expect("flannel manifest baked from overlays/");
        let text = std::str::from_utf8(data).expect("utf-8");
        let docs: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(text)
            .map(|d| serde_json::Value::deserialize(d).expect("valid YAML document"))
            .filter(|v| !v.is_null())
            .collect();
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "ConfigMap",
                "DaemonSet"
            ]
        );
        for d in &docs {
            assert!(d["apiVersion"].is_string() && d["metadata"]["name"].is_string());
        }
        let cm = &docs[4];
        let net: serde_json::Value =
            serde_json::from_str(cm["data"]["net-conf.json"].as_str().expect("net-conf.json"))
                .expect("net-conf.json is JSON");
        assert_eq!(net["Network"], kubebake_seed::FLANNEL_POD_SUBNET);
        let cni: serde_json::Value =
            serde_json::from_str(cm["data"]["cni-conf.json"].as_str().expect("cni-conf.json"))
                .expect("cni-conf.json is JSON");
        assert_eq!(cni["plugins"][0]["type"], "flannel");
        // The CNI plugin lands in /opt/cni/bin (an overlay on STATE).
        let ds = &docs[5]["spec"]["template"]["spec"];
        let vols = ds["volumes"].as_array().expect("volumes");
        assert!(vols.iter().any(|v| v["hostPath"]["path"] == "/opt/cni/bin"));
        assert_eq!(docs[5]["spec"]["selector"]["matchLabels"]["app"], "flannel");
    }
}
