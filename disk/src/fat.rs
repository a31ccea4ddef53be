//! FAT volumes (ESP, Raspberry Pi boot partition) via the `fatfs` crate: format, copy files
//! in, list and read back. Output is byte-identical for identical inputs: the volume id,
//! label and every timestamp come from [`FatOptions`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::cache::PageCache;
use crate::error::{Error, Result};
use crate::fatfix;

/// How to format a FAT volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatOptions {
    /// Size of the volume in bytes (the window it is written into must be at least this big).
    pub size_bytes: u64,
    /// Volume label, ASCII, at most 11 bytes ("" for none).
    pub label: String,
    /// Volume serial number (see [`crate::guid::fat_volume_id`]).
    pub volume_id: u32,
    /// Unix seconds used for every timestamp (SOURCE_DATE_EPOCH), clamped to 1980..2107.
    pub timestamp: i64,
}

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// In memory.
    Bytes(Vec<u8>),
    /// A host file, streamed.
    File(PathBuf),
}

/// One file to put on the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatFile {
    /// Path inside the volume, '/'-separated, no leading '/' needed ("EFI/BOOT/BOOTX64.EFI").
    pub path: String,
    /// Content.
    pub source: Source,
}

const SECTOR: u64 = 512;
const FAT32_MIN_CLUSTERS: u64 = 65_525;

/// Cluster size giving a valid FAT32 volume of `size` bytes, or None when the volume is too
/// small for FAT32 (then fatfs picks FAT16 or FAT12 and its own cluster size).
fn fat32_cluster_size(size: u64) -> Option<u32> {
    const GIB: u64 = 1 << 30;
    let mut cluster: u32 = match size {
        s if s >= 32 * GIB => 32 * 1024,
        s if s >= 16 * GIB => 16 * 1024,
        s if s >= 8 * GIB => 8 * 1024,
        _ => 4 * 1024,
    };
    let sectors = size / SECTOR;
    loop {
        let spc = u64::from(cluster) / SECTOR;
        let fat_sectors = (sectors / spc + 2) * 4 / SECTOR + 1;
        let data = sectors.saturating_sub(32 + 2 * fat_sectors);
        // A margin over the minimum absorbs rounding differences with fatfs's own sums.
        if data / spc >= FAT32_MIN_CLUSTERS + 64 {
            return Some(cluster);
        }
        if cluster == 512 {
            return None;
        }
        cluster /= 2;
    }
}

/// Unix seconds to a FAT date-time (UTC), clamped to the representable 1980-01-01 ..
/// 2107-12-31 23:59:58.
pub(crate) fn dos_datetime(unix: i64) -> fatfs::DateTime {
    const MIN: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    const MAX: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
    let t = unix.clamp(MIN, MAX);
    let (date, secs) = kubebake_civil::from_unix(t);
    // All values are in range after the clamp above.
    let year = u16::try_from(date.year).unwrap_or(1980);
    let n = |v: u32| u16::try_from(v).unwrap_or(0);
    fatfs::DateTime {
        date: fatfs::Date {
            year,
            month: u16::from(date.month),
            day: u16::from(date.day),
        },
        time: fatfs::Time {
            hour: n(secs / 3600),
            min: n(secs / 60 % 60),
            sec: n(secs % 60),
            millis: 0,
        },
    }
}

/// A TimeProvider that always answers the same instant.
#[derive(Debug)]
struct FixedTime(fatfs::DateTime);

impl fatfs::TimeProvider for FixedTime {
    fn get_current_date(&self) -> fatfs::Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        self.0
    }
}

/// fatfs wants a `&'static dyn TimeProvider`: keep one leaked provider per distinct timestamp
/// (a build uses one or two), so memory stays bounded however often we format.
fn time_provider(unix: i64) -> &'static FixedTime {
    static PROVIDERS: Mutex<Vec<(i64, &'static FixedTime)>> = Mutex::new(Vec::new());
    let mut list = PROVIDERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = list.iter().find(|(t, _)| *t == unix) {
        return p;
    }
    let p: &'static FixedTime = Box::leak(Box::new(FixedTime(dos_datetime(unix))));
    list.push((unix, p));
    p
}

