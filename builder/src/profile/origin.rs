//! Where each profile value came from: the file (with line and column) or
//! the `--set` that wrote it last, so an error about a value names it.

use std::path::PathBuf;

/// One profile file: where it came from and its text.
pub(super) struct Source {
    /// The path as given (or `NAME (shipped)`).
    pub(super) label: String,
    /// Directory its relative paths resolve against (None when shipped).
    pub(super) dir: Option<PathBuf>,
    /// The TOML text.
    pub(super) text: String,
}

/// What one layer of the merged profile is.
pub(super) enum Origin {
    /// A profile file.
    File(Source),
    /// A `--set KEY=VALUE` argument.
    Set(String),
}

/// One layer of the merged profile and the table it contributes.
pub(super) struct Layer {
    /// File or `--set`.
    pub(super) origin: Origin,
    /// The keys this layer writes.
    pub(super) table: toml::Table,
}

/// Every layer, lowest precedence (the root of the `extends` chain) first.
pub(crate) struct Origins(pub(super) Vec<Layer>);

/// Turn a byte offset into 1-based line and column.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Byte offset of the key at `path` in a TOML text, if it is written there.
fn key_offset(text: &str, path: &[&str]) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut offset = None;
    for (i, seg) in path.iter().enumerate() {
        let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *seg)?;
        offset = Some(k.span().start);
        if i + 1 < path.len() {
            match v.get_ref() {
                toml::de::DeValue::Table(t) => table = t,
                _ => return None,
            }
        }
    }
    offset
}

/// True when `table` holds a value at `path`.
pub(super) fn has(table: &toml::Table, path: &[&str]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = table;
    for p in parents {
        match cur.get(*p) {
            Some(toml::Value::Table(t)) => cur = t,
            _ => return false,
        }
    }
    cur.contains_key(*last)
}

impl Layer {
    /// `profile FILE:LINE:COL` for `path` in a file, `--set KEY=VALUE` else.
    pub(super) fn describe(&self, path: &[&str]) -> String {
        match &self.origin {
            Origin::Set(a) => format!("--set {a}"),
            Origin::File(src) => match key_offset(&src.text, path) {
                Some(off) => {
                    let (l, c) = line_col(&src.text, off);
                    format!("profile {}:{l}:{c}", src.label)
                }
                None => format!("profile {}", src.label),
            },
        }
    }
}

impl Origins {
    /// Who wrote the dotted `key` last, e.g. `profile p.toml:5:1` or
    /// `--set disk.esp_mib=64`.
    pub(crate) fn of(&self, key: &str) -> Option<String> {
        let path: Vec<&str> = key.split('.').collect();
        self.0
            .iter()
            .rev()
            .find(|l| has(&l.table, &path))
            .map(|l| l.describe(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(label: &str, text: &str) -> Layer {
        Layer {
            origin: Origin::File(Source {
                label: label.into(),
                dir: None,
                text: text.into(),
            }),
            table: toml::from_str(text).expect("toml"),
        }
    }

    #[test]
    fn the_last_writer_is_named_with_line_and_column() {
        let set = Layer {
            origin: Origin::Set("disk.esp_mib=64".into()),
            table: toml::from_str("disk.esp_mib = 64").expect("toml"),
        };
        let o = Origins(vec![
            file(
                "a.toml",
                "name = \"a\"\n[disk]\nesp_mib = 1\nstate_min_mib = 2\n",
            ),
            file("b.toml", "name = \"b\"\n\n[disk]\n  state_min_mib = 3\n"),
            set,
        ]);
        assert_eq!(
            o.of("disk.esp_mib").as_deref(),
            Some("--set disk.esp_mib=64")
        );
        assert_eq!(
            o.of("disk.state_min_mib").as_deref(),
            Some("profile b.toml:4:3")
        );
        assert_eq!(o.of("name").as_deref(), Some("profile b.toml:1:1"));
        assert_eq!(o.of("disk.root_size_mib"), None);
    }
}
