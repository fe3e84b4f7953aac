//! What the advice could not know, and how to learn it: whether the probe measured call
//! counts and argument data, source lines an imported profile does not name, sampling rounds
//! that could not be read, and too few samples.
//!
//! Reads the profile's metadata, frames and sampling errors only; it may not change a number
//! of the advice, only say which of them are uncertain and why.

use super::report::ProbeState;
use crate::profile::{Profile, TargetKind};

/// Whether the probe measured call counts and argument data, and if not why.
pub(super) fn probe_state(profile: &Profile) -> ProbeState {
    match &profile.probe {
        Some(p) if p.unavailable.is_none() && !p.functions.is_empty() => ProbeState {
            available: true,
            why_not: None,
        },
        Some(p) => ProbeState {
            available: false,
            why_not: Some(
                p.unavailable
                    .clone()
                    .unwrap_or_else(|| "the probe recorded no function".into()),
            ),
        },
        None => ProbeState {
            available: false,
            why_not: Some(match profile.meta.target {
                TargetKind::Attached => {
                    "attached with --pid: the probe runs only in programs port-advisor \
                     launches"
                        .into()
                }
                TargetKind::Imported => {
                    "imported from another tool's profile, which holds none".into()
                }
                _ => "recorded without the probe".into(),
            }),
        },
    }
}

/// Notes on what `profile` leaves unknown, given the probe's state and the run's samples.
pub(super) fn unknowns(profile: &Profile, probe: &ProbeState, run_samples: u64) -> Vec<String> {
    let mut unknowns = Vec::new();
    let imported = profile.meta.target == TargetKind::Imported;
    if imported && profile.frames.iter().all(|f| f.code.is_none()) {
        unknowns.push(
            "The imported profile names no source line that could be read here: native time is \
             judged from function names only (rules/native.toml), so a function that calls C \
             code line by line reads as interpreted. Run the import where the program's source \
             is at the same paths, or profile one process locally."
                .into(),
        );
    }
    if !probe.available {
        unknowns.push(format!(
            "Call counts and argument data are unknown ({}): crossing costs are left out, so \
             the speedups of small functions are optimistic and the boundary choice cannot \
             weigh crossings. Profile one representative run with `port-advisor profile` to \
             measure them.",
            probe.why_not.as_deref().unwrap_or("no probe")
        ));
    }
    let m = &profile.meta;
    if m.ticks > 0 && m.error_ticks * 20 >= m.ticks {
        let cause = profile
            .errors
            .first()
            .map(|e| format!(" (most often: {})", e.message))
            .unwrap_or_default();
        unknowns.push(format!(
            "{:.0}% of sampling rounds could not be read{cause}: the shares cover only the \
             rest of the run.",
            100.0 * m.error_ticks as f64 / m.ticks as f64
        ));
    }
    if run_samples < 200 {
        unknowns.push(format!(
            "Only {} samples: shares are uncertain by several points. Run longer or raise \
             --rate.",
            run_samples
        ));
    }
    unknowns
}
