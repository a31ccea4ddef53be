//! Format checks shared by the parsers. Each returns `Err(message)`; the
//! message never quotes a secret.

use std::net::IpAddr;

use crate::model::Endpoint;

/// RFC 1123 hostname, lowercase (Kubernetes node names are lowercase).
pub fn hostname(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err(format!("`{s}` must be 1..=253 characters"));
    }
    let lower = s.to_ascii_lowercase();
    if s != lower && lower.split('.').all(dns_label) {
        return Err(format!(
            "`{s}` has uppercase letters; fix: use `{lower}` (Kubernetes node names are lowercase)"
        ));
    }
    for label in s.split('.') {
        if !dns_label(label) {
            return Err(format!(
                "`{s}` is not an RFC 1123 name: labels are 1..=63 of [a-z0-9-], \
                 not starting or ending with `-`"
            ));
        }
    }
    Ok(())
}

/// One DNS label: `[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?`.
pub fn dns_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// Bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`; the error shows lengths only.
pub fn token(t: &str) -> Result<(), String> {
    const FIX: &str = "fix: generate one with `kubeadm token generate` or `kubebake cluster new`";
    let ok_part = |p: &str, n: usize| {
        p.len() == n
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    match t.split_once('.') {
        Some((a, b)) if ok_part(a, 6) && ok_part(b, 16) => Ok(()),
        Some((a, b)) => {
            let charset = if (a.len() + b.len() > 0)
                && !format!("{a}{b}")
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            {
                ", only lowercase letters and digits allowed"
            } else {
                ""
            };
            Err(format!(
                "must match [a-z0-9]{{6}}.[a-z0-9]{{16}} (got {}+{} chars{charset}); {FIX}",
                a.chars().count(),
                b.chars().count()
            ))
        }
        None => Err(format!(
            "must match [a-z0-9]{{6}}.[a-z0-9]{{16}} (got {} chars, no `.`); {FIX}",
            t.chars().count()
        )),
    }
}

/// The shell pipeline that prints a cluster CA's discovery hash (the hex
/// after `sha256:`) on a control plane. `openssl pkey` reads RSA and EC
/// public keys alike (`openssl rsa -pubin` fails on an EC CA).
pub const CA_HASH_COMMAND: &str = "openssl x509 -pubkey -noout -in /etc/kubernetes/pki/ca.crt \
     | openssl pkey -pubin -outform der | sha256sum";

/// `sha256:<64 hex>`.
pub fn ca_cert_hash(h: &str) -> Result<(), String> {
    let fix =
        format!("fix: on a control-plane node run `{CA_HASH_COMMAND}` and write sha256:<hex>");
    let Some(hex) = h.strip_prefix("sha256:") else {
        return Err(format!(
            "must be `sha256:` followed by 64 hex digits; {fix}"
        ));
    };
    if let Some((i, c)) = hex
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_hexdigit())
    {
        // The hash is public (it pins the CA), so the character may be shown.
        return Err(format!(
            "must be `sha256:` followed by 64 hex digits (0-9, a-f): character {} after \
             `sha256:` is {c:?}; {fix}",
            i + 1
        ));
    }
    if hex.len() != 64 {
        return Err(format!(
            "must be `sha256:` followed by 64 hex digits (got {} characters after `sha256:`); {fix}",
            hex.len()
        ));
    }
    Ok(())
}

/// 32-byte hex certificate key; the error shows the length only.
pub fn certificate_key(k: &str) -> Result<(), String> {
    if k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!(
            "must be 64 hex digits (got {} characters); fix: `kubeadm certs certificate-key`",
            k.chars().count()
        ))
    }
}

/// Go duration like `24h`, `1h30m`, `90s`, `0s`.
pub fn go_duration(d: &str) -> Result<(), String> {
    let err = || format!("`{d}` is not a duration like 24h, 1h30m or 0s (never expires)");
    if d.is_empty() {
        return Err(err());
    }
    let mut digits = 0;
    let mut units = 0;
    let mut rest = d;
    while !rest.is_empty() {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(err());
        }
        digits += n;
        rest = &rest[n..];
        let unit = ["h", "m", "s"]
            .iter()
            .find(|u| rest.starts_with(**u))
            .ok_or_else(err)?;
        rest = &rest[unit.len()..];
        units += 1;
    }
    if digits == 0 || units == 0 {
        return Err(err());
    }
    Ok(())
}

