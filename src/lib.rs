//! port-advisor profiles a Python program from outside and tells which functions would pay
//! off if ported to Rust, where to cut the boundary, and what the whole program would gain.
//!
//! ```console
//! $ port-advisor profile fixtures/programs/advice/spectral.py
//! Recorded 199 samples in 1.93 s at 100 Hz (non-blocking, Python 3.11.7).
//! ...
//! What to port
//!    #  verdict     function                             time native       calls data/call                  speedup
//!    1  port        times_ata_u                         95.0%   0.0%         ~19 list[float] 550, li…    7.0x-36.3x
//! ...
//! Wrote port-advisor-out/spectral-20261124-145315/ (profile.json, report.json, report.md, flame.svg)
//!
//! $ port-advisor report port-advisor-out/spectral-20261124-145315 --format markdown
//! ```
//!
//! The pipeline, one module per stage: [`cli`] -> [`record`] (or [`import`]) -> [`profile`] ->
//! [`analyze`] -> [`advise`] -> [`report`]. [`profile`] is the model every stage shares and
//! depends on nothing else; [`rules`] holds the knowledge as data; [`python`] reads
//! Python source and paths; [`readiness`] reads the program's tests and history.

pub mod advise;
pub mod analyze;
pub mod cli;
mod commands;
pub mod compare;
mod cores;
pub mod error;
pub mod import;
pub mod pprof_proto;
pub mod profile;
pub mod python;
pub mod readiness;
pub mod record;
pub mod report;
pub mod rules;
pub mod run_folder;
pub mod stub;
pub mod text;
pub mod trust;
pub mod ui;

use anyhow::Result;

use error::ExitStatus;

/// Runs one command line; returns how the run ends (see [`ExitStatus`] for the codes).
pub fn run(cli: cli::Cli) -> Result<ExitStatus> {
    ui::configure(cli.global.verbosity(), cli.global.color);
    match cli.command {
        cli::Command::Profile(args) => commands::profile::run(args.into_plan()?),
        cli::Command::Flamegraph(args) => commands::flamegraph::run(args),
        cli::Command::Report(args) => commands::report::run(args),
        cli::Command::Stub(args) => commands::stub::run(args),
        cli::Command::View(args) => commands::view::run(args),
        cli::Command::Diff(args) => commands::diff::run(args),
        cli::Command::Merge(args) => commands::merge::run(args),
        cli::Command::Completions(args) => {
            cli::write_completions(args.shell, &mut std::io::stdout());
            Ok(ExitStatus::Success)
        }
    }
}
