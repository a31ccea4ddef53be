//! One console line per phase: `kubebake: phase=<name> result=<r> <detail>`.
//!
//! The unit sends stdout to journal+console. Details are always redacted.
//! Every line is also kept in a log on STATE ([`keep_in`]), as cloud-init
//! keeps `/var/log/cloud-init-output.log`: a node whose journal was rotated,
//! or whose console nobody saw, still shows what each run did.

use crate::redact::redact;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

/// The log every line is appended to, once [`keep_in`] opened it.
static KEPT: Mutex<Option<File>> = Mutex::new(None);

/// Appends every later line to `path` (created 0600, like the rest of
/// STATE's agent files), after a `# kubebake-firstboot boot_id=B` line that
/// starts this run's lines. Without a log (a read-only or missing STATE) the
/// agent goes on: the console and the journal still have every line.
pub fn keep_in(path: &Path, boot_id: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    // A power cut can leave the last line torn (no newline, or zeros after
    // it): this run's lines start on a line of their own.
    let len = f.metadata()?.len();
    let mut last = [b'\n'];
    if len > 0 {
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut last, len - 1)?;
    }
    if last[0] != b'\n' {
        f.write_all(b"\n")?;
    }
    writeln!(f, "# kubebake-firstboot boot_id={}", boot_id.trim())?;
    *KEPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(f);
    Ok(())
}

/// Writes one finished line to stdout (flushed) and to the kept log.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop the agent.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    let mut kept = KEPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(f) = kept.as_mut() {
        let _ = writeln!(f, "{line}");
    }
}

/// Outcome printed on a phase line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The phase finished.
    Ok,
    /// A transient failure; the agent tries again.
    Retry,
    /// The phase failed; the agent stops.
    Fail,
    /// A warning that does not stop the run.
    Warn,
}

impl Outcome {
    /// The word printed after `result=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Retry => "retry",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
        }
    }
}

/// Formats a phase line (redacted, single line).
pub fn format_line(phase: &str, outcome: Outcome, detail: &str) -> String {
    let detail = one_line(detail);
    if detail.is_empty() {
        format!("kubebake: phase={phase} result={}", outcome.as_str())
    } else {
        format!(
            "kubebake: phase={phase} result={} {detail}",
            outcome.as_str()
        )
    }
}

/// Prints a phase line on stdout and flushes it.
pub fn line(phase: &str, outcome: Outcome, detail: &str) {
    emit(&format_line(phase, outcome, detail));
}

/// Prints a line that is not a phase's (`kubebake: <text>`, redacted, one
/// line): what the agent waits for while a phase runs.
pub fn note(text: &str) {
    emit(&format!("kubebake: {}", one_line(text)));
}

/// `text` redacted, on one line, trimmed.
fn one_line(text: &str) -> String {
    redact(text).replace(['\n', '\r'], " ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_and_redacted() {
        let l = format_line(
            "kubeadm",
            Outcome::Retry,
            "join abcdef.0123456789abcdef\nrefused",
        );
        assert_eq!(
            l,
            "kubebake: phase=kubeadm result=retry join <redacted> refused"
        );
        assert_eq!(
            format_line("done", Outcome::Ok, ""),
            "kubebake: phase=done result=ok"
        );
    }
}
