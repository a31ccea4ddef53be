//! Registry mirrors → containerd `hosts.toml` files
//! (`/etc/containerd/certs.d/<registry>/hosts.toml`). containerd reads them
//! when its CRI registry `config_path` is `/etc/containerd/certs.d`.

use std::collections::BTreeMap;

/// The upstream server containerd falls back to for a registry name.
pub fn upstream(registry: &str) -> String {
    match registry {
        "docker.io" => "https://registry-1.docker.io".to_string(),
        r => format!("https://{r}"),
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One `(path, contents)` per registry, sorted by registry. Mirrors are
/// tried in the seed's order, then the upstream server.
pub fn hosts_toml(mirrors: &BTreeMap<String, Vec<String>>) -> Vec<(String, String)> {
    mirrors
        .iter()
        .map(|(registry, urls)| {
            let mut t = format!(
                "# written by kubebake-firstboot from the seed\nserver = {}\n",
                quote(&upstream(registry))
            );
            for u in urls {
                t.push_str(&format!(
                    "\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]\n",
                    quote(u)
                ));
            }
            (format!("/etc/containerd/certs.d/{registry}/hosts.toml"), t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_registry() {
        let mut m = BTreeMap::new();
        m.insert(
            "docker.io".to_string(),
            vec![
                "https://m1.example".to_string(),
                "http://m2.example:5000".to_string(),
            ],
        );
        m.insert(
            "registry.k8s.io".to_string(),
            vec!["https://k8s-mirror.example".to_string()],
        );
        let files = hosts_toml(&m);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].0, "/etc/containerd/certs.d/docker.io/hosts.toml");
        let t = &files[0].1;
        assert!(
            t.contains("server = \"https://registry-1.docker.io\"\n"),
            "{t}"
        );
        let a = t.find("[host.\"https://m1.example\"]").expect("m1");
        let b = t.find("[host.\"http://m2.example:5000\"]").expect("m2");
        assert!(a < b, "order kept");
        assert!(files[1].1.contains("server = \"https://registry.k8s.io\""));
    }
}
