//! Just enough PEM and DER to check the seed's PKI: decode a PEM block, walk
//! an X.509 certificate to its SubjectPublicKeyInfo, and compute kubeadm's
//! CA pin (`sha256:` of the DER SubjectPublicKeyInfo). Errors never quote
//! the input.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Decodes the first PEM block whose label is one of `labels`.
pub fn decode(text: &str, labels: &[&str]) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let label = labels
        .iter()
        .find(|l| t.starts_with(&format!("-----BEGIN {l}-----")))
        .ok_or_else(|| {
            let want: Vec<String> = labels
                .iter()
                .map(|l| format!("`-----BEGIN {l}-----`"))
                .collect();
            format!("must be PEM starting with {}", want.join(" or "))
        })?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = t[begin.len()..]
        .split_once(&end)
        .map(|(b, _)| b)
        .ok_or_else(|| format!("PEM block has no `{end}` line (truncated copy?)"))?;
    let clean: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|_| "PEM body is not valid base64 (truncated or edited?)".to_string())
}

/// One DER TLV: (tag, whole TLV bytes, content bytes, rest after it).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn tlv(d: &[u8]) -> Result<Tlv<'_>, String> {
    let bad = || "certificate DER is malformed".to_string();
    let tag = *d.first().ok_or_else(bad)?;
    let first = *d.get(1).ok_or_else(bad)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let bytes = d.get(2..2 + n).ok_or_else(bad)?;
        (
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
            2 + n,
        )
    };
    let end = hdr
        .checked_add(len)
        .filter(|e| *e <= d.len())
        .ok_or_else(bad)?;
    Ok((tag, &d[..end], &d[hdr..end], &d[end..]))
}

/// The DER SubjectPublicKeyInfo of an X.509 certificate.
pub fn spki(cert_der: &[u8]) -> Result<&[u8], String> {
    let not_cert = || "is not an X.509 certificate".to_string();
    let (tag, _, cert, _) = tlv(cert_der)?;
    if tag != 0x30 {
        return Err(not_cert());
    }
    let (tag, _, tbs, _) = tlv(cert)?;
    if tag != 0x30 {
        return Err(not_cert());
    }
    let mut rest = tbs;
    let (tag, _, _, after) = tlv(rest)?;
    if tag == 0xa0 {
        rest = after; // explicit version
    }
    // serial, signature algorithm, issuer, validity, subject
    for want in [0x02, 0x30, 0x30, 0x30, 0x30] {
        let (tag, _, _, after) = tlv(rest)?;
        if tag != want {
            return Err(not_cert());
        }
        rest = after;
    }
    let (tag, whole, _, _) = tlv(rest)?;
    if tag != 0x30 {
        return Err(not_cert());
    }
    Ok(whole)
}

/// kubeadm's discovery pin for a CA certificate in PEM:
/// `sha256:<hex of sha256(DER SubjectPublicKeyInfo)>`.
pub fn ca_cert_hash(cert_pem: &str) -> Result<String, String> {
    let der = decode(cert_pem, &["CERTIFICATE"])?;
    let spki = spki(&der)?;
    let digest = Sha256::digest(spki);
    Ok(format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}
