//! One console line per phase: `kubebake: phase=<name> result=<r> <detail>`.
//!
//! The unit sends stdout to journal+console. Details are always redacted.

use crate::redact::redact;
use std::io::Write;

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
    let detail = redact(detail).replace(['\n', '\r'], " ");
    let detail = detail.trim();
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
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop the agent.
    let _ = writeln!(out, "{}", format_line(phase, outcome, detail));
    let _ = out.flush();
}

/// Prints a line that is not a phase's (`kubebake: <text>`, redacted, one
/// line): what the agent waits for while a phase runs.
pub fn note(text: &str) {
    let text = redact(text).replace(['\n', '\r'], " ");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "kubebake: {}", text.trim());
    let _ = out.flush();
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
