//! The tests that sample no Python process: bad input, the report commands on recorded and
//! imported profiles, pprof in and out, what ships with the binary. They run in seconds, on
//! any machine with the tools `.ci/setup` installs; the live tests are in `tests/live/`.
//!
//! One test binary, each file a module of it: every binary links the whole crate, so few
//! binaries build faster.

#[path = "../common/mod.rs"]
mod common;

mod cli_errors;
mod cli_reports;
mod cli_shipping;
mod import_tools;
mod pprof_roundtrip;
