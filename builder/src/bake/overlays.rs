//! Bake overlay trees: the embedded overlays/ (runtime files every image
//! needs) and the profile's own overlay directories, modes kept.

use std::io::{Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use super::Sink;
use crate::embedded::{Embedded, OVERLAYS};
use crate::profile::Resolved;

/// The overlays/ tree compiled into the binary.
pub fn embedded<W: Write + Seek>(sink: &mut Sink<'_, W>) -> Result<()> {
    for e in OVERLAYS {
        match *e {
            Embedded::Dir(p) => sink.dir(p, 0o755)?,
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
