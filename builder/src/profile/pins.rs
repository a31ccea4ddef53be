//! sha256 pins follow the component's version. A pin a profile writes is for
//! the version in effect where it is written; when a later file or a `--set`
//! changes that version, the pin is stale and is replaced by the one in
//! kubebake's release table (`kubernetes-releases.toml`, embedded). A version
//! the table does not know is left unpinned, and a build that would need to
//! download it is refused before any download, naming the keys to set.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::origin::Origins;
use super::AGENT;
use crate::version;

/// The release table, as shipped.
const RELEASES: &str = include_str!("kubernetes-releases.toml");

/// version → arch → sha256, for one component.
type ByVersion = BTreeMap<String, BTreeMap<String, String>>;

/// The parts of the release table kubebake reads.
#[derive(Debug, Deserialize)]
struct Releases {
    /// version → arch → component (kubelet, kubeadm, kubectl) → sha256.
    kubernetes: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    crictl: ByVersion,
    cni_plugins: ByVersion,
}

impl Releases {
    fn load() -> Result<Releases> {
        toml::from_str(RELEASES).context("kubebake's embedded release table is not valid")
    }

    /// arch → sha256 for `component` at `version`.
    fn pins(&self, component: &str, version: &str) -> Option<BTreeMap<String, String>> {
        match component {
            "crictl" => self.crictl.get(version).cloned(),
            "cni-plugins" => self.cni_plugins.get(version).cloned(),
            c => {
                let arches = self.kubernetes.get(version)?;
                let out: BTreeMap<String, String> = arches
                    .iter()
                    .filter_map(|(arch, m)| Some((arch.clone(), m.get(c)?.clone())))
                    .collect();
                (!out.is_empty()).then_some(out)
            }
        }
    }

    /// Every version the table pins `component` for, oldest first.
    fn versions(&self, component: &str) -> Vec<String> {
        let mut v: Vec<String> = match component {
            "crictl" => self.crictl.keys().cloned().collect(),
            "cni-plugins" => self.cni_plugins.keys().cloned().collect(),
            c => self
                .kubernetes
                .iter()
                .filter(|(_, arches)| arches.values().any(|m| m.contains_key(c)))
                .map(|(v, _)| v.clone())
                .collect(),
        };
        v.sort_by(|a, b| version::cmp(a, b));
        v
    }
}

/// A component whose version nobody pins.
#[derive(Debug, Clone)]
pub struct Unpinned {
    /// The version asked for.
    pub version: String,
    /// The key that set it (`kubernetes.version` or the component's own).
    pub key: String,
    /// Who set it: `profile FILE:LINE:COL` or `--set KEY=VALUE`.
    pub origin: String,
    /// The versions the release table has for this component.
    pub known: Vec<String>,
}

fn components(t: &toml::Table) -> Option<&toml::Table> {
    t.get("kubernetes")?
        .as_table()?
        .get("components")?
        .as_table()
}

/// The version in effect for component `name` and the key that sets it.
fn effective(merged: &toml::Table, name: &str) -> Option<(String, String)> {
    let own = components(merged)
        .and_then(|c| c.get(name))
        .and_then(|s| s.get("version"))
        .and_then(toml::Value::as_str);
    match own {
        Some(v) => Some((
            v.to_string(),
            format!("kubernetes.components.{name}.version"),
        )),
        None => merged
            .get("kubernetes")?
            .get("version")?
            .as_str()
            .map(|v| (v.to_string(), "kubernetes.version".to_string())),
    }
}

/// Remembers, per component and arch, the version its sha256 pin was
/// written for.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    pinned_for: BTreeMap<(String, String), Option<String>>,
}

fn sha256_table<'t>(merged: &'t mut toml::Table, name: &str) -> Option<&'t mut toml::Table> {
    let spec = merged
        .get_mut("kubernetes")?
        .get_mut("components")?
        .get_mut(name)?
        .as_table_mut()?;
    spec.entry("sha256")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
}

impl Tracker {
    /// After merging `layer` into `merged`: note the pins `layer` writes.
    pub(super) fn note(&mut self, layer: &toml::Table, merged: &toml::Table) {
        let Some(written) = components(layer) else {
            return;
        };
        for (name, spec) in written {
            let Some(arches) = spec.get("sha256").and_then(toml::Value::as_table) else {
                continue;
            };
            let v = effective(merged, name).map(|(v, _)| v);
            for arch in arches.keys() {
                self.pinned_for
                    .insert((name.clone(), arch.clone()), v.clone());
            }
        }
    }

