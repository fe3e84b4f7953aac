//! The stack index: every non-idle stack of the profile reduced to its distinct functions,
//! innermost function and native fraction, with, for each function, the stacks holding it.
//! Every question the advice asks about time (what a boundary covers, how much of one
//! function's time lies under another, which program function a stack's time is charged to)
//! is answered here from those lists alone, which keeps the boundary search fast on fleet
//! profiles of a million stacks.
//!
//! Reads the profile's stacks and the analysis' functions and nothing else: no rules, no
//! source files, no verdicts.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::analyze::{Analysis, FunctionStats};
use crate::profile::{FrameKind, Profile};
use crate::python::paths::{self, PathOrigin};

/// Where a function's code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// The program's own code: what can be ported.
    Program,
    /// The standard library: pure-Python parts port along with their caller (a crate does
    /// the same job).
    Stdlib,
    /// Installed packages: a port keeps calling them.
    Library,
    /// Native code.
    Native,
}

fn origin(f: &FunctionStats) -> Origin {
    origin_of(f.kind, &f.file)
}

/// The top-level package of a function's module (`networkx` for
/// `networkx.algorithms.centrality`), when it has one.
pub(super) fn package_of(f: &FunctionStats) -> Option<&str> {
    f.module
        .as_deref()
        .and_then(|m| m.split('.').next())
        .filter(|p| !p.is_empty() && !p.starts_with('<'))
}

/// Where code of `kind` in `file` comes from.
pub(super) fn origin_of(kind: FrameKind, file: &str) -> Origin {
    if kind == FrameKind::Native {
        return Origin::Native;
    }
    // CPython 3.13+'s frame between a class's call and its `__init__` (file `__init__`, no
    // source), in profiles recorded before the recorder dropped it or imported from other
    // tools: interpreter code, which goes with its caller.
    if file == "__init__" {
        return Origin::Stdlib;
    }
    match paths::origin(file) {
        PathOrigin::Installed => Origin::Library,
        PathOrigin::Stdlib => Origin::Stdlib,
        PathOrigin::Program => Origin::Program,
    }
}

/// One non-idle stack, reduced to what the model needs.
pub(super) struct StackFacts {
    pub(super) weight: u64,
    /// The thread it was sampled in.
    pub(super) thread: u32,
    /// Distinct functions on it, outermost first.
    pub(super) functions: Vec<usize>,
    /// Its innermost function.
    pub(super) leaf: usize,
    /// Native fraction of its weight.
    pub(super) native: f64,
}

/// What a boundary covers.
#[derive(Debug, Default, Clone)]
pub(super) struct Region {
    pub(super) weight: f64,
    pub(super) native: f64,
    pub(super) library: f64,
    pub(super) portable: f64,
    /// Portable weight per program (or stdlib) function as the innermost frame.
    pub(super) by_function: HashMap<usize, f64>,
}

/// The profile's non-idle stacks, by the functions on them.
pub(super) struct StackIndex<'a> {
    analysis: &'a Analysis,
    pub(super) stacks: Vec<StackFacts>,
    /// For each function, the stacks holding it: every question about a boundary reads only
    /// these.
    stacks_of: Vec<Vec<u32>>,
    /// Where each function of the analysis comes from.
    pub(super) origins: Vec<Origin>,
    /// Samples the shares are fractions of: the busiest thread's, idle rounds included.
    pub(super) run_samples: u64,
    /// Stacks of threads running Python while another held the GIL (on CPU, not holding it,
    /// interpreted code on top): waiting for their turn. Set apart from the time stacks only
    /// when several threads ran Python and the profile tells who held the GIL.
    pub(super) gil_waits: Vec<StackFacts>,
    regions: RefCell<HashMap<usize, Region>>,
}

/// How threads shared a region's time under the GIL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct GilContention {
    /// Threads that ran Python in the region, each for a tenth of its time or more.
    pub(super) threads: u32,
    /// Share of the region's samples that waited for the GIL instead of running.
    pub(super) waiting: f64,
}

