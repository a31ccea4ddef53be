//! VMware guestinfo: `guestinfo.userdata` / `guestinfo.metadata` read with
//! `vmware-rpctool "info-get KEY"`, decoded per `KEY.encoding`
//! (`base64`/`b64`, `gzip+base64`/`gz+b64`, or none); when the extraConfig
//! keys hold no user-data, the same properties of the OVF environment
//! ([`super::ovfenv`]). Only used when DMI says VMware.

use super::{DsError, SeedFiles};
use crate::config::Config;
use base64::Engine;
use kubebake_seed::limits::{read_capped, SeedFile};
use std::io::Read;
use std::process::{Command, Stdio};

fn rpctool() -> String {
    std::env::var("KUBEBAKE_RPCTOOL").unwrap_or_else(|_| "vmware-rpctool".to_string())
}

/// What a cleared guestinfo value holds: a key cannot be removed, so it is
/// set to `---`, an empty YAML document (cloud-init's `redact`).
pub const CLEARED: &str = "---";

/// The value without surrounding white space; `None` when that leaves it
/// empty or [`CLEARED`].
pub fn present(v: &str) -> Option<&str> {
    let v = v.trim();
    (!v.is_empty() && v != CLEARED).then_some(v)
}

/// What `vmware-rpctool "info-get KEY"` answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The key is unset (the tool's "No value found"), empty or cleared.
    Unset,
    /// The value, trimmed.
    Value(String),
    /// The value is longer than the bytes the caller reads.
    TooLarge,
}

/// Runs `vmware-rpctool "info-get KEY"` and reads at most `max` bytes of
/// its answer (the child is killed past that).
pub fn rpc_get(key: &str, max: u64) -> Result<Answer, DsError> {
    let tool = rpctool();
    let failed = |why: String| DsError::Command {
        cmd: format!("{tool} info-get {key}"),
        why,
    };
    let mut child = Command::new(&tool)
        .arg(format!("info-get {key}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(max + 1)
            .read_to_end(&mut out)
            .map_err(|e| failed(e.to_string()))?;
    }
    if out.len() as u64 > max {
        let _ = child.kill();
        let _ = child.wait();
        return Ok(Answer::TooLarge);
    }
    let status = child.wait().map_err(|e| failed(e.to_string()))?;
    if !status.success() {
        // vmware-rpctool exits 1 with "No value found" for unset keys
        return Ok(Answer::Unset);
    }
    Ok(match present(&String::from_utf8_lossy(&out)) {
        Some(v) => Answer::Value(v.to_string()),
        None => Answer::Unset,
    })
}

/// Reads one guestinfo key holding (an encoding of) `kind`; `None` when
/// unset, empty or cleared. At most twice the cap is read (base64 and line breaks).
pub fn info_get(key: &str, kind: SeedFile) -> Result<Option<String>, DsError> {
    match rpc_get(key, kind.cap() * 2)? {
        Answer::Unset => Ok(None),
        Answer::Value(v) => Ok(Some(v)),
        Answer::TooLarge => Err(DsError::TooLarge {
            what: format!("guestinfo {key}"),
            kind,
        }),
    }
}

/// Decodes a guestinfo value per its encoding name; the decoded bytes may
/// not exceed `kind`'s cap (a gzip bomb stops there). `what` names the
/// value in errors (`guestinfo guestinfo.userdata`).
pub fn decode(
    what: &str,
    value: &str,
    encoding: Option<&str>,
    kind: SeedFile,
) -> Result<Vec<u8>, DsError> {
    let bad = |why: String| DsError::Decode {
        what: what.to_string(),
        why,
    };
    let too_large = || DsError::TooLarge {
        what: what.to_string(),
        kind,
    };
    let capped = |b: Vec<u8>| {
        if b.len() as u64 > kind.cap() {
            Err(too_large())
        } else {
            Ok(b)
        }
    };
    let b64 = |v: &str| {
        let compact: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| bad(format!("base64: {e}")))
    };
    match encoding.map(str::trim).unwrap_or("") {
        "" => capped(value.as_bytes().to_vec()),
        "base64" | "b64" => capped(b64(value)?),
        "gzip+base64" | "gz+b64" => {
            let raw = b64(value)?;
            read_capped(flate2::read::GzDecoder::new(raw.as_slice()), kind).map_err(|e| {
                if e.kind() == std::io::ErrorKind::FileTooLarge {
                    too_large()
                } else {
                    bad(format!("gzip: {e}"))
                }
            })
        }
        other => Err(bad(format!(
            "unknown encoding {other:?}; fix: set its .encoding to base64 (b64), \
             gzip+base64 (gz+b64), or nothing for plain text"
        ))),
    }
}

fn get_decoded(key: &str, kind: SeedFile) -> Result<Option<Vec<u8>>, DsError> {
    let Some(v) = info_get(key, kind)? else {
        return Ok(None);
    };
    let enc = info_get(&format!("{key}.encoding"), SeedFile::MetaData)?;
    decode(&format!("guestinfo {key}"), &v, enc.as_deref(), kind).map(Some)
}

/// Reads the seed from guestinfo: the extraConfig keys when
/// `guestinfo.userdata` is set, else the OVF environment. As cloud-init
/// orders its VMware datasource before its OVF one, the keys, set on
/// purpose on this VM, win over OVF properties that may be the template's;
/// the whole seed comes from one of the two, never a mix.
pub fn fetch(_cfg: &Config) -> Result<Option<SeedFiles>, DsError> {
    let Some(user_data) = get_decoded("guestinfo.userdata", SeedFile::UserData)? else {
        return super::ovfenv::fetch();
    };
    Ok(Some(SeedFiles {
        user_data,
        meta_data: get_decoded("guestinfo.metadata", SeedFile::MetaData)?,
        network_config: None,
        node_overrides: Vec::new(),
        source: "vmware-guestinfo".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let u = SeedFile::UserData;
        assert_eq!(
            decode("k", "aGVsbG8=", Some("base64"), u).expect("b64"),
            b"hello"
        );
        assert_eq!(
            decode("k", "aGVs\nbG8=", Some("b64"), u).expect("b64"),
            b"hello"
        );
        assert_eq!(decode("k", "plain", None, u).expect("plain"), b"plain");
        assert!(decode("k", "x", Some("rot13"), u).is_err());
        assert!(decode("k", "!!!", Some("base64"), u).is_err());
        assert!(
            decode("k", "aGVsbG8=", Some("gz+b64"), u).is_err(),
            "not gzip"
        );
    }

    /// Defect 16: a gzip bomb in guestinfo stops at the cap.
    #[test]
    fn gzip_bomb_stops_at_the_cap() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'a'; 8 << 20]).expect("gzip");
        let packed = base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("gz"));
        assert!(
            packed.len() < 64 << 10,
            "the bomb is small: {}",
            packed.len()
        );
        let e = decode(
            "guestinfo guestinfo.userdata",
            &packed,
            Some("gz+b64"),
            SeedFile::UserData,
        )
        .expect_err("8 MiB decoded");
        assert!(
            e.to_string()
                .contains("guestinfo guestinfo.userdata: larger than 1 MiB, the cap for user-data"),
            "{e}"
        );
    }
}