fn label_bytes(label: &str) -> Result<[u8; 11]> {
    if label.len() > 11 || !label.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(Error::Invalid(format!(
            "FAT label {label:?} must be at most 11 printable ASCII characters"
        )));
    }
    if label.bytes().any(|b| b"\"*+,./:;<=>?[\\]|".contains(&b)) {
        return Err(Error::Invalid(format!(
            "FAT label {label:?} contains a character FAT forbids"
        )));
    }
    let mut out = [b' '; 11];
    out[..label.len()].copy_from_slice(label.as_bytes());
    Ok(out)
}

fn fat_err(what: &'static str, path: &str) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_string();
    move |source| Error::Fat { what, path, source }
}

/// Split and check a volume path: no empty, "." or ".." components.
fn components(path: &str) -> Result<Vec<&str>> {
    kubebake_fatread::split_path(path).map_err(from_reader)
}

fn copy_source<W: Write>(source: &Source, out: &mut W, path: &str) -> Result<()> {
    match source {
        Source::Bytes(b) => out.write_all(b).map_err(fat_err("writing", path)),
        Source::File(host) => {
            let mut f = File::open(host).map_err(|source| Error::Source {
                path: host.clone(),
                source,
            })?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = match f.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        return Err(Error::Source {
                            path: host.clone(),
                            source,
                        })
                    }
                };
                out.write_all(&buf[..n]).map_err(fat_err("writing", path))?;
            }
        }
    }
}

/// Format FAT32 (FAT16 if too small for FAT32) into `target` and copy `files` in
/// (directories created as needed), timestamps from `timestamp`: byte-identical reruns.
///
/// `target` is usually a [`crate::Window`] over the partition; only its first
/// `opts.size_bytes` bytes are used. Files are created in the order given; a path given twice
/// is an error.
pub fn build<T: Read + Write + Seek>(
    target: T,
    opts: &FatOptions,
    files: &[FatFile],
) -> Result<()> {
    let label = label_bytes(&opts.label)?;
    let sectors = u32::try_from(opts.size_bytes / SECTOR).map_err(|_| {
        Error::Invalid(format!(
            "FAT volume of {} bytes is too large",
            opts.size_bytes
        ))
    })?;
    let mut seen = std::collections::BTreeSet::new();
    for f in files {
        let key = components(&f.path)?.join("/").to_ascii_uppercase();
        if !seen.insert(key) {
            return Err(Error::Invalid(format!(
                "{:?} is given twice for the FAT volume (names are case-insensitive)",
                f.path
            )));
        }
    }

    // fatfs leaves reserved sectors and cluster slack as it finds them; a fresh cache starts
    // every page it touches from zeros, so the volume's bytes depend only on the inputs (and
    // nothing is read back from the target while building).
    let mut disk = PageCache::fresh(target).map_err(fat_err("opening", "/"))?;
    let mut fmt = fatfs::FormatVolumeOptions::new()
        .total_sectors(sectors)
        .volume_id(opts.volume_id);
    if !opts.label.is_empty() {
        // fatfs also writes the root-directory label entry (without timestamps; see below).
        fmt = fmt.volume_label(label);
    }
    if let Some(cluster) = fat32_cluster_size(opts.size_bytes) {
        fmt = fmt
            .bytes_per_cluster(cluster)
            .fat_type(fatfs::FatType::Fat32);
    }
    fatfs::format_volume(&mut disk, fmt).map_err(fat_err("formatting", "/"))?;
    let provider = time_provider(opts.timestamp);
    if !opts.label.is_empty() {
        fatfix::stamp_label_entry(&mut disk, label, provider.0)
            .map_err(fat_err("labelling", "/"))?;
    }
    disk.seek(SeekFrom::Start(0))
        .map_err(fat_err("opening", "/"))?;
    {
        let fs = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new().time_provider(provider))
            .map_err(fat_err("mounting", "/"))?;
        // Count free clusters now so FSInfo is kept exact (fsck.fat flags "uninitialized").
        fs.stats().map_err(fat_err("counting free clusters", "/"))?;
        for f in files {
            let parts = components(&f.path)?;
            let mut dir = fs.root_dir();
            let mut sofar = String::new();
            for d in &parts[..parts.len() - 1] {
                sofar.push_str(d);
                dir = dir
                    .create_dir(d)
                    .map_err(fat_err("creating directory", &sofar))?;
                sofar.push('/');
            }
            let name = parts[parts.len() - 1];
            let mut file = dir
                .create_file(name)
                .map_err(fat_err("creating", &f.path))?;
            copy_source(&f.source, &mut file, &f.path)?;
            file.flush().map_err(fat_err("writing", &f.path))?;
        }
        fs.unmount().map_err(fat_err("unmounting", "/"))?;
    }
    fatfix::fix_dot_entries(&mut disk).map_err(fat_err("fixing directory entries", "/"))?;
    disk.flush_all().map_err(fat_err("flushing", "/"))?;
    Ok(())
}

