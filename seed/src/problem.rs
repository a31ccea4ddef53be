//! [`Problem`]/[`Problems`]: every validation failure, each with its YAML
//! path, plus the small walker the parsers use to collect them.
//!
//! Messages never quote secret values: type errors name only the type, and
//! format errors on secrets describe the shape (lengths), never the text.

use std::fmt;

use serde_norway::{Mapping, Value};

use crate::locate::Locator;

/// One problem: `source: line N: path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the text came from (`user-data`, a file name).
    pub source: String,
    /// YAML path, e.g. `kubernetes.taints[1].effect`; empty for the document.
    pub path: String,
    /// 1-based line in the source where `path` (or its nearest ancestor)
    /// starts, when known.
    pub line: Option<usize>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.source)?;
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one document (never empty when returned as an
/// error), with the warnings found beside them so a caller can show both.
/// `Display` prints one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems {
    /// The problems, in document order.
    pub list: Vec<Problem>,
    /// Non-fatal remarks about the same document.
    pub warnings: Vec<String>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.list.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl Problems {
    /// One problem.
    pub fn one(source: &str, path: &str, message: impl Into<String>) -> Self {
        Problems::from(Problem {
            source: source.to_string(),
            path: path.to_string(),
            line: None,
            message: message.into(),
        })
    }

    /// The same problems without line numbers: for documents the user did
    /// not write as such (a seed merged with its `nodes/<mac>.yaml`).
    pub fn without_lines(mut self) -> Self {
        for p in &mut self.list {
            p.line = None;
        }
        self
    }
}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Self {
        Problems {
            list: vec![p],
            warnings: Vec::new(),
        }
    }
}

/// Turns a YAML syntax error into a problem without quoting the input.
/// `text` is the document: a duplicate key is located at its repetition
/// (the parser points at the start of the mapping), and tabs in the
/// indentation get a hint.
pub(crate) fn yaml_error(source: &str, e: &serde_norway::Error, text: &str) -> Problems {
    // libyaml's messages describe the grammar, not the content.
    let msg = e.to_string();
    let head = msg.split(" at line ").next().unwrap_or("invalid YAML");
    if head.contains("duplicate entry with key") {
        if let Some(d) = Locator::new(text).duplicate() {
            return Problems::from(Problem {
                source: source.to_string(),
                path: d.path.clone(),
                line: Some(d.again),
                message: format!(
                    "duplicate key (first at line {}); fix: keep one of them",
                    d.first
                ),
            });
        }
    }
    let line = e.location().map(|l| l.line());
    let loc = e
        .location()
        .map(|l| format!(" at line {} column {}", l.line(), l.column()))
        .unwrap_or_default();
    let mut message = format!("invalid YAML{loc}: {head}");
    if let Some(tab) = tab_indented(text, line) {
        message.push_str(&format!(
            "; line {tab} is indented with a tab: YAML allows only spaces for indentation, \
             fix: replace the tab with spaces"
        ));
    }
    Problems::from(Problem {
        source: source.to_string(),
        path: String::new(),
        line: None,
        message,
    })
}

/// The line with a tab in its indentation: the error's line when it has
/// one, else the first such line of the document.
fn tab_indented(text: &str, at: Option<usize>) -> Option<usize> {
    let tabbed = |l: &str| {
        l.chars()
            .take_while(|c| c.is_whitespace())
            .any(|c| c == '\t')
    };
    let lines: Vec<&str> = text.lines().collect();
    if let Some(n) = at.filter(|n| lines.get(n.wrapping_sub(1)).is_some_and(|l| tabbed(l))) {
        return Some(n);
    }
    lines.iter().position(|l| tabbed(l)).map(|i| i + 1)
}

/// Collects problems while walking a YAML tree.
pub(crate) struct Ctx {
    pub source: String,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    locator: Locator,
}

/// `parent.key` (or `key` at the root).
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// The YAML type name, for messages that must not quote the value.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

impl Ctx {
    /// A walker over `text` (the document, for line numbers) from `source`.
    pub fn new(source: &str, text: &str) -> Self {
        Ctx {
            source: source.to_string(),
            problems: Vec::new(),
            warnings: Vec::new(),
            locator: Locator::new(text),
        }
    }

    pub fn err(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            source: self.source.clone(),
            path: path.to_string(),
            line: self.locator.line_of(path),
            message: message.into(),
        });
    }

    pub fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warn_at(path, path, message);
    }

    /// A warning shown under `shown` and located at `at` (a key the
    /// message names itself).
    pub fn warn_at(&mut self, at: &str, shown: &str, message: impl Into<String>) {
        let w = Problem {
            source: self.source.clone(),
            path: shown.to_string(),
            line: self.locator.line_of(at),
            message: message.into(),
        };
        self.warnings.push(w.to_string());
    }

    /// The string keys of a mapping with their values; non-string keys are
    /// reported and skipped.
    pub fn entries<'v>(&mut self, m: &'v Mapping, path: &str) -> Vec<(&'v str, &'v Value)> {
        let mut out = Vec::new();
        for (k, v) in m {
            match k {
                Value::String(s) => out.push((s.as_str(), v)),
                other => self.err(path, format!("keys must be strings, found {}", kind(other))),
            }
        }
        out
    }

    pub fn mapping<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Mapping> {
        match v {
            Value::Mapping(m) => Some(m),
            other => {
                self.err(path, format!("expected a mapping, got {}", kind(other)));
                None
            }
        }
    }

    pub fn seq<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        match v {
            Value::Sequence(s) => Some(s),
            other => {
                self.err(path, format!("expected a list, got {}", kind(other)));
                None
            }
        }
    }

    /// A string; numbers and booleans are not accepted (quote them).
    pub fn string(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(path, format!("expected a string, got {}", kind(other)));
                None
            }
        }
    }

    /// A scalar rendered as a string (for flag values like `max-pods: 110`).
    pub fn scalar(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                self.err(path, format!("expected a string, got {}", kind(other)));
                None
            }
        }
    }

    /// A boolean. YAML 1.1 spellings (`yes`, `no`, `on`, `off`), which
    /// cloud-init and netplan read as booleans, are accepted too.
    pub fn boolean(&mut self, v: &Value, path: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::String(s)
                if ["yes", "on", "true"].contains(&s.to_ascii_lowercase().as_str()) =>
            {
                Some(true)
            }
            Value::String(s)
                if ["no", "off", "false"].contains(&s.to_ascii_lowercase().as_str()) =>
            {
                Some(false)
            }
            other => {
                self.err(path, format!("expected true or false, got {}", kind(other)));
                None
            }
        }
    }

    /// A list of strings (each checked).
    pub fn strings(&mut self, v: &Value, path: &str) -> Vec<String> {
        let Some(items) = self.seq(v, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.string(item, &index(path, i)) {
                out.push(s);
            }
        }
        out
    }
}

/// A close known key, for "did you mean" hints.
pub(crate) fn suggest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("kubernets", &["kubernetes", "hostname"]),
            Some("kubernetes")
        );
        assert_eq!(
            suggest("podsubnet", &["pod_subnet", "service_subnet"]),
            Some("pod_subnet")
        );
        assert_eq!(suggest("bootcmd", &["kubernetes", "hostname"]), None);
    }
}
