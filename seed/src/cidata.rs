//! NoCloud CIDATA volumes: a FAT image labelled `CIDATA` holding
//! `user-data`, `meta-data` and (optionally) `network-config`.
//!
//! Deterministic: the volume ID is the first 4 bytes of a SHA-256 over the
//! file names and contents, and every timestamp is the FAT epoch
//! (1980-01-01 00:00:00), so the same inputs give the same bytes.

use std::io::{self, Cursor, Write};

use sha2::{Digest, Sha256};

/// Volume label cloud-init and kubebake-firstboot look for.
pub const LABEL: &str = "CIDATA";

/// Why building the image failed.
#[derive(Debug, thiserror::Error)]
pub enum CidataError {
    /// fatfs reported an I/O error.
    #[error("building the FAT image ({what}): {source}")]
    Fat {
        /// The step.
        what: String,
        /// The cause.
        source: io::Error,
    },
}

/// `meta-data` with `instance-id` and `local-hostname`.
///
/// The instance ID should change when the seed changes (cloud-init re-runs
/// per instance); [`instance_id`] derives one from the user-data.
pub fn meta_data(instance_id: &str, local_hostname: Option<&str>) -> String {
    let mut m = format!("instance-id: {instance_id}\n");
    if let Some(h) = local_hostname {
        m.push_str(&format!("local-hostname: {h}\n"));
    }
    m
}

/// `kubebake-<first 16 hex of sha256(user-data)>`.
pub fn instance_id(user_data: &str) -> String {
    let h = Sha256::digest(user_data.as_bytes());
    let hex: String = h.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("kubebake-{hex}")
}

/// The files of a CIDATA volume, in a fixed order.
pub fn files<'a>(
    user_data: &'a str,
    meta_data: &'a str,
    network_config: Option<&'a str>,
) -> Vec<(&'static str, &'a [u8])> {
    let mut out = vec![
        ("user-data", user_data.as_bytes()),
        ("meta-data", meta_data.as_bytes()),
    ];
    if let Some(n) = network_config {
        out.push(("network-config", n.as_bytes()));
    }
    out
}

#[derive(Debug)]
struct FatEpoch;

impl fatfs::TimeProvider for FatEpoch {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date {
            year: 1980,
            month: 1,
            day: 1,
        }
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.get_current_date(),
            time: fatfs::Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

static FAT_EPOCH: FatEpoch = FatEpoch;

fn fat(what: &str) -> impl FnOnce(io::Error) -> CidataError + '_ {
    move |source| CidataError::Fat {
        what: what.to_string(),
        source,
    }
}

/// Builds the FAT image (FAT12, at least 1 MiB, grown to fit the files).
pub fn fat_image(files: &[(&str, &[u8])]) -> Result<Vec<u8>, CidataError> {
    let mut hasher = Sha256::new();
    for (name, data) in files {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((data.len() as u64).to_le_bytes());
        hasher.update(data);
    }
    let digest = hasher.finalize();
    let volume_id = u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]);

    let payload: usize = files
        .iter()
        .map(|(_, d)| d.len().div_ceil(4096) * 4096)
        .sum();
    let size = (1024 * 1024usize).max((payload + 512 * 1024).div_ceil(1024 * 1024) * 1024 * 1024);
    let mut disk = Cursor::new(vec![0u8; size]);
    let mut label = [b' '; 11];
    label[..LABEL.len()].copy_from_slice(LABEL.as_bytes());
    let opts = fatfs::FormatVolumeOptions::new()
        .volume_label(label)
        .volume_id(volume_id);
    fatfs::format_volume(&mut disk, opts).map_err(fat("format"))?;
    {
        let fs =
            fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new().time_provider(&FAT_EPOCH))
                .map_err(fat("mount"))?;
        {
            let root = fs.root_dir();
            for (name, data) in files {
                let mut f = root.create_file(name).map_err(fat(name))?;
                f.truncate().map_err(fat(name))?;
                f.write_all(data).map_err(fat(name))?;
                f.flush().map_err(fat(name))?;
            }
        }
        fs.unmount().map_err(fat("unmount"))?;
    }
    Ok(disk.into_inner())
}

/// The `xorriso` command that writes an iso9660 CIDATA volume (label
/// `CIDATA`, Joliet and Rock Ridge, so `user-data` keeps its name) from the
/// files in `src_dir`. `SOURCE_DATE_EPOCH` is set to `epoch` so the same
/// files give the same ISO. Needs the `xorriso` package; used by tests and
/// tooling, not by the image build itself.
///
/// Equivalent shell: `SOURCE_DATE_EPOCH=0 xorriso -as mkisofs -o OUT -V CIDATA -J -R SRC_DIR`.
pub fn iso9660_command(
    src_dir: &std::path::Path,
    out: &std::path::Path,
    epoch: u64,
) -> std::process::Command {
    let mut c = std::process::Command::new("xorriso");
    c.env("SOURCE_DATE_EPOCH", epoch.to_string())
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(out)
        .args(["-V", LABEL, "-J", "-R"])
        .arg(src_dir);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_content_dependent() {
        let a = fat_image(&files("#cloud-config\n", "instance-id: a\n", None)).expect("img");
        let b = fat_image(&files("#cloud-config\n", "instance-id: a\n", None)).expect("img");
        let c = fat_image(&files("#cloud-config\n", "instance-id: b\n", None)).expect("img");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 1024 * 1024);
    }

    #[test]
    fn meta() {
        assert_eq!(
            meta_data("i-1", Some("n1")),
            "instance-id: i-1\nlocal-hostname: n1\n"
        );
        assert!(instance_id("x").starts_with("kubebake-"));
        assert_ne!(instance_id("x"), instance_id("y"));
    }
}
