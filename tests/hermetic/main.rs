//! The tests that sample no Python process: bad input, the report commands on recorded and
//! imported profiles, the advice on each recorded advice program as snapshots
//! (`recorded_advice.rs`, kept in `snapshots/`), pprof and speedscope out and back in (where
//! the writers and the importers, apart in the crate, meet), what ships with the binary.
//! They run in seconds, on any machine with the tools `.ci/setup` installs; the live tests are
//! in `tests/live/`.
//!
//! A changed snapshot fails the test and, outside CI, is written beside the old one as
//! `.snap.new`: review it with `cargo insta review` (cargo-insta), or accept every change with
//! `INSTA_UPDATE=always cargo test --test hermetic` and read `git diff`.
//!
//! One test binary, each file a module of it: every binary links the whole crate, so few
//! binaries build faster.

#[path = "../common/mod.rs"]
mod common;

mod cli_conventions;
mod cli_errors;
mod cli_reports;
mod cli_shipping;
mod import_tools;
mod imported_summary;
mod pprof_roundtrip;
mod recorded_advice;
mod report_schema;
mod speedscope_roundtrip;
