//! The boundary search: from each hot function of the program up through its heaviest
//! callers, an estimate for each function as the boundary, the smallest one within a
//! tolerance of the best saving chosen, and the verdict on the region it covers.
//!
//! Takes its numbers from `estimate.rs`, its reasons for leaving a function out from
//! `exclusion.rs` and the words of a verdict from `wording.rs`; it reads time only through the
//! stack index. It may not report the mostly native regions or the pure-Python libraries the
//! program calls: those have verdicts of their own (`native.rs`, `library.rs`).

use std::collections::HashMap;

use super::index::Origin;
use super::model::Model;
use super::report::{BoundaryOption, Candidate, Exclusion, FunctionRef, Reason, Verdict};

impl Model<'_> {
    /// The boundary search from every hot function, hottest first, with the function each
    /// reported region covers (by the index of its candidate): a hot function inside a region
    /// already found joins that region instead of starting a search of its own.
    pub(super) fn search_from_hot_functions(
        &self,
        interpreted: &[f64],
    ) -> (Vec<Candidate>, HashMap<usize, usize>) {
        let t = &self.rules.scoring.thresholds;
        let mut out: Vec<Candidate> = Vec::new();
        // Function -> the candidate whose region covers it.
        let mut covered: HashMap<usize, usize> = HashMap::new();
        // Chosen boundaries of port (and library) candidates, with the candidate's index.
        let mut boundaries: Vec<(usize, usize)> = Vec::new();

        let mut seeds: Vec<usize> = (0..self.analysis.functions.len())
            .filter(|&f| self.index.share(interpreted[f]) >= t.seed_share)
            .collect();
        seeds.sort_by(|&a, &b| interpreted[b].total_cmp(&interpreted[a]).then(a.cmp(&b)));

        for &seed in &seeds {
            let covering = covered.get(&seed).copied().or_else(|| {
                boundaries
                    .iter()
                    .find(|&&(b, _)| self.index.within(seed, b) >= 0.5)
                    .map(|&(_, c)| c)
            });
            if let Some(c) = covering {
                out[c]
                    .hot_functions
                    .push(self.analysis.functions[seed].name.clone());
                self.consider_alone(&mut out[c], seed);
                continue;
            }
            let taken: Vec<usize> = boundaries.iter().map(|&(b, _)| b).collect();
            let candidate = self.search(seed, &taken);
            let boundary = candidate.function.index_in(self.analysis);
            let index = out.len();
            if let Some(b) = boundary.filter(|_| candidate.verdict != Verdict::LeaveIt) {
                if let Some(&(_, same)) = boundaries.iter().find(|&&(x, _)| x == b) {
                    // Another hot function already chose this boundary.
                    out[same]
                        .hot_functions
                        .push(self.analysis.functions[seed].name.clone());
                    self.consider_alone(&mut out[same], seed);
                    covered.insert(seed, same);
                    continue;
                }
                boundaries.push((b, index));
                // Every function whose time mostly lies inside the region is covered by it.
                let region = self.index.region(b);
                for (&f, &w) in &region.by_function {
                    if w >= 0.5 * interpreted[f].max(1e-9) {
                        covered.entry(f).or_insert(index);
                    }
                }
                covered.entry(b).or_insert(index);
            }
            covered.entry(seed).or_insert(index);
            out.push(candidate);
        }
        (out, covered)
    }

    /// A hot function that joined `candidate`'s region without a search of its own: its own
    /// option joins the alternatives (innermost first), so the report says what porting it
    /// alone would give, whichever of the region's hot functions the search started from.
    /// The hottest few only: an engine of many small methods would list them all.
    fn consider_alone(&self, candidate: &mut Candidate, seed: usize) {
        const MOST_JOINED: usize = 3;
        let joined = candidate.hot_functions.len().saturating_sub(1);
        let own = FunctionRef::of(&self.analysis.functions[seed]);
        if joined > MOST_JOINED || candidate.alternatives.iter().any(|o| o.function == own) {
            return;
        }
        candidate.alternatives.insert(0, self.option(seed));
    }

    /// The boundary search for one hot function, around the boundaries `taken` by earlier
    /// searches: a function holding one of them would make two candidates of one region.
    fn search(&self, seed: usize, taken: &[usize]) -> Candidate {
        let t = &self.rules.scoring.thresholds;
        let mut chain = vec![seed];
        while chain.len() <= t.max_ancestors {
            let last = *chain.last().expect("not empty");
            match self.heaviest_caller(last, &chain) {
                Some(c) => chain.push(c),
                None => break,
            }
        }
        let mut options: Vec<BoundaryOption> = chain.iter().map(|&f| self.option(f)).collect();
        for (o, &f) in options.iter_mut().zip(&chain) {
            let holds = taken
                .iter()
                .find(|&&b| b != f && self.index.within(b, f) >= 0.5);
            if let (None, Some(&b)) = (o.exclusion, holds) {
                o.exclusion = Some(Exclusion::Holds);
                o.excluded = Some(format!(
                    "holds {}, a candidate of its own",
                    self.analysis.functions[b].name
                ));
            }
        }

        let choosable = |o: &BoundaryOption| o.excluded.is_none();
        let mid = |o: &BoundaryOption| (o.saved[0] + o.saved[1]) / 2.0;
        let best = options
            .iter()
            .filter(|o| choosable(o))
            .map(mid)
            .fold(f64::NEG_INFINITY, f64::max);
        // Within the tolerance of the best saving (below it, when even the best loses time).
        let bar = best - (1.0 - t.boundary_tolerance) * best.abs();
        // The smallest of them; but a method called over and over takes its object's state
        // across the boundary at every call: a caller of about its size (a tenth more
        // functions, and one) that holds the object is preferred.
        let within = |o: &BoundaryOption| choosable(o) && mid(o) >= bar;
        let smallest = options
            .iter()
            .filter(|o| within(o))
            .map(|o| o.functions)
            .min();
        let chosen = smallest.and_then(|m| {
            let about = m + m.div_ceil(10) + 1;
            options
                .iter()
                .enumerate()
                .filter(|(_, o)| within(o))
                .min_by_key(|(i, o)| {
                    let crosses_state = o.functions > about || crosses_object_state(o);
                    (crosses_state, o.functions, *i)
                })
                .map(|(i, _)| i)
        });
        if let Some(i) = chosen {
            options[i].chosen = true;
        }
        let seed_stats = &self.analysis.functions[seed];
        let pick = chosen.unwrap_or(0);
        let o = options[pick].clone();
        let (verdict, mut reason) = self.judge(seed, &options, chosen);
        let compiled = (reason == Reason::AlreadyNative)
            .then(|| self.compiled_code(chain[chosen.unwrap_or(0)]))
            .flatten();
        if compiled.is_some() {
            reason = Reason::Compiled;
        }
        let boundary = chain[pick];
        let b_stats = &self.analysis.functions[boundary];
        let mut analogues = Vec::new();
        if reason == Reason::NativeLibrary {
            for f in [boundary, seed] {
                if let Some(a) = self
                    .rules
                    .analogue_for_name(&self.analysis.functions[f].name)
                {
                    analogues.push(format!(
                        "{}: {} ({})",
                        a.use_instead.as_deref().unwrap_or(""),
                        a.why,
                        a.example
                    ));
                    break;
                }
            }
        }
        let mut summary = match &compiled {
            Some(c) => c.summary(&self.analysis.functions[chain[pick]].name),
            None => self.summary(verdict, reason, &o, &options, seed_stats),
        };
        if verdict == Verdict::Port {
            // Reimplementations of library functions inside the port: the crates that do
            // their job, heaviest first.
            let region = self.index.region(boundary);
            let mut inside: Vec<(usize, f64)> = region
                .by_function
                .iter()
                .map(|(&f, &w)| (f, w))
                .filter(|&(_, w)| self.index.share(w) >= self.rules.scoring.thresholds.seed_share)
                .collect();
            inside.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            for (f, _) in inside {
                let name = &self.analysis.functions[f].name;
                if let Some(a) = self.rules.analogue_for_name(name) {
                    if let Some(krate) = &a.rust_crate {
                        analogues.push(format!("crate {krate} for {name} ({}): {}", a.what, a.why));
                    }
                }
            }
            if let Some(src) = self.source_of(boundary) {
                if src.is_async && src.features.awaits == 0 {
                    summary.push_str(&format!(
                        "; {} is an `async def` that awaits nothing: make it a plain `def` \
                         (its callers drop their `await`), then port it",
                        b_stats.name
                    ));
                }
                for (rule, callee) in self.rules.crates_for_calls(&src.features.called_names) {
                    analogues.push(format!(
                        "crate {} for {callee}: {}",
                        rule.rust_crate.as_deref().unwrap_or(""),
                        rule.why
                    ));
                }
            }
        }
        let evidence = self.evidence(&o, seed, boundary);
        let self_share = self.index.share(b_stats.self_weight as f64);
        let mut c = Candidate::new(
            verdict,
            reason,
            summary,
            FunctionRef::of(b_stats),
            self_share,
        )
        .judged_on(&o);
        c.hot_functions = vec![seed_stats.name.clone()];
        if verdict == Verdict::Port {
            c.speedup = Some(o.speedup);
            c.score = mid(&o).max(0.0);
        }
        c.alternatives = options;
        c.analogues = analogues;
        c.evidence = evidence;
        c
    }

    /// The verdict for a searched region.
    fn judge(
        &self,
        seed: usize,
        options: &[BoundaryOption],
        chosen: Option<usize>,
    ) -> (Verdict, Reason) {
        let t = &self.rules.scoring.thresholds;
        if self.swap_for_library(seed, options, chosen) {
            return (Verdict::UseLibrary, Reason::NativeLibrary);
        }
        // The time is item machinery when the hot function itself is a generator or a
        // coroutine (or a comprehension inside a generator), not when one sits somewhere
        // above it: work items built by a comprehension in a coroutine are plain work.
        let exclusion = |i: usize| options.get(i).and_then(|o| o.exclusion);
        let machinery = match exclusion(0) {
            Some(Exclusion::Generator | Exclusion::Coroutine) => true,
            Some(Exclusion::Inner) => exclusion(1) == Some(Exclusion::Generator),
            _ => false,
        };
        let Some(i) = chosen else {
            let reason = if options[0].native_share >= t.already_native {
                Reason::AlreadyNative
            } else if machinery {
                Reason::InterpreterMachinery
            } else if options[0].exclusion.is_some_and(|e| {
                matches!(
                    e,
                    Exclusion::EntryPoint | Exclusion::Driver | Exclusion::Inner
                )
            }) {
                Reason::EntryPoint
            } else {
                Reason::SpreadThin
            };
            return (Verdict::LeaveIt, reason);
        };
        let o = &options[i];
        if o.native_share >= t.already_native {
            return (Verdict::LeaveIt, Reason::AlreadyNative);
        }
        if o.expected >= t.min_gain {
            let reason = if o.gil.is_some() {
                Reason::ReleaseGil
            } else {
                Reason::Pays
            };
            return (Verdict::Port, reason);
        }
        let crossing_eats = o.crossing_share.is_some_and(|c| {
            let gain_without = o.time_share * (1.0 - o.native_share) * (1.0 - 1.0 / o.factor[1]);
            c >= 0.5 * gain_without
        });
        if crossing_eats {
            return (Verdict::LeaveIt, Reason::ConversionCost);
        }
        if machinery {
            return (Verdict::LeaveIt, Reason::InterpreterMachinery);
        }
        // Would a bigger boundary, excluded for its size, have paid? Then the time is spread.
        let spread = options.iter().any(|x| {
            x.exclusion
                .is_some_and(|e| matches!(e, Exclusion::Scope | Exclusion::Classes))
                && x.expected >= t.min_gain
        });
        if spread {
            return (Verdict::LeaveIt, Reason::SpreadThin);
        }
        (Verdict::LeaveIt, Reason::TooSmall)
    }

    /// Whether the hot function reimplements a library function (`rules/analogues.toml`) and
    /// swapping it for the library is the advice. Swapping saves at most the function's own
    /// inclusive time; a port of a boundary holding it that is expected to save more than
    /// that (the work around the reimplementation is interpreted too) is the better advice,
    /// and names the library for the port to use.
    pub(super) fn swap_for_library(
        &self,
        seed: usize,
        options: &[BoundaryOption],
        chosen: Option<usize>,
    ) -> bool {
        if self
            .rules
            .analogue_for_name(&self.analysis.functions[seed].name)
            .is_none()
        {
            return false;
        }
        let swap_saves = self
            .index
            .share(self.analysis.functions[seed].inclusive_weight as f64);
        let port_saves_more = chosen.is_some_and(|i| {
            let o = &options[i];
            i > 0
                && o.native_share < self.rules.scoring.thresholds.already_native
                && o.expected > swap_saves
        });
        !port_saves_more
    }

    /// The heaviest caller of `f` that could be a boundary.
    fn heaviest_caller(&self, f: usize, chain: &[usize]) -> Option<usize> {
        self.index.callers(f).iter().map(|e| e.caller).find(|&c| {
            self.index.origins[c] == Origin::Program
                && !self.index.is_module_body(c)
                && !chain.contains(&c)
        })
    }
}

