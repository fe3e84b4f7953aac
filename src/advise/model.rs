//! The advice's view of one profile: the profile, its analysis and the rules, the stack
//! index over its stacks, and the program's source files, read once each and only from the
//! folders a profile's sources may be read from. Its methods live in the file of their
//! role (boundary search, estimate, exclusion, native and library verdicts, readiness,
//! wording); here is what they share and the order they run in.
//!
//! Nothing here writes, and sources are read only through a [`SourceCache`], never from
//! outside those folders.

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use super::exclusion::KeptCache;
use super::hidden::HiddenCache;
use super::index::StackIndex;
use super::mix::PriceCache;
use super::report::{Candidate, Reason, Verdict};
use super::wording::grouped_summary;
use super::AdviseOptions;
use crate::analyze::Analysis;
use crate::profile::{ProbedFunction, Profile};
use crate::python::parser::PyFunction;
use crate::python::source::{SourceCache, SourceFile};
use crate::rules::Rules;

/// One profile as the advice sees it.
pub(super) struct Model<'a> {
    pub(super) profile: &'a Profile,
    pub(super) analysis: &'a Analysis,
    pub(super) rules: &'a Rules,
    pub(super) index: StackIndex<'a>,
    /// The source files, each read and parsed once.
    sources: SourceCache,
    /// The folders its source files may be read from (none for a received profile).
    pub(super) readable: Vec<PathBuf>,
    /// Each function's sampled lines and their interpreted time (self time not in native code).
    lines: HashMap<usize, Vec<(u32, f64)>>,
    /// Functions priced by the operations of their lines, each once.
    pub(super) prices: PriceCache,
    /// Functions' native work inside their operators, each worked out once.
    pub(super) hidden: HiddenCache,
    /// Boundaries' kept generators, each worked out once.
    pub(super) kept: KeptCache,
}

/// `index` with the installed packages a crate replaces whole (`Rules::ported_along`) counted
/// as porting along with their callers.
fn with_packages_ported_along<'a>(mut index: StackIndex<'a>, rules: &Rules) -> StackIndex<'a> {
    for package in rules.ported_along() {
        index.port_along(package);
    }
    index
}

impl<'a> Model<'a> {
    pub(super) fn new(profile: &'a Profile, analysis: &'a Analysis, rules: &'a Rules) -> Model<'a> {
        let readable = crate::trust::source_roots(profile);
        let mut lines: HashMap<usize, Vec<(u32, f64)>> = HashMap::new();
        for l in &analysis.lines {
            let interpreted = (l.self_weight as f64 - l.native_weight).max(0.0);
            if interpreted > 0.0 {
                lines
                    .entry(l.function)
                    .or_default()
                    .push((l.line, interpreted));
            }
        }
        let index = crate::ui::timed("stack index", || StackIndex::new(profile, analysis));
        Model {
            profile,
            analysis,
            rules,
            index: with_packages_ported_along(index, rules),
            sources: SourceCache::new(readable.clone()),
            readable,
            lines,
            prices: PriceCache::default(),
            hidden: HiddenCache::default(),
            kept: KeptCache::default(),
        }
    }

    /// Function `f`'s sampled lines and their interpreted time.
    pub(super) fn line_times(&self, f: usize) -> Vec<(u32, f64)> {
        self.lines.get(&f).cloned().unwrap_or_default()
    }

    /// The same profile with the stack index shared, its origins as the analysis gives them:
    /// what a search with a package's code counted in starts from.
    pub(super) fn sharing_stacks(&self) -> Model<'a> {
        Model {
            profile: self.profile,
            analysis: self.analysis,
            rules: self.rules,
            index: with_packages_ported_along(self.index.with_fresh_origins(), self.rules),
            sources: SourceCache::new(self.readable.clone()),
            readable: self.readable.clone(),
            lines: self.lines.clone(),
            prices: PriceCache::default(),
            hidden: HiddenCache::default(),
            kept: KeptCache::default(),
        }
    }

