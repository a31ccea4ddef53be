//! `kubebake inspect IMAGE`: partition table, filesystems and features, the
//! loader entry's command line and the baked manifest, read with the
//! project's own code. Works on images from other tools (sections that do
//! not apply are left out).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kubebake_disk::probe::FsInfo;
use kubebake_disk::{ext4read, fat, gpt, guid, mbr, probe, Window};
use serde::Serialize;

use crate::bake::MANIFEST_PATH;
use crate::boot;

/// One partition.
#[derive(Debug, Serialize)]
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

/// Everything `inspect` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Image path.
    pub image: PathBuf,
    /// File size in bytes.
    pub size: u64,
    /// `gpt` or `mbr`.
    pub table: String,
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

fn window(path: &Path, off: u64, len: u64) -> Result<Window<File>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Window::new(f, off, Some(len)))
}

/// Inspect an image.
pub fn inspect(path: &Path) -> Result<Report> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = f
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let mut parts = Vec::new();
    let (table, disk_id) = match gpt::read(&mut f) {
        Ok(t) => {
            for (p, n) in t.partitions.iter().zip(&t.numbers) {
                let off = p.first_lba * t.sector_size;
                let len = (p.last_lba + 1 - p.first_lba) * t.sector_size;
                parts.push((
                    *n,
                    p.name.clone(),
                    p.type_guid.to_string(),
                    type_name(p.type_guid).to_string(),
                    Some(p.guid.to_string()),
                    p.attributes,
                    off,
                    len,
                ));
            }
            ("gpt".to_string(), t.disk_guid.to_string())
        }
        Err(gpt_err) => {
            let t = mbr::read(&mut f).map_err(|e| {
                anyhow::anyhow!(
                    "{} has no readable partition table (GPT: {gpt_err}; MBR: {e}); is it a raw disk image?",
                    path.display()
                )
            })?;
            for (i, p) in t.partitions.iter().enumerate() {
                let name = match p.kind {
                    mbr::FAT32_LBA => "fat32-lba",
                    mbr::LINUX => "linux",
                    _ => "unknown",
                };
                parts.push((
                    u32::try_from(i + 1).unwrap_or(u32::MAX),
                    String::new(),
                    format!("{:#04x}", p.kind),
                    name.to_string(),
                    None,
                    0,
                    p.first_lba * t.sector_size,
                    (p.last_lba + 1 - p.first_lba) * t.sector_size,
                ));
            }
            ("mbr".to_string(), format!("{:08x}", t.disk_signature))
        }
    };
    let mut report = Report {
        image: path.to_path_buf(),
        size,
        table,
        disk_id,
        partitions: Vec::new(),
        cmdline: None,
        manifest: None,
    };
    for (number, name, type_id, tname, guid, attributes, offset, len) in parts {
        let mut w = window(path, offset, len)?;
        let filesystem = probe::identify(&mut w).unwrap_or(FsInfo::Unknown);
        match &filesystem {
            FsInfo::Fat(_) if report.cmdline.is_none() => {
                report.cmdline = fat_cmdline(path, offset, len)
            }
            FsInfo::Ext4(_) if report.manifest.is_none() => {
                if let Ok(bytes) = ext4read::read_file(window(path, offset, len)?, MANIFEST_PATH) {
                    report.manifest = serde_json::from_slice(&bytes).ok();
                }
            }
            _ => {}
        }
        report.partitions.push(PartInfo {
            number,
            name,
            type_id,
            type_name: tname,
            guid,
            attributes,
            offset,
            size: len,
            filesystem,
        });
    }
    Ok(report)
}

/// The cmdline of the first systemd-boot entry, or cmdline.txt.
fn fat_cmdline(path: &Path, off: u64, len: u64) -> Option<String> {
    let files = fat::list(window(path, off, len).ok()?).ok()?;
    let entry = files
        .iter()
        .map(|(p, _)| p)
        .find(|p| p.starts_with("loader/entries/") && p.ends_with(".conf"));
    if let Some(e) = entry {
        let text = fat::read_file(window(path, off, len).ok()?, e).ok()?;
        return boot::options_of(&String::from_utf8_lossy(&text));
    }
    if files.iter().any(|(p, _)| p == "cmdline.txt") {
        let text = fat::read_file(window(path, off, len).ok()?, "cmdline.txt").ok()?;
        return Some(String::from_utf8_lossy(&text).trim().to_string());
    }
    None
}

/// Human-readable rendering.
pub fn render(r: &Report) -> String {
    let mut s = format!(
        "image    {} ({} bytes, {} MiB)\ntable    {} {}\n",
        r.image.display(),
        r.size,
        r.size >> 20,
        r.table,
        r.disk_id
    );
    for p in &r.partitions {
        s.push_str(&format!(
            "part {}   {:<8} {:<12} {:>8} MiB at {} MiB  {}\n",
            p.number,
            if p.name.is_empty() { "-" } else { &p.name },
            p.type_name,
            p.size >> 20,
            p.offset >> 20,
            p.guid.as_deref().unwrap_or("")
        ));
        if p.attributes & (1 << 60) != 0 {
            s.push_str("         attributes: read-only\n");
        }
        match &p.filesystem {
            FsInfo::Ext4(e) => s.push_str(&format!(
                "         ext4 uuid {} label {:?} {} blocks of {} ({} free)\n         features {}\n",
                e.uuid,
                e.label,
                e.block_count,
                e.block_size,
                e.free_blocks,
                e.features.join(" ")
            )),
            FsInfo::Fat(f) => s.push_str(&format!(
                "         {} label {:?} serial {:08X}\n",
                f.kind, f.label, f.volume_id
            )),
            FsInfo::Unknown => s.push_str("         no filesystem recognised\n"),
        }
    }
    if let Some(c) = &r.cmdline {
        s.push_str(&format!("cmdline  {c}\n"));
    }
    if let Some(m) = &r.manifest {
        let get = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
        s.push_str(&format!(
            "baked    profile {} arch {} kubernetes {} kernel {}\n",
            get("profile"),
            get("arch"),
            get("kubernetes_version"),
            get("kernel_version")
        ));
        if let Some(cs) = m.get("components").and_then(|c| c.as_array()) {
            for c in cs {
                let g = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
                s.push_str(&format!(
                    "  {:<20} {:<10} sha256 {}\n",
                    g("name"),
                    g("version"),
                    g("sha256")
                ));
            }
        }
    }
    s
}
