//! The text rendering of an inspect [`Report`], saying only what is known
//! about the baked versions: a component given as a local file has no known
//! version, whatever the profile names.

use std::fmt::Write;

use kubebake_disk::probe::FsInfo;
use serde_json::Value;

use super::Report;
use crate::bake::{kubernetes_version, ManifestComponent, Origin, KUBERNETES_BINARIES};

/// Human-readable rendering.
pub fn render(r: &Report) -> String {
    let mut s = format!(
        "image    {} ({}, {} bytes, {} MiB)\ntable    {} {}\n",
        r.image.display(),
        r.format,
        r.size,
        r.size >> 20,
        r.table,
        r.disk_id
    );
    for p in &r.partitions {
        let _ = writeln!(
            s,
            "part {}   {:<8} {:<12} {:>8} MiB at {} MiB  {}",
            p.number,
            if p.name.is_empty() { "-" } else { &p.name },
            p.type_name,
            p.size >> 20,
            p.offset >> 20,
            p.guid.as_deref().unwrap_or("")
        );
        if p.attributes & (1 << 60) != 0 {
            s.push_str("         attributes: read-only\n");
        }
        let _ = match &p.filesystem {
            FsInfo::Ext4(e) => writeln!(
                s,
                "         ext4 uuid {} label {:?} {} blocks of {} ({} free)\n         features {}",
                e.uuid,
                e.label,
                e.block_count,
                e.block_size,
                e.free_blocks,
                e.features.join(" ")
            ),
            FsInfo::Fat(f) => writeln!(
                s,
                "         {} label {:?} serial {:08X}",
                f.kind, f.label, f.volume_id
            ),
            FsInfo::Unknown => writeln!(s, "         no filesystem recognised"),
        };
    }
    if let Some(c) = &r.cmdline {
        let _ = writeln!(s, "cmdline  {c}");
    }
    if let Some(m) = &r.manifest {
        render_manifest(m, &mut s);
    }
    s
}

fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// One component of a manifest, also from manifests written before
/// components recorded their origin (then `version: "local"` or a `file:`
/// source marks a local file, and a download's version is the profile's pin).
fn component(c: &Value) -> ManifestComponent {
    let name = text(c, "name").unwrap_or("?").to_string();
    let version = text(c, "version").map(str::to_string);
    let source = text(c, "source").unwrap_or("?").to_string();
    let origin = c
        .get("origin")
        .and_then(|o| serde_json::from_value::<Origin>(o.clone()).ok())
        .unwrap_or(match version.as_deref() {
            Some("local") | None => Origin::LocalFile,
            Some(_) if source.contains("://") => Origin::Pinned,
            Some(_) => Origin::Bundled,
        });
    ManifestComponent {
        name,
        version: version.filter(|_| origin.version_known()),
        origin,
        sha256: text(c, "sha256").unwrap_or("?").to_string(),
        source,
    }
}

/// "kubernetes 1.35.1 (pinned downloads)", or what is and is not known.
fn kubernetes_line(m: &Value, cs: &[ManifestComponent]) -> String {
    let profile = text(m, "profile_kubernetes_version")
        .or_else(|| text(m, "kubernetes_version"))
        .unwrap_or("?");
    if let Some(v) = kubernetes_version(cs) {
        return format!("kubernetes {v} (pinned downloads)");
    }
    let unknown: Vec<String> = cs
        .iter()
        .filter(|c| KUBERNETES_BINARIES.contains(&c.name.as_str()))
        .filter(|c| !c.origin.version_known())
        .map(|c| format!("{} ({})", c.name, c.origin.describe()))
        .collect();
    if unknown.is_empty() {
        format!("kubernetes version unknown (the binaries disagree; the profile names {profile})")
    } else {
        format!(
            "kubernetes version unknown: {} {} no known version (the profile names {profile})",
            unknown.join(", "),
            if unknown.len() == 1 { "has" } else { "have" }
        )
    }
}

fn render_manifest(m: &Value, s: &mut String) {
    let get = |k: &str| text(m, k).unwrap_or("?");
    let cs: Vec<ManifestComponent> = m
        .get("components")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(component).collect())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "baked    profile {} arch {} kernel {}\n         {}",
        get("profile"),
        get("arch"),
        get("kernel_version"),
        kubernetes_line(m, &cs)
    );
    for c in &cs {
        let _ = writeln!(
            s,
            "  {:<20} {:<10} {:<17} sha256 {}",
            c.name,
            c.version.as_deref().unwrap_or("unknown"),
            c.origin.describe(),
            c.sha256
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::TableKind;

    fn report(manifest: Value) -> Report {
        Report {
            image: "node.raw".into(),
            format: kubebake_vdisk::Format::Raw,
            size: 1 << 30,
            table: TableKind::Gpt,
            disk_id: "d".into(),
            partitions: Vec::new(),
            cmdline: None,
            manifest: Some(manifest),
            warnings: Vec::new(),
        }
    }

    fn manifest(components: Value) -> Value {
        serde_json::json!({
            "profile": "generic-amd64",
            "arch": "amd64",
            "kubernetes_version": "1.35.1",
            "kernel_version": "6.12.0-1-amd64",
            "components": components,
        })
    }

    #[test]
    fn local_files_are_not_shown_as_the_profile_version() {
        // A manifest as kubebake wrote it before components had an origin.
        let cs = serde_json::json!([
            {"name": "kubelet", "version": "local", "sha256": "aa", "source": "file:kubelet"},
            {"name": "kubeadm", "version": "local", "sha256": "bb", "source": "file:kubeadm"},
            {"name": "kubectl", "version": "local", "sha256": "cc", "source": "file:kubectl"},
        ]);
        let text = render(&report(manifest(cs)));
        assert!(!text.contains("kubernetes 1.35.1"), "{text}");
        assert!(
            text.contains("kubernetes version unknown: kubelet (local file), kubeadm (local file)"),
            "{text}"
        );
        assert!(text.contains("the profile names 1.35.1"), "{text}");
        assert!(
            text.contains("kubelet              unknown    local file"),
            "{text}"
        );
    }

    #[test]
    fn pinned_downloads_show_their_version() {
        let url = "https://dl.k8s.io/release/v1.35.1/bin/linux/amd64/";
        let cs: Vec<Value> = KUBERNETES_BINARIES
            .iter()
            .map(|n| {
                serde_json::json!({"name": n, "version": "1.35.1", "origin": "pinned",
                    "sha256": "aa", "source": format!("{url}{n}")})
            })
            .chain([
                serde_json::json!({"name": "kubebake-firstboot", "version": "0.1.0",
                "origin": "bundled", "sha256": "bb", "source": "file:kubebake-firstboot"}),
            ])
            .collect();
        let text = render(&report(manifest(Value::Array(cs))));
        assert!(
            text.contains("kubernetes 1.35.1 (pinned downloads)"),
            "{text}"
        );
        assert!(
            text.contains("kubebake-firstboot   0.1.0      built with kubebake"),
            "{text}"
        );
    }
}
