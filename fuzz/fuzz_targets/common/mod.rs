//! What every target checks of a parse: an error names the file and a 1-based line, and a
//! profile that parses is one every later stage can take (it saves as a `profile.json` that
//! loads again, so no index in it is out of range).

#![allow(dead_code)]

use port_advisor::profile::Profile;
use port_advisor::import::{ImportError, ImportOptions, Position};

/// The name the targets give their input, which every error must repeat.
pub const NAME: &str = "fuzz-input";

/// The sampling rates an import is tried at: the default, and the ends of `--input-rate`.
pub const RATES: [u32; 3] = [100, 1, 1_000_000];

pub fn options(rate: u32) -> ImportOptions {
    ImportOptions {
        default_rate_hz: rate,
    }
}

/// Panics unless the error says where the problem is, in the file it was given.
pub fn check_error(e: &ImportError) {
    assert_eq!(e.file, NAME, "the error names another file: {e}");
    assert!(!e.message.is_empty(), "an error without a message: {e:?}");
    if let Position::Line(n) = e.position {
        assert!(n >= 1, "lines are 1-based, the error says line 0: {e}");
    }
    assert!(
        e.to_string().contains(NAME),
        "the message drops the file: {e}"
    );
}

/// Panics unless the profile saves as JSON that `Profile::from_json` reads back.
pub fn check_profile(profile: &Profile) {
    let json = serde_json::to_string(profile).expect("a profile always serializes");
    if let Err(e) = Profile::from_json(&json) {
        panic!("a parsed profile does not load again once saved: {e}");
    }
}

/// Panics unless every stack's frames and thread are in range: what `check_profile` finds
/// too, at a fraction of the cost.
pub fn check_indexes(profile: &Profile) {
    let (frames, threads) = (profile.frames.len(), profile.threads.len());
    for stack in profile.stacks.iter().chain(&profile.native_stacks) {
        assert!(
            stack.frames.iter().all(|&f| (f as usize) < frames),
            "a stack names a frame beyond the {frames} frames: {:?}",
            stack.frames
        );
        assert!(
            (stack.thread as usize) < threads,
            "a stack names thread {}, beyond the {threads} threads",
            stack.thread
        );
    }
}

/// Parses with each rate in [`RATES`], checking errors and profiles alike. Saving and loading
/// again is most of the cost of a run, so only the first profile goes through it.
pub fn parse_each_rate(
    bytes: &[u8],
    parse: fn(&[u8], &str, &ImportOptions) -> Result<Profile, ImportError>,
) {
    for (i, rate) in RATES.into_iter().enumerate() {
        match parse(bytes, NAME, &options(rate)) {
            Ok(profile) if i == 0 => check_profile(&profile),
            Ok(profile) => check_indexes(&profile),
            Err(e) => {
                check_error(&e);
                // The rate does not change what is unreadable.
                return;
            }
        }
    }
}
