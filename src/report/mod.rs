//! Reports: everything port-advisor writes for people or other tools, one file per format.
//!
//! Each writer reads the profile (and its analysis) and writes to any `Write`; none of them
//! records or analyzes anything itself.

pub mod advice;
pub mod compare;
pub mod flamegraph;
pub mod folded;
pub mod html;
pub mod paint;
pub mod pprof;
pub mod speedscope;
pub mod summary;
