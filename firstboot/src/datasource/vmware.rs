//! VMware guestinfo: `guestinfo.userdata` / `guestinfo.metadata` read with
//! `vmware-rpctool "info-get KEY"`, decoded per `KEY.encoding`
//! (`base64`/`b64`, `gzip+base64`/`gz+b64`, or none). Only used when DMI
//! says VMware.

use super::{DsError, SeedFiles};
use crate::config::Config;
use base64::Engine;
use std::io::Read;
use std::process::Command;

fn rpctool() -> String {
    std::env::var("KUBEBAKE_RPCTOOL").unwrap_or_else(|_| "vmware-rpctool".to_string())
}

/// Reads one guestinfo key; `None` when unset or empty.
pub fn info_get(key: &str) -> Result<Option<String>, DsError> {
    let tool = rpctool();
    let out = Command::new(&tool)
        .arg(format!("info-get {key}"))
        .output()
        .map_err(|e| DsError::Command {
            cmd: format!("{tool} info-get {key}"),
            why: e.to_string(),
        })?;
    if !out.status.success() {
        // vmware-rpctool exits 1 with "No value found" for unset keys
        return Ok(None);
    }
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok((!v.is_empty()).then_some(v))
}

/// Decodes a guestinfo value per its encoding name.
pub fn decode(key: &str, value: &str, encoding: Option<&str>) -> Result<Vec<u8>, DsError> {
    let bad = |why: String| DsError::Decode {
        what: format!("guestinfo {key}"),
        why,
    };
    let b64 = |v: &str| {
        let compact: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| bad(format!("base64: {e}")))
    };
    match encoding.map(str::trim).unwrap_or("") {
        "" => Ok(value.as_bytes().to_vec()),
        "base64" | "b64" => b64(value),
        "gzip+base64" | "gz+b64" => {
            let raw = b64(value)?;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .map_err(|e| bad(format!("gzip: {e}")))?;
            Ok(out)
        }
        other => Err(bad(format!("unknown encoding {other:?}"))),
    }
}

fn get_decoded(key: &str) -> Result<Option<Vec<u8>>, DsError> {
    let Some(v) = info_get(key)? else {
        return Ok(None);
    };
    let enc = info_get(&format!("{key}.encoding"))?;
    decode(key, &v, enc.as_deref()).map(Some)
}

/// Reads the seed from guestinfo.
pub fn fetch(_cfg: &Config) -> Result<Option<SeedFiles>, DsError> {
    let Some(user_data) = get_decoded("guestinfo.userdata")? else {
        return Ok(None);
    };
    Ok(Some(SeedFiles {
        user_data,
        meta_data: get_decoded("guestinfo.metadata")?,
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
        assert_eq!(
            decode("k", "aGVsbG8=", Some("base64")).expect("b64"),
            b"hello"
        );
        assert_eq!(
            decode("k", "aGVs\nbG8=", Some("b64")).expect("b64"),
            b"hello"
        );
        assert_eq!(decode("k", "plain", None).expect("plain"), b"plain");
        assert!(decode("k", "x", Some("rot13")).is_err());
        assert!(decode("k", "!!!", Some("base64")).is_err());
        assert!(decode("k", "aGVsbG8=", Some("gz+b64")).is_err(), "not gzip");
    }
}