/// An error of the checked reader as this crate's, with the same message.
fn from_reader(e: kubebake_fatread::Error) -> Error {
    use kubebake_fatread::Error as R;
    match e {
        R::Fat { what, path, source } => Error::Fat { what, path, source },
        R::NotFound { path, part } => Error::Fat {
            what: "opening",
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no {part:?} in its directory"),
            ),
        },
        R::TooLarge { path, size, limit } => Error::TooLarge { path, size, limit },
        e @ R::BadPath { .. } => Error::Invalid(e.to_string()),
    }
}

/// Every regular file of the volume with its size, sorted by path ("EFI/BOOT/BOOTX64.EFI").
/// Read with the checked reader of `kubebake-fatread` (the volume may be hostile); nothing
/// is written. A volume nesting deeper than 32 directories or holding more than 100 000
/// entries (a looping chain, in practice) is an error, as is a cluster outside the data
/// area.
pub fn list<T: Read + Seek>(target: T) -> Result<Vec<(String, u64)>> {
    kubebake_fatread::list(target).map_err(from_reader)
}

/// The content of one file of at most `limit` bytes (path '/'-separated, case-insensitive
/// as FAT is; long or short names); a larger one is [`Error::TooLarge`]. Read with the
/// checked reader of `kubebake-fatread`; nothing is written.
pub fn read_file<T: Read + Seek>(target: T, path: &str, limit: u64) -> Result<Vec<u8>> {
    kubebake_fatread::read_file(target, path, limit).map_err(from_reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_datetime_converts_utc() {
        // 2024-02-29T13:45:30Z
        let dt = dos_datetime(1_709_214_330);
        assert_eq!((dt.date.year, dt.date.month, dt.date.day), (2024, 2, 29));
        assert_eq!((dt.time.hour, dt.time.min, dt.time.sec), (13, 45, 30));
        let early = dos_datetime(0);
        assert_eq!(
            (early.date.year, early.date.month, early.date.day),
            (1980, 1, 1)
        );
    }

    #[test]
    fn fat32_chosen_for_esp_sizes_only() {
        assert_eq!(fat32_cluster_size(512 << 20), Some(4096));
        assert_eq!(fat32_cluster_size(256 << 20), Some(2048));
        assert!(fat32_cluster_size(40 << 20).is_some());
        assert_eq!(fat32_cluster_size(16 << 20), None);
    }

    #[test]
    fn labels_are_checked() {
        assert!(label_bytes("ESP").is_ok());
        assert!(label_bytes("TOO-LONG-LABEL").is_err());
        assert!(label_bytes("A/B").is_err());
    }
}
