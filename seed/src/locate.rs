//! Line numbers for YAML paths (`kubernetes.token`, `users[1].name`), so a
//! problem can say where it is. The seed is parsed into a generic `Value`
//! that keeps no positions; this scanner reads the text again, line by
//! line, and records where each block-style key and list item starts. It
//! also finds duplicate keys (the YAML parser reports the start of their
//! mapping, not the duplicate).
//!
//! Only block style is tracked: the children of a flow collection
//! (`{ cidr: 10.0.0.0/8 }`) and the lines of block scalars (`|`, `>`) take
//! the line of the key that holds them. Paths are spelled exactly as the
//! validators spell them ([`crate::problem::join`], [`crate::problem::index`]).

use std::collections::HashMap;

use crate::problem::{index, join};

/// A repeated key: its path, the line it was first seen on, and the line
/// of the repetition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub path: String,
    pub first: usize,
    pub again: usize,
}

/// Where every block-style key and list item of a document starts.
#[derive(Debug, Default)]
pub(crate) struct Locator {
    lines: HashMap<String, usize>,
    duplicates: Vec<Duplicate>,
}

#[derive(Debug)]
enum Frame {
    /// A mapping key at `col`: its children sit further right (or, for a
    /// compact list, at `col` behind a `- `).
    Key {
        col: usize,
        path: String,
        items: usize,
    },
    /// A list item whose content starts at `col`.
    Item { col: usize, path: String },
}

impl Frame {
    fn path(&self) -> &str {
        match self {
            Frame::Key { path, .. } | Frame::Item { path, .. } => path,
        }
    }
}

/// The key of `s` (`key: …`, `key:`, `"a b": …`) and the text after the `:`.
fn split_key(s: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(q @ ('"' | '\'')) = s.chars().next() {
        let end = s[1..].find(q)? + 1;
        (s[1..end].to_string(), &s[end + 1..])
    } else {
        if s.starts_with(['{', '[', '|', '>', '&', '*', '!', '#', '%', '@', '`']) {
            return None;
        }
        let colon = s
            .match_indices(':')
            .map(|(i, _)| i)
            .find(|&i| s[i + 1..].is_empty() || s[i + 1..].starts_with([' ', '\t']))?;
        (s[..colon].trim_end().to_string(), &s[colon..])
    };
    let rest = rest.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) || key.is_empty() {
        return None;
    }
    Some((key, rest.trim()))
}

/// Whether a value starts a block scalar (`|`, `>-`, `|2` …).
fn block_scalar(value: &str) -> bool {
    let v = value.split(" #").next().unwrap_or("").trim();
    v.starts_with('|') || v.starts_with('>')
}

impl Locator {
    /// Scans `text` (the whole document).
    pub(crate) fn new(text: &str) -> Self {
        let mut loc = Locator::default();
        let mut stack: Vec<Frame> = Vec::new();
        // Lines more indented than this column belong to a block scalar.
        let mut scalar_above: Option<usize> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.trim_start_matches(' ');
            let col = raw.len() - content.len();
            if content.trim().is_empty() {
                continue;
            }
            if let Some(c) = scalar_above {
                if col > c {
                    continue;
                }
                scalar_above = None;
            }
            if content.starts_with('#') || content.starts_with("---") || content == "..." {
                continue;
            }
            loc.line(&mut stack, line, col, content, &mut scalar_above);
        }
        loc
    }

    /// One line at `col` whose text is `content`.
    fn line(
        &mut self,
        stack: &mut Vec<Frame>,
        line: usize,
        mut col: usize,
        mut content: &str,
        scalar_above: &mut Option<usize>,
    ) {
        // `- - x`, `- key: v`: peel the dashes, one list item each.
        while content == "-" || content.starts_with("- ") {
            while let Some(top) = stack.last() {
                let pop = match top {
                    Frame::Key { col: c, .. } => *c > col,
                    Frame::Item { col: c, .. } => *c > col,
                };
                if !pop {
                    break;
                }
                stack.pop();
            }
            let (parent, n) = match stack.last_mut() {
                Some(Frame::Key { path, items, .. }) => {
                    *items += 1;
                    (path.clone(), *items - 1)
                }
                // a list directly inside a list item, or at the top
                _ => return,
            };
            let rest = content[1..].trim_start_matches(' ');
            let item_col = col + (content.len() - rest.len());
            let path = index(&parent, n);
            self.lines.entry(path.clone()).or_insert(line);
            stack.push(Frame::Item {
                col: item_col,
                path,
            });
            col = item_col;
            content = rest;
            if content.is_empty() {
                return;
            }
        }
        let Some((key, value)) = split_key(content) else {
            return;
        };
        while let Some(top) = stack.last() {
            let pop = match top {
                Frame::Key { col: c, .. } => *c >= col,
                Frame::Item { col: c, .. } => *c > col,
            };
            if !pop {
                break;
            }
            stack.pop();
        }
        let path = join(stack.last().map_or("", Frame::path), &key);
        match self.lines.get(&path) {
            Some(&first) => self.duplicates.push(Duplicate {
                path: path.clone(),
                first,
                again: line,
            }),
            None => {
                self.lines.insert(path.clone(), line);
            }
        }
        if block_scalar(value) {
            *scalar_above = Some(col);
        }
        stack.push(Frame::Key {
            col,
            path,
            items: 0,
        });
    }

    /// The line of `path`, or of its nearest located ancestor.
    pub(crate) fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// The first repeated key, if any.
    pub(crate) fn duplicate(&self) -> Option<&Duplicate> {
        self.duplicates.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "#cloud-config
hostname: n1   # comment
users:
  - name: a
    groups: [x, y]
  - name: b
    ssh_authorized_keys:
    - ssh-ed25519 AAAA
write_files:
- path: /etc/x
  content: |
    not: a key
    - nor an item
  permissions: '0600'
kubernetes:
  role: worker
  \"token\": abc
  advertise: { cidr: 10.0.0.0/8 }
  registry_mirrors:
    docker.io:
      - https://m.example
";

    #[test]
    fn keys_items_and_fallbacks() {
        let l = Locator::new(DOC);
        for (path, line) in [
            ("hostname", 2),
            ("users", 3),
            ("users[0]", 4),
            ("users[0].name", 4),
            ("users[0].groups", 5),
            ("users[0].groups[1]", 5),
            ("users[1].name", 6),
            ("users[1].ssh_authorized_keys[0]", 8),
            ("write_files[0].path", 10),
            ("write_files[0].content", 11),
            ("write_files[0].permissions", 14),
            ("kubernetes.role", 16),
            ("kubernetes.token", 17),
            ("kubernetes.advertise.cidr", 18),
            ("kubernetes.registry_mirrors.docker.io[0]", 21),
        ] {
            assert_eq!(l.line_of(path), Some(line), "{path}");
        }
        assert_eq!(l.line_of("nope"), None);
        assert_eq!(l.duplicate(), None);
    }

    #[test]
    fn duplicates_point_at_the_repetition() {
        let l = Locator::new(
            "#cloud-config\nkubernetes:\n  role: init\n  token: a\n  role: worker\nhostname: x\n",
        );
        assert_eq!(
            l.duplicate(),
            Some(&Duplicate {
                path: "kubernetes.role".into(),
                first: 3,
                again: 5
            })
        );
        // the same key in two list items is no duplicate
        let l = Locator::new("users:\n- name: a\n- name: b\n");
        assert_eq!(l.duplicate(), None);
    }
}
