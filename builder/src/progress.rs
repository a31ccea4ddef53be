//! Progress on stderr (indicatif): one bar per download and one for the
//! image write, a bar when the phase's size is known (tarball input bytes,
//! the image hash), else a spinner with bytes and entries. All bars hang off
//! one [`MultiProgress`] that log lines suspend, so the two never interleave.
//! Hidden when stderr is not a terminal, so logs and CI output stay clean.

use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Every bar of this process.
pub fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// A new bar of `len` bytes (None: unknown) below the others.
pub fn bar(len: Option<u64>) -> ProgressBar {
    bars().add(ProgressBar::with_draw_target(
        len,
        ProgressDrawTarget::hidden(),
    ))
}

/// stderr for log lines: the bars are cleared while a line is written and
/// drawn again below it.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        bars().suspend(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The image write's progress line.
pub struct Progress {
    bar: ProgressBar,
    entries: Cell<u64>,
    /// The phase has a length driven by [`Progress::counting`] readers.
    sized: Cell<bool>,
}

/// A reader that advances the bar by what it reads.
pub struct Counting<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

fn style(sized: bool) -> ProgressStyle {
    let template = if sized {
        "{prefix:>8} [{bar:30}] {bytes:>10}/{total_bytes:<10} {elapsed:>4} {msg}"
    } else {
        "{prefix:>8} {spinner} {bytes:>10} {elapsed:>4} {msg}"
    };
    ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Progress {
    /// A progress line on stderr (hidden if stderr is not a terminal).
    pub fn stderr() -> Progress {
        let bar = bar(None);
        bar.set_style(style(false));
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar,
            entries: Cell::new(0),
            sized: Cell::new(false),
        }
    }

    /// Start a phase: `len` bytes (a bar) or unknown (a spinner).
    pub fn phase(&self, name: &'static str, len: Option<u64>) {
        self.bar.set_prefix(name);
        self.bar.set_position(0);
        self.bar.set_message("");
        match len {
            Some(n) => self.bar.set_length(n),
            None => self.bar.unset_length(),
        }
        self.bar.set_style(style(len.is_some()));
        self.sized.set(len.is_some());
    }

    /// Count one entry of `bytes` data (the bar's bytes when unsized).
    pub fn entry(&self, bytes: u64) {
        let n = self.entries.get() + 1;
        self.entries.set(n);
        if !self.sized.get() {
            self.bar.inc(bytes);
        }
        if n % 512 == 1 {
            self.bar.set_message(format!("{n} entries"));
        }
    }

    /// Advance the bar by `bytes`.
    pub fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    /// Set the bar to `done` bytes.
    pub fn position(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Wrap an input whose bytes make the phase's length.
    pub fn counting<R: Read>(&self, inner: R) -> Counting<R> {
        Counting {
            inner,
            bar: self.bar.clone(),
        }
    }

    /// Remove the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