/// Whether a boundary is a method of the program's classes called more than a few times: its
/// object lives in Python between the calls, and its state crosses with every one.
fn crosses_object_state(o: &BoundaryOption) -> bool {
    super::estimate::class_of(&o.function.name).is_some()
        && o.calls.is_none_or(|c| c.count > super::estimate::FEW_CALLS)
}

#[cfg(test)]
mod tests {
    use crate::advise::report::{Reason, Verdict};
    use crate::advise::test_support::{advice_of, counted_calls, python_frame};
    use crate::profile::{Meta, ProfileBuilder};

    /// Four threads running `work` (pure Python) for a whole run, taking turns on the GIL:
    /// each round one runs holding it, one spins waiting on CPU without it, two sleep on it.
    fn four_threads_on_one_gil(gil_known: bool) -> crate::advise::Advice {
        let mut b = ProfileBuilder::default();
        let threads: Vec<_> = (0..4).map(|i| b.intern_thread(1, 10 + i, None)).collect();
        let run = b.intern_frame(python_frame(
            "Thread.run",
            "/usr/lib/python3.11/threading.py",
            "threading",
        ));
        let work = b.intern_frame(python_frame("work", "/home/me/app.py", "app"));
        for round in 0..400usize {
            for (i, &t) in threads.iter().enumerate() {
                let turn = (round + i) % 4;
                let (idle, gil) = match turn {
                    0 => (false, gil_known),
                    1 => (false, false),
                    _ => (true, false),
                };
                b.add_stack(t, vec![run, work], idle, gil, false);
            }
        }
        let p = b.to_profile(Meta {
            wall_seconds: 4.0,
            cpus: Some(2),
            ..Meta::default()
        });
        advice_of(&p)
    }

