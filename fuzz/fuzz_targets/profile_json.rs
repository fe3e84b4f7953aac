//! `Profile::from_json` on any text: an error or a profile whose indexes are all in range,
//! never a panic.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use port_advisor::profile::Profile;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(profile) = Profile::from_json(&text) {
        common::check_profile(&profile);
    }
});
