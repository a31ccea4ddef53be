//! `/run/kubebake/status.json` and the `status` command.
//!
//! The status file mirrors the persisted state plus what is running now, so
//! operators (and the VM test) read phases, timings, the last error and advice
//! in one place. Every string in it is already redacted.

use crate::state::{Phase, State};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Status document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Whether the agent is running now.
    pub running: bool,
    /// Whether the done marker exists.
    pub finished: bool,
    /// Phase in progress, if any.
    pub current: Option<Phase>,
    /// Persisted state (completed phases, failures, last error, advice).
    #[serde(flatten)]
    pub state: State,
    /// Sum of phase durations minus waits, milliseconds (the agent's own work).
    pub own_work_ms: u64,
}

impl Status {
    /// Builds a status from the state.
    pub fn new(state: &State, running: bool, finished: bool, current: Option<Phase>) -> Self {
        let own_work_ms = state
            .completed
            .iter()
            .map(|r| r.duration_ms.saturating_sub(r.wait_ms))
            .sum();
        Status {
            running,
            finished,
            current,
            state: state.clone(),
            own_work_ms,
        }
    }

    /// Writes the status file atomically (0644: it holds no secrets).
    pub fn write(&self, run_dir: &Path) -> Result<(), crate::state::StateError> {
        let data = serde_json::to_vec_pretty(self).unwrap_or_default();
        crate::state::write_volatile(&run_dir.join("status.json"), &data, 0o644)
    }

    /// Human-readable rendering for `kubebake-firstboot status`.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let state = if self.finished {
            "finished"
        } else if self.running {
            "running"
        } else if self.state.last_error.is_some() {
            "failed"
        } else {
            "not finished"
        };
        s.push_str(&format!("first boot: {state}\n"));
        if let Some(src) = &self.state.source {
            s.push_str(&format!("seed source: {src}\n"));
        }
        for p in Phase::ALL {
            let rec = self.state.completed.iter().find(|r| r.phase == p);
            let line = match rec {
                Some(r) => format!(
                    "  {:<10} {:<7} {:>6} ms  {}\n",
                    p.name(),
                    r.result,
                    r.duration_ms,
                    r.detail
                ),
                None if self.current == Some(p) => format!("  {:<10} running\n", p.name()),
                None => format!("  {:<10} pending\n", p.name()),
            };
            s.push_str(&line);
        }
        s.push_str(&format!("own work: {} ms\n", self.own_work_ms));
        if let Some(e) = &self.state.last_error {
            s.push_str(&format!("last error: {e}\n"));
        }
        if let Some(a) = &self.state.advice {
            s.push_str(&format!("advice: {a}\n"));
        }
        s
    }
}

/// Loads the freshest status: `/run/kubebake/status.json`, or one rebuilt
/// from `state.json` after a reboot.
pub fn load(cfg: &crate::config::Config) -> anyhow::Result<Status> {
    use anyhow::Context;
    let run = cfg.run_dir().join("status.json");
    let store = crate::state::Store::new(cfg.state_dir());
    match std::fs::read(&run) {
        Ok(b) => {
            let mut st: Status =
                serde_json::from_slice(&b).with_context(|| format!("parsing {}", run.display()))?;
            st.finished = store.is_finished();
            Ok(st)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !store.dir().is_dir() {
                anyhow::bail!(
                    "{} does not exist: first boot has not run on this node, or STATE is not \
                     mounted on /var; check `findmnt /var` and `systemctl status kubebake-firstboot`",
                    store.dir().display()
                );
            }
            let state = store.load()?;
            Ok(Status::new(&state, false, store.is_finished(), None))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", run.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::PhaseRecord;

    #[test]
    fn own_work_excludes_waits_and_human_lists_phases() {
        let mut st = State::default();
        st.completed.push(PhaseRecord {
            phase: Phase::Acquire,
            result: "ok".into(),
            duration_ms: 40,
            wait_ms: 30,
            detail: "source=cidata".into(),
        });
        st.completed.push(PhaseRecord {
            phase: Phase::Preflight,
            result: "ok".into(),
            duration_ms: 1005,
            wait_ms: 1000,
            detail: String::new(),
        });
        st.last_error = Some("boom".into());
        let s = Status::new(&st, false, false, None);
        assert_eq!(s.own_work_ms, 15);
        let h = s.human();
        assert!(h.contains("first boot: failed"), "{h}");
        assert!(h.contains("acquire") && h.contains("source=cidata"), "{h}");
        assert!(h.contains("kubeadm    pending"), "{h}");
        let d = tempfile::tempdir().expect("tmp");
        s.write(d.path()).expect("write");
        let back: Status =
            serde_json::from_slice(&std::fs::read(d.path().join("status.json")).expect("r"))
                .expect("json");
        assert_eq!(back, s);
    }
}
