//! `import::speedscope::parse` on any bytes: an error or a profile the later stages can
//! take, never a panic.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use port_advisor::import::speedscope;

fuzz_target!(|bytes: &[u8]| {
    common::parse_each_rate(bytes, speedscope::parse);
});
