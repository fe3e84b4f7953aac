//! The progress line on stderr while recording: what is recorded, for how long, how many
//! samples and errors so far, and how to stop. It only displays what the recording counted;
//! it is drawn only when stderr is a terminal, and never writes to stdout.

use std::time::{Duration, Instant};

use crate::profile::Meta;

/// The progress line on stderr (hidden when stderr is not a terminal).
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: std::cell::Cell<Option<Instant>>,
}

impl Progress {
    pub(super) fn new(enabled: bool, pid: u32, argv: &[String]) -> Progress {
        use std::io::IsTerminal;
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            let name = argv
                .iter()
                .find(|a| a.ends_with(".py"))
                .or(argv.first())
                .cloned()
                .unwrap_or_default();
            bar.set_prefix(format!("recording {name} (pid {pid})"));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            last: std::cell::Cell::new(None),
        }
    }

    pub(super) fn update(&self, meta: &Meta, elapsed: Duration) {
        let Some(bar) = &self.bar else { return };
        if self
            .last
            .get()
            .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last.set(Some(Instant::now()));
        bar.set_message(format!(
            "{:.1} s, {} samples, {} errors  (Ctrl-C stops and keeps the profile)",
            elapsed.as_secs_f64(),
            meta.samples,
            meta.error_ticks
        ));
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
