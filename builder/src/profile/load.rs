//! Reading profile files, following `extends`, merging, `--set`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::origin::{line_col, Layer, Origin, Origins, Source};
use super::{pins, sizes, Profile, Resolved, DEFAULT, SHIPPED};

fn load_source(spec: &str, from_dir: Option<&Path>) -> Result<Source> {
    let looks_like_path = spec.contains('/') || spec.ends_with(".toml");
    if !looks_like_path {
        if let Some((_, text)) = SHIPPED.iter().find(|(n, _)| *n == spec) {
            return Ok(Source {
                label: format!("{spec} (shipped)"),
                dir: None,
                text: (*text).to_string(),
            });
        }
    }
    let path = match from_dir {
        Some(d) if Path::new(spec).is_relative() => d.join(spec),
        _ => PathBuf::from(spec),
    };
    if !looks_like_path && !path.exists() {
        let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
        bail!(
            "unknown profile `{spec}`: use a shipped name ({}) or a path to a .toml file",
            names.join(", ")
        );
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading profile {}", path.display()))?;
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .map(Path::to_path_buf);
    Ok(Source {
        label: path.display().to_string(),
        dir,
        text,
    })
}

/// Parse one file strictly; errors carry file:line:column and one line.
fn parse_strict(src: &Source) -> Result<toml::Table> {
    let one_line = |e: &toml::de::Error| {
        let msg = e.message().replace('\n', " ");
        match e.span() {
            Some(span) => {
                let (l, c) = line_col(&src.text, span.start);
                format!("profile {}:{l}:{c}: {msg}", src.label)
            }
            None => format!("profile {}: {msg}", src.label),
        }
    };
    let _: Profile = toml::from_str(&src.text)
        .map_err(|e| anyhow::anyhow!("{}; fix or remove that key", one_line(&e)))?;
    let table: toml::Table =
        toml::from_str(&src.text).map_err(|e| anyhow::anyhow!("{}", one_line(&e)))?;
    Ok(table)
}

/// Merge `child` over `parent`: tables key by key, everything else replaced.
pub fn merge(parent: &mut toml::Table, child: toml::Table) {
    for (k, v) in child {
        match (parent.get_mut(&k), v) {
            (Some(toml::Value::Table(p)), toml::Value::Table(c)) => merge(p, c),
            (_, v) => {
                parent.insert(k, v);
            }
        }
    }
}

/// Apply one `--set key.path=value` override. The value is parsed as a TOML
/// value (`1`, `true`, `["a"]`, `"x"`), else taken as a plain string.
pub fn apply_set(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let (key, raw) = assignment.split_once('=').with_context(|| {
        format!("--set {assignment}: expected KEY=VALUE, e.g. --set disk.esp_mib=512")
    })?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        bail!("--set {assignment}: empty key segment; use a dotted path like disk.esp_mib");
    }
    let value = match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry((*p).to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .with_context(|| format!("--set {assignment}: `{p}` is not a table in the profile"))?;
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Load `spec` and every profile it `extends`, nearest first. A target that
/// cannot be loaded is reported with the file and line that names it.
fn load_chain(spec: &str) -> Result<Vec<Layer>> {
    let mut chain: Vec<Layer> = Vec::new();
    let mut next = Some((spec.to_string(), None::<PathBuf>));
    while let Some((s, from)) = next.take() {
        if chain.len() > 16 {
            bail!("profile `{spec}`: `extends` chain longer than 16 (a loop?); fix `extends`");
        }
        let src = match chain.last() {
            None => load_source(&s, None)?,
            Some(referrer) => load_source(&s, from.as_deref()).map_err(|e| {
                anyhow::anyhow!(
                    "{}: extends = {s:?}: {e:#}; fix `extends` or create that profile",
                    referrer.describe(&["extends"])
                )
            })?,
        };
        let table = parse_strict(&src)?;
        next = table
            .get("extends")
            .and_then(toml::Value::as_str)
            .map(|p| (p.to_string(), src.dir.clone()));
        chain.push(Layer {
            origin: Origin::File(src),
            table,
        });
    }
    Ok(chain)
}

/// Deserialize the merged table; a type error a `--set` caused names it.
fn typed(merged: &toml::Table, before_sets: &toml::Table, sets: &[String]) -> Result<Profile> {
    let one_line = |e: toml::de::Error| e.message().replace('\n', " ");
    let e = match merged.clone().try_into::<Profile>() {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    for s in sets {
        let mut t = before_sets.clone();
        apply_set(&mut t, s)?;
        if let Err(e) = t.try_into::<Profile>() {
            bail!("--set {s}: {}; fix the value or the key", one_line(e));
        }
    }
    bail!("profile after --set: {}; check the --set keys", one_line(e))
}

/// Load `spec` (shipped name or path), follow `extends`, apply `sets`, take
/// stale sha256 pins from the release table, validate names and sizes.
pub fn resolve(spec: Option<&str>, sets: &[String]) -> Result<Resolved> {
    let spec = spec.unwrap_or(DEFAULT);
    let mut layers = load_chain(spec)?;
    let dir = match layers.first().map(|l| &l.origin) {
        Some(Origin::File(src)) => src.dir.clone(),
        _ => None,
    };
    layers.reverse();
    let mut merged = toml::Table::new();
    let mut pinned = pins::Tracker::default();
    for l in &layers {
        merge(&mut merged, l.table.clone());
        pinned.note(&l.table, &merged);
    }
    merged.remove("extends");
    let before_sets = merged.clone();
    for s in sets {
        apply_set(&mut merged, s)?;
        let mut table = toml::Table::new();
        apply_set(&mut table, s)?;
        pinned.note(&table, &merged);
        layers.push(Layer {
            origin: Origin::Set(s.clone()),
            table,
        });
    }
    let origins = Origins(layers);
    let unpinned = pinned.refresh(&mut merged, &origins)?;
    let canonical = toml::to_string(&merged).context("serialising the merged profile")?;
    let profile = typed(&merged, &before_sets, sets)?;
    let (name, arch) = profile.validate()?;
    let sizes = sizes::check(&profile.disk, &origins)?;
    let description = profile.description.clone().unwrap_or_default();
    let vm = sizes::vm(&profile.output.vm, &name, &description, &origins)?;
    Ok(Resolved {
        vm,
        profile,
        name,
        arch,
        dir,
        canonical,
        sizes,
        unpinned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_has_line_and_column() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("bad.toml");
        std::fs::write(&p, "name = \"x\"\narch = \"amd64\"\n\n[disk]\nesp_mb = 3\n").expect("w");
        let err = resolve(Some(p.to_str().expect("utf8")), &[]).expect_err("must fail");
        let msg = format!("{err:#}");
        assert!(msg.contains("bad.toml:5:1"), "{msg}");
        assert!(msg.contains("esp_mb"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn set_overrides_with_toml_values_and_strings() {
        let r = resolve(
            None,
            &[
                "disk.root_size_mib=77".into(),
                "boot.cmdline=[\"quiet\"]".into(),
                "description=plain words".into(),
            ],
        )
        .expect("resolve");
        assert_eq!(r.sizes.root, sizes::Root::Fixed { bytes: 77 << 20 });
        assert_eq!(r.profile.boot.cmdline, vec!["quiet".to_string()]);
        assert_eq!(r.profile.description.as_deref(), Some("plain words"));
        let bad = resolve(None, &["disk.nope=1".into()]).expect_err("unknown key");
        assert!(format!("{bad:#}").contains("nope"));
    }

    #[test]
    fn extends_relative_path_merges_tables_key_by_key() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("child.toml"),
            "extends = \"generic-amd64\"\nname = \"child\"\n[disk]\nesp_mib = 64\n",
        )
        .expect("w");
        std::fs::write(
            dir.path().join("grandchild.toml"),
            "extends = \"child.toml\"\nname = \"gc\"\n",
        )
        .expect("w");
        let p = dir.path().join("grandchild.toml");
        let r = resolve(Some(p.to_str().expect("utf8")), &[]).expect("resolve");
        assert_eq!(r.name, "gc");
        assert_eq!(r.sizes.esp_bytes, 64 << 20);
        // sibling keys of the overridden table survive
        assert_eq!(r.sizes.state_min_mib, 1024);
    }
}
