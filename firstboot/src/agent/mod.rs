//! The phase machine: acquire → validate → host → preflight → render →
//! kubeadm → cni → runcmd → done.
//!
//! Each completed phase is persisted before the next starts; a run resumes
//! after the last completed phase and a finished node does nothing. Acquire
//! is redone until validate succeeds, so a fixed seed is picked up on reboot.

mod cluster;
mod node;

use crate::config::Config;
use crate::console::{self, Outcome};
use crate::datasource::{self, SeedFiles};
use crate::preflight::{self, Level};
use crate::seedio::{self, Loaded};
use crate::state::{ms, Phase, PhaseRecord, State, Store};
use crate::status::Status;
use crate::systemd::Bus;
use std::time::{Duration, Instant};

/// A phase's success: detail and time spent waiting.
struct Done {
    detail: String,
    wait: Duration,
    result: &'static str,
}

fn done(detail: impl Into<String>) -> Done {
    Done {
        detail: detail.into(),
        wait: Duration::ZERO,
        result: "ok",
    }
}

/// A phase's failure: what and what to do.
struct Failed {
    what: String,
    advice: String,
}

fn failed(what: impl Into<String>, advice: impl Into<String>) -> Failed {
    Failed {
        what: crate::redact::redact(&what.into()),
        advice: advice.into(),
    }
}

struct Run<'a> {
    cfg: &'a Config,
    store: Store,
    state: State,
    seed: Option<Loaded>,
    bus: Option<Option<Bus>>,
    started: Instant,
    kubeadm_config: Option<std::path::PathBuf>,
    /// `kubeadm version -o short`, asked once per run (preflight, render).
    kubeadm_version: Option<Option<String>>,
    /// This node's MACs, listed once per run (seed overrides, uniqueness).
    macs: Option<Vec<String>>,
}

impl Run<'_> {
    fn bus(&mut self) -> Option<&Bus> {
        if self.bus.is_none() {
            let b = match Bus::system() {
                Ok(b) => Some(b.with_activation_wait(self.cfg.dbus_wait)),
                Err(e) => {
                    console::line(
                        "host",
                        Outcome::Warn,
                        &format!("no system D-Bus ({e}); using file fallbacks"),
                    );
                    None
                }
            };
            self.bus = Some(b);
        }
        self.bus.as_ref().and_then(Option::as_ref)
    }

    fn write_status(&self, current: Option<Phase>, running: bool) {
        let st = Status::new(&self.state, running, self.store.is_finished(), current);
        if let Err(e) = st.write(&self.cfg.run_dir()) {
            tracing::warn!("status: {e}");
        }
    }

    fn stored_seed(&self) -> Result<SeedFiles, Failed> {
        let source = self.state.source.clone().unwrap_or_default();
        crate::datasource::read_nocloud_dir(&crate::reseed::seed_dir(&self.store), &source)
            .map_err(|e| failed(e.to_string(), "check the STATE partition (/var)"))?
            .ok_or_else(|| {
                failed(
                    "stored seed missing",
                    "remove /var/lib/kubebake/state.json and reboot",
                )
            })
    }

    fn macs(&mut self) -> Vec<String> {
        self.macs
            .get_or_insert_with(|| {
                crate::network::list()
                    .map(|l| crate::network::macs(&l))
                    .unwrap_or_default()
            })
            .clone()
    }

    fn kubeadm_version(&mut self) -> Option<String> {
        self.kubeadm_version
            .get_or_insert_with(|| {
                preflight::command_output("kubeadm", &["version", "-o", "short"])
            })
            .clone()
    }

    fn load_seed(&mut self) -> Result<&Loaded, Failed> {
        if self.seed.is_none() {
            let files = self.stored_seed()?;
            let macs = self.macs();
            let l = seedio::load(&files, &macs).map_err(|e| {
                failed(
                    e.replace('\n', "; "),
                    "fix the seed (check it with `kubebake seed validate user-data`) and reboot",
                )
            })?;
            self.seed = Some(l);
        }
        self.seed
            .as_ref()
            .ok_or_else(|| failed("seed not loaded", ""))
    }

    /// Records a phase's failure (state, console, status); exit code 1.
    fn fail(&mut self, phase: Phase, f: Failed, elapsed: Duration) -> anyhow::Result<i32> {
        use anyhow::Context;
        self.state.failures.push(PhaseRecord {
            phase,
            result: "fail".into(),
            duration_ms: ms(elapsed),
            wait_ms: 0,
            detail: f.what.clone(),
        });
        self.state.last_error = Some(format!("{}: {}", phase.name(), f.what));
        self.state.advice = Some(f.advice.clone());
        self.store.save(&self.state).context("saving state")?;
        console::line(
            phase.name(),
            Outcome::Fail,
            &format!("{}; advice: {}", f.what, f.advice),
        );
        self.write_status(None, false);
        Ok(1)
    }
}

