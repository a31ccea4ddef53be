//! Running `kubebake` on a hostile input and checking what it left behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;

/// One run of the binary: exit code, both streams, peak RSS.
pub struct Run {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Peak resident set size in KiB, as `/usr/bin/time` reports it.
    pub peak_rss_kib: u64,
}

impl Run {
    /// The lines starting with `error: `.
    pub fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect()
    }

    /// The lines starting with `warning: `.
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("warning: "))
            .collect()
    }
}

/// A private work dir whose `tmp/` is the run's `TMPDIR`, so leftovers of
/// a failed run (`kubebake-boot*` and the like) can be seen.
pub struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    /// A new, empty work dir.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("tmp")).expect("mkdir tmp");
        Work { dir }
    }

    /// The work dir.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the work dir.
    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `kubebake ARGS` in this dir, with a private cache and `TMPDIR`, a
    /// fixed `SOURCE_DATE_EPOCH`, and no colour.
    pub fn kubebake(&self, args: &[&str]) -> Command {
        let mut c = support::kubebake();
        c.args(args)
            .current_dir(self.path())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("XDG_CACHE_HOME", self.join("cache"))
            .env("TMPDIR", self.join("tmp"))
            .env("NO_COLOR", "1");
        c
    }

    /// Entries left in the run's `TMPDIR`.
    pub fn tmp_leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.join("tmp"))
            .expect("read tmp")
            .map(|e| {
                e.expect("dirent")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }
}

/// Run `cmd` under `/usr/bin/time` (peak RSS) and collect its output.
pub fn run(cmd: Command) -> Run {
    run_limited(cmd, None)
}

/// [`run`], killed after `seconds` (a hang then fails the case with exit
/// code 124 or 137 instead of hanging the suite).
pub fn run_with_timeout(cmd: Command, seconds: u64) -> Run {
    run_limited(cmd, Some(seconds))
}

fn run_limited(cmd: Command, timeout: Option<u64>) -> Run {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.is_file(),
        "/usr/bin/time missing (Debian package `time`): run ci/install-host-tools"
    );
    let rss_file = tempfile::NamedTempFile::new().expect("rss file");
    let mut timed = Command::new(time);
    timed.arg("-f").arg("%M").arg("-o").arg(rss_file.path());
    if let Some(secs) = timeout {
        timed
            .args(["timeout", "--kill-after=5"])
            .arg(secs.to_string());
    }
    timed.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        timed.current_dir(d);
    }
    let o = timed.output().expect("run kubebake under /usr/bin/time");
    let rss = std::fs::read_to_string(rss_file.path()).expect("read rss");
    // `time` writes "Command exited with non-zero status N" before the figure.
    let peak_rss_kib = rss
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no RSS figure from /usr/bin/time: {rss:?}"));
    Run {
        code: o.status.code(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        peak_rss_kib,
    }
}

/// What a failed run must show.
pub struct Expect<'a> {
    /// The exit code (1 for bad input, 2 for usage errors).
    pub code: i32,
    /// Every needle must appear in the one `error:` line.
    pub names: &'a [&'a str],
    /// Output path that must not exist afterwards, nor `OUT.tmp`.
    pub out: Option<&'a Path>,
    /// Ceiling on peak RSS in MiB.
    pub rss_mib: Option<u64>,
}

/// Assert `run` failed as `want` says, and that `work` holds no leftovers.
pub fn assert_refused(case: &str, run: &Run, want: &Expect<'_>, work: &Work) {
    assert_eq!(
        run.code,
        Some(want.code),
        "{case}: exit code; stderr:\n{}",
        run.stderr
    );
    let errors = run.errors();
    assert_eq!(
        errors.len(),
        1,
        "{case}: exactly one error line; stderr:\n{}",
        run.stderr
    );
    for n in want.names {
        assert!(
            errors[0].contains(n),
            "{case}: `{n}` missing from: {}",
            errors[0]
        );
    }
    assert!(
        !run.stderr.contains("panicked"),
        "{case}: panic:\n{}",
        run.stderr
    );
    if let Some(out) = want.out {
        assert!(!out.exists(), "{case}: {} left behind", out.display());
        let tmp = PathBuf::from(format!("{}.tmp", out.display()));
        assert!(!tmp.exists(), "{case}: {} left behind", tmp.display());
    }
    let left = work.tmp_leftovers();
    assert!(left.is_empty(), "{case}: left in TMPDIR: {left:?}");
    if let Some(mib) = want.rss_mib {
        assert!(
            run.peak_rss_kib <= mib << 10,
            "{case}: peak RSS {} KiB over the {mib} MiB ceiling",
            run.peak_rss_kib
        );
    }
}
