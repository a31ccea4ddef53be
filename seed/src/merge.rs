//! Per-node overrides: `nodes/<mac>.yaml` beside the seed, deep-merged over
//! it (mappings merge key by key, the override wins; lists and scalars are
//! replaced whole).
//!
//! MAC spelling: file names use lowercase hex pairs joined by `-`
//! (`nodes/aa-bb-cc-dd-ee-ff.yaml`), because `:` is not allowed in FAT file
//! names and the Raspberry Pi seed lives on a FAT partition edited from any
//! PC. [`node_override_name`] accepts `aa:bb:…`, `AA-BB-…` and `aabb…`.

use serde_norway::{Mapping, Value};

use crate::problem::{yaml_error, Problems};
use crate::userdata;

/// `nodes/aa-bb-cc-dd-ee-ff.yaml` for a MAC written with `:`, `-` or
/// nothing between pairs, any case. `None` if it is not a 6-byte MAC.
pub fn node_override_name(mac: &str) -> Option<String> {
    let hex: String = mac.chars().filter(|c| *c != ':' && *c != '-').collect();
    let seps = mac.len() - hex.len();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) || (seps != 0 && seps != 5) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..6).map(|i| &hex[2 * i..2 * i + 2]).collect();
    Some(format!("nodes/{}.yaml", pairs.join("-")))
}

/// Merges `override_yaml` over `base` (a `#cloud-config` document) and
/// returns a new `#cloud-config` document to feed to [`crate::parse`].
/// The override may start with `#cloud-config` or not; it must be a mapping.
pub fn merge_override(
    base: &str,
    base_source: &str,
    override_yaml: &str,
    override_source: &str,
) -> Result<String, Problems> {
    userdata::header(base, base_source)?;
    let mut b = userdata::load(base, base_source)?;
    let o: Value = serde_norway::from_str(override_yaml)
        .map_err(|e| yaml_error(override_source, &e, override_yaml))?;
    match (&b, &o) {
        (_, Value::Null) => {}
        (Value::Null, Value::Mapping(_)) => b = o,
        (Value::Mapping(_), Value::Mapping(_)) => merge(&mut b, o),
        (_, Value::Mapping(_)) => {
            return Err(Problems::one(base_source, "", "the seed must be a mapping"))
        }
        _ => {
            return Err(Problems::one(
                override_source,
                "",
                "a node override must be a mapping",
            ))
        }
    }
    let body = serde_norway::to_string(&b).map_err(|e| yaml_error(base_source, &e, ""))?;
    Ok(format!("#cloud-config\n{body}"))
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => merge_map(b, o),
        (b, o) => *b = o,
    }
}

fn merge_map(b: &mut Mapping, o: Mapping) {
    for (k, v) in o {
        match b.get_mut(&k) {
            Some(existing) => merge(existing, v),
            None => {
                b.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_spellings() {
        let want = Some("nodes/aa-bb-cc-dd-ee-0f.yaml".to_string());
        assert_eq!(node_override_name("aa:bb:cc:dd:ee:0f"), want);
        assert_eq!(node_override_name("AA-BB-CC-DD-EE-0F"), want);
        assert_eq!(node_override_name("aabbccddee0f"), want);
        assert_eq!(node_override_name("aa:bb:cc:dd:ee"), None);
        assert_eq!(node_override_name("aa:bb:cc:dd:ee:zz"), None);
        assert_eq!(node_override_name("aab:bcc:dde:e0f"), None);
    }

    #[test]
    fn deep_merge_override_wins() {
        let base = "#cloud-config\nhostname: base\nkubernetes:\n  role: worker\n  node_labels: {a: '1', b: '2'}\n  taints: [{key: x, effect: NoSchedule}]\n";
        let over =
            "hostname: node7\nkubernetes:\n  role: init\n  node_labels: {b: '3'}\n  taints: []\n";
        let merged = merge_override(base, "user-data", over, "nodes/x.yaml").expect("merge");
        assert!(merged.starts_with("#cloud-config\n"));
        let v: Value = serde_norway::from_str(&merged).expect("yaml");
        assert_eq!(v["hostname"].as_str(), Some("node7"));
        assert_eq!(v["kubernetes"]["role"].as_str(), Some("init"));
        assert_eq!(v["kubernetes"]["node_labels"]["a"].as_str(), Some("1"));
        assert_eq!(v["kubernetes"]["node_labels"]["b"].as_str(), Some("3"));
        assert_eq!(
            v["kubernetes"]["taints"].as_sequence().map(Vec::len),
            Some(0)
        );
    }

    #[test]
    fn override_must_be_mapping() {
        let e = merge_override("#cloud-config\n{}", "user-data", "- a\n", "nodes/x.yaml")
            .expect_err("list");
        assert!(e.to_string().contains("nodes/x.yaml"));
    }
}
