//! `kubebake inspect IMAGE`: partition table, filesystems and features, the
//! loader entry's command line and the baked manifest, read with the
//! project's own code. Works on images from other tools (sections that do
//! not apply are left out), and treats every byte as hostile.
//!
//! Exit status: 0 when the partition table could be read, with one
//! `warning: IMAGE: …` line on stderr (and an entry in `--json`'s `warnings`)
//! for each piece of damage found (the other GPT copy used, a truncated
//! image, an unreadable manifest, …); 1 when the image cannot be read at all
//! (not a regular file or block device, no usable partition table).

use std::fmt;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kubebake_disk::probe::FsInfo;
use kubebake_disk::table::{self, Found};
use kubebake_disk::{ext4read, fat, guid, image, mbr, probe, Warning, Window};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::bake::MANIFEST_PATH;
use crate::boot;

mod render;
pub use render::render;

/// The largest manifest read (a real one is a few KiB).
pub const MAX_MANIFEST: u64 = 1 << 20;
/// The largest loader entry or `cmdline.txt` read.
pub const MAX_CMDLINE: u64 = 64 << 10;

/// One partition.
#[derive(Debug, serde::Serialize)]
pub struct PartInfo {
    /// Slot number (1-based).
    pub number: u32,
    /// GPT name (empty for MBR).
    pub name: String,
    /// GPT type GUID, or MBR type byte as `0xNN`.
    pub type_id: String,
    /// Known type name (`esp`, `root-x86-64`, …).
    pub type_name: String,
    /// Partition GUID (GPT only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    /// GPT attribute bits.
    pub attributes: u64,
    /// Byte offset.
    pub offset: u64,
    /// Byte size.
    pub size: u64,
    /// Filesystem found.
    pub filesystem: FsInfo,
}

/// Which partition table the image has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// GUID partition table.
    Gpt,
    /// DOS partition table.
    Mbr,
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TableKind::Gpt => "gpt",
            TableKind::Mbr => "mbr",
        })
    }
}

/// Damage found in an image that could still be read.
#[derive(Debug)]
pub enum Finding {
    /// In the partition table.
    Table(Warning),
    /// A filesystem that was recognised but could not be read.
    Filesystem {
        /// Partition slot.
        number: u32,
        /// What was being read.
        what: &'static str,
        /// Why it failed.
        error: String,
    },
    /// The manifest exists but cannot be used.
    Manifest {
        /// Partition slot.
        number: u32,
        /// Why.
        error: String,
    },
}

impl Finding {
    /// A stable kebab-case code for `--json` consumers.
    pub fn code(&self) -> &'static str {
        match self {
            Finding::Table(w) => w.code(),
            Finding::Filesystem { .. } => "filesystem-unreadable",
            Finding::Manifest { .. } => "manifest-unreadable",
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Table(w) => write!(f, "{w}"),
            Finding::Filesystem {
                number,
                what,
                error,
            } => write!(f, "partition {number}: {what}: {error}"),
            Finding::Manifest { number, error } => write!(
                f,
                "partition {number}: /{MANIFEST_PATH}: {error}; the baked section is left out"
            ),
        }
    }
}

/// `{"code": "...", "message": "..."}`.
impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Finding", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

/// Everything `inspect` reports.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// Image path.
    pub image: PathBuf,
    /// Container format: `raw`, `qcow2`, `vmdk`, `vhd`, `ova`, …
    pub format: kubebake_vdisk::Format,
    /// Virtual disk size in bytes.
    pub size: u64,
    /// `gpt` or `mbr`.
    pub table: TableKind,
    /// Disk GUID (GPT) or signature (MBR).
    pub disk_id: String,
    /// Partitions.
    pub partitions: Vec<PartInfo>,
    /// Boot loader entry command line (systemd-boot or Raspberry Pi cmdline.txt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// `/usr/lib/kubebake/manifest.json` of the root filesystem, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<serde_json::Value>,
    /// Damage found (empty for a sound image).
    pub warnings: Vec<Finding>,
}

fn type_name(t: uuid::Uuid) -> &'static str {
    match t {
        t if t == guid::ESP => "esp",
        t if t == guid::ROOT_X86_64 => "root-x86-64",
        t if t == guid::ROOT_ARM64 => "root-arm64",
        t if t == guid::VAR => "var",
        t if t == guid::LINUX_DATA => "linux-data",
        _ => "unknown",
    }
}

fn mbr_type_name(kind: u8) -> &'static str {
    match kind {
        mbr::FAT32_LBA => "fat32-lba",
        mbr::LINUX => "linux",
        0x05 | 0x0f | 0x85 => "extended",
        0xee => "gpt-protective",
        0xef => "esp",
        _ => "unknown",
    }
}

/// A partition's place before its filesystem is looked at.
fn rows(found: &Found) -> Vec<PartInfo> {
    let row =
        |number, name, type_id, type_name: &str, guid, attributes, first: u64, last: u64, ss| {
            PartInfo {
                number,
                name,
                type_id,
                type_name: type_name.to_string(),
                guid,
                attributes,
                // The table readers bound every LBA by the disk, so these cannot overflow.
                offset: first.saturating_mul(ss),
                size: (last - first + 1).saturating_mul(ss),
                filesystem: FsInfo::Unknown,
            }
        };
    match found {
        Found::Gpt(t) => t
            .partitions
            .iter()
            .zip(&t.numbers)
            .map(|(p, &n)| {
                row(
                    n,
                    p.name.clone(),
                    p.type_guid.to_string(),
                    type_name(p.type_guid),
                    Some(p.guid.to_string()),
                    p.attributes,
                    p.first_lba,
                    p.last_lba,
                    t.sector_size,
                )
            })
            .collect(),
        Found::Mbr(t) => t
            .partitions
            .iter()
            .zip(&t.numbers)
            .map(|(p, &n)| {
                row(
                    n,
                    String::new(),
                    format!("{:#04x}", p.kind),
                    mbr_type_name(p.kind),
                    None,
                    0,
                    p.first_lba,
                    p.last_lba,
                    t.sector_size,
                )
            })
            .collect(),
    }
}

