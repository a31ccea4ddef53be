//! Persistent run state on STATE (`/var/lib/kubebake`).
//!
//! `state.json` records every completed phase; it is rewritten atomically
//! (temporary file, fsync, rename, fsync of the directory) so a power cut
//! leaves either the old or the new state. `firstboot.done` is written last.

use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The agent's phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Find the seed.
    Acquire,
    /// Parse and validate it.
    Validate,
    /// Hostname, users, files, timezone, network, mirrors.
    Host,
    /// kubeadm prerequisites.
    Preflight,
    /// Write the kubeadm configuration.
    Render,
    /// `kubeadm init|join`.
    Kubeadm,
    /// Apply the CNI manifest (init only).
    Cni,
    /// The seed's runcmd.
    Runcmd,
    /// Done marker.
    Done,
}

impl Phase {
    /// All phases in execution order.
    pub const ALL: [Phase; 9] = [
        Phase::Acquire,
        Phase::Validate,
        Phase::Host,
        Phase::Preflight,
        Phase::Render,
        Phase::Kubeadm,
        Phase::Cni,
        Phase::Runcmd,
        Phase::Done,
    ];

    /// Lower-case name used on the console and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Acquire => "acquire",
            Phase::Validate => "validate",
            Phase::Host => "host",
            Phase::Preflight => "preflight",
            Phase::Render => "render",
            Phase::Kubeadm => "kubeadm",
            Phase::Cni => "cni",
            Phase::Runcmd => "runcmd",
            Phase::Done => "done",
        }
    }

    /// Whether the phase changes files through other programs (hostnamed,
    /// useradd, kubeadm, the seed's commands), which do not fsync: STATE is
    /// flushed ([`flush_fs`]) before such a phase is recorded done. The
    /// agent's own files are written durably ([`write_atomic`]) by all.
    pub fn writes_through_others(self) -> bool {
        matches!(self, Phase::Host | Phase::Kubeadm | Phase::Runcmd)
    }

    /// Parses a phase name.
    pub fn from_name(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// One phase's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Which phase.
    pub phase: Phase,
    /// `ok`, `retry`, `fail`, `skipped`.
    pub result: String,
    /// Wall time the phase took in this boot, milliseconds.
    pub duration_ms: u64,
    /// Milliseconds spent waiting (network, time sync, backoff) inside it.
    #[serde(default)]
    pub wait_ms: u64,
    /// Redacted one-line detail.
    #[serde(default)]
    pub detail: String,
}

/// Persisted state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Completed phases in order.
    pub completed: Vec<PhaseRecord>,
    /// Number of agent runs (boots) so far.
    #[serde(default)]
    pub runs: u32,
    /// Datasource that produced the seed.
    #[serde(default)]
    pub source: Option<String>,
    /// sha256 of the seed's files the node is configured from
    /// ([`crate::reseed::digest`]); a different seed on the source is
    /// noticed by it.
    #[serde(default)]
    pub seed_sha256: Option<String>,
    /// Last error (redacted) and the advice that goes with it.
    #[serde(default)]
    pub last_error: Option<String>,
    /// What the operator should do about `last_error`.
    #[serde(default)]
    pub advice: Option<String>,
    /// Records of failed or retried attempts (redacted).
    #[serde(default)]
    pub failures: Vec<PhaseRecord>,
    /// Milliseconds from agent start to the kubeadm invocation (last run).
    #[serde(default)]
    pub to_kubeadm_ms: Option<u64>,
    /// Waits (network, time sync, containerd) inside that span.
    #[serde(default)]
    pub waits_before_kubeadm_ms: u64,
}

impl State {
    /// Whether `phase` already completed.
    pub fn is_done(&self, phase: Phase) -> bool {
        self.completed.iter().any(|r| r.phase == phase)
    }
}

/// Errors of the state store. The cause is part of the message (and not
/// an error `source`, which would print it a second time in a chain).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// I/O on a state file.
    #[error("{path}: {cause}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Cause.
        cause: std::io::Error,
    },
    /// A corrupt `state.json`.
    #[error(
        "{path} is corrupt ({cause}); fix: if kubeadm already ran on this node, run \
         `kubeadm reset --force`; then remove {path} and reboot: the agent starts first boot over"
    )]
    Corrupt {
        /// File concerned.
        path: PathBuf,
        /// Cause.
        cause: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |cause| StateError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// Writes `data` to `path` atomically with the given mode, durably: the file
/// and its directory are fsynced, so a power cut leaves the old or the new
/// content, never a torn or lost one.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), StateError> {
    replace(path, data, mode, true)
}

