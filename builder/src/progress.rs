//! Progress on stderr (indicatif): bytes and entries streamed. Hidden when
//! stderr is not a terminal, so logs and CI output stay clean.

use std::cell::Cell;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bytes + entries counter shown as a spinner line.
pub struct Progress {
    bar: ProgressBar,
    entries: Cell<u64>,
}

impl Progress {
    /// A progress line on stderr (hidden if stderr is not a terminal).
    pub fn stderr() -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix:>8} {bytes:>10} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar,
            entries: Cell::new(0),
        }
    }

    /// Name the current phase.
    pub fn phase(&self, name: &'static str) {
        self.bar.set_prefix(name);
    }

    /// Count one entry of `bytes` data.
    pub fn entry(&self, bytes: u64) {
        let n = self.entries.get() + 1;
        self.entries.set(n);
        self.bar.inc(bytes);
        if n % 512 == 1 {
            self.bar.set_message(format!("{n} entries"));
        }
    }

    /// Remove the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
