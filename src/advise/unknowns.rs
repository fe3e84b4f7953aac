//! What the advice could not know, and how to learn it: whether the probe measured call
//! counts and argument data, source lines an imported profile does not name, sampling rounds
//! that could not be read, and too few samples.
//!
//! Reads the profile's metadata, frames and sampling errors only; it may not change a number
//! of the advice, only say which of them are uncertain and why.

use super::model::Model;
use super::report::{Candidate, ProbeState, Verdict};
use crate::profile::{Profile, Provenance, TargetKind};

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

/// A note when the sources of port candidates cannot be read: their factors are then the
/// kind's whole range, not priced from their lines, and nothing else says so. A received
/// profile's sources are not read at all; a profile recorded here may name files that moved
/// or were deleted since.
pub(super) fn unread_sources(model: &Model, candidates: &[Candidate]) -> Option<String> {
    let ports = candidates.iter().any(|c| c.verdict == Verdict::Port);
    if model.profile.provenance != Provenance::Local {
        return ports.then(|| {
            "The profile was not recorded here by you, so the sources of port candidates were \
             not read: their speedups take the kind's whole factor range instead of pricing the \
             operations of their lines. Pass --trust if you know where it came from."
                .to_owned()
        });
    }
    if model.profile.meta.target == TargetKind::Imported {
        return None;
    }
    let mut files: Vec<&str> = Vec::new();
    for c in candidates.iter().filter(|c| c.verdict == Verdict::Port) {
        let file = c.function.file.as_str();
        if !files.contains(&file) && !model.can_read(file) {
            files.push(file);
        }
    }
    let (first, rest) = files.split_first()?;
    let more = match rest.len() {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Some(format!(
        "The source of port candidates cannot be read here ({}{more}): their speedups take \
         the kind's whole factor range instead of pricing the operations of their lines. Run \
         the report where the program's files are at the paths it ran from.",
        crate::text::printable(first)
    ))
}

#[cfg(test)]
mod tests {
    use crate::advise::report::Verdict;
    use crate::advise::test_support::{advice_of, counted_calls, python_frame};
    use crate::profile::{Meta, ProfileBuilder, Provenance};

    /// A profile recorded here of `dir/app.py`, where `kernel` under `main` is the whole run.
    fn recorded_in(dir: &std::path::Path) -> crate::advise::Advice {
        recorded_by(dir, Provenance::Local)
    }

    /// A folder holding `app.py`: `main` calling a small loop, `kernel`, 5000 times.
    fn app_folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let source = "def kernel():\n    t = 0\n    for i in range(9):\n        t += i * i\n    \
                      return t\n\ndef main():\n    for _ in range(5000):\n        kernel()\n";
        std::fs::write(dir.path().join("app.py"), source).unwrap();
        dir
    }

    /// The same profile, of the given provenance.
    fn recorded_by(dir: &std::path::Path, provenance: Provenance) -> crate::advise::Advice {
        let file = dir.join("app.py").display().to_string();
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(python_frame("main", &file, "app"));
        let kernel = b.intern_frame(python_frame("kernel", &file, "app"));
        for _ in 0..1000 {
            b.add_stack(t, vec![main, kernel], false, false, false);
        }
        let mut p = b.to_profile(Meta {
            wall_seconds: 10.0,
            command: vec!["python3".into(), file.clone()],
            cwd: Some(dir.display().to_string()),
            ..Meta::default()
        });
        p.provenance = provenance;
        p.probe = Some(counted_calls(&file, &[("main", 1), ("kernel", 5000)]));
        advice_of(&p)
    }

    #[test]
    fn port_candidates_whose_source_is_gone_say_their_factor_is_not_priced() {
        let dir = app_folder();
        let here = recorded_in(dir.path());
        assert_eq!(here.candidates[0].verdict, Verdict::Port, "{here:#?}");
        let note = |a: &crate::advise::Advice| {
            a.unknowns.iter().any(|u| u.contains("cannot be read here"))
        };
        assert!(!note(&here), "{:?}", here.unknowns);
        let gone = recorded_in(&dir.path().join("moved"));
        assert_eq!(gone.candidates[0].verdict, Verdict::Port, "{gone:#?}");
        assert!(note(&gone), "{:?}", gone.unknowns);
    }

    /// A received profile's sources are not read, whether or not they are there: its port
    /// candidates say their factor is the kind's, and how to have it priced.
    #[test]
    fn port_candidates_of_a_received_profile_say_their_factor_is_not_priced() {
        let dir = app_folder();
        let received = recorded_by(dir.path(), Provenance::Received);
        assert_eq!(
            received.candidates[0].verdict,
            Verdict::Port,
            "{received:#?}"
        );
        assert!(
            received
                .unknowns
                .iter()
                .any(|u| u.contains("not recorded here")
                    && u.contains("--trust")
                    && !u.contains("  ")),
            "{:?}",
            received.unknowns
        );
    }
}