    #[test]
    fn threads_taking_turns_on_the_gil_are_ported_and_released() {
        let advice = four_threads_on_one_gil(true);
        let first = &advice.candidates[0];
        assert_eq!(
            (first.verdict, first.reason, first.function.name.as_str()),
            (Verdict::Port, Reason::ReleaseGil, "work"),
            "{}",
            first.summary
        );
        assert!(first.time_share <= 1.0, "{}", first.time_share);
        let chosen = first.alternatives.iter().find(|o| o.chosen).unwrap();
        let gil = chosen.gil.expect("contention measured");
        assert_eq!((gil.threads, gil.parallel, gil.cores), (4, 2, 2));
        assert!((gil.waiting - 0.5).abs() < 0.01, "{gil:?}");
        // The factor times the two cores, not a cap.
        let speedup = first.speedup.unwrap();
        let factor = chosen.factor;
        assert!(
            (speedup[1] - 2.0 * factor[1]).abs() < 0.05 * factor[1],
            "{speedup:?} for {factor:?}"
        );
    }

    #[test]
    fn without_gil_information_busy_threads_still_add_up_to_the_run() {
        let advice = four_threads_on_one_gil(false);
        let first = &advice.candidates[0];
        assert_eq!(first.reason, Reason::Pays, "{}", first.summary);
        assert!(first.time_share <= 1.0, "{}", first.time_share);
        assert!(first.speedup.unwrap()[1] < 999.0, "{:?}", first.speedup);
    }

