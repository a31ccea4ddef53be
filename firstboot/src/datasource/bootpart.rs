//! Seed files on the boot partition (Raspberry Pi FAT boot, or the ESP):
//! `user-data`, `meta-data`, `network-config`, `nodes/<mac>.yaml`.
//!
//! First the usual mount points are searched (configurable: `/boot/firmware`,
//! `/boot/efi`, `/efi`, `/boot`); when none holds a seed, partitions named by
//! GPT label (`/dev/disk/by-partlabel/{ESP,boot,…}`) or FAT label
//! (`/dev/disk/by-label/{bootfs,boot,ESP,…}`) are read in-process (FAT) or
//! mounted read-only. The boot partition is never written. One that cannot
//! be read (a damaged FAT) is this source's error when no other has a seed.

use super::cidata::{self, FsKind};
use super::{read_nocloud_dir, DsError, SeedFiles};
use crate::config::Config;

/// GPT partition labels that may hold the boot files.
pub const PARTLABELS: [&str; 5] = ["ESP", "esp", "boot", "EFI System Partition", "bootfs"];
/// Filesystem labels of FAT boot partitions (Pi images use `bootfs`).
pub const FSLABELS: [&str; 4] = ["bootfs", "boot", "ESP", "EFI"];

/// Reads the boot partition seed, if any.
pub fn fetch(cfg: &Config) -> Result<Option<SeedFiles>, DsError> {
    for d in &cfg.boot_dirs {
        if let Some(s) = read_nocloud_dir(&cfg.path(d), &format!("bootpart:{d}"))? {
            return Ok(Some(s));
        }
    }
    let candidates = PARTLABELS
        .iter()
        .map(|l| format!("/dev/disk/by-partlabel/{l}"))
        .chain(FSLABELS.iter().map(|l| format!("/dev/disk/by-label/{l}")));
    // A partition that is neither FAT nor iso9660 (an ext4 /boot labelled
    // `boot`) holds no seed; one that is but cannot be read (a damaged FAT
    // the user edited) is reported, unless another partition has the seed.
    let mut unreadable = None;
    for dev in candidates {
        let p = cfg.path(&dev);
        if !p.exists() {
            continue;
        }
        if matches!(cidata::sniff(&p), Ok(FsKind::Unknown)) {
            tracing::info!("boot partition {dev}: neither FAT nor iso9660, skipped");
            continue;
        }
        match cidata::read_volume(cfg, &p, &format!("bootpart:{dev}")) {
            Ok(Some(s)) => return Ok(Some(s)),
            Ok(None) => {}
            Err(e) => {
                tracing::info!("boot partition {dev}: {e}");
                unreadable.get_or_insert(e);
            }
        }
    }
    unreadable.map_or(Ok(None), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_seed_in_configured_dir() {
        let d = tempfile::tempdir().expect("tmp");
        let mut cfg = Config::from_env(Some(d.path().to_path_buf()));
        cfg.boot_dirs = vec!["/boot/efi".into(), "/boot/firmware".into()];
        cfg.mount = false;
        assert!(fetch(&cfg).expect("ok").is_none());
        let fw = d.path().join("boot/firmware");
        std::fs::create_dir_all(&fw).expect("mk");
        std::fs::write(fw.join("user-data"), "#cloud-config\nhostname: pi1\n").expect("w");
        std::fs::write(fw.join("meta-data"), "instance-id: pi1\n").expect("w");
        let s = fetch(&cfg).expect("ok").expect("found");
        assert_eq!(s.source, "bootpart:/boot/firmware");
        assert!(s.meta_data.is_some());
    }
}