    /// Drop the pins in `merged` written for another version than the one
    /// in effect, fill in the release table's, and return the components
    /// left with no pin for the profile's arch.
    pub(super) fn refresh(
        &self,
        merged: &mut toml::Table,
        origins: &Origins,
    ) -> Result<BTreeMap<String, Unpinned>> {
        let arch = merged
            .get("arch")
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_string();
        let names: Vec<String> = components(merged)
            .map(|c| c.keys().filter(|n| *n != AGENT).cloned().collect())
            .unwrap_or_default();
        let releases = Releases::load()?;
        let mut unpinned = BTreeMap::new();
        for name in names {
            let Some((version, key)) = effective(merged, &name) else {
                continue;
            };
            let Some(pins) = sha256_table(merged, &name) else {
                continue;
            };
            pins.retain(|a, _| {
                self.pinned_for.get(&(name.clone(), a.to_string())) == Some(&Some(version.clone()))
            });
            for (a, h) in releases.pins(&name, &version).unwrap_or_default() {
                pins.entry(a).or_insert(toml::Value::String(h));
            }
            if !pins.contains_key(&arch) {
                let origin = origins.of(&key).unwrap_or_else(|| "the profile".into());
                let known = releases.versions(&name);
                unpinned.insert(
                    name,
                    Unpinned {
                        version,
                        key,
                        origin,
                        known,
                    },
                );
            }
        }
        Ok(unpinned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_agrees_with_the_shipped_profile() {
        let t = Releases::load().expect("table");
        let r = crate::profile::resolve(None, &[]).expect("shipped");
        let v = r.profile.kubernetes.version.as_deref().expect("version");
        for (name, spec) in &r.profile.kubernetes.components {
            let own = spec.version.as_deref().unwrap_or(v);
            let pins = t.pins(name, own).expect("shipped version in the table");
            for (arch, h) in &spec.sha256 {
                assert_eq!(
                    Some(h.trim_start_matches("sha256:")),
                    pins.get(arch).map(|p| p.trim_start_matches("sha256:")),
                    "{name} {own} {arch}"
                );
            }
        }
        assert!(t.versions("kubelet").contains(&"1.34.4".to_string()));
        assert_eq!(
            t.versions("kubelet").first().map(String::as_str),
            Some("1.33.6")
        );
    }

    #[test]
    fn a_new_version_takes_the_table_pins_and_an_unknown_one_none() {
        let r = crate::profile::resolve(None, &["kubernetes.version=\"1.34.4\"".into()])
            .expect("1.34.4");
        let kubelet = &r.profile.kubernetes.components["kubelet"];
        assert!(kubelet.sha256["amd64"]
            .ends_with("03b8fea715a7ef82eeaf518dee34c72670c57cc7bc40dc1320c04fbf4f15172f"));
        assert!(r.unpinned.is_empty());
        // crictl has its own version, unchanged: its pins stay.
        let crictl = &r.profile.kubernetes.components["crictl"];
        assert!(crictl.sha256["amd64"].starts_with("2e141e5b"));

        let r =
            crate::profile::resolve(None, &["kubernetes.version=1.34.0".into()]).expect("1.34.0");
        assert_eq!(
            r.unpinned.keys().map(String::as_str).collect::<Vec<_>>(),
            ["kubeadm", "kubectl", "kubelet"]
        );
        let u = &r.unpinned["kubelet"];
        assert_eq!(u.key, "kubernetes.version");
        assert_eq!(u.origin, "--set kubernetes.version=1.34.0");
        assert!(r.profile.kubernetes.components["kubelet"].sha256.is_empty());
    }

    #[test]
    fn pins_written_for_the_new_version_win() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("p.toml");
        let pin = "ab".repeat(32);
        std::fs::write(
            &p,
            format!(
                "extends = \"generic-amd64\"\nname = \"p\"\n[kubernetes]\nversion = \"1.34.4\"\n\
                 [kubernetes.components.kubelet]\nsha256.amd64 = \"{pin}\"\n"
            ),
        )
        .expect("w");
        let r = crate::profile::resolve(Some(p.to_str().expect("utf8")), &[]).expect("resolve");
        let kubelet = &r.profile.kubernetes.components["kubelet"];
        assert_eq!(kubelet.sha256["amd64"], pin);
        // The parent's arm64 pin was for 1.35.1: the table's for 1.34.4 now.
        assert!(kubelet.sha256["arm64"]
            .ends_with("c78845473c434ee85a2444eeab87f8b20f524e3ab6854a078f79468f44aad8f5"));
        // kubeadm was pinned for 1.35.1 by the parent: now the table's.
        let kubeadm = &r.profile.kubernetes.components["kubeadm"];
        assert!(kubeadm.sha256["amd64"]
            .ends_with("b967f1fa0e36621c402d38bb560eb4a943954d5cf5a00e5150842f6f5da73455"));
    }
}