impl<'a> StackIndex<'a> {
    pub(super) fn new(profile: &Profile, analysis: &'a Analysis) -> StackIndex<'a> {
        let origins = analysis.functions.iter().map(origin).collect();
        // Several threads running Python, and a profile that says which one held the GIL:
        // then a thread on CPU without the GIL, in interpreted code, waits for its turn.
        let gil_known = profile.stacks.iter().any(|s| s.gil && !s.idle);
        let mut python_threads: HashMap<u32, u64> = HashMap::new();
        for stack in profile.stacks.iter().filter(|s| s.gil && !s.idle) {
            *python_threads.entry(stack.thread).or_default() += stack.weight;
        }
        let most = python_threads.values().copied().max().unwrap_or(0);
        let shared_gil =
            gil_known && python_threads.values().filter(|&&w| w * 10 >= most).count() >= 2;
        let mut stacks = Vec::new();
        let mut gil_waits = Vec::new();
        let mut per_thread: HashMap<u32, u64> = HashMap::new();
        // The last stack each function was seen on: distinct functions in one pass.
        let mut seen: Vec<usize> = vec![usize::MAX; analysis.functions.len()];
        for stack in &profile.stacks {
            *per_thread.entry(stack.thread).or_default() += stack.weight;
            if stack.idle {
                continue;
            }
            let Some(&leaf_frame) = stack.frames.last() else {
                continue;
            };
            let mut functions: Vec<usize> = Vec::with_capacity(stack.frames.len());
            let mark = stacks.len() + gil_waits.len();
            for f in stack
                .frames
                .iter()
                .filter_map(|&f| analysis.frame_function.get(f as usize).copied().flatten())
            {
                if seen[f] != mark {
                    seen[f] = mark;
                    functions.push(f);
                }
            }
            let Some(leaf) = analysis.frame_function[leaf_frame as usize] else {
                continue;
            };
            let facts = StackFacts {
                weight: stack.weight,
                thread: stack.thread,
                functions,
                leaf,
                native: analysis
                    .leaf_native
                    .get(&leaf_frame)
                    .copied()
                    .unwrap_or(0.0),
            };
            if shared_gil && !stack.gil && facts.native < 0.5 {
                gil_waits.push(facts);
            } else {
                stacks.push(facts);
            }
        }
        let busiest = per_thread.values().copied().max().unwrap_or(0);
        let mut stacks_of: Vec<Vec<u32>> = vec![Vec::new(); analysis.functions.len()];
        for (i, s) in stacks.iter().enumerate() {
            for &f in &s.functions {
                stacks_of[f].push(i as u32);
            }
        }
        StackIndex {
            analysis,
            stacks,
            stacks_of,
            origins,
            run_samples: busiest,
            gil_waits,
            regions: Default::default(),
        }
    }

    pub(super) fn share(&self, weight: f64) -> f64 {
        if self.run_samples == 0 {
            0.0
        } else {
            weight / self.run_samples as f64
        }
    }

    /// What `boundary` covers; computed once per function, since every hot function under a
    /// common caller asks about it again.
    pub(super) fn region(&self, boundary: usize) -> Region {
        if let Some(r) = self.regions.borrow().get(&boundary) {
            return r.clone();
        }
        let r = self.compute_region(boundary);
        self.regions.borrow_mut().insert(boundary, r.clone());
        r
    }

    fn compute_region(&self, boundary: usize) -> Region {
        let mut r = Region::default();
        for s in self.holding(boundary) {
            let w = s.weight as f64;
            r.weight += w;
            r.native += w * s.native;
            let rest = w * (1.0 - s.native);
            match self.origins[s.leaf] {
                Origin::Program | Origin::Stdlib => {
                    r.portable += rest;
                    *r.by_function.entry(s.leaf).or_default() += rest;
                }
                Origin::Library | Origin::Native => r.library += rest,
            }
        }
        r
    }

    /// How the threads running `boundary` shared the GIL, when more than one ran it and some
    /// of its samples waited for the GIL.
    pub(super) fn gil_contention(&self, boundary: usize) -> Option<GilContention> {
        if self.gil_waits.is_empty() {
            return None;
        }
        let mut by_thread: HashMap<u32, u64> = HashMap::new();
        let mut running = 0u64;
        for s in self.holding(boundary) {
            *by_thread.entry(s.thread).or_default() += s.weight;
            running += s.weight;
        }
        let waiting: u64 = self
            .gil_waits
            .iter()
            .filter(|s| s.functions.contains(&boundary))
            .map(|s| s.weight)
            .sum();
        let most = by_thread.values().copied().max().unwrap_or(0);
        let threads = by_thread.values().filter(|&&w| w * 10 >= most).count() as u32;
        let all = (running + waiting) as f64;
        (threads >= 2 && all > 0.0 && waiting as f64 >= 0.05 * all).then(|| GilContention {
            threads,
            waiting: waiting as f64 / all,
        })
    }

    /// How many threads ran `f`.
    pub(super) fn threads_running(&self, f: usize) -> usize {
        let mut threads: Vec<u32> = self.holding(f).map(|s| s.thread).collect();
        threads.sort_unstable();
        threads.dedup();
        threads.len()
    }

    /// The stacks holding function `f`.
    pub(super) fn holding(&self, f: usize) -> impl Iterator<Item = &StackFacts> + '_ {
        self.stacks_of
            .get(f)
            .into_iter()
            .flatten()
            .map(|&i| &self.stacks[i as usize])
    }

