//! Stream the base layers into the writer: OCI whiteouts, boot-file capture,
//! and a note of what the later layers need to know (CNI plugins, units).

use std::collections::BTreeSet;
use std::io::{Seek, Write};

use anyhow::{Context, Result};
use ext4w::{EntryKind, Source};

use super::capture::Capture;
use super::Sink;
use crate::rootfs::{open_layers, Base};

/// What the base contained that later layers react to.
#[derive(Debug, Default)]
pub struct Seen {
    /// File names under /usr/lib/cni (Debian's containernetworking-plugins).
    pub cni_plugins: BTreeSet<String>,
    /// Whether containerd.service exists in the base.
    pub containerd_unit: bool,
    /// SSH host keys present in the base (removed later).
    pub ssh_host_keys: BTreeSet<String>,
}

/// Stream every layer of `base` through `sink`.
pub fn stream<W: Write + Seek>(
    sink: &mut Sink<'_, W>,
    base: &Base,
    cap: &mut Capture,
) -> Result<Seen> {
    let mut seen = Seen::default();
    for (i, src) in open_layers(base)?.iter().enumerate() {
        let mut layer = src.open(sink.progress)?;
        let name = layer.source.clone();
        // Whiteouts hide only what earlier layers added.
        sink.w.begin_layer();
        cap.begin_layer();
        let mut failure: Option<(String, anyhow::Error)> = None;
        let mut cb = |entry: ext4w::Entry, data: &mut dyn Source| -> Result<(), ext4w::Error> {
            let path = entry.path.clone();
            one(sink, cap, &mut seen, entry, data).map_err(|e| match e.downcast() {
                // The tar reader puts the layer, entry and offset on it.
                Ok(e) => e,
                Err(e) => {
                    failure = Some((path.clone(), e));
                    ext4w::Error::Entry {
                        path,
                        msg: "bake failed".into(),
                    }
                }
            })
        };
        let res = ext4w::tar::for_each_entry(&mut layer.reader, &name, &mut cb);
        if let Some((path, e)) = failure {
            return Err(e.context(format!("rootfs {name}: entry {path:?}")));
        }
        res.with_context(|| format!("reading rootfs layer {}", i + 1))?;
        layer.finish()?;
    }
    Ok(seen)
}

fn one<W: Write + Seek>(
    sink: &mut Sink<'_, W>,
    cap: &mut Capture,
    seen: &mut Seen,
    entry: ext4w::Entry,
    data: &mut dyn Source,
) -> Result<()> {
    if let Some(wh) = ext4w::tar::Whiteout::parse(&entry.path)? {
        wh.apply(sink.w)?;
        cap.forget_lower(wh.target());
        return Ok(());
    }
    if let Some(name) = entry
        .path
        .strip_prefix("usr/lib/cni/")
        .or_else(|| entry.path.strip_prefix("lib/cni/"))
    {
        if !name.contains('/')
            && matches!(
                entry.kind,
                EntryKind::Regular { .. } | EntryKind::Symlink { .. }
            )
        {
            seen.cni_plugins.insert(name.to_string());
        }
    }
    if entry.path.starts_with("etc/ssh/ssh_host_") {
        seen.ssh_host_keys.insert(entry.path.clone());
    }
    if entry
        .path
        .ends_with("lib/systemd/system/containerd.service")
    {
        seen.containerd_unit = true;
    }
    let size = match entry.kind {
        EntryKind::Regular { size } => size,
        _ => 0,
    };
    let path = entry.path.clone();
    if cap.wants(&path) {
        if let EntryKind::Regular { .. } = entry.kind {
            let mut tee = cap.tee(&path, data.as_read())?;
            sink.w
                .add(entry, &mut tee)
                .with_context(|| format!("writing /{path}"))?;
            tee.done()?;
        } else {
            cap.forget(&path);
            sink.w
                .add_from(entry, data)
                .with_context(|| format!("writing /{path}"))?;
        }
    } else {
        // A sparse file's holes are skipped, not read.
        sink.w
            .add_from(entry, data)
            .with_context(|| format!("writing /{path}"))?;
    }
    sink.entries += 1;
    sink.progress.entry(size);
    Ok(())
}
