//! port-advisor profiles a Python program from outside and tells which functions would pay
//! off if ported to Rust.
//!
//! ```console
//! $ port-advisor profile fixtures/programs/numeric_loop.py
//! Recorded 212 samples in 2.13 s at 100 Hz (non-blocking, Python 3.11.7).
//!
//! Top functions by self time
//!     self   total  function                                  location
//!    91.5%   91.5%  numeric_loop.mandelbrot_row               fixtures/programs/numeric_loop.py:9
//! ...
//! Wrote port-advisor-out/numeric_loop-20261124-120000/ (profile.json, flame.svg)
//!
//! $ port-advisor flamegraph port-advisor-out/numeric_loop-20261124-120000 --format folded -o -
//! ```
//!
//! The pipeline, one module per stage: [`cli`] -> [`record`] -> [`profile`] -> [`analyze`] ->
//! [`report`]. [`profile`] is the model every stage shares and depends on nothing else.

pub mod advise;
pub mod analyze;
pub mod cli;
mod commands;
pub mod error;
pub mod profile;
pub mod pysource;
pub mod readiness;
pub mod record;
pub mod report;
pub mod rules;
pub mod run_folder;

use anyhow::Result;

/// Runs one command line; returns the process exit code.
pub fn run(cli: cli::Cli) -> Result<u8> {
    match cli.command {
        cli::Command::Profile(args) => commands::profile(args.into_plan()?),
        cli::Command::Flamegraph(args) => commands::flamegraph(args),
        cli::Command::Report(args) => commands::report(args),
    }
}
