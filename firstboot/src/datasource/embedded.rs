//! The seed baked into the image by `kubebake build --seed`:
//! `/usr/lib/kubebake/seed/{user-data,meta-data,network-config}`.

use super::{read_nocloud_dir, DsError, SeedFiles};
use crate::config::Config;

/// Directory of the embedded seed.
pub const DIR: &str = kubebake_seed::paths::SEED_DIR;

/// Reads the embedded seed, if the image has one.
pub fn fetch(cfg: &Config) -> Result<Option<SeedFiles>, DsError> {
    read_nocloud_dir(&cfg.path(DIR), "embedded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_when_present() {
        let d = tempfile::tempdir().expect("tmp");
        let cfg = Config::from_env(Some(d.path().to_path_buf()));
        assert!(fetch(&cfg).expect("ok").is_none());
        let dir = cfg.path(DIR);
        std::fs::create_dir_all(&dir).expect("mk");
        std::fs::write(dir.join("user-data"), "#cloud-config\n").expect("w");
        std::fs::write(dir.join("network-config"), "version: 2\n").expect("w");
        let s = fetch(&cfg).expect("ok").expect("some");
        assert_eq!(s.network_config.as_deref(), Some(&b"version: 2\n"[..]));
        assert_eq!(s.source, "embedded");
    }
}
