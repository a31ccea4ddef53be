//! NoCloud CIDATA volume: a block device labelled `cidata` or `CIDATA`
//! (`/dev/disk/by-label/…`), vfat or iso9660.
//!
//! FAT volumes are read in-process with the checked reader of
//! `kubebake-fatread` (fast, nothing is mounted, and a damaged volume is an
//! error, not a panic). iso9660 volumes are mounted read-only (`mount -o ro`)
//! on a private directory, or, when mounting is impossible (tests, a kernel
//! without the filesystem), extracted with `xorriso -osirrox`. A pure-Rust
//! iso9660 reader was not written: NoCloud names (`user-data`) are not 8.3,
//! so a correct reader needs Rock Ridge or Joliet parsing, while the kernel
//! driver (node) and xorriso (fallback) already do that well.

use super::{read_nocloud_dir, DsError, SeedFiles};
use crate::config::Config;
use kubebake_fatread::{Dir, Entry, Volume};
use kubebake_seed::limits::SeedFile;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Labels looked up under `/dev/disk/by-label`.
pub const LABELS: [&str; 2] = ["cidata", "CIDATA"];

/// Filesystem found on a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    /// FAT12/16/32.
    Fat,
    /// ISO 9660.
    Iso9660,
    /// Something else.
    Unknown,
}

/// Sniffs the filesystem type from its magic bytes.
pub fn sniff(dev: &Path) -> Result<FsKind, DsError> {
    let ioe = |source| DsError::Io {
        path: dev.to_path_buf(),
        source,
    };
    let mut f = File::open(dev).map_err(ioe)?;
    let mut boot = [0u8; 512];
    let n = f.read(&mut boot).map_err(ioe)?;
    let mut cd = [0u8; 5];
    let is_iso =
        f.seek(SeekFrom::Start(0x8001)).is_ok() && f.read_exact(&mut cd).is_ok() && &cd == b"CD001";
    if is_iso {
        return Ok(FsKind::Iso9660);
    }
    let fat = n == 512
        && boot[510] == 0x55
        && boot[511] == 0xAA
        && (boot[54..59] == *b"FAT12" || boot[54..59] == *b"FAT16" || boot[82..87] == *b"FAT32");
    Ok(if fat { FsKind::Fat } else { FsKind::Unknown })
}

/// A FAT problem on `dev`, with what to do about it.
fn fat_err(dev: &Path, e: kubebake_fatread::Error) -> DsError {
    use kubebake_fatread::Error as E;
    let why = match e {
        E::Fat { what, path, source } if source.kind() == std::io::ErrorKind::InvalidData => {
            format!(
                "{what} {}: {source}; the volume is damaged: write the seed files to it again \
                 (or run fsck.vfat on it)",
                path.trim_start_matches('/')
            )
        }
        E::Fat { what, path, source } => {
            format!("{what} {}: {source}", path.trim_start_matches('/'))
        }
        e => e.to_string(),
    };
    DsError::Decode {
        what: format!("FAT volume {}", dev.display()),
        why,
    }
}

/// A seed file of a FAT volume, read up to its cap.
fn read_entry<R: Read + Seek>(
    vol: &mut Volume<R>,
    dev: &Path,
    e: &Entry,
    path: &str,
    kind: SeedFile,
) -> Result<Vec<u8>, DsError> {
    match vol.read_file(e, path, kind.cap()) {
        Ok(b) => Ok(b),
        Err(kubebake_fatread::Error::TooLarge { .. }) => Err(DsError::TooLarge {
            what: format!("{}:{path}", dev.display()),
            kind,
        }),
        Err(e) => Err(fat_err(dev, e)),
    }
}

