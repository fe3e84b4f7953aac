//! Time in code that is not the program's: pure-Python libraries with a native replacement
//! (`rules/analogues.toml`), each reported as "use library" with its share of the run, and the
//! interpreted time in installed packages and the standard library by top-level package,
//! which a port of the program cannot speed up.
//!
//! Also a native library for the work inside the operators of the program's loop-free functions
//! (big integers), from [`Model::hidden_native`].
//!
//! Reads the stack index, the functions' module names and the rules' analogues, and the
//! sources only through `hidden_native`; it may not touch the program's own candidates.

use std::collections::{BTreeMap, HashMap};

use super::index::Origin;
use super::model::Model;
use super::report::{Candidate, FunctionRef, PackageTime, Reason, Verdict};
use crate::profile::FrameKind;
use crate::rules::AnalogueRule;

/// Packages shown in `elsewhere`: at most this many, each with at least this share.
const ELSEWHERE_TOP: usize = 5;
const ELSEWHERE_MIN_SHARE: f64 = 0.03;

impl Model<'_> {
    /// Interpreted time whose innermost frame is not the program's, by top-level package.
    pub(super) fn elsewhere(&self) -> Vec<PackageTime> {
        let mut by_package: HashMap<(String, &'static str), f64> = HashMap::new();
        for s in self.index.stacks() {
            let origin = match self.index.origins[s.leaf()] {
                Origin::Library => "library",
                Origin::Stdlib => "stdlib",
                Origin::Program | Origin::Native | Origin::Along => continue,
            };
            let leaf = &self.analysis.functions[s.leaf()];
            // Code compiled at run time (`<string>`, a decorator's generated wrapper) has no
            // package to name.
            let Some(package) = leaf
                .module
                .as_deref()
                .and_then(|m| m.split('.').next())
                .filter(|p| !p.is_empty() && !p.starts_with('<'))
            else {
                continue;
            };
            *by_package.entry((package.to_owned(), origin)).or_default() +=
                s.weight as f64 * (1.0 - s.native);
        }
        let mut out: Vec<PackageTime> = by_package
            .into_iter()
            .map(|((package, origin), w)| PackageTime {
                package,
                origin: origin.into(),
                share: self.index.share(w),
            })
            .filter(|p| p.share >= ELSEWHERE_MIN_SHARE)
            .collect();
        out.sort_by(|a, b| {
            b.share
                .total_cmp(&a.share)
                .then_with(|| a.package.cmp(&b.package))
        });
        out.truncate(ELSEWHERE_TOP);
        out
    }

    /// Pure-Python libraries with a native replacement, by the share of their code. Each is
    /// named by its entry point: of the outermost public functions of the rule's modules on its
    /// stacks, the one holding the most of its time (`yaml.safe_load`, not whichever function
    /// a first stack happened to show).
    pub(super) fn library_analogues(&self, min_share: f64) -> Vec<Candidate> {
        let functions = &self.analysis.functions;
        // The analogue rule of each function's module, looked up once per function: a fleet
        // profile asks it of every frame of millions of stacks.
        let mut rules: Vec<Option<Option<&AnalogueRule>>> = vec![None; functions.len()];
        let mut rule_of = |f: usize| {
            *rules[f].get_or_insert_with(|| {
                functions[f]
                    .module
                    .as_deref()
                    .and_then(|m| self.rules.analogue_for_module(m))
            })
        };
        // Not a decorator's wrapper, a dispatcher's `__call__` or a private helper.
        let public = |f: usize| {
            let name = &functions[f].name;
            let last = name.rsplit('.').next().unwrap_or(name);
            !name.contains("<locals>") && !last.starts_with('_') && !last.starts_with('<')
        };
        // Per rule (by its module pattern): the rule, its interpreted weight, and that weight
        // by entry.
        type ByEntry = BTreeMap<usize, f64>;
        let mut by_rule: BTreeMap<&str, (&AnalogueRule, f64, ByEntry)> = BTreeMap::new();
        for s in self.index.stacks() {
            let leaf = &functions[s.leaf()];
            if self.index.origins[s.leaf()] == Origin::Program || leaf.kind == FrameKind::Native {
                continue;
            }
            let Some(rule) = rule_of(s.leaf()) else {
                continue;
            };
            // The outermost public function of the library on the stack, what the program
            // calls; else its outermost function.
            let (mut outermost, mut entry) = (None, None);
            for g in self.index.functions_on(&s) {
                if rule_of(g).is_some_and(|r| std::ptr::eq(r, rule)) {
                    outermost.get_or_insert(g);
                    if public(g) {
                        entry = Some(g);
                        break;
                    }
                }
            }
            let entry = entry.or(outermost).unwrap_or(s.leaf());
            let w = s.weight as f64 * (1.0 - s.native);
            let e = by_rule
                .entry(rule.module.as_deref().unwrap_or_default())
                .or_insert((rule, 0.0, BTreeMap::new()));
            e.1 += w;
            *e.2.entry(entry).or_default() += w;
        }
        let mut out = Vec::new();
        for (pattern, (rule, w, entries)) in by_rule {
            let share = self.index.share(w);
            if share < min_share {
                continue;
            }
            let entry = entries
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .map(|(f, _)| f)
                .expect("a rule with weight has an entry");
            let native = self.analysis.functions[entry].native_share();
            let evidence = format!(
                "interpreted time in {pattern}: {:.1}% of the run",
                100.0 * share
            );
            out.push(self.use_library(rule, entry, share, native, evidence));
        }
        out
    }

    /// A native library for the work inside the operators of loop-free functions (big
    /// integers), when it takes `min_share` of the run: the functions whose calls took many
    /// times what their bytecode costs ([`Model::hidden_native`]).
    pub(super) fn operator_analogues(&self, min_share: f64) -> Vec<Candidate> {
        let mut by_kind: BTreeMap<&str, (f64, usize, f64)> = BTreeMap::new();
        for g in 0..self.analysis.functions.len() {
            let Some(h) = self.hidden_native(g) else {
                continue;
            };
            let kind = if h.arithmetic {
                "arithmetic"
            } else {
                "sequences"
            };
            let e = by_kind.entry(kind).or_insert((0.0, g, 0.0));
            e.0 += h.weight;
            if h.weight > e.2 {
                (e.1, e.2) = (g, h.weight);
            }
        }
        let mut out = Vec::new();
        for (kind, (w, hottest, _)) in by_kind {
            let share = self.index.share(w);
            let Some(rule) = self.rules.analogue_for_operators(kind) else {
                continue;
            };
            if share < min_share {
                continue;
            }
            let evidence = format!(
                "time inside the operators of {} and like functions, beyond what their \
                 bytecode costs: {:.1}% of the run",
                self.analysis.functions[hottest].name,
                100.0 * share
            );
            out.push(self.use_library(rule, hottest, share, 1.0, evidence));
        }
        out
    }

    /// The "use library" verdict of analogue `rule` for `share` of the run, entered at
    /// function `entry`.
    fn use_library(
        &self,
        rule: &AnalogueRule,
        entry: usize,
        share: f64,
        native_share: f64,
        evidence: String,
    ) -> Candidate {
        let stats = &self.analysis.functions[entry];
        let use_instead = rule.use_instead.clone().unwrap_or_default();
        let summary = format!(
            "use {use_instead}: {:.0}% of the run is {} ({})",
            100.0 * share,
            rule.what,
            rule.example
        );
        let mut c = Candidate::new(
            Verdict::UseLibrary,
            Reason::NativeLibrary,
            summary,
            FunctionRef::of(stats),
            self.index.share(stats.self_weight as f64),
        );
        c.time_share = share;
        c.native_share = native_share;
        c.calls = stats.calls;
        c.analogues = vec![format!("{use_instead}: {}", rule.why)];
        c.score = share;
        c.evidence = vec![evidence];
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::test_support::{advice_of, python_frame};

    #[test]
    fn time_in_installed_packages_and_the_stdlib_is_told_by_package() {
        use crate::profile::{Meta, ProfileBuilder};
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(python_frame("main", "/home/me/app.py", "app"));
        let site = "/venv/lib/python3.11/site-packages/networkx/algorithms/centrality.py";
        let nx = b.intern_frame(python_frame(
            "betweenness",
            site,
            "networkx.algorithms.centrality",
        ));
        let stdlib = "/usr/lib/python3.11/heapq.py";
        let heap = b.intern_frame(python_frame("heappush", stdlib, "heapq"));
        for _ in 0..80 {
            b.add_stack(t, vec![main, nx], false, true, false);
        }
        for _ in 0..15 {
            b.add_stack(t, vec![main, nx, heap], false, true, false);
        }
        for _ in 0..5 {
            b.add_stack(t, vec![main], false, true, false);
        }
        let p = b.to_profile(Meta::default());
        let advice = advice_of(&p);
        let got: Vec<(&str, &str, u32)> = advice
            .elsewhere
            .iter()
            .map(|p| {
                let share = (100.0 * p.share).round() as u32;
                (p.package.as_str(), p.origin.as_str(), share)
            })
            .collect();
        assert_eq!(got, [("networkx", "library", 80), ("heapq", "stdlib", 15)]);
        // networkx has a native replacement in rules/analogues.toml.
        let library = &advice.candidates[0];
        assert_eq!(library.verdict, Verdict::UseLibrary, "{}", library.summary);
        assert!(
            library.summary.starts_with("use rustworkx"),
            "{}",
            library.summary
        );
    }

    /// A program whose time is the standard library's logging is told to switch to its
    /// drop-in replacement in C, not to port the code that logs with logging's code.
    #[test]
    fn time_in_the_logging_package_is_a_library_to_swap() {
        use crate::profile::{Meta, ProfileBuilder};
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(python_frame("main", "/home/me/app.py", "app"));
        let file = "/usr/lib/python3.11/logging/__init__.py";
        let warning = b.intern_frame(python_frame("Logger.warning", file, "logging"));
        let format = b.intern_frame(python_frame("Formatter.format", file, "logging"));
        for _ in 0..70 {
            b.add_stack(t, vec![main, warning, format], false, true, false);
        }
        for _ in 0..30 {
            b.add_stack(t, vec![main], false, true, false);
        }
        let advice = advice_of(&b.to_profile(Meta::default()));
        let first = &advice.candidates[0];
        assert_eq!(first.verdict, Verdict::UseLibrary, "{}", first.summary);
        assert!(first.summary.contains("picologging"), "{}", first.summary);
    }

    /// A library of several modules under one rule is one candidate, named by the public
    /// function the program calls into it, the same on every run: not a decorator's wrapper
    /// above it, nor whichever module's stacks came first.
    #[test]
    fn a_library_is_named_by_the_public_function_the_program_calls() {
        use crate::profile::{Meta, ProfileBuilder};
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(python_frame("main", "/home/me/app.py", "app"));
        let site = "/venv/lib/python3.11/site-packages/yaml";
        let mut yaml = |name: &str, file: &str, module: &str| {
            b.intern_frame(python_frame(name, &format!("{site}/{file}"), module))
        };
        let wrapper = yaml("_wrap.<locals>.inner", "__init__.py", "yaml");
        let load = yaml("safe_load", "__init__.py", "yaml");
        let dump = yaml("safe_dump", "__init__.py", "yaml");
        let scan = yaml("Scanner.check_token", "scanner.py", "yaml.scanner");
        let compose = yaml("Composer.compose_node", "composer.py", "yaml.composer");
        let emit = yaml("Emitter.emit", "emitter.py", "yaml.emitter");
        for _ in 0..10 {
            b.add_stack(t, vec![main, dump, emit], false, true, false);
        }
        for _ in 0..50 {
            b.add_stack(t, vec![main, wrapper, load, scan], false, true, false);
        }
        for _ in 0..30 {
            b.add_stack(t, vec![main, wrapper, load, compose], false, true, false);
        }
        let p = b.to_profile(Meta::default());
        for _ in 0..4 {
            let advice = advice_of(&p);
            let library: Vec<&Candidate> = advice
                .candidates
                .iter()
                .filter(|c| c.verdict == Verdict::UseLibrary)
                .collect();
            assert_eq!(library.len(), 1, "{:?}", advice.candidates);
            assert_eq!(
                library[0].function.name, "safe_load",
                "{}",
                library[0].summary
            );
        }
    }
}
