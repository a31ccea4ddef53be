//! [`Problem`]/[`Problems`]: every validation failure, each with its YAML
//! path, plus the small walker the parsers use to collect them.
//!
//! Messages never quote secret values: type errors name only the type, and
//! format errors on secrets describe the shape (lengths), never the text.

use std::fmt;

use serde_norway::{Mapping, Value};

/// One problem: `source: path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the text came from (`user-data`, a file name).
    pub source: String,
    /// YAML path, e.g. `kubernetes.taints[1].effect`; empty for the document.
    pub path: String,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.path, self.message)
        }
    }
}

/// Every problem found in one document (never empty when returned as an
/// error). `Display` prints one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
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
        Problems(vec![Problem {
            source: source.to_string(),
            path: path.to_string(),
            message: message.into(),
        }])
    }
}

/// Turns a YAML syntax error into a problem without quoting the input.
pub(crate) fn yaml_error(source: &str, e: &serde_norway::Error) -> Problems {
    let loc = e
        .location()
        .map(|l| format!(" at line {} column {}", l.line(), l.column()))
        .unwrap_or_default();
    // libyaml's messages describe the grammar, not the content.
    let text = e.to_string();
    let head = text.split(" at line ").next().unwrap_or("invalid YAML");
    Problems::one(source, "", format!("invalid YAML{loc}: {head}"))
}

/// Collects problems while walking a YAML tree.
pub(crate) struct Ctx {
    pub source: String,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
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
    pub fn new(source: &str) -> Self {
        Ctx {
            source: source.to_string(),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn err(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            source: self.source.clone(),
            path: path.to_string(),
            message: message.into(),
        });
    }

    pub fn warn(&mut self, path: &str, message: impl Into<String>) {
        let m = message.into();
        self.warnings.push(if path.is_empty() {
            format!("{}: {m}", self.source)
        } else {
            format!("{}: {path}: {m}", self.source)
        });
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