    /// Interpreted weight charged to the innermost program function of each stack (its own
    /// lines and the standard library's Python under it), and native weight likewise.
    pub(super) fn deepest_program_weights(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.analysis.functions.len();
        let (mut interpreted, mut native) = (vec![0.0; n], vec![0.0; n]);
        for s in &self.stacks {
            let deepest = s
                .functions
                .iter()
                .copied()
                .rev()
                .find(|&f| self.origins[f] == Origin::Program && !self.is_module_body(f));
            if let Some(f) = deepest {
                let w = s.weight as f64;
                native[f] += w * s.native;
                if self.origins[s.leaf] != Origin::Library {
                    interpreted[f] += w * (1.0 - s.native);
                }
            }
        }
        (interpreted, native)
    }

    /// The share of `f`'s inclusive weight on stacks that also hold `b`.
    pub(super) fn within(&self, f: usize, b: usize) -> f64 {
        let (mut all, mut inside) = (0u64, 0u64);
        for s in self.holding(f) {
            all += s.weight;
            if s.functions.contains(&b) {
                inside += s.weight;
            }
        }
        if all == 0 {
            0.0
        } else {
            inside as f64 / all as f64
        }
    }

    pub(super) fn self_native_fraction(&self, f: usize) -> f64 {
        let (mut w, mut n) = (0.0, 0.0);
        for s in self.holding(f).filter(|s| s.leaf == f) {
            w += s.weight as f64;
            n += s.weight as f64 * s.native;
        }
        if w > 0.0 {
            n / w
        } else {
            0.0
        }
    }

    /// Counts the code of the installed package `package` (top-level name) as the program's:
    /// what a port inside a vendored copy, or upstream, could cover.
    pub(super) fn adopt_package(&mut self, package: &str) {
        for (f, stats) in self.analysis.functions.iter().enumerate() {
            if self.origins[f] == Origin::Library && package_of(stats) == Some(package) {
                self.origins[f] = Origin::Program;
            }
        }
        self.regions.borrow_mut().clear();
    }

    pub(super) fn is_module_body(&self, f: usize) -> bool {
        self.analysis.functions[f].name.ends_with("<module>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPython 3.13+'s frame between a class's call and its `__init__` is never the program's.
    #[test]
    fn the_init_frame_of_cpython_is_not_the_programs() {
        assert_eq!(origin_of(FrameKind::Python, "__init__"), Origin::Stdlib);
        assert_eq!(
            origin_of(FrameKind::Python, "/app/__init__.py"),
            Origin::Program
        );
    }
}
