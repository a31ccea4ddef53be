//! Bake: the node payload, layered as entries onto the base rootfs stream and
//! written straight into the ext4 writer (nothing is extracted to disk).
//!
//! Layer order (later wins): base rootfs → components → CNI plugin links →
//! overlays/ (embedded) → profile overlays → generated system files →
//! removals (SSH host keys, dbus machine-id) → manifest and seed.

mod base;
mod capture;
mod components;
mod manifest;
mod overlays;
mod system;

use std::io::{Read, Seek, Write};

use anyhow::{Context, Result};
use ext4w::{Entry, EntryKind, Metadata, Timestamp, Writer};

pub use capture::{BootFiles, Capture};
pub use manifest::{
    kubernetes_version, ManifestComponent, Origin, KUBERNETES_BINARIES, MANIFEST_PATH,
};

use crate::component::Fetched;
use crate::profile::Resolved;
use crate::progress::Progress;
use crate::rootfs::Base;

/// Everything the bake needs besides the writer.
pub struct Plan<'a> {
    /// The resolved profile.
    pub profile: &'a Resolved,
    /// Base rootfs input.
    pub base: &'a Base,
    /// Fetched components (including the agent).
    pub components: &'a [Fetched],
    /// The full kernel command line (recorded in the manifest).
    pub cmdline: &'a str,
    /// Validated seed (user-data bytes) to embed, if any.
    pub seed: Option<&'a [u8]>,
    /// SOURCE_DATE_EPOCH: every baked entry's time.
    pub epoch: i64,
}

/// What the bake produced besides the filesystem.
pub struct Baked {
    /// Kernel, initrd and systemd-boot captured from the base.
    pub boot: BootFiles,
    /// Entries written (base + baked).
    pub entries: u64,
}

/// Thin helper over the writer: uniform metadata and error context.
pub(crate) struct Sink<'w, W: Write + Seek> {
    pub(crate) w: &'w mut Writer<W>,
    pub(crate) epoch: i64,
    pub(crate) entries: u64,
    pub(crate) progress: &'w Progress,
}

impl<W: Write + Seek> Sink<'_, W> {
    fn meta(&self, mode: u16) -> Metadata {
        let t = Timestamp::from_secs(self.epoch);
        Metadata {
            atime: t,
            mtime: t,
            ctime: t,
            ..Metadata::new(mode)
        }
    }

    /// Add an entry with its data.
    pub(crate) fn add(
        &mut self,
        path: &str,
        kind: EntryKind,
        mode: u16,
        data: &mut dyn Read,
    ) -> Result<()> {
        let entry = Entry {
            path: path.trim_start_matches('/').to_string(),
            kind,
            meta: self.meta(mode),
        };
        self.w
            .add(entry, data)
            .with_context(|| format!("baking /{}", path.trim_start_matches('/')))?;
        self.entries += 1;
        self.progress.entry(0);
        Ok(())
    }

    /// Add a regular file from memory.
    pub(crate) fn file(&mut self, path: &str, mode: u16, bytes: &[u8]) -> Result<()> {
        let size = bytes.len() as u64;
        self.add(path, EntryKind::Regular { size }, mode, &mut &bytes[..])
    }

    /// Add a directory.
    pub(crate) fn dir(&mut self, path: &str, mode: u16) -> Result<()> {
        self.add(path, EntryKind::Directory, mode, &mut std::io::empty())
    }

    /// Add a symlink.
    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        let kind = EntryKind::Symlink {
            target: target.as_bytes().to_vec(),
        };
        self.add(path, kind, 0o777, &mut std::io::empty())
    }

    /// Add a regular file from a host file.
    pub(crate) fn host_file(&mut self, path: &str, mode: u16, src: &std::path::Path) -> Result<()> {
        let mut f =
            std::fs::File::open(src).with_context(|| format!("opening {}", src.display()))?;
        let size = f
            .metadata()
            .with_context(|| format!("reading {}", src.display()))?
            .len();
        self.add(path, EntryKind::Regular { size }, mode, &mut f)
    }

    /// Remove a path (and below) if present.
    pub(crate) fn remove(&mut self, path: &str) -> Result<()> {
        self.w
            .remove(path.trim_start_matches('/'))
            .with_context(|| format!("removing /{path}"))
    }
}

/// Stream the base and every bake layer into `w`.
pub fn bake<W: Write + Seek>(
    w: &mut Writer<W>,
    plan: &Plan<'_>,
    progress: &Progress,
) -> Result<Baked> {
    let mut sink = Sink {
        w,
        epoch: plan.epoch,
        entries: 0,
        progress,
    };
    let mut capture = Capture::new(plan.profile.arch)?;
    let seen = base::stream(&mut sink, plan.base, &mut capture)?;
    let boot = capture.finish(plan.profile.arch)?;
    crate::initrd::check(plan.profile, plan.base, &boot.initrd, &boot.kernel_version)?;
    let cni_from_component = components::bake(&mut sink, plan.components)?;
    if !cni_from_component {
        system::cni_links(&mut sink, &seen.cni_plugins)?;
    }
    overlays::embedded(&mut sink, plan.profile)?;
    overlays::profile_dirs(&mut sink, plan.profile)?;
    system::bake(&mut sink, plan.profile, &seen)?;
    manifest::bake(&mut sink, plan, &boot)?;
    Ok(Baked {
        boot,
        entries: sink.entries,
    })
}
