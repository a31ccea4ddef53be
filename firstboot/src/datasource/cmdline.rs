//! Kernel command line source: `ds=nocloud;s=file:///dir/` (cloud-init's
//! NoCloud form, also `seedfrom=` and `http://`) or `kubebake.seed=PATH|URL`.

use super::{read_nocloud_dir, DsError, SeedFiles};
use crate::config::Config;
use kubebake_seed::limits::SeedFile;
use std::time::Duration;

/// Where the command line points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedRef {
    /// A local directory holding `user-data` and friends.
    Dir(String),
    /// A local `user-data` file.
    File(String),
    /// An HTTP base URL ending in `/` (NoCloud seedfrom).
    Http(String),
}

fn classify(loc: &str) -> Option<SeedRef> {
    if let Some(p) = loc.strip_prefix("file://") {
        return Some(if p.ends_with('/') {
            SeedRef::Dir(p.to_string())
        } else {
            SeedRef::File(p.to_string())
        });
    }
    if loc.starts_with("http://") {
        let mut u = loc.to_string();
        if !u.ends_with('/') {
            u.push('/');
        }
        return Some(SeedRef::Http(u));
    }
    if loc.starts_with('/') {
        return Some(if loc.ends_with('/') {
            SeedRef::Dir(loc.to_string())
        } else {
            SeedRef::File(loc.to_string())
        });
    }
    None
}

/// Parses `/proc/cmdline` contents.
pub fn parse(cmdline: &str) -> Option<SeedRef> {
    for word in cmdline.split_whitespace() {
        if let Some(v) = word.strip_prefix("kubebake.seed=") {
            return classify(v);
        }
    }
    for word in cmdline.split_whitespace() {
        let Some(v) = word.strip_prefix("ds=") else {
            continue;
        };
        let mut parts = v.split(';');
        let kind = parts.next().unwrap_or_default();
        if !kind.starts_with("nocloud") {
            continue;
        }
        for p in parts {
            if let Some(loc) = p.strip_prefix("s=").or_else(|| p.strip_prefix("seedfrom=")) {
                return classify(loc);
            }
        }
    }
    None
}

/// Reads the seed the command line points at, if any.
pub fn fetch(cfg: &Config) -> Result<Option<SeedFiles>, DsError> {
    let path = cfg.path("/proc/cmdline");
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(DsError::Io { path, source }),
    };
    let Some(r) = parse(&String::from_utf8_lossy(&text)) else {
        return Ok(None);
    };
    match r {
        SeedRef::Dir(d) => {
            let s = read_nocloud_dir(&cfg.path(&d), &format!("cmdline:{d}"))?;
            if s.is_none() {
                return Err(DsError::Io {
                    path: cfg.path(&d).join("user-data"),
                    source: std::io::ErrorKind::NotFound.into(),
                });
            }
            Ok(s)
        }
        SeedRef::File(f) => {
            let p = cfg.path(&f);
            let user_data =
                super::read_optional(&p, SeedFile::UserData)?.ok_or_else(|| DsError::Io {
                    path: p.clone(),
                    source: std::io::ErrorKind::NotFound.into(),
                })?;
            Ok(Some(SeedFiles {
                user_data,
                meta_data: None,
                network_config: None,
                node_overrides: Vec::new(),
                source: format!("cmdline:{f}"),
            }))
        }
        SeedRef::Http(base) => {
            let t = Duration::from_secs(5);
            let get = |kind: SeedFile| -> Result<Option<Vec<u8>>, DsError> {
                let url = format!("{base}{}", kind.name());
                let r = crate::http::request("GET", &url, &[], t, kind.cap())
                    .map_err(|e| DsError::http(e, kind))?;
                Ok((r.status == 200).then_some(r.body))
            };
            let Some(user_data) = get(SeedFile::UserData)? else {
                return Err(DsError::Command {
                    cmd: format!("GET {base}user-data"),
                    why: "not found".into(),
                });
            };
            Ok(Some(SeedFiles {
                user_data,
                meta_data: get(SeedFile::MetaData)?,
                network_config: get(SeedFile::NetworkConfig)?,
                node_overrides: Vec::new(),
                source: format!("cmdline:{base}"),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            parse("root=PARTUUID=x ro ds=nocloud;s=file:///seed/ quiet"),
            Some(SeedRef::Dir("/seed/".into()))
        );
        assert_eq!(
            parse("ds=nocloud-net;seedfrom=http://10.0.0.1:8000/n1"),
            Some(SeedRef::Http("http://10.0.0.1:8000/n1/".into()))
        );
        assert_eq!(
            parse("kubebake.seed=/boot/efi/seed.yaml"),
            Some(SeedRef::File("/boot/efi/seed.yaml".into()))
        );
        assert_eq!(parse("ds=ec2 quiet"), None);
        assert_eq!(parse("root=/dev/sda2"), None);
    }

    #[test]
    fn fetch_dir_and_missing() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(d.path().join("proc")).expect("mk");
        std::fs::create_dir_all(d.path().join("seed")).expect("mk");
        let cfg = Config::from_env(Some(d.path().to_path_buf()));
        assert!(fetch(&cfg).expect("no cmdline").is_none());
        std::fs::write(
            d.path().join("proc/cmdline"),
            "ro ds=nocloud;s=file:///seed/\n",
        )
        .expect("w");
        // points at a directory without user-data: an error, not silence
        assert!(fetch(&cfg).is_err());
        std::fs::write(
            d.path().join("seed/user-data"),
            "#cloud-config\nhostname: a\n",
        )
        .expect("w");
        let s = fetch(&cfg).expect("ok").expect("some");
        assert_eq!(s.source, "cmdline:/seed/");
        assert!(s.user_data.starts_with(b"#cloud-config"));
    }
}
