//! The phase machine: acquire → validate → host → preflight → render →
//! kubeadm → cni → runcmd → done.
//!
//! Each completed phase is persisted before the next starts; a run resumes
//! after the last completed phase and a finished node does nothing. Acquire
//! is redone until validate succeeds, so a fixed seed is picked up on reboot.

use crate::config::Config;
use crate::console::{self, Outcome};
use crate::datasource::{self, SeedFiles};
use crate::preflight::{self, Level};
use crate::seedio::{self, Loaded};
use crate::state::{Phase, PhaseRecord, State, Store};
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

    fn acquire(&mut self) -> Result<Done, Failed> {
        let platform = datasource::detect_platform(self.cfg);
        let a = datasource::acquire(self.cfg, platform);
        let Some(seed) = a.seed else {
            return Err(failed(
                format!("no usable seed found (platform {platform:?}; {})", a.tried.join(", ")),
                "put user-data on the boot partition, attach a CIDATA volume, or boot with ds=nocloud;s=file:///path/",
            ));
        };
        crate::reseed::write_copy(&crate::reseed::seed_dir(&self.store), &seed)
            .map_err(|e| failed(e.to_string(), "check the STATE partition (/var)"))?;
        self.state.seed_sha256 = Some(crate::reseed::digest(&seed));
        self.state.source = Some(seed.source.clone());
        self.seed = None;
        Ok(done(
            format!("source={} platform={platform:?}", seed.source).to_lowercase(),
        ))
    }

    /// A resumed run: reads the sources again; a seed that changed there is
    /// validated, stored, and the phases from the first it affects are
    /// redone (see [`crate::reseed`]). A missing source keeps the stored copy.
    fn recheck_seed(&mut self) -> Result<(), Failed> {
        let platform = datasource::detect_platform(self.cfg);
        let Some(new) = datasource::acquire(self.cfg, platform).seed else {
            tracing::info!("no seed at its sources any more; using the stored copy");
            return Ok(());
        };
        let stored = self.stored_seed()?;
        let recorded = self
            .state
            .seed_sha256
            .clone()
            .unwrap_or_else(|| crate::reseed::digest(&stored));
        let digest = crate::reseed::digest(&new);
        if digest == recorded {
            return Ok(());
        }
        let src = new.source.clone();
        let macs = self.macs();
        let next = seedio::load(&new, &macs).map_err(|e| {
            failed(
                format!(
                    "the seed on {src} changed and is invalid: {}; nothing of it was applied",
                    e.replace('\n', "; ")
                ),
                "fix the seed (check it with `kubebake seed validate user-data`) and reboot",
            )
        })?;
        let old = self.load_seed()?.clone();
        let first = crate::reseed::first_affected(&old, &next);
        if let Some(p) =
            first.filter(|p| *p <= Phase::Kubeadm && self.state.is_done(Phase::Kubeadm))
        {
            return Err(failed(
                format!(
                    "the seed on {src} changed what the {} phase applies, after kubeadm already \
                     ran: a node in the cluster cannot take it",
                    p.name()
                ),
                format!(
                    "revert that change on {src}; or start over: `kubeadm reset --force`, remove \
                     /var/lib/kubebake/state.json and reboot"
                ),
            ));
        }
        let io =
            |e: crate::state::StateError| failed(e.to_string(), "check the STATE partition (/var)");
        crate::reseed::stage(&self.store, &new).map_err(io)?;
        if let Some(p) = first {
            self.state.completed.retain(|r| r.phase < p);
        }
        self.state.seed_sha256 = Some(digest);
        self.state.source = Some(src.clone());
        self.store.save(&self.state).map_err(io)?;
        crate::reseed::commit(&self.store).map_err(io)?;
        for w in &next.warnings {
            console::line("validate", Outcome::Warn, w);
        }
        self.seed = Some(next);
        let then = first.map_or("nothing to redo".to_string(), |p| {
            format!("resuming from {}", p.name())
        });
        console::line(
            "acquire",
            Outcome::Ok,
            &format!("the seed on {src} changed and is valid: {then}"),
        );
        Ok(())
    }

    fn validate(&mut self) -> Result<Done, Failed> {
        let l = self.load_seed()?;
        for w in &l.warnings {
            console::line("validate", Outcome::Warn, w);
        }
        let role = l
            .seed
            .kubernetes
            .as_ref()
            .map_or("none", |k| k.role.as_str());
        let mut d = format!("role={role} warnings={}", l.warnings.len());
        if let Some(o) = &l.node_override {
            d.push_str(&format!(" override={o}"));
        }
        Ok(done(d))
    }

    fn host(&mut self) -> Result<Done, Failed> {
        let plan = seedio::host_plan(self.load_seed()?);
        let cfg = self.cfg;
        let bus = if plan.hostname.is_some()
            || plan.timezone.is_some()
            || plan.ntp.is_some()
            || !plan.mirrors.is_empty()
            || !plan.network_files.is_empty()
        {
            self.bus()
        } else {
            None
        };
        if let Some(b) = bus {
            b.take_waited();
        }
        let notes = crate::host::apply(cfg, bus, &plan).map_err(|e| {
            failed(
                e.to_string(),
                "fix the seed's host settings, or the node, and reboot",
            )
        })?;
        // Waiting for hostname1/timedate1 to start is not the agent's work.
        let wait = bus.map_or(Duration::ZERO, Bus::take_waited);
        Ok(Done {
            wait,
            ..done(notes.join(" "))
        })
    }

    fn preflight(&mut self) -> Result<Done, Failed> {
        let (seed_version, control_plane, ca) = {
            let l = self.load_seed()?;
            let k = l.seed.kubernetes.as_ref();
            (
                k.and_then(seedio::seed_version),
                k.is_some_and(seedio::is_control_plane),
                k.and_then(|k| k.pki.as_ref()).map(|p| p.ca_crt.clone()),
            )
        };
        let mut wait = Duration::ZERO;
        // wait for NTP only when the clock cannot be trusted (crate::clock)
        let trust =
            crate::clock::Evidence::gather(self.cfg, std::time::SystemTime::now(), ca.as_deref())
                .trust();
        let ntp_timeout = match trust {
            crate::clock::Trust::Trusted(_) => Duration::ZERO,
            crate::clock::Trust::Untrusted(_) => self.cfg.ntp_timeout,
        };
        let (ntp, ntp_wait) = match self.bus() {
            Some(b) => match b.wait_ntp_synchronized(ntp_timeout) {
                Ok((s, w)) => (Some(s), w),
                Err(e) => {
                    tracing::warn!("{e}");
                    (None, Duration::ZERO)
                }
            },
            None => (None, Duration::ZERO),
        };
        wait += ntp_wait;
        let (sock, sock_wait) = preflight::containerd_socket(self.cfg, Duration::from_secs(30));
        wait += sock_wait;
        let ports: Vec<u16> = match std::env::var("KUBEBAKE_PREFLIGHT_PORTS") {
            Ok(v) => v.split(',').filter_map(|p| p.trim().parse().ok()).collect(),
            Err(_) if control_plane => vec![6443, 10250],
            Err(_) => vec![10250],
        };
        let macs = self.macs();
        // The two version probes are processes: run them side by side.
        let kubelet = std::thread::spawn(|| preflight::command_output("kubelet", &["--version"]));
        let kubeadm_version = self.kubeadm_version();
        let kubelet_version = kubelet.join().ok().flatten();
        let checks = vec![
            preflight::swap(self.cfg),
            preflight::modules(self.cfg),
            preflight::sysctls(self.cfg),
            preflight::cgroup(self.cfg),
            preflight::cgroup_driver(self.cfg),
            sock,
            preflight::ports(&ports),
            preflight::uniqueness(self.cfg, &macs),
            crate::clock::check(std::time::SystemTime::now(), &trust, ntp, ntp_wait),
            preflight::versions(
                kubeadm_version.as_deref(),
                kubelet_version.as_deref(),
                seed_version.as_deref(),
            ),
        ];
        let mut fails = Vec::new();
        let mut warns = 0;
        for c in &checks {
            let o = match c.level {
                Level::Ok => continue,
                Level::Warn => {
                    warns += 1;
                    Outcome::Warn
                }
                Level::Fail => {
                    fails.push(c);
                    Outcome::Fail
                }
            };
            console::line(
                "preflight",
                o,
                &format!("check={} {}; fix: {}", c.name, c.diagnosis, c.fix),
            );
        }
        if let Some(first) = fails.first() {
            let names: Vec<&str> = fails.iter().map(|c| c.name).collect();
            return Err(failed(
                format!(
                    "{} check(s) failed: {}; first: {}",
                    fails.len(),
                    names.join(","),
                    first.diagnosis
                ),
                first.fix.clone(),
            ));
        }
        Ok(Done {
            detail: format!("checks={} warnings={warns}", checks.len()),
            wait,
            result: "ok",
        })
    }

    fn node_name(&self, l: &Loaded) -> String {
        let read = |p: &str| std::fs::read_to_string(self.cfg.path(p)).ok();
        seedio::node_name(
            l.seed.hostname.as_deref(),
            &[read("/etc/hostname"), read("/proc/sys/kernel/hostname")],
            read("/etc/machine-id").as_deref(),
        )
    }

    fn render(&mut self) -> Result<Done, Failed> {
        let timeout = self.cfg.address_timeout;
        let l = self.load_seed()?.clone();
        let Some(k) = l.seed.kubernetes.as_ref() else {
            return Ok(Done {
                result: "skipped",
                ..done("no kubernetes section")
            });
        };
        let (addr, wait) = crate::network::wait_for(&seedio::want(k), timeout).map_err(|e| {
            failed(
                e.to_string(),
                "fix kubernetes.advertise or the network-config, then reboot",
            )
        })?;
        let version = self.kubeadm_version().ok_or_else(|| {
            failed(
                "`kubeadm version -o short` failed",
                "check /usr/bin/kubeadm",
            )
        })?;
        let (yaml, api) = seedio::render(k, &self.node_name(&l), Some(addr), &version)
            .map_err(|e| failed(e, "fix the seed's kubernetes section and reboot"))?;
        let p = crate::kubeadm::write_config(self.cfg, &yaml)
            .map_err(|e| failed(e.to_string(), "check the STATE partition (/var)"))?;
        Ok(Done {
            detail: format!("api={api} advertise={addr} config={}", p.display()),
            wait,
            result: "ok",
        })
    }

    fn kubeadm(&mut self) -> Result<Done, Failed> {
        let l = self.load_seed()?.clone();
        let Some(k) = l.seed.kubernetes.as_ref() else {
            return Ok(Done {
                result: "skipped",
                ..done("no kubernetes section")
            });
        };
        let cfg = self.cfg;
        let config = self
            .kubeadm_config
            .clone()
            .unwrap_or_else(|| cfg.state_dir().join("kubeadm.yaml"));
        let init = seedio::is_init(k);
        if !init && !seedio::is_control_plane(k) && crate::kubeadm::worker_join_completed(cfg) {
            // The power went after `kubeadm join` finished but before this
            // phase was recorded: resetting would throw away a good join
            // (and a second join of the same node name is refused).
            return Ok(Done {
                result: "ok",
                ..done("join completed before the interruption (kubelet.conf in place)")
            });
        }
        if crate::kubeadm::has_leftover_state(cfg) {
            console::line(
                "kubeadm",
                Outcome::Warn,
                "state from an interrupted run found; running kubeadm reset --force",
            );
            crate::kubeadm::reset();
        }
        let pki = seedio::pki_files(k);
        if seedio::is_control_plane(k) && !pki.is_empty() {
            crate::kubeadm::place_pki(cfg, &pki)
                .map_err(|e| failed(e.to_string(), "check /etc/kubernetes/pki"))?;
        }
        let args = crate::kubeadm::args(init, &config, init && k.certificate_key.is_some());
        self.state.to_kubeadm_ms =
            Some(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX));
        self.state.waits_before_kubeadm_ms = self.state.completed.iter().map(|r| r.wait_ms).sum();
        // Shown while kubeadm runs; made durable with the phase's outcome.
        self.write_status(Some(Phase::Kubeadm), true);
        let report = crate::kubeadm::run_with_retry(
            "kubeadm",
            &args,
            cfg.kubeadm_retry,
            |n| {
                console::line(
                    "kubeadm",
                    Outcome::Retry,
                    &format!(
                        "attempt={} reason=\"{}\" next_in={}ms",
                        n.attempt,
                        n.reason,
                        n.delay.as_millis()
                    ),
                )
            },
            || {
                if crate::kubeadm::has_leftover_state(cfg) {
                    crate::kubeadm::reset();
                }
            },
        )
        .map_err(|f| Failed {
            what: f.what,
            advice: f.advice,
        })?;
        Ok(Done {
            detail: format!(
                "{} attempts={}",
                if init { "init" } else { "join" },
                report.attempts
            ),
            wait: report.waited,
            result: "ok",
        })
    }

    fn cni(&mut self) -> Result<Done, Failed> {
        let l = self.load_seed()?.clone();
        let Some(k) = l.seed.kubernetes.as_ref().filter(|k| seedio::is_init(k)) else {
            return Ok(Done {
                result: "skipped",
                ..done("not an init node")
            });
        };
        let Some(manifest) = seedio::cni_manifest(k) else {
            return Ok(Done {
                result: "skipped",
                ..done("cni: none")
            });
        };
        let path = self.cfg.path(&manifest);
        if !path.exists() {
            return Err(failed(
                format!("CNI manifest {manifest} not found"),
                "bake the manifest into the image or set kubernetes.cni to an existing path (or none)",
            ));
        }
        let args = crate::kubeadm::cni_args(self.cfg, &path);
        let r = crate::kubeadm::run_with_retry("kubectl", &args, self.cfg.kubeadm_retry, |n| {
            console::line("cni", Outcome::Retry, &format!("attempt={} reason=\"{}\"", n.attempt, n.reason))
        }, || {})
        .map_err(|f| Failed { what: f.what, advice: "check the API server with `kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes` and apply the CNI manifest by hand".into() })?;
        Ok(Done {
            detail: format!("applied {manifest}"),
            wait: r.waited,
            result: "ok",
        })
    }

    fn runcmd(&mut self) -> Result<Done, Failed> {
        let l = self.load_seed()?.clone();
        let cmds = &l.seed.runcmd;
        if cmds.is_empty() {
            return Ok(done("none"));
        }
        let mut failed_n = 0;
        for (i, c) in cmds.iter().enumerate() {
            // output goes to the journal (redacted), never to the console
            let output = match c {
                kubebake_seed::Command::Shell(s) => {
                    std::process::Command::new("sh").args(["-c", s]).output()
                }
                kubebake_seed::Command::Argv(a) => match a.split_first() {
                    Some((p, rest)) => std::process::Command::new(p).args(rest).output(),
                    None => continue,
                },
            };
            if let Ok(o) = &output {
                for l in String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .chain(String::from_utf8_lossy(&o.stderr).lines())
                {
                    tracing::info!("runcmd[{}]: {}", i + 1, crate::redact::redact(l));
                }
            }
            let status = output.map(|o| o.status);
            let ok = status.as_ref().is_ok_and(std::process::ExitStatus::success);
            if !ok {
                failed_n += 1;
                let why = match status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                };
                console::line(
                    "runcmd",
                    Outcome::Warn,
                    &format!("command {} of {} failed: {why}", i + 1, cmds.len()),
                );
            }
        }
        Ok(Done {
            detail: format!("commands={} failed={failed_n}", cmds.len()),
            wait: Duration::ZERO,
            result: if failed_n == 0 { "ok" } else { "warn" },
        })
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

    fn finish(&mut self) -> Result<Done, Failed> {
        let own: u64 = self
            .state
            .completed
            .iter()
            .map(|r| r.duration_ms.saturating_sub(r.wait_ms))
            .sum();
        Ok(done(format!("own_work_ms={own}")))
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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