/// `host:port`, IPv6 in brackets. A missing port is an error with a fix.
pub fn endpoint(s: &str) -> Result<Endpoint, String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{s}`: missing `]` after an IPv6 address"))?;
        (h, p.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => {
                return Err(format!(
                    "`{s}`: write IPv6 addresses in brackets, e.g. [fd00::1]:6443"
                ))
            }
            None => (s, None),
        }
    };
    let Some(port) = port else {
        return Err(format!("`{s}` has no port; fix: `{s}:6443`"));
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("`{s}`: port must be 1..=65535"))?;
    if host.parse::<IpAddr>().is_err() && hostname(host).is_err() {
        return Err(format!(
            "`{s}`: `{host}` is neither an IP address nor a DNS name"
        ));
    }
    if s.starts_with('[') && host.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(format!("`{s}`: only IPv6 addresses go in brackets"));
    }
    Ok(Endpoint {
        host: host.to_string(),
        port,
    })
}

/// Kubernetes label key: `[prefix/]name`.
pub fn label_key(k: &str) -> Result<(), String> {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        if p.len() > 253 || p.split('.').any(|l| !dns_label(l)) {
            return Err(format!(
                "`{k}`: prefix `{p}` must be a lowercase DNS subdomain"
            ));
        }
    }
    if !label_name(name) {
        return Err(format!(
            "`{k}`: name part must be 1..=63 of [A-Za-z0-9-_.], starting and ending alphanumeric"
        ));
    }
    Ok(())
}

fn label_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 63
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && n.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && n.as_bytes().last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Label value: empty or a label name.
pub fn label_value(v: &str) -> Result<(), String> {
    if v.is_empty() || label_name(v) {
        Ok(())
    } else {
        Err(format!(
            "`{v}` must be empty or 1..=63 of [A-Za-z0-9-_.], starting and ending alphanumeric"
        ))
    }
}

/// Labels a kubelet may not set on itself (NodeRestriction): prefixes in the
/// kubernetes.io / k8s.io namespaces other than the allowed ones.
pub fn self_assignable_label(k: &str) -> Result<(), String> {
    let Some((prefix, _)) = k.split_once('/') else {
        return Ok(());
    };
    let restricted = |d: &str| prefix == d || prefix.ends_with(&format!(".{d}"));
    if !(restricted("kubernetes.io") || restricted("k8s.io")) {
        return Ok(());
    }
    let allowed = ["kubelet.kubernetes.io", "node.kubernetes.io"];
    if allowed
        .iter()
        .any(|a| prefix == *a || prefix.ends_with(&format!(".{a}")))
    {
        return Ok(());
    }
    const WELL_KNOWN: [&str; 7] = [
        "kubernetes.io/hostname",
        "kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "node.kubernetes.io/instance-type",
    ];
    if WELL_KNOWN.contains(&k) {
        return Ok(());
    }
    Err(format!(
        "`{k}`: the kubelet may not set labels under `{prefix}` on itself (NodeRestriction); \
         fix: use another prefix (e.g. example.com/role) or label the node with kubectl after the join"
    ))
}

/// Linux user name.
pub fn username(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 32
        && n.as_bytes()
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || *b == b'_')
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{n}` is not a valid user name ([a-z_][a-z0-9_-]*, at most 32 characters)"
        ))
    }
}

/// An absolute path without `..`, NUL or empty components.
pub fn abs_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("`{p}` must be an absolute path"));
    }
    if p.contains('\0') || p.split('/').any(|c| c == "..") {
        return Err(format!("`{p}` must not contain `..` or NUL"));
    }
    Ok(())
}

/// An OpenSSH public key line.
pub fn ssh_key(k: &str) -> Result<(), String> {
    let kind = k.split_whitespace().next().unwrap_or("");
    let known = kind.starts_with("ssh-")
        || kind.starts_with("ecdsa-sha2-")
        || kind.starts_with("sk-ssh-")
        || kind.starts_with("sk-ecdsa-");
    if known && k.split_whitespace().nth(1).is_some() {
        Ok(())
    } else {
        Err("not an OpenSSH public key (expected `ssh-ed25519 AAAA… comment`)".to_string())
    }
}

/// Registry host as containerd's `certs.d` directory name: `host[:port]`.
pub fn registry_host(r: &str) -> Result<(), String> {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n != 0));
    let host_ok = host.parse::<IpAddr>().is_ok() || hostname(host).is_ok() || host == "_default";
    if port_ok && host_ok && !r.contains('/') {
        Ok(())
    } else {
        Err(format!(
            "`{r}` is not a registry host like docker.io or registry.example:5000"
        ))
    }
}

