//! The cluster's phases: `kubeadm init|join`, the CNI manifest, the seed's
//! commands, and the closing record.

use super::*;

impl Run<'_> {
    pub(super) fn kubeadm(&mut self) -> Result<Done, Failed> {
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
        self.state.to_kubeadm_ms = Some(ms(self.started.elapsed()));
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

    pub(super) fn cni(&mut self) -> Result<Done, Failed> {
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

    pub(super) fn runcmd(&mut self) -> Result<Done, Failed> {
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

    pub(super) fn finish(&mut self) -> Result<Done, Failed> {
        let own: u64 = self
            .state
            .completed
            .iter()
            .map(|r| r.duration_ms.saturating_sub(r.wait_ms))
            .sum();
        Ok(done(format!("own_work_ms={own}")))
    }
}
