//! Outputs: where each format goes, what is checked before any work starts,
//! and writing every requested format from the one raw disk (through the
//! `kubebake-vdisk` writers). Every file is written at `OUT.tmp` and renamed
//! only when all of them are done, so a failed build leaves no output.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kubebake_vdisk::{Format, RawDisk, WriteOptions};
use serde::Serialize;

use crate::profile::{Arch, Resolved};
use crate::progress::Progress;

/// One output file of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its format.
    pub format: Format,
    /// Where it goes.
    pub path: PathBuf,
}

/// Every file a build writes.
#[derive(Debug, Clone)]
pub struct Files {
    /// The outputs, in [`Format::ALL`] order.
    pub outputs: Vec<Output>,
    /// The `.bmap` of the raw disk, beside raw, raw.xz or raw.zst.
    pub bmap: Option<PathBuf>,
    /// Where the raw disk is built: the raw output's `OUT.tmp`, or a scratch
    /// file beside the outputs (removed at the end) when raw is not wanted.
    pub raw_tmp: PathBuf,
}

impl Files {
    /// The outputs for `formats`. Without `out`, each is `NAME.FORMAT`.
    /// With one format, `out` is its file. With several: an `out` ending in
    /// a format's extension (`x.raw`, `x.qcow2`) or in none (`x`) is the
    /// stem each adds its extension to (`x.FORMAT`); an `out` with another
    /// extension (`node.img`) is the first format's file, and the others
    /// drop that extension (`node.qcow2`).
    pub fn new(name: &str, out: Option<&Path>, formats: &[Format]) -> Files {
        let mut formats = formats.to_vec();
        if formats.is_empty() {
            formats.push(Format::Raw);
        }
        formats.sort();
        formats.dedup();
        let (stem, verbatim) = match out {
            None => (PathBuf::from(name), None),
            Some(o) if formats.len() == 1 => (o.to_path_buf(), Some(o)),
            Some(o) => match strip_format_ext(o) {
                Some(stem) => (stem, None),
                None if o.extension().is_none() => (o.to_path_buf(), None),
                None => (o.with_extension(""), Some(o)),
            },
        };
        let outputs: Vec<Output> = formats
            .iter()
            .enumerate()
            .map(|(i, &format)| Output {
                format,
                path: match verbatim {
                    Some(o) if i == 0 => o.to_path_buf(),
                    _ => with_ext(&stem, format.extension()),
                },
            })
            .collect();
        let bmap = bmap_path(&outputs);
        let raw_tmp = match outputs.iter().find(|o| o.format == Format::Raw) {
            Some(raw) => tmp_path(&raw.path),
            None => with_ext(&stem, "raw.scratch.tmp"),
        };
        Files {
            outputs,
            bmap,
            raw_tmp,
        }
    }

    /// Every temporary file a build may leave (what the supervisor cleans
    /// up when the worker dies).
    pub fn tmp_paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.outputs.iter().map(|o| tmp_path(&o.path)).collect();
        v.extend(self.bmap.as_deref().map(tmp_path));
        if !v.contains(&self.raw_tmp) {
            v.push(self.raw_tmp.clone());
        }
        v
    }

    /// Checks made before any work starts: each output's directory exists
    /// and the profile can use each format.
    pub fn check(&self, r: &Resolved) -> Result<()> {
        self.check_dirs()?;
        for o in &self.outputs {
            check_format(o.format, r)?;
        }
        Ok(())
    }

    /// Each output's directory exists.
    pub fn check_dirs(&self) -> Result<()> {
        self.outputs.iter().try_for_each(|o| check_dir(&o.path))
    }
}

/// The raw disk's `.bmap`: the raw output's path + `.bmap`, or (no raw) the
/// compressed raw's path without `.xz`/`.zst` + `.bmap`, which is where
/// `bmaptool copy` looks for it.
fn bmap_path(outputs: &[Output]) -> Option<PathBuf> {
    let o = outputs.iter().find(|o| o.format.has_bmap())?;
    let s = o.path.to_string_lossy();
    let raw = match o.format {
        Format::RawXz => s.strip_suffix(".xz"),
        Format::RawZst => s.strip_suffix(".zst"),
        _ => None,
    }
    .filter(|r| !r.is_empty())
    .map_or_else(|| o.path.clone(), PathBuf::from);
    Some(with_ext(&raw, "bmap"))
}