/// `kubebake inspect`: print the report (text or JSON) on stdout and a
/// `warning:` line per piece of damage on stderr.
pub fn run(path: &Path, json: bool) -> Result<()> {
    let r = inspect(path)?;
    for w in &r.warnings {
        eprintln!("warning: {}: {w}", path.display());
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).context("printing JSON")?
        );
    } else {
        print!("{}", render(&r));
    }
    Ok(())
}

/// Inspect an image file or block device (anything else is refused by name).
pub fn inspect(path: &Path) -> Result<Report> {
    let img = image::open(path)?;
    let format = if img.file.metadata().is_ok_and(|m| m.is_file()) {
        kubebake_vdisk::detect(path)?
    } else {
        kubebake_vdisk::Format::Raw
    };
    if format == kubebake_vdisk::Format::Raw {
        let file = img.file;
        return inspect_with(path, img.size, || file.try_clone());
    }
    // A container (qcow2, VMDK, …): read its virtual disk.
    let disk = kubebake_vdisk::open(path)?;
    let mut report = inspect_with(path, disk.size(), || {
        Ok(kubebake_vdisk::Reader::new(disk.clone()))
    })?;
    report.format = format;
    Ok(report)
}

/// Inspect an image of `size` bytes; `open` gives a fresh handle on it for
/// each reader (windows seek before every access, so handles may share an
/// offset). `path` only names the image in the report and in errors.
pub fn inspect_with<R, F>(path: &Path, size: u64, open: F) -> Result<Report>
where
    R: Read + Seek + 'static,
    F: Fn() -> io::Result<R>,
{
    let mut f = open().with_context(|| format!("opening {}", path.display()))?;
    let found = table::read(&mut f).with_context(|| path.display().to_string())?;
    let (table, disk_id) = match &found {
        Found::Gpt(t) => (TableKind::Gpt, t.disk_guid.to_string()),
        Found::Mbr(t) => (TableKind::Mbr, format!("{:08x}", t.disk_signature)),
    };
    let mut report = Report {
        image: path.to_path_buf(),
        format: kubebake_vdisk::Format::Raw,
        size,
        table,
        disk_id,
        partitions: Vec::new(),
        cmdline: None,
        manifest: None,
        warnings: found
            .warnings()
            .iter()
            .cloned()
            .map(Finding::Table)
            .collect(),
    };
    for mut part in rows(&found) {
        // Only what the image holds: a truncated image's partitions end early.
        let (offset, len) = (part.offset, part.size.min(size.saturating_sub(part.offset)));
        let window = || -> io::Result<Window<R>> { Ok(Window::new(open()?, offset, Some(len))) };
        look_into(&mut part, &window, &mut report);
        report.partitions.push(part);
    }
    Ok(report)
}

/// Identify the filesystem of `part`; take the command line from the first
/// FAT volume and the manifest from the first ext4 filesystem that has them.
fn look_into<R, W>(part: &mut PartInfo, window: &W, report: &mut Report)
where
    R: Read + Seek + 'static,
    W: Fn() -> io::Result<Window<R>>,
{
    let number = part.number;
    let mut fail = |what, error: anyhow::Error| {
        report.warnings.push(Finding::Filesystem {
            number,
            what,
            error: format!("{error:#}"),
        });
    };
    part.filesystem = match window()
        .map_err(anyhow::Error::from)
        .and_then(|mut w| Ok(probe::identify(&mut w)?))
    {
        Ok(fs) => fs,
        Err(e) => {
            fail("probing for a filesystem", e);
            FsInfo::Unknown
        }
    };
    match &part.filesystem {
        FsInfo::Fat(_) if report.cmdline.is_none() => match fat_cmdline(window) {
            Ok(c) => report.cmdline = c,
            Err(e) => fail("reading the FAT volume", e),
        },
        FsInfo::Ext4(_) if report.manifest.is_none() => match manifest(window) {
            Ok(m) => report.manifest = m,
            Err(error) => report.warnings.push(Finding::Manifest { number, error }),
        },
        _ => {}
    }
}

/// The baked manifest of one ext4 filesystem; an absent one is no damage.
fn manifest<R, W>(window: &W) -> std::result::Result<Option<serde_json::Value>, String>
where
    R: Read + Seek + 'static,
    W: Fn() -> io::Result<Window<R>>,
{
    let w = window().map_err(|e| e.to_string())?;
    match ext4read::read_file(w, MANIFEST_PATH, MAX_MANIFEST) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("not valid JSON: {e}")),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The cmdline of the first systemd-boot entry, or cmdline.txt.
fn fat_cmdline<R, W>(window: &W) -> Result<Option<String>>
where
    R: Read + Seek,
    W: Fn() -> io::Result<Window<R>>,
{
    let files = fat::list(window()?)?;
    let entry = files
        .iter()
        .map(|(p, _)| p)
        .find(|p| p.starts_with("loader/entries/") && p.ends_with(".conf"));
    if let Some(e) = entry {
        let text = fat::read_file(window()?, e, MAX_CMDLINE)?;
        return Ok(boot::options_of(&String::from_utf8_lossy(&text)));
    }
    if files.iter().any(|(p, _)| p == "cmdline.txt") {
        let text = fat::read_file(window()?, "cmdline.txt", MAX_CMDLINE)?;
        return Ok(Some(String::from_utf8_lossy(&text).trim().to_string()));
    }
    Ok(None)
}
