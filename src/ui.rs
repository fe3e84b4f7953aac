//! What the commands say besides their results, and how: `-q` and `-v` (how much is said on
//! stderr), `--color` (whether stdout and stderr get colour). Both are set once from the
//! command line, before any command runs, and read from anywhere.
//!
//! Colour follows anstream's choice for each stream: `--color always|never` decides, else
//! `CLICOLOR_FORCE` and `NO_COLOR` as <https://no-color.org> has them, else whether the
//! stream is a terminal. Styles are anstyle's; no escape code is written by hand.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use anstream::ColorChoice;
use anstyle::{AnsiColor, Style};

/// How much a command says on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `-q`: results and errors only (no progress line, no notes).
    Quiet = 0,
    Normal = 1,
    /// `-v`: also what was read, chosen and written, and how long each step took.
    Verbose = 2,
}

static VERBOSITY: AtomicU8 = AtomicU8::new(Verbosity::Normal as u8);

/// `--color`: when to colour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it).
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    fn choice(self) -> ColorChoice {
        match self {
            ColorWhen::Auto => ColorChoice::Auto,
            ColorWhen::Always => ColorChoice::Always,
            ColorWhen::Never => ColorChoice::Never,
        }
    }

    /// clap's own colour for its help and errors.
    pub fn clap(self) -> clap::ColorChoice {
        match self {
            ColorWhen::Auto => clap::ColorChoice::Auto,
            ColorWhen::Always => clap::ColorChoice::Always,
            ColorWhen::Never => clap::ColorChoice::Never,
        }
    }
}

/// Sets how much is said and when colour is used, for the rest of the process.
pub fn configure(verbosity: Verbosity, color: ColorWhen) {
    VERBOSITY.store(verbosity as u8, Ordering::Relaxed);
    color.choice().write_global();
}

pub fn verbosity() -> Verbosity {
    match VERBOSITY.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

pub fn quiet() -> bool {
    verbosity() == Verbosity::Quiet
}

pub fn verbose() -> bool {
    verbosity() == Verbosity::Verbose
}

/// Whether what is written to stdout gets colour.
pub fn stdout_color() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != ColorChoice::Never
}

/// Whether what is written to stderr gets colour.
pub fn stderr_color() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != ColorChoice::Never
}

/// `text` in `style` when `color`, else as it is.
pub fn paint(color: bool, style: Style, text: &str) -> String {
    if color && style != Style::new() {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

/// The styles port-advisor uses.
pub mod styles {
    use super::*;

    pub const ERROR: Style = AnsiColor::Red.on_default().bold();
    pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
    pub const PORT: Style = AnsiColor::Green.on_default().bold();
    pub const LIBRARY: Style = AnsiColor::Cyan.on_default().bold();
    pub const DIM: Style = Style::new().dimmed();
}

/// A note on stderr (what was written, what to do next), left out with `-q`.
pub fn note(text: impl std::fmt::Display) {
    if !quiet() {
        let _ = writeln!(std::io::stderr(), "{text}");
    }
}

/// A detail on stderr, shown with `-v` only.
pub fn detail(text: impl std::fmt::Display) {
    if verbose() {
        let line = paint(
            stderr_color(),
            styles::DIM,
            &format!("port-advisor: {text}"),
        );
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// A warning on stderr: something went wrong that did not stop the command. Said even with
/// `-q`, which keeps errors.
pub fn warn(text: impl std::fmt::Display) {
    let prefix = paint(stderr_color(), styles::WARNING, "port-advisor: warning:");
    let _ = writeln!(std::io::stderr(), "{prefix} {text}");
}

/// The error a failed command ends with, as its last line on stderr.
pub fn error(text: impl std::fmt::Display) {
    let prefix = paint(stderr_color(), styles::ERROR, "port-advisor: error:");
    let _ = writeln!(std::io::stderr(), "{prefix} {text}");
}

/// Runs `step`, and with `-v` says how long it took.
pub fn timed<T>(what: &str, step: impl FnOnce() -> T) -> T {
    let start = std::time::Instant::now();
    let out = step();
    detail(format_args!(
        "{what}: {:.3} s",
        start.elapsed().as_secs_f64()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_wraps_in_the_style_only_when_asked() {
        assert_eq!(paint(false, styles::PORT, "port"), "port");
        let painted = paint(true, styles::PORT, "port");
        assert!(
            painted.starts_with('\x1b') && painted.ends_with("\x1b[0m"),
            "{painted:?}"
        );
        assert!(painted.contains("port"));
        assert_eq!(paint(true, Style::new(), "plain"), "plain");
    }
}