/// `OUT` + `.tmp`.
pub fn tmp_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// `x.raw.xz` → `x`; `x.qcow2` → `x`; `x.img` and `x` → None.
fn strip_format_ext(out: &Path) -> Option<PathBuf> {
    let s = out.to_string_lossy();
    let mut exts: Vec<&str> = Format::ALL.iter().map(|f| f.extension()).collect();
    exts.sort_by_key(|e| std::cmp::Reverse(e.len()));
    exts.into_iter().find_map(|e| {
        s.strip_suffix(&format!(".{e}"))
            .filter(|stem| !stem.is_empty() && !stem.ends_with('/'))
            .map(PathBuf::from)
    })
}

fn check_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return Ok(()),
    };
    if !dir.is_dir() {
        bail!(
            "output directory {} does not exist (for {}); create it or choose another -o",
            dir.display(),
            path.display()
        );
    }
    Ok(())
}

/// Whether the profile's boot method and arch can use `format`.
fn check_format(format: Format, r: &Resolved) -> Result<()> {
    // Only UEFI exists as a boot method so far, and every format carries a
    // UEFI disk; the OVA's envelope declares x86 hardware (vmxnet3, an EFI
    // x86 VM), which no vSphere host runs with an arm64 guest.
    if format == Format::Ova && r.arch != Arch::Amd64 {
        bail!(
            "profile {}: format ova describes an x86-64 vSphere VM, but the profile's arch is {}; \
             drop ova (use vmdk, qcow2 or raw) or build an amd64 profile",
            r.name,
            r.arch.as_str()
        );
    }
    Ok(())
}

/// Flushes a file to disk in the background while a writer fills it, so
/// the fsync before the rename has little left to do: writeback overlaps
/// the writing instead of following it. Stops (and is joined) on drop;
/// the background flushes' errors are the final fsync's to report.
pub struct Writeback {
    stop: Option<std::sync::mpsc::Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Writeback {
    /// How often the background thread flushes.
    const EVERY: std::time::Duration = std::time::Duration::from_millis(200);

    /// Start flushing `f` (nothing happens if it cannot be cloned).
    pub fn start(f: &File) -> Writeback {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let handle = f.try_clone().ok().map(|f| {
            std::thread::spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(Self::EVERY)
                {
                    let _ = f.sync_data();
                }
            })
        });
        Writeback {
            stop: Some(tx),
            handle,
        }
    }
}

impl Drop for Writeback {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Deletes a temporary output unless the build committed.
pub struct TmpGuard {
    path: PathBuf,
    armed: bool,
}

impl TmpGuard {
    /// Guard `path`.
    pub fn new(path: PathBuf) -> TmpGuard {
        TmpGuard { path, armed: true }
    }

    /// Keep the file.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Create `tmp` afresh: 0600 when the image will hold secrets (a stale
/// file's mode must not carry over, so it is removed first).
pub fn create_tmp(tmp: &Path, secret: bool) -> Result<File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    match std::fs::remove_file(tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing the stale {}", tmp.display()));
        }
        _ => {}
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o666 })
        .open(tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    if secret {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} 0600", tmp.display()))?;
    }
    Ok(file)
}

/// One file written, as `--json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// Where it is.
    pub path: PathBuf,
    /// `raw`, `qcow2`, … or `bmap`.
    pub format: String,
    /// The virtual disk size in bytes (what the VM sees).
    pub virtual_size: u64,
    /// The file's size in bytes (apparent; raw and VHD are sparse).
    pub file_size: u64,
    /// sha256 of the file (when requested).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The file's mode, e.g. `0600`.
    pub mode: String,
}

/// A file written at its `.tmp` name, waiting for the rename.
struct Pending {
    tmp: PathBuf,
    guard: TmpGuard,
    written: Written,
}

/// The synced raw disk at `plan.raw_tmp`, as the build made it.
pub struct BuiltRaw {
    /// The open file.
    pub file: File,
    /// Its size.
    pub size: u64,
    /// Removes it unless committed.
    pub guard: TmpGuard,
}