/// Reads the NoCloud files from a FAT volume without mounting it, with the
/// checked reader of `kubebake-fatread`: a damaged volume (a cluster outside
/// the data area, a looping chain) is an error naming the volume and the
/// file, never a panic or a seed made of the wrong bytes.
pub fn read_fat(dev: &Path, source: &str) -> Result<Option<SeedFiles>, DsError> {
    let f = File::open(dev).map_err(|source| DsError::Io {
        path: dev.to_path_buf(),
        source,
    })?;
    let mut vol = Volume::open(&f).map_err(|e| fat_err(dev, e))?;
    let root = vol
        .read_dir(Dir::FixedRoot, "/")
        .map_err(|e| fat_err(dev, e))?;
    let file = |name: &str| root.iter().find(|e| !e.is_dir && e.matches(name));
    let mut read = |name: &str, kind: SeedFile| -> Result<Option<Vec<u8>>, DsError> {
        match file(name) {
            Some(e) => read_entry(&mut vol, dev, e, name, kind).map(Some),
            None => Ok(None),
        }
    };
    let Some(user_data) = read("user-data", SeedFile::UserData)? else {
        return Ok(None);
    };
    let meta_data = read("meta-data", SeedFile::MetaData)?;
    let network_config = read("network-config", SeedFile::NetworkConfig)?;
    let mut node_overrides = Vec::new();
    if let Some(nodes) = root.iter().find(|e| e.is_dir && e.matches("nodes")) {
        let mut entries = vol
            .read_dir(Dir::Chain(nodes.first_cluster), "nodes")
            .map_err(|e| fat_err(dev, e))?;
        entries.retain(|e| !e.is_dir && e.name.ends_with(".yaml"));
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for e in entries {
            let path = format!("nodes/{}", e.name);
            let b = read_entry(&mut vol, dev, &e, &path, SeedFile::NodeOverride)?;
            super::push_override(&mut node_overrides, e.name, b, &dev.display().to_string())?;
        }
    }
    Ok(Some(SeedFiles {
        user_data,
        meta_data,
        network_config,
        node_overrides,
        source: source.to_string(),
    }))
}

fn scratch_dir(cfg: &Config, what: &str) -> Result<PathBuf, DsError> {
    let d = cfg.run_dir().join(format!("{what}-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|source| DsError::Io {
        path: d.clone(),
        source,
    })?;
    Ok(d)
}

fn run(cmd: &mut Command) -> Result<(), DsError> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| DsError::Command {
        cmd: shown.clone(),
        why: e.to_string(),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DsError::Command {
            cmd: shown,
            why: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Reads an iso9660 volume by extracting it with `xorriso -osirrox`.
pub fn read_iso_extract(
    cfg: &Config,
    dev: &Path,
    source: &str,
) -> Result<Option<SeedFiles>, DsError> {
    let dir = scratch_dir(cfg, "iso")?;
    let r = run(Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(dev)
        .args(["-extract", "/"])
        .arg(&dir))
    .and_then(|()| read_nocloud_dir(&dir, source));
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Mounts `dev` read-only on a private directory, reads it, unmounts.
pub fn read_mounted(cfg: &Config, dev: &Path, source: &str) -> Result<Option<SeedFiles>, DsError> {
    let dir = scratch_dir(cfg, "mnt")?;
    let r = run(Command::new("mount").args(["-o", "ro"]).arg(dev).arg(&dir)).and_then(|()| {
        let r = read_nocloud_dir(&dir, source);
        let u = run(Command::new("umount").arg(&dir));
        if let Err(e) = u {
            tracing::warn!("{e}");
        }
        r
    });
    let _ = std::fs::remove_dir(&dir);
    r
}

/// Reads a NoCloud volume. FAT is always read in-process (no `mount` and
/// `umount` processes: they cost seconds on a slow first boot, and nothing
/// is mounted behind the node's back); iso9660 is mounted when allowed, else
/// extracted with xorriso.
pub fn read_volume(cfg: &Config, dev: &Path, source: &str) -> Result<Option<SeedFiles>, DsError> {
    match sniff(dev)? {
        FsKind::Fat => read_fat(dev, source),
        FsKind::Iso9660 if cfg.mount => match read_mounted(cfg, dev, source) {
            Ok(s) => Ok(s),
            Err(e) => {
                tracing::info!(
                    "mounting {} failed ({e}); extracting it instead",
                    dev.display()
                );
                read_iso_extract(cfg, dev, source)
            }
        },
        FsKind::Iso9660 => read_iso_extract(cfg, dev, source),
        FsKind::Unknown => Err(DsError::Decode {
            what: dev.display().to_string(),
            why: "neither FAT nor iso9660".into(),
        }),
    }
}

/// Finds and reads the CIDATA volume.
pub fn fetch(cfg: &Config) -> Result<Option<SeedFiles>, DsError> {
    for label in LABELS {
        let link = cfg.path(format!("/dev/disk/by-label/{label}"));
        if link.exists() {
            let src = format!("cidata:{label}");
            return read_volume(cfg, &link, &src);
        }
    }
    Ok(None)
}