    /// A parser: `main` calls `drive` once, which calls `Parser.statement` 10,000 times;
    /// `Parser.token`, under it, has all the time.
    #[test]
    fn a_method_called_over_and_over_gives_way_to_its_caller_of_about_its_size() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let frame = |b: &mut ProfileBuilder, name: &str| {
            b.intern_frame(python_frame(name, "/home/me/parser_app.py", "parser_app"))
        };
        let main = frame(&mut b, "main");
        let drive = frame(&mut b, "drive");
        let statement = frame(&mut b, "Parser.statement");
        let token = frame(&mut b, "Parser.token");
        for _ in 0..500 {
            b.add_stack(t, vec![main, drive, statement, token], false, false, false);
        }
        let mut p = b.to_profile(Meta {
            wall_seconds: 5.0,
            ..Meta::default()
        });
        p.probe = Some(counted_calls(
            "/home/me/parser_app.py",
            &[
                ("main", 1),
                ("drive", 1),
                ("Parser.statement", 10_000),
                ("Parser.token", 400_000),
            ],
        ));
        let advice = advice_of(&p);
        let first = &advice.candidates[0];
        assert_eq!(first.verdict, Verdict::Port, "{first:#?}");
        assert_eq!(first.function.name, "drive", "{first:#?}");
    }

    /// `gateway`'s own loop is hotter than `recent_mean`, which it calls: the search starts
    /// from `gateway`, and `recent_mean` joins its region without a search of its own. Its option is
    /// still in the alternatives: what porting the hot function alone would give.
    #[test]
    fn a_hot_function_joining_a_region_keeps_its_own_option() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let frame = |b: &mut ProfileBuilder, name: &str| {
            b.intern_frame(python_frame(name, "/home/me/orders.py", "orders"))
        };
        let main = frame(&mut b, "main");
        let gateway = frame(&mut b, "gateway");
        let recent_mean = frame(&mut b, "recent_mean");
        for i in 0..100 {
            let stack = if i < 55 {
                vec![main, gateway]
            } else {
                vec![main, gateway, recent_mean]
            };
            b.add_stack(t, stack, false, false, false);
        }
        let mut p = b.to_profile(Meta {
            wall_seconds: 1.0,
            ..Meta::default()
        });
        p.probe = Some(counted_calls(
            "/home/me/orders.py",
            &[("main", 1), ("gateway", 1), ("recent_mean", 2_000_000)],
        ));
        let advice = advice_of(&p);
        let first = &advice.candidates[0];
        assert_eq!(first.function.name, "gateway", "{first:#?}");
        assert!(first.hot_functions.iter().any(|f| f == "recent_mean"));
        let names: Vec<&str> = first
            .alternatives
            .iter()
            .map(|o| o.function.name.as_str())
            .collect();
        assert_eq!(names[0], "recent_mean", "{first:#?}");
        assert!(names[1..].contains(&"gateway"), "{names:?}");
    }

    /// `solve` spends `own` of 100 samples in its own loops and the rest in `permutations`,
    /// a hand-written itertools.permutations, called once by `main`.
    fn solver(own: usize) -> crate::advise::Advice {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let frame = |b: &mut ProfileBuilder, name: &str| {
            b.intern_frame(python_frame(name, "/home/me/solver.py", "solver"))
        };
        let main = frame(&mut b, "main");
        let solve = frame(&mut b, "solve");
        let permutations = frame(&mut b, "permutations");
        for i in 0..100 {
            let stack = if i < own {
                vec![main, solve]
            } else {
                vec![main, solve, permutations]
            };
            b.add_stack(t, stack, false, false, false);
        }
        let mut p = b.to_profile(Meta {
            wall_seconds: 1.0,
            ..Meta::default()
        });
        p.probe = Some(counted_calls(
            "/home/me/solver.py",
            &[("main", 1), ("solve", 4), ("permutations", 4)],
        ));
        advice_of(&p)
    }

    #[test]
    fn a_reimplemented_library_function_is_swapped_unless_a_port_around_it_saves_more() {
        // permutations is nearly all the run: swapping in itertools is the advice.
        let advice = solver(5);
        let first = &advice.candidates[0];
        assert_eq!(first.verdict, Verdict::UseLibrary, "{first:#?}");
        assert!(
            first.summary.starts_with("use itertools"),
            "{}",
            first.summary
        );
        // Half of it, the hottest function still: the swap saves at most that, a port of
        // solve far more, using the itertools crate.
        let advice = solver(45);
        let first = &advice.candidates[0];
        assert_eq!(
            (first.verdict, first.function.name.as_str()),
            (Verdict::Port, "solve"),
            "{first:#?}"
        );
        assert!(
            first
                .analogues
                .iter()
                .any(|a| a.starts_with("crate itertools for permutations")),
            "{:?}",
            first.analogues
        );
    }
}