/// A duration in whole milliseconds, as the records and the status hold
/// them (saturating).
pub fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Flushes the file system that holds `dir` (syncfs(2)): STATE on a node,
/// where /etc's overlay, /etc/kubernetes and the agent's state all live.
/// What a phase changed through other programs (hostnamed's /etc/hostname,
/// kubeadm's files, the seed's write_files) is not fsynced by them; the
/// agent flushes it before it records the phase done, so a power cut never
/// leaves a node that counts a change as made and has lost it.
pub fn flush_fs(dir: &Path) -> Result<(), StateError> {
    let f = File::open(dir).map_err(io(dir))?;
    rustix::fs::syncfs(&f).map_err(|e| io(dir)(e.into()))
}

/// Like [`write_atomic`] without the fsyncs, for files on tmpfs (`/run`)
/// that a reboot forgets anyway; readers still never see a torn file.
pub fn write_volatile(path: &Path, data: &[u8], mode: u32) -> Result<(), StateError> {
    replace(path, data, mode, false)
}

fn replace(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io(&tmp))?;
        // mode() only applies on creation: enforce it for a leftover tmp file
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io(&tmp))?;
        f.write_all(data).map_err(io(&tmp))?;
        if durable {
            f.sync_all().map_err(io(&tmp))?;
        }
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    if durable {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// The state store under a STATE directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// A store rooted at `dir` (`/var/lib/kubebake` on a node).
    pub fn new(dir: PathBuf) -> Self {
        Store { dir }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of `state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Path of the done marker.
    pub fn done_path(&self) -> PathBuf {
        self.dir.join("firstboot.done")
    }

    /// Whether the node already finished first boot.
    pub fn is_finished(&self) -> bool {
        self.done_path().exists()
    }

    /// Loads the state, or an empty one when none exists.
    pub fn load(&self) -> Result<State, StateError> {
        let p = self.state_path();
        match fs::read(&p) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|cause| StateError::Corrupt { path: p, cause })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(StateError::Io { path: p, cause: e }),
        }
    }

    /// Persists the state atomically (0600).
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let p = self.state_path();
        let data = serde_json::to_vec_pretty(state).map_err(|cause| StateError::Corrupt {
            path: p.clone(),
            cause,
        })?;
        write_atomic(&p, &data, 0o600)
    }

    /// Writes the done marker (last step of a run).
    pub fn mark_finished(&self) -> Result<(), StateError> {
        write_atomic(&self.done_path(), b"done\n", 0o644)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn roundtrip_atomic_and_private() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::new(d.path().join("var/lib/kubebake"));
        assert_eq!(s.load().expect("load"), State::default());
        let mut st = State::default();
        st.completed.push(PhaseRecord {
            phase: Phase::Acquire,
            result: "ok".into(),
            duration_ms: 3,
            wait_ms: 0,
            detail: "source=cidata".into(),
        });
        s.save(&st).expect("save");
        assert_eq!(s.load().expect("load"), st);
        let mode = fs::metadata(s.state_path())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!s.dir().join(".state.json.tmp").exists());
        assert!(!s.is_finished());
        s.mark_finished().expect("done");
        assert!(s.is_finished());
    }

    #[test]
    fn corrupt_state_is_reported_with_path() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Store::new(d.path().to_path_buf());
        fs::write(s.state_path(), b"{nope").expect("write");
        let e = s.load().expect_err("corrupt");
        assert!(e.to_string().contains("state.json"), "{e}");
        // said once, with the fix (anyhow's chain adds no second copy)
        let chain = format!("{:#}", anyhow::Error::new(e).context("loading state"));
        assert_eq!(chain.matches("key must be a string").count(), 1, "{chain}");
        assert!(
            chain.contains("remove ") && chain.contains("and reboot"),
            "{chain}"
        );
    }

    #[test]
    fn phase_names_roundtrip() {
        for p in Phase::ALL {
            assert_eq!(Phase::from_name(p.name()), Some(p));
        }
    }
}