/// Write every output of `plan` from `disk`, then rename them all into
/// place. `built` is the build's own raw disk at `plan.raw_tmp` (renamed to
/// the raw output, or removed); without it (`convert`) a raw output is a
/// copy. `secret` makes every file 0600; `hash` fills in the sha256s.
pub fn write_all(
    plan: &Files,
    disk: &RawDisk,
    built: Option<BuiltRaw>,
    secret: bool,
    opts: &WriteOptions,
    hash: bool,
    progress: &Progress,
) -> Result<Vec<Written>> {
    let size = disk.size();
    let mut pending = Vec::new();
    let mut built = built;
    for o in &plan.outputs {
        if let (Format::Raw, Some(raw)) = (o.format, built.take()) {
            pending.push(pending_for(
                plan.raw_tmp.clone(),
                raw.guard,
                o,
                &raw.file,
                size,
            )?);
            continue;
        }
        let tmp = tmp_path(&o.path);
        let guard = TmpGuard::new(tmp.clone());
        let mut f = create_tmp(&tmp, secret)?;
        progress.phase(o.format.as_str(), Some(size));
        let flushing = Writeback::start(&f);
        kubebake_vdisk::write(o.format, disk, &mut f, &o.path, opts, progress)
            .with_context(|| format!("writing the {} output", o.format))?;
        drop(flushing);
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        pending.push(pending_for(tmp, guard, o, &f, size)?);
    }
    if let Some(bmap) = &plan.bmap {
        let tmp = tmp_path(bmap);
        let guard = TmpGuard::new(tmp.clone());
        // Block hashes of a secret image are as private as the image.
        let mut f = create_tmp(&tmp, secret)?;
        progress.phase("bmap", Some(size));
        kubebake_vdisk::bmap::write(disk, &mut f, bmap).context("writing the bmap")?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        let o = Output {
            format: Format::Raw,
            path: bmap.clone(),
        };
        let mut p = pending_for(tmp, guard, &o, &f, size)?;
        p.written.format = "bmap".into();
        pending.push(p);
    }
    if hash {
        for p in &mut pending {
            progress.phase("sha256", Some(p.written.file_size));
            p.written.sha256 = Some(crate::cache::sha256_file_counted(&p.tmp, |n| {
                progress.advance(n)
            })?);
        }
    }
    // A scratch raw disk (raw not requested) goes when its guard drops.
    drop(built);
    let mut done = Vec::new();
    for mut p in pending {
        std::fs::rename(&p.tmp, &p.written.path).with_context(|| {
            format!(
                "renaming {} to {}",
                p.tmp.display(),
                p.written.path.display()
            )
        })?;
        p.guard.disarm();
        done.push(p.written);
    }
    Ok(done)
}

fn pending_for(tmp: PathBuf, guard: TmpGuard, o: &Output, f: &File, virt: u64) -> Result<Pending> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = f
        .metadata()
        .with_context(|| format!("reading {}", tmp.display()))?;
    Ok(Pending {
        written: Written {
            path: o.path.clone(),
            format: o.format.as_str().to_string(),
            virtual_size: virt,
            file_size: meta.len(),
            sha256: None,
            mode: format!("{:04o}", meta.permissions().mode() & 0o7777),
        },
        tmp,
        guard,
    })
}

impl kubebake_vdisk::Progress for Progress {
    fn advance(&self, done: u64) {
        self.position(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(out: Option<&str>, f: &[Format]) -> Vec<String> {
        let p = Files::new("generic-amd64", out.map(Path::new), f);
        let mut v: Vec<String> = p
            .outputs
            .iter()
            .map(|o| o.path.display().to_string())
            .collect();
        v.extend(p.bmap.map(|b| b.display().to_string()));
        v
    }

    #[test]
    fn output_names() {
        use Format::*;
        assert_eq!(
            paths(None, &[]),
            ["generic-amd64.raw", "generic-amd64.raw.bmap"]
        );
        assert_eq!(paths(Some("x.img"), &[Raw]), ["x.img", "x.img.bmap"]);
        assert_eq!(
            paths(Some("x.raw.zst"), &[RawZst]),
            ["x.raw.zst", "x.raw.bmap"]
        );
        assert_eq!(paths(Some("x.zst"), &[RawZst]), ["x.zst", "x.bmap"]);
        assert_eq!(paths(Some("d/n.qcow2"), &[Qcow2]), ["d/n.qcow2"]);
        assert_eq!(
            paths(Some("d/n.raw"), &[RawXz, Qcow2, Raw]),
            ["d/n.raw", "d/n.qcow2", "d/n.raw.xz", "d/n.raw.bmap"]
        );
        assert_eq!(
            paths(Some("d/n.raw.xz"), &[Vhd, Ova]),
            ["d/n.ova", "d/n.vhd"]
        );
        assert_eq!(paths(Some("node"), &[Vmdk, Vmdk]), ["node"]);
        assert_eq!(
            paths(Some("d/node.img"), &[Qcow2, Raw]),
            ["d/node.img", "d/node.qcow2", "d/node.img.bmap"]
        );
        assert_eq!(
            paths(Some("node"), &[Vhd, Qcow2]),
            ["node.qcow2", "node.vhd"]
        );
        let p = Files::new("g", Some(Path::new("o/g.raw.zst")), &[RawZst, Qcow2]);
        assert_eq!(p.raw_tmp, PathBuf::from("o/g.raw.scratch.tmp"));
        assert!(p.tmp_paths().contains(&PathBuf::from("o/g.raw.bmap.tmp")));
    }
}