/// The agent's lines of every run, on STATE (see [`console::keep_in`]).
pub const LOG: &str = "/var/log/kubebake-firstboot.log";

/// Called after each phase is persisted: the test build's crash hook.
pub type AfterPhase = fn(Phase);

/// Runs (or resumes) first boot. Returns the process exit code.
pub fn run(cfg: &Config) -> anyhow::Result<i32> {
    run_with(cfg, None)
}

/// [`run`], calling `after_phase` once each phase is persisted.
pub fn run_with(cfg: &Config, after_phase: Option<AfterPhase>) -> anyhow::Result<i32> {
    use anyhow::Context;
    let started = Instant::now();
    let boot_id = std::fs::read_to_string(cfg.path("/proc/sys/kernel/random/boot_id"))
        .unwrap_or_else(|_| "unknown".into());
    let log = cfg.path(LOG);
    if let Err(e) = console::keep_in(&log, &boot_id) {
        tracing::warn!("not keeping the agent's lines in {}: {e}", log.display());
    }
    let store = Store::new(cfg.state_dir());
    if store.is_finished() {
        console::line(
            "done",
            Outcome::Ok,
            "already finished on an earlier boot; nothing to do",
        );
        return Ok(0);
    }
    let mut state = store.load().context("loading state")?;
    state.runs += 1;
    if !state.is_done(Phase::Validate) {
        state.completed.retain(|r| r.phase != Phase::Acquire);
    }
    state.last_error = None;
    state.advice = None;
    store.save(&state).context("saving state")?;
    let mut run = Run {
        cfg,
        store,
        state,
        seed: None,
        bus: None,
        started,
        kubeadm_config: None,
        kubeadm_version: None,
        macs: None,
    };
    if run.state.is_done(Phase::Validate) {
        crate::reseed::recover(&run.store, run.state.seed_sha256.as_deref())
            .context("recovering the stored seed")?;
        // secrets must be known to the redactor before anything is printed
        if let Err(f) = run.load_seed() {
            console::line("validate", Outcome::Fail, &f.what);
            return Ok(1);
        }
        if let Err(f) = run.recheck_seed() {
            return run.fail(Phase::Validate, f, Duration::ZERO);
        }
    }
    for phase in Phase::ALL {
        if run.state.is_done(phase) {
            continue;
        }
        run.write_status(Some(phase), true);
        let t = Instant::now();
        let r = match phase {
            Phase::Acquire => run.acquire(),
            Phase::Validate => run.validate(),
            Phase::Host => run.host(),
            Phase::Preflight => run.preflight(),
            Phase::Render => run.render(),
            Phase::Kubeadm => run.kubeadm(),
            Phase::Cni => run.cni(),
            Phase::Runcmd => run.runcmd(),
            Phase::Done => run.finish(),
        };
        let elapsed = t.elapsed();
        match r {
            Ok(d) => {
                let detail = crate::redact::redact(&d.detail);
                run.state.completed.push(PhaseRecord {
                    phase,
                    result: d.result.to_string(),
                    duration_ms: ms(elapsed),
                    wait_ms: ms(d.wait),
                    detail: detail.clone(),
                });
                // what the phase changed is on disk before it counts as done
                if phase.writes_through_others() {
                    crate::state::flush_fs(&run.cfg.state_dir()).context("flushing STATE")?;
                }
                run.store.save(&run.state).context("saving state")?;
                if phase == Phase::Done {
                    run.store
                        .mark_finished()
                        .context("writing the done marker")?;
                }
                let outcome = if d.result == "warn" {
                    Outcome::Warn
                } else {
                    Outcome::Ok
                };
                let shown = if d.result == "skipped" {
                    format!("skipped: {detail}")
                } else {
                    detail
                };
                console::line(
                    phase.name(),
                    outcome,
                    &format!("{shown} ({} ms)", ms(elapsed)),
                );
                run.write_status(None, phase != Phase::Done);
                if let Some(hook) = after_phase {
                    hook(phase);
                }
            }
            Err(f) => return run.fail(phase, f, elapsed),
        }
    }
    // a power cut between saving `done` and writing the marker lands here
    if !run.store.is_finished() {
        run.store
            .mark_finished()
            .context("writing the done marker")?;
    }
    Ok(0)
}
