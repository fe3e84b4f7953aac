//! The tests that run real programs: Python processes sampled by the real binary on every
//! CPython pyenv has here, crates built with maturin, reports opened in headless Chromium.
//! They take minutes, and many check shares of wall time. The harness runs them in parallel,
//! so a program whose time is measured holds `common::exclusive`, and a build, a browser or
//! an install holds `common::heavy_work`: neither ever runs beside the first. A test that
//! needs a pyenv CPython this machine lacks says it is skipped (`common::skip`). The tests
//! that sample nothing are in `tests/hermetic/`.
//!
//! One test binary, each file a module of it: every binary links the whole crate, so few
//! binaries build faster.

#[path = "../common/browser.rs"]
mod browser;
#[path = "../common/mod.rs"]
mod common;

mod advice;
mod browser_harness;
mod control;
mod corpus;
mod faults;
mod html;
mod import_tools;
mod permissions;
mod port;
mod probe;
mod profile;
mod pythons;
mod stub;
