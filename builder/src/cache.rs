//! Content-addressed download cache: `$XDG_CACHE_HOME/kubebake/downloads/sha256/<hex>`.
//!
//! A file is only ever stored under the hash of its content, and is hashed
//! again before each use, so a corrupted cache entry is detected and refetched.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

/// Buffer size for hashing and copying (large sequential reads are fastest).
const BUF: usize = 256 * 1024;

/// The download cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// sha256 of a file as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    sha256_file_counted(path, |_| {})
}

/// [`sha256_file`], calling `counted` with each chunk's length (a
/// progress bar).
pub fn sha256_file_counted(path: &Path, counted: impl Fn(u64)) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BUF];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        counted(n as u64);
    }
    Ok(hex::encode(h.finalize()))
}

/// Normalise `sha256:HEX` / `HEX` to 64 lowercase hex digits.
pub fn normalize_sha256(s: &str) -> Result<String> {
    let hex = s
        .trim()
        .strip_prefix("sha256:")
        .unwrap_or(s.trim())
        .to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("`{s}` is not a sha256 (64 hex digits, optionally prefixed with sha256:)");
    }
    Ok(hex)
}

impl Cache {
    /// The cache under `$XDG_CACHE_HOME` (or `$HOME/.cache`).
    pub fn from_env() -> Result<Cache> {
        let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache"))
                .context("neither XDG_CACHE_HOME nor HOME is set; set XDG_CACHE_HOME")?,
        };
        Ok(Cache {
            dir: base.join("kubebake/downloads/sha256"),
        })
    }

    /// Remove the partial downloads process `pid` left (it was killed
    /// mid-download); other builds' downloads are left alone.
    pub fn remove_partials(&self, pid: u32) {
        let prefix = partial_prefix(pid);
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Path an object with this hash lives at.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// A verified cached copy of `sha256`, if present. A corrupt entry is removed.
    pub fn lookup(&self, sha256: &str) -> Result<Option<PathBuf>> {
        let p = self.path_of(sha256);
        if !p.exists() {
            return Ok(None);
        }
        if sha256_file(&p)? == sha256 {
            return Ok(Some(p));
        }
        tracing::warn!(path = %p.display(), "cache entry corrupt; removing it");
        std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        Ok(None)
    }

    /// Fetch `url`, verify it hashes to `sha256`, store it, return its path.
    pub fn fetch(&self, name: &str, url: &str, sha256: &str) -> Result<PathBuf, FetchError> {
        if let Some(p) = self.lookup(sha256).map_err(FetchError::Local)? {
            tracing::info!(component = name, path = %p.display(), "using cached download");
            return Ok(p);
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating cache dir {}", self.dir.display()))
            .map_err(FetchError::Local)?;
        tracing::info!(component = name, url, "downloading");
        let mut tmp = tempfile::Builder::new()
            .prefix(&partial_prefix(std::process::id()))
            .tempfile_in(&self.dir)
            .with_context(|| format!("creating a temp file in {}", self.dir.display()))
            .map_err(FetchError::Local)?;
        let got = download_to(name, url, tmp.as_file_mut())?;
        if got != sha256 {
            return Err(FetchError::Mismatch { got });
        }
        let dest = self.path_of(sha256);
        tmp.persist(&dest)
            .with_context(|| format!("storing {}", dest.display()))
            .map_err(FetchError::Local)?;
        Ok(dest)
    }
}

/// Name prefix of process `pid`'s downloads in progress.
fn partial_prefix(pid: u32) -> String {
    format!(".partial-{pid}-")
}

/// Why a download did not give a verified file.
#[derive(Debug)]
pub enum FetchError {
    /// The URL could not be read (offline, DNS, refused, HTTP error).
    Unreachable(String),
    /// It was read, but its content hashes to `got`.
    Mismatch {
        /// The sha256 of what was downloaded.
        got: String,
    },
    /// A local problem (cache directory, disk).
    Local(anyhow::Error),
}

/// A download's progress bar on stderr (hidden when it is not a terminal);
/// a finished download leaves one line.
fn download_bar(name: &str, len: Option<u64>) -> ProgressBar {
    let bar = crate::progress::bar(len);
    let template = if len.is_some() {
        "{prefix:>12} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta:>4} {msg}"
    } else {
        "{prefix:>12} {spinner} {bytes:>10} {bytes_per_sec:>12} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(name.to_string());
    bar
}

/// Stream `url` into `out`, returning the sha256 of what was written.
fn download_to(name: &str, url: &str, out: &mut File) -> Result<String, FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .build()
        .into();
    let unreachable = |e: &dyn std::fmt::Display| FetchError::Unreachable(e.to_string());
    let resp = agent.get(url).call().map_err(|e| unreachable(&e))?;
    let len = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let bar = download_bar(name, len);
    let mut body = resp.into_body();
    let mut reader = body.with_config().limit(u64::MAX).reader();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BUF];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| unreachable(&format!("reading the response: {e}")))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])
            .context("writing the download")
            .map_err(FetchError::Local)?;
        bar.inc(n as u64);
    }
    out.sync_all()
        .context("syncing the download")
        .map_err(FetchError::Local)?;
    bar.finish_with_message("downloaded");
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_accepts_prefix_and_rejects_garbage() {
        let h = "AB".repeat(32);
        assert_eq!(
            normalize_sha256(&format!("sha256:{h}")).expect("ok"),
            "ab".repeat(32)
        );
        assert!(normalize_sha256("abc").is_err());
        assert!(normalize_sha256(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn corrupt_entry_is_dropped() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = Cache {
            dir: dir.path().to_path_buf(),
        };
        let sha = "00".repeat(32);
        std::fs::write(c.path_of(&sha), b"not that").expect("w");
        assert!(c.lookup(&sha).expect("lookup").is_none());
        assert!(!c.path_of(&sha).exists());
        std::fs::write(dir.path().join("x"), b"hello").expect("w");
        let good = sha256_file(&dir.path().join("x")).expect("hash");
        std::fs::rename(dir.path().join("x"), c.path_of(&good)).expect("mv");
        assert!(c.lookup(&good).expect("lookup").is_some());
    }
}
