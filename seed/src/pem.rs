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

/// A DER UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`)
/// as Unix seconds.
fn der_time(tag: u8, t: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(t).ok()?.strip_suffix('Z')?;
    let (year, rest) = match (tag, s.len()) {
        (0x17, 12) => {
            let yy: i64 = s[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
        }
        (0x18, 14) => (s[..4].parse().ok()?, &s[4..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| rest[i..i + 2].parse::<u8>().ok();
    let days = kubebake_civil::to_days(year, n(0)?, n(2)?)?;
    let (h, m, sec) = (i64::from(n(4)?), i64::from(n(6)?), i64::from(n(8)?));
    (h < 24 && m < 60 && sec < 61).then_some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// The validity (`notBefore`, `notAfter`, Unix seconds) of a certificate
/// in PEM.
pub fn validity(cert_pem: &str) -> Result<(i64, i64), String> {
    let not_cert = || "is not an X.509 certificate".to_string();
    let der = decode(cert_pem, &["CERTIFICATE"])?;
    let (_, _, cert, _) = tlv(&der)?;
    let (_, _, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    let (tag, _, _, after) = tlv(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    // serial, signature algorithm, issuer
    for _ in 0..3 {
        rest = tlv(rest)?.3;
    }
    let (tag, _, validity, _) = tlv(rest)?;
    if tag != 0x30 {
        return Err(not_cert());
    }
    let (t1, _, nb, after) = tlv(validity)?;
    let (t2, _, na, _) = tlv(after)?;
    match (der_time(t1, nb), der_time(t2, na)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err("certificate validity is malformed".to_string()),
    }
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
