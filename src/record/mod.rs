//! Recording: turns a running Python program into a [`Profile`].
//!
//! `live` runs one recording from start to finish; the other modules are its steps. `launch`
//! finds the interpreter, checks the script before anything runs and starts the program;
//! `attach` checks a process and explains a refusal to read it; `inject` sends the probe into
//! an attached CPython 3.14+ (PEP 768); `sampler` reads the stacks
//! from outside with py-spy, pausing the program through `pause` when a read needs it
//! (`activity` tells running threads from waiting ones on older Pythons); `children` watches
//! the launched program and ends it and its descendants; `probe_link` talks with the
//! in-process probe; `progress` draws the progress line. What py-spy cannot see (qualified
//! names, first lines, module names) is filled in afterwards from the source files, by
//! [`crate::python::blocks::enrich`].
//!
//! py-spy's types stay inside `sampler` and `live`, which turns the sampler's ticks into the
//! profile. Recording never reads a file another tool wrote: that is [`crate::import`].

mod activity;
mod attach;
mod children;
mod inject;
mod late_symbols;
pub mod launch;
mod live;
mod pause;
mod probe_link;
mod progress;
mod sampler;

use std::path::PathBuf;
use std::time::Duration;

use crate::profile::{ExitInfo, Profile};

pub use launch::{Launch, ProbeOptions, PythonChoice};
pub use live::record;

/// What to record.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start a program and sample it until it exits.
    Launch(Launch),
    /// Attach to a running process; it is left running afterwards.
    Attach(u32),
}

/// How to sample.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Time samples per second.
    pub rate_hz: u32,
    /// Stop after this long (the launched program is then stopped too).
    pub duration: Option<Duration>,
    /// How the time samplers read the program.
    pub reads: Reads,
    /// Also run a low-rate blocking pass that unwinds native frames.
    pub native: bool,
    /// A native pass that cannot start is an error (otherwise a note in the profile).
    pub native_required: bool,
    /// Rate of the native pass.
    pub native_rate_hz: u32,
    /// Follow child processes.
    pub subprocesses: bool,
    /// Keep only the thread that holds the GIL.
    pub gil_only: bool,
    /// Show a progress line on stderr.
    pub progress: bool,
    /// The in-process probe (launched programs on CPython 3.8+, attached ones on 3.14+).
    pub probe: ProbeOptions,
    /// Where the profile is checkpointed while recording, so that a killed recorder loses at
    /// most the last few seconds.
    pub checkpoint: Option<PathBuf>,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            rate_hz: 100,
            duration: None,
            reads: Reads::Paused,
            native: true,
            native_required: false,
            native_rate_hz: 20,
            subprocesses: false,
            gil_only: false,
            progress: true,
            probe: ProbeOptions {
                enabled: true,
                examples: true,
            },
            checkpoint: None,
        }
    }
}

/// Why recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The launched program exited by itself.
    Exited(ExitInfo),
    /// The attached process went away.
    TargetGone,
    /// `--duration` elapsed.
    Duration,
    /// port-advisor received this signal (SIGINT, SIGTERM, SIGHUP).
    Signal(i32),
}

/// A finished recording.
#[derive(Debug)]
pub struct Recording {
    pub profile: Profile,
    pub stop: StopReason,
}

/// How the time samplers read the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Paused for each read while the pauses stay within a small share of the run, and read
    /// while it runs beyond that (the default).
    Paused,
    /// Paused for every read (`--blocking`).
    Blocking,
    /// Read while it runs (`--nonblocking`): paused only to read again a read that came back
    /// cut short.
    Nonblocking,
}
