//! `kubebake build` runs in a worker process under a supervisor (the process
//! the user started), which owns the cleanup.
//!
//! The worker removes `OUT.tmp` and its temp files itself on every error
//! path and on a panic (drop guards). What no guard survives (an abort, the
//! OOM killer, SIGKILL, or SIGINT/SIGTERM, whose default action ends the
//! process on the spot) the supervisor handles: it waits for the worker,
//! removes `OUT.tmp` unless the build succeeded, the worker's partial
//! downloads in the cache, and the directory all its temp files live in.
//! SIGINT, SIGTERM and SIGHUP sent to the supervisor are passed on to the
//! worker; the supervisor then cleans up and exits 128 + the signal's number
//! (130, 143, 129), as a shell reports a process killed by it. No unsafe
//! code, no work in a signal handler.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode, ExitStatus};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustix::process::{kill_process, Pid, Signal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cache::Cache;

/// Set in the worker's environment: the supervisor's temp directory.
const WORK_DIR_ENV: &str = "KUBEBAKE_WORK_DIR";

/// Set in the worker's environment: the supervisor's PID.
const SUPERVISOR_ENV: &str = "KUBEBAKE_SUPERVISOR_PID";

/// In the worker: be killed when the supervisor dies, even of SIGKILL (no
/// cleanup runs in it then), instead of writing on as an orphan and renaming
/// an image nobody waits for into place. A supervisor already gone before
/// the death signal was set is seen as a parent that is not it any more.
pub(crate) fn die_with_supervisor() -> Result<()> {
    use rustix::process::{getppid, set_parent_process_death_signal};
    set_parent_process_death_signal(Some(Signal::KILL))
        .context("asking to be killed with the build supervisor (PR_SET_PDEATHSIG)")?;
    let supervisor = std::env::var(SUPERVISOR_ENV).ok();
    let parent = getppid().map(|p| p.as_raw_nonzero().get().to_string());
    if supervisor.is_none() || parent != supervisor {
        bail!("the build supervisor exited before its worker started; nothing was written");
    }
    Ok(())
}

/// In the worker, the supervisor's temp directory (removed after the build).
pub(crate) fn work_dir() -> Option<PathBuf> {
    std::env::var_os(WORK_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Where a build's temp files go: the supervisor's directory in the
/// worker, else `$TMPDIR`.
pub(crate) fn temp_root() -> PathBuf {
    work_dir().unwrap_or_else(std::env::temp_dir)
}

fn signal_name(sig: i32) -> String {
    match sig {
        SIGINT => "SIGINT".into(),
        SIGTERM => "SIGTERM".into(),
        SIGHUP => "SIGHUP".into(),
        6 => "SIGABRT".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        s => format!("signal {s}"),
    }
}

/// Wait for the worker, passing on every signal the supervisor gets. Polls
/// instead of blocking in `wait`, so a signal is never sent to a reaped (and
/// perhaps reused) PID.
fn wait_forwarding(
    child: &mut std::process::Child,
    signals: &mut Signals,
) -> Result<(ExitStatus, Option<i32>)> {
    let pid = Pid::from_child(child);
    let mut got = None;
    loop {
        for sig in signals.pending() {
            got = Some(sig);
            if let Some(s) = Signal::from_named_raw(sig) {
                // The worker may be exiting already; nothing to do then.
                let _ = kill_process(pid, s);
            }
        }
        if let Some(status) = child.try_wait().context("waiting for the build worker")? {
            return Ok((status, got));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run this `kubebake build` again as the worker, and clean up after it:
/// every `OUT.tmp` in `tmp_outs` unless the build succeeded, and the temp dir.
pub(crate) fn build(tmp_outs: &[PathBuf]) -> Result<ExitCode> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing the SIGINT/SIGTERM/SIGHUP handlers")?;
    let dir = tempfile::Builder::new()
        .prefix("kubebake-build")
        .tempdir()
        .context("creating a temp dir for the build (check TMPDIR)")?;
    let exe = std::env::current_exe().context("locating the running kubebake binary")?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut child = Command::new(&exe)
        .args(&args)
        .env(WORK_DIR_ENV, dir.path())
        .env(SUPERVISOR_ENV, std::process::id().to_string())
        .spawn()
        .with_context(|| format!("starting the build worker {}", exe.display()))?;
    let waited = wait_forwarding(&mut child, &mut signals);
    let left: Vec<&PathBuf> = tmp_outs.iter().filter(|p| p.exists()).collect();
    let ok = waited.as_ref().is_ok_and(|(st, _)| st.success());
    if !ok {
        for p in &left {
            let _ = std::fs::remove_file(p);
        }
        if let Ok(cache) = Cache::from_env() {
            cache.remove_partials(child.id());
        }
    }
    if let Err(e) = dir.close() {
        tracing::warn!("could not remove the build's temp dir: {e}");
    }
    let (status, got) = waited?;
    let shown = |ps: &mut dyn Iterator<Item = &PathBuf>| {
        ps.map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let removed = if left.is_empty() {
        format!("nothing was written at {}", shown(&mut tmp_outs.iter()))
    } else {
        format!("removed the partial {}", shown(&mut left.into_iter()))
    };
    let died = status_signal(&status);
    let code = match (status.success(), got, died, status.code()) {
        (true, ..) => return Ok(ExitCode::SUCCESS),
        (false, Some(sig), ..) => {
            eprintln!(
                "error: build interrupted by {}; {removed}",
                signal_name(sig)
            );
            128 + sig
        }
        (false, None, Some(sig), _) => {
            eprintln!(
                "error: build interrupted: its worker process died of {} (an abort, the OOM \
                 killer or a kill); {removed}",
                signal_name(sig)
            );
            128 + sig
        }
        (false, None, None, code) => code.unwrap_or(1),
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

fn status_signal(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt as _;
    status.signal()
}
