//! The node's phases: find and check the seed, apply the host settings,
//! check the node is fit for kubeadm, and render kubeadm's configuration.

use super::*;

impl Run<'_> {
    pub(super) fn acquire(&mut self) -> Result<Done, Failed> {
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
    pub(super) fn recheck_seed(&mut self) -> Result<(), Failed> {
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

    pub(super) fn validate(&mut self) -> Result<Done, Failed> {
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

    pub(super) fn host(&mut self) -> Result<Done, Failed> {
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

    pub(super) fn preflight(&mut self) -> Result<Done, Failed> {
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

    pub(super) fn node_name(&self, l: &Loaded) -> String {
        let read = |p: &str| std::fs::read_to_string(self.cfg.path(p)).ok();
        seedio::node_name(
            l.seed.hostname.as_deref(),
            &[read("/etc/hostname"), read("/proc/sys/kernel/hostname")],
            read("/etc/machine-id").as_deref(),
        )
    }

    pub(super) fn render(&mut self) -> Result<Done, Failed> {
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
}