    /// Every region worth reporting, unranked: the boundary search from each hot function,
    /// the program's mostly native regions no port covers, leave-its under one boundary
    /// grouped into one, the pure-Python libraries with a native replacement; with readiness
    /// notes on all but the leave-its when asked.
    pub(super) fn find_candidates(&self, opts: &AdviseOptions) -> Vec<Candidate> {
        let t = &self.rules.scoring.thresholds;
        let (interpreted, native) =
            crate::ui::timed("deepest", || self.index.deepest_program_weights());
        let (mut out, covered) = self.search_from_hot_functions(&interpreted);
        out.extend(self.mostly_native(&native, &covered));
        let mut out = group_leave_its(out);
        out.extend(self.library_analogues(t.analogue_share));
        out.extend(self.operator_analogues(t.analogue_share));
        let inside_packages = self.package_ports(&out);
        // A port found with a package's code counted in replaces what the program's own search
        // gave the same function, a leave-it or a port that left the package's code in
        // Python: otherwise which of the two a run shows turns on whether that smaller port
        // crossed the bar. dpkt_pcap's loop over the frames read 1.3x-1.5x in one run (its own
        // code only, a port) and 4.5x-7.0x in the next (with dpkt's decoding, which a port of
        // the loop does itself), against about 8x.
        out.retain(|c| {
            !matches!(c.verdict, Verdict::LeaveIt | Verdict::Port)
                || !inside_packages
                    .iter()
                    .any(|p| p.verdict == Verdict::Port && p.function == c.function)
        });
        out.extend(inside_packages);
        out.extend(self.waiting());
        if opts.readiness {
            for c in out.iter_mut().filter(|c| c.verdict != Verdict::LeaveIt) {
                self.add_readiness(c);
            }
        }
        out
    }

    /// The source of function `f`, when its file may be read and parses.
    pub(super) fn source_of(&self, f: usize) -> Option<PyFunction> {
        let stats = &self.analysis.functions[f];
        let path = self.profile.source_path(&stats.file);
        self.sources.function(&path, &stats.name, stats.first_line)
    }

    /// The source file `file` (as the profile names it), when it can be read here.
    pub(super) fn source_file(&self, file: &str) -> Option<Rc<SourceFile>> {
        self.sources.file(&self.profile.source_path(file))
    }

    /// Whether the source file `file` (as the profile names it) can be read here.
    pub(super) fn can_read(&self, file: &str) -> bool {
        self.source_file(file).is_some()
    }

    /// What the probe measured of function `f`.
    pub(super) fn probed(&self, f: usize) -> Option<&ProbedFunction> {
        let stats = &self.analysis.functions[f];
        self.profile.probed_function(&stats.file, &stats.name)
    }
}

/// One candidate per reason and outermost boundary considered among the leave-its of the
/// boundary search: nine tiny methods under one simulation loop are one "spread thin".
pub(super) fn group_leave_its(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for c in candidates {
        // A comprehension's seed lands on the function around it: one row per function.
        if c.verdict == Verdict::LeaveIt {
            if let Some(same) = out.iter_mut().find(|o| o.function == c.function) {
                for name in c.hot_functions {
                    if !same.hot_functions.contains(&name) {
                        same.hot_functions.push(name);
                    }
                }
                continue;
            }
        }
        let groupable = c.verdict == Verdict::LeaveIt
            && matches!(
                c.reason,
                Reason::SpreadThin | Reason::InterpreterMachinery | Reason::TooSmall
            );
        let top = |c: &Candidate| c.alternatives.last().map(|o| o.function.clone());
        let same = out.iter_mut().find(|o| {
            groupable && o.verdict == Verdict::LeaveIt && o.reason == c.reason && top(o) == top(&c)
        });
        match same {
            Some(group) => {
                for name in c.hot_functions {
                    if !group.hot_functions.contains(&name) {
                        group.hot_functions.push(name);
                    }
                }
                group.self_share += c.self_share;
                if c.time_share > group.time_share {
                    group.time_share = c.time_share;
                }
                let names = group.hot_functions.clone();
                group.summary =
                    grouped_summary(group.reason, &names, group.self_share, &group.summary);
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::test_support::leave_it;

    #[test]
    fn leave_its_under_one_boundary_become_one_row() {
        let grouped = group_leave_its(vec![
            leave_it("Vec.add", Reason::SpreadThin, "World.step"),
            leave_it("Vec.scale", Reason::SpreadThin, "World.step"),
            leave_it("Box.hit", Reason::SpreadThin, "Other.loop"),
            leave_it("parse", Reason::InterpreterMachinery, "World.step"),
        ]);
        assert_eq!(grouped.len(), 3);
        assert_eq!(grouped[0].hot_functions, ["Vec.add", "Vec.scale"]);
        assert!((grouped[0].self_share - 0.08).abs() < 1e-9);
        assert!(
            grouped[0].summary.contains("2 functions"),
            "{}",
            grouped[0].summary
        );
    }
}