/// An http(s) URL without spaces.
pub fn url(u: &str) -> Result<(), String> {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !u.chars().any(|c| c.is_whitespace() || c == '"') => Ok(()),
        _ => Err(format!("`{u}` must be an http:// or https:// URL")),
    }
}

/// An image repository like `registry.example/google_containers`.
pub fn image_repository(r: &str) -> Result<(), String> {
    if r.contains("://") {
        return Err(format!(
            "`{r}` must not have a scheme; fix: `{}`",
            r.split("://").nth(1).unwrap_or(r)
        ));
    }
    let first = r.split('/').next().unwrap_or("");
    if r.is_empty()
        || r.ends_with('/')
        || r.chars()
            .any(|c| c.is_whitespace() || c.is_ascii_uppercase())
        || registry_host(first).is_err() && !first.contains('.')
    {
        return Err(format!(
            "`{r}` is not an image repository like registry.example/google_containers"
        ));
    }
    Ok(())
}

/// A network interface name (as the kernel accepts it).
pub fn ifname(n: &str) -> Result<(), String> {
    if !n.is_empty() && n.len() <= 15 && !n.contains(['/', ' ', ':']) && n != "." && n != ".." {
        Ok(())
    } else {
        Err(format!(
            "`{n}` is not an interface name (1..=15 characters, no `/`, `:` or spaces)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(token("abcdef.0123456789abcdef").is_ok());
        let e = token("abcdef.0123456789abcde").expect_err("short");
        assert!(e.contains("got 6+15 chars"), "{e}");
        assert!(!e.contains("abcdef"), "{e}");
        assert!(token("ABCDEF.0123456789abcdef")
            .expect_err("upper")
            .contains("lowercase"));
        assert!(token("abcdef0123456789abcdef")
            .expect_err("dot")
            .contains("no `.`"));
    }

    #[test]
    fn endpoints() {
        assert_eq!(endpoint("10.0.0.1:6443").expect("ok").port, 6443);
        assert_eq!(endpoint("[fd00::1]:6443").expect("ok").host, "fd00::1");
        assert_eq!(
            endpoint("[fd00::1]:6443").expect("ok").to_string(),
            "[fd00::1]:6443"
        );
        assert!(endpoint("cp.example:443").is_ok());
        assert!(endpoint("10.0.0.1")
            .expect_err("port")
            .contains("10.0.0.1:6443"));
        assert!(endpoint("fd00::1:6443").is_err());
        assert!(endpoint("bad_host:6443").is_err());
        assert!(endpoint("h:0").is_err());
    }

    #[test]
    fn labels() {
        assert!(label_key("example.com/role").is_ok());
        assert!(label_key("tier").is_ok());
        assert!(label_key("Example.com/x").is_err());
        assert!(label_key("a/-x").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("a b").is_err());
        assert!(self_assignable_label("node-role.kubernetes.io/worker").is_err());
        assert!(self_assignable_label("node.kubernetes.io/pool").is_ok());
        assert!(self_assignable_label("topology.kubernetes.io/zone").is_ok());
        assert!(self_assignable_label("example.com/x").is_ok());
    }

    #[test]
    fn durations_hosts_paths() {
        for d in ["24h", "1h30m", "0s", "90s"] {
            assert!(go_duration(d).is_ok(), "{d}");
        }
        for d in ["", "24", "1d", "h", "1h 2m"] {
            assert!(go_duration(d).is_err(), "{d}");
        }
        assert!(hostname("node-1.lab").is_ok());
        assert!(hostname("Node1").expect_err("upper").contains("node1"));
        assert!(hostname("-x").is_err());
        assert!(hostname("a_b").is_err());
        assert!(abs_path("/etc/x").is_ok());
        assert!(abs_path("etc/x").is_err());
        assert!(abs_path("/etc/../x").is_err());
        assert!(ca_cert_hash(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(ca_cert_hash("sha256:abc")
            .expect_err("short")
            .contains("got 3"));
        assert!(registry_host("docker.io").is_ok());
        assert!(registry_host("registry.example:5000").is_ok());
        assert!(registry_host("https://docker.io").is_err());
        assert!(image_repository("registry.example/google_containers").is_ok());
        assert!(image_repository("https://registry.example/x").is_err());
    }
}
