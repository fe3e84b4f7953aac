//! The mostly native regions: program functions whose time already runs as machine code
//! (NumPy, pickle, regular expressions) and that no port candidate covers, reported as
//! "leave it" with the evidence the analysis found for their native time.
//!
//! Takes the native time charged to each program function and the functions the boundary
//! search already covers; it may not search boundaries or weigh crossings, only report what
//! the estimate says of the function itself.

use std::collections::HashMap;

use super::index::Origin;
use super::model::Model;
use super::report::{Candidate, FunctionRef, Reason, Verdict};

impl Model<'_> {
    /// A candidate for each mostly native program function that `covered` leaves out, given
    /// the native weight charged to each function.
    pub(super) fn mostly_native(
        &self,
        native: &[f64],
        covered: &HashMap<usize, usize>,
    ) -> Vec<Candidate> {
        let t = &self.rules.scoring.thresholds;
        let mut out = Vec::new();
        let mut natives: Vec<usize> = (0..self.analysis.functions.len())
            .filter(|&f| {
                let s = &self.analysis.functions[f];
                self.index.origins[f] == Origin::Program
                    && !covered.contains_key(&f)
                    && self.index.share(native[f]) >= t.min_share
                    && s.native_share() >= t.already_native
            })
            .collect();
        // Innermost first; a caller whose native time lies mostly in functions already
        // listed adds nothing (`main` over the two functions that call pickle).
        natives.sort_by(|&a, &b| {
            let (fa, fb) = (&self.analysis.functions[a], &self.analysis.functions[b]);
            fa.inclusive_weight
                .cmp(&fb.inclusive_weight)
                .then(a.cmp(&b))
        });
        let mut listed: Vec<usize> = Vec::new();
        for f in natives {
            let total = self.analysis.functions[f].native_weight;
            let inside: f64 = listed
                .iter()
                .filter(|&&g| self.index.within(g, f) >= 0.5)
                .map(|&g| self.analysis.functions[g].native_weight)
                .sum();
            if total > 0.0 && inside >= 0.8 * total {
                continue;
            }
            listed.push(f);
            out.push(self.already_native(f));
        }
        out
    }

    /// A program function whose time is mostly native.
    fn already_native(&self, f: usize) -> Candidate {
        let o = self.option(f);
        let stats = &self.analysis.functions[f];
        let why = stats
            .native_evidence
            .first()
            .cloned()
            .unwrap_or_else(|| "native code under it".into());
        let summary = format!(
            "{} is already {:.0}% native: {why}",
            stats.name,
            100.0 * stats.native_share()
        );
        let self_share = self.index.share(stats.self_weight as f64);
        let mut c = Candidate::new(
            Verdict::LeaveIt,
            Reason::AlreadyNative,
            summary,
            FunctionRef::of(stats),
            self_share,
        )
        .judged_on(&o);
        c.evidence = stats.native_evidence.clone();
        c
    }
}
