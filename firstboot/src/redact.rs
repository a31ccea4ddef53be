//! Secret redaction for everything the agent prints or stores in status.
//!
//! Two layers: bootstrap-token shaped strings (`[a-z0-9]{6}.[a-z0-9]{16}`) are
//! always masked, and any secret value registered from the seed (token,
//! certificate key, private keys) is masked wherever it appears.

use std::sync::{Mutex, OnceLock};

/// What replaces a secret in output.
pub const MASK: &str = "<redacted>";

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Registers a secret value to mask in every later [`redact`] call.
/// Values shorter than 6 characters are ignored (they would mask noise).
pub fn register_secret(value: &str) {
    let value = value.trim();
    if value.len() < 6 {
        return;
    }
    if let Ok(mut list) = registry().lock() {
        if !list.iter().any(|s| s == value) {
            list.push(value.to_string());
            // longest first so a secret containing another is fully masked
            list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }
}

fn is_tok(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Masks bootstrap-token shaped substrings: 6 `[a-z0-9]`, a dot, 16 `[a-z0-9]`.
pub fn mask_token_pattern(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] == b'.' && i >= 6 && i + 17 <= b.len() {
            let start = i - 6;
            let end = i + 1 + 16;
            if b[start..i].iter().all(|&c| is_tok(c))
                && b[i + 1..end].iter().all(|&c| is_tok(c))
                && start >= copied
            {
                out.push_str(&text[copied..start]);
                out.push_str(MASK);
                copied = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// Masks PEM private-key blocks.
fn mask_pem_keys(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find("-----BEGIN") {
        let header_end = rest[pos..].find("-----\n").map(|e| pos + e);
        let is_key = rest[pos..]
            .lines()
            .next()
            .is_some_and(|l| l.contains("PRIVATE KEY"));
        match (is_key, header_end) {
            (true, Some(_)) => {
                out.push_str(&rest[..pos]);
                out.push_str(MASK);
                match rest[pos..].find("-----END") {
                    Some(e) => {
                        let after = pos + e + "-----END".len();
                        let tail = rest[after..]
                            .find("-----")
                            .map_or(rest.len(), |t| after + t + 5);
                        rest = &rest[tail..];
                    }
                    None => rest = "",
                }
            }
            _ => {
                out.push_str(&rest[..pos + 10]);
                rest = &rest[pos + 10..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Returns `text` with every registered secret, token pattern and PEM
/// private key masked.
pub fn redact(text: &str) -> String {
    let mut s = text.to_string();
    if let Ok(list) = registry().lock() {
        for secret in list.iter() {
            if s.contains(secret.as_str()) {
                s = s.replace(secret.as_str(), MASK);
            }
        }
    }
    mask_pem_keys(&mask_token_pattern(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_token_pattern_anywhere() {
        let t = "token abcdef.0123456789abcdef, ID \"abcdef\"";
        let r = mask_token_pattern(t);
        assert_eq!(r, "token <redacted>, ID \"abcdef\"");
        assert!(!r.contains("0123456789abcdef"));
    }

    #[test]
    fn leaves_non_tokens() {
        for t in [
            "v1.35.1",
            "kube-apiserver.kube-system",
            "ABCDEF.0123456789ABCDEF",
            "abc.def",
        ] {
            assert_eq!(mask_token_pattern(t), t);
        }
    }

    #[test]
    fn token_at_end_of_text() {
        assert_eq!(
            mask_token_pattern("x=zzzzzz.yyyyyyyyyyyyyyyy"),
            "x=<redacted>"
        );
    }

    #[test]
    fn registered_secret_and_pem() {
        register_secret("f00dfeedf00dfeedf00dfeedcertkey");
        let t = "key f00dfeedf00dfeedf00dfeedcertkey and\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\ntail";
        let r = redact(t);
        assert!(!r.contains("f00dfeed"), "{r}");
        assert!(!r.contains("MHcCAQEE"), "{r}");
        assert!(r.ends_with("tail"), "{r}");
        assert!(r.contains("-----BEGIN CERTIFICATE") || !t.contains("CERTIFICATE"));
    }

    #[test]
    fn certificates_are_kept() {
        let t = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert_eq!(redact(t), t);
    }
}
