//! Where the program waits: the share of the run in which no thread ran (sleeping, reading
//! a socket, waiting for a lock or a child process), and the lines it waited on. A program
//! that mostly waits gets that as its first verdict, since no port shortens waiting.
//!
//! Reads the profile's idle stacks only; the time stacks are the stack index's.

use std::collections::HashMap;

use super::index::{origin_of, Origin};
use super::model::Model;
use super::report::{Candidate, FunctionRef, Reason, Verdict};
use crate::profile::{Frame, FrameKind};

/// One place the program waited: its innermost program frame's function and line.
struct Spot<'p> {
    frame: &'p Frame,
    weight: u64,
}

impl Model<'_> {
    /// A leave-it naming where the program waits, when it waits for most of its run.
    pub(super) fn waiting(&self) -> Option<Candidate> {
        let t = &self.rules.scoring.thresholds;
        let run = self.index.run_samples;
        if run == 0 {
            return None;
        }
        let busy: u64 = self.index.stacks().map(|s| s.weight).sum();
        let waiting = 1.0 - (busy as f64 / run as f64).min(1.0);
        if waiting < t.waiting_share {
            return None;
        }
        let spots = self.waiting_spots();
        let idle: u64 = spots.iter().map(|s| s.weight).sum();
        let top = spots.first()?;
        let places: Vec<String> = spots
            .iter()
            .take(3)
            .map(|s| {
                let line = s
                    .frame
                    .line
                    .map(|l| format!(", line {l}"))
                    .unwrap_or_default();
                let code = s
                    .frame
                    .code
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default();
                format!(
                    "{} ({:.0}% of the waiting{line}{code})",
                    s.frame.display_name(),
                    100.0 * s.weight as f64 / idle.max(1) as f64
                )
            })
            .collect();
        let summary = format!(
            "the program waits {:.0}% of its run, in {}: no port shortens waiting; overlap the \
             waits (threads, asyncio, fewer round trips) to shorten the run",
            100.0 * waiting,
            places.join("; ")
        );
        let function = FunctionRef {
            name: top.frame.display_name().to_owned(),
            module: top.frame.module.clone(),
            file: top.frame.file.clone(),
            first_line: top.frame.first_line,
        };
        let mut c = Candidate::new(Verdict::LeaveIt, Reason::Waiting, summary, function, 0.0);
        c.time_share = waiting;
        c.hot_functions = spots
            .iter()
            .take(3)
            .map(|s| s.frame.display_name().to_owned())
            .collect();
        c.evidence = vec![format!(
            "{busy} of {run} sampling rounds saw a thread running; the rest waited"
        )];
        Some(c)
    }

    /// The idle stacks of the profile by their innermost program frame (or innermost Python
    /// frame when no program frame is on them), most waited first.
    fn waiting_spots(&self) -> Vec<Spot<'_>> {
        let mut by_place: HashMap<(&str, &str, Option<u32>), Spot<'_>> = HashMap::new();
        for stack in self.profile.stacks.iter().filter(|s| s.idle) {
            let python = stack
                .frames
                .iter()
                .map(|&id| &self.profile.frames[id as usize])
                .filter(|f| f.kind == FrameKind::Python);
            let mut innermost = None;
            let mut program = None;
            for frame in python {
                innermost = Some(frame);
                if origin_of(frame.kind, &frame.file) == Origin::Program
                    && !frame.name.ends_with("<module>")
                {
                    program = Some(frame);
                }
            }
            let Some(frame) = program.or(innermost) else {
                continue;
            };
            by_place
                .entry((frame.file.as_str(), frame.display_name(), frame.line))
                .or_insert(Spot { frame, weight: 0 })
                .weight += stack.weight;
        }
        let mut spots: Vec<Spot<'_>> = by_place.into_values().collect();
        spots.sort_by(|a, b| {
            b.weight
                .cmp(&a.weight)
                .then(a.frame.display_name().cmp(b.frame.display_name()))
                .then(a.frame.line.cmp(&b.frame.line))
        });
        spots
    }
}

#[cfg(test)]
mod tests {
    use crate::advise::report::{Reason, Verdict};
    use crate::advise::test_support::{advice_of, python_frame};
    use crate::profile::{Frame, Meta, ProfileBuilder};

    fn fetching(idle_rounds: usize, busy_rounds: usize) -> crate::advise::Advice {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(python_frame("main", "/home/me/app.py", "app"));
        let fetch = b.intern_frame(Frame {
            line: Some(12),
            code: Some("time.sleep(0.02)".into()),
            ..python_frame("fetch", "/home/me/app.py", "app")
        });
        let handle = b.intern_frame(python_frame("handle", "/home/me/app.py", "app"));
        for _ in 0..idle_rounds {
            b.add_stack(t, vec![main, fetch], true, false, false);
        }
        for _ in 0..busy_rounds {
            b.add_stack(t, vec![main, handle], false, true, false);
        }
        advice_of(&b.to_profile(Meta {
            wall_seconds: 2.0,
            ..Meta::default()
        }))
    }

    #[test]
    fn a_program_that_mostly_waits_is_told_where() {
        let advice = fetching(190, 10);
        let first = &advice.candidates[0];
        assert_eq!(
            (first.verdict, first.reason, first.function.name.as_str()),
            (Verdict::LeaveIt, Reason::Waiting, "fetch"),
            "{}",
            first.summary
        );
        assert!((first.time_share - 0.95).abs() < 1e-9);
        assert!(
            first.summary.contains("line 12: time.sleep(0.02)"),
            "{}",
            first.summary
        );
    }

    #[test]
    fn a_program_that_mostly_runs_gets_no_waiting_verdict() {
        let advice = fetching(60, 140);
        assert!(
            advice
                .candidates
                .iter()
                .all(|c| c.reason != Reason::Waiting),
            "{:?}",
            advice.candidates
        );
    }
}
