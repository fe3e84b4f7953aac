//! The estimate for one boundary: the time it covers, how much of that is already native,
//! the factor expected for the kind of code it runs, what crossing it costs (calls times the
//! conversion of the observed arguments and return values, from `rules/costs.toml`), and the
//! saving and whole-program speedup that leaves, each a range with sampling noise.
//!
//! Numbers only: it may not judge (the verdict is the boundary search's), and the one reason
//! it records, why a function cannot be the boundary, comes from `exclusion.rs`.

use std::collections::{BTreeMap, HashMap};

use super::index::{Origin, Region};
use super::model::Model;
use super::report::{BoundaryOption, DataFlow, FunctionRef, GilShare, PortSize};
use crate::profile::{ProbedFunction, TypeObservation};
use crate::python::parser::PyFunction;
use crate::rules::{Costs, Direction, Span};

impl Model<'_> {
    /// The estimate for porting `f` as the boundary.
    pub(super) fn option(&self, f: usize) -> BoundaryOption {
        let t = &self.rules.scoring.thresholds;
        let stats = &self.analysis.functions[f];
        let region = self.index.region(f);
        let run = self.index.run_samples.max(1) as f64;
        // Threads sampled in the same round each add a sample: in a profile of several busy
        // threads a region may add up to more than the run, but it cannot take longer.
        let weight = region.weight.min(run);
        let time_share = weight / run;
        // Native work inside the operators of its functions (big integers, long copies): the
        // sampler books it as interpreted, and a port would run it the same.
        let hidden: f64 = region
            .by_function
            .iter()
            .filter_map(|(&g, &w)| self.hidden_native(g).map(|h| w * h.fraction))
            .sum();
        let native_share = if region.weight > 0.0 {
            ((region.native + hidden) / region.weight).min(1.0)
        } else {
            0.0
        };
        let scope = region
            .by_function
            .keys()
            .filter(|&&g| self.index.origins[g] == Origin::Program)
            .count()
            .max(1);
        let executed = self.executed_mix(&region);
        let size = self.port_size(&region);
        let mut kind = self.code_kind(&region);
        // Text work keeps its strings Python's; any other code whose classes move whole is
        // an engine, a float loop over its own small vectors as much as an object graph.
        if matches!(
            kind,
            CodeKind::Numeric | CodeKind::Objects | CodeKind::Mixed | CodeKind::Containers
        ) && self.moves_whole_classes(f, &region, &size)
        {
            kind = CodeKind::Engine;
        }
        let priced = self.priced_factor(
            &region,
            kind == CodeKind::Engine,
            kind.factor(&self.rules.scoring.factors),
        );
        let factor = priced.factor;

        let probed = self.probed(f);
        let calls = stats.calls;
        let data = probed.map(|p| self.data_flows(p)).unwrap_or_default();
        let crossing_ns = calls.map(|_| {
            self.rules.costs.call.overhead_ns + data.iter().map(|d| d.cost_ns).sum::<f64>()
        });
        let seconds_per_sample = if self.index.run_samples > 0 {
            self.profile.meta.wall_seconds / run
        } else {
            0.0
        };
        // The whole run in samples: the sampled run and the interpreter's start-up before it,
        // which no port makes faster. Shares of the whole run are what a port's speedup of
        // the whole program is made of.
        let startup = match self.profile.meta.startup_seconds {
            Some(s) if seconds_per_sample > 0.0 => s / seconds_per_sample,
            _ => 0.0,
        };
        let whole = run + startup;
        // Crossing cost in samples, at the low and high ends.
        let crossing = match (calls, crossing_ns) {
            (Some(c), Some(ns)) if seconds_per_sample > 0.0 => {
                let samples = |n: f64| n * ns * 1e-9 / seconds_per_sample;
                Some([
                    samples(c.count.saturating_add(c.error) as f64) * t.conversion_uncertainty,
                    samples(c.count.saturating_sub(c.error) as f64),
                ])
            }
            _ => None,
        };
        // Threads that took turns on the GIL here run at once once the port releases it, on
        // as many cores as the machine has.
        let gil = self.index.gil_contention(f).map(|g| {
            let cores = self.profile.meta.cpus.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
            });
            GilShare {
                threads: g.threads,
                waiting: g.waiting,
                cores,
                parallel: g.threads.min(cores).max(1),
            }
        });
        let parallel = gil.map_or(1.0, |g| g.parallel as f64);
        // The share of the whole run a port speeds up, and two standard errors of it: of the
        // region's share of the run (sampling noise) and of the native pass's ratios on its
        // lines (a line's ratio comes from the pass's few samples of it), independent.
        // Generators its caller made and handed over stay in Python: the port resumes them.
        let kept = self.kept_generators(f).weight;
        let (portable, portable_error) = if region.weight > 0.0 {
            let q = (region.portable - hidden - kept).max(0.0) / region.weight;
            let p = time_share.clamp(0.0, 1.0);
            let sampling = 2.0 * (p * (1.0 - p) / run).sqrt() * q;
            let native = 2.0 * region.native_variance.sqrt() / run * (weight / region.weight);
            let sampled = run / whole;
            (weight * q / whole, sampling.hypot(native) * sampled)
        } else {
            (0.0, 0.0)
        };
        // An engine's objects are made inside the boundary; those still alive when the
        // program ends are what the interpreter's teardown collects, and a port that never
        // makes them saves that too. How much of the teardown is theirs the samples cannot
        // tell: all of it, at most.
        let teardown = if kind == CodeKind::Engine {
            self.index.teardown as f64 / whole
        } else {
            0.0
        };
        // The C library's math under the boundary (sin, pow, exp per element) stays native,
        // but called from compiled code it runs faster than from the interpreter: the top of
        // the range saves up to all but `native_math_in_port` of it.
        let native_math = if region.weight > 0.0 {
            weight * (region.native_math / region.weight) / whole
        } else {
            0.0
        };
        let saved_at = |factor: f64, portable: f64, crossing: f64| {
            portable - portable / (factor * parallel) - crossing / whole
        };
        let mid_factor = (factor[0] * factor[1]).sqrt();
        let mid_crossing = crossing.map_or(0.0, |c| (c[0] + c[1]) / 2.0);
        let expected = saved_at(mid_factor, portable, mid_crossing);
        // Each source of error at its own bound, the others at their middle: the factor's
        // calibrated range, the portable share's two standard errors, the crossings' count and
        // conversion cost.
        let ends = [
            [
                saved_at(factor[0], portable, mid_crossing),
                saved_at(factor[1], portable, mid_crossing),
            ],
            [
                saved_at(
                    mid_factor,
                    (portable - portable_error).max(0.0),
                    mid_crossing,
                ),
                saved_at(
                    mid_factor,
                    (portable + portable_error + teardown).min(1.0),
                    mid_crossing,
                ),
            ],
            crossing.map_or([expected; 2], |c| {
                [
                    saved_at(mid_factor, portable, c[0]),
                    saved_at(mid_factor, portable, c[1]),
                ]
            }),
            [
                expected,
                expected + native_math * (1.0 - t.native_math_in_port),
            ],
        ];
        let [lo, hi] = in_quadrature(expected, &ends);

        let source = self.source_of(f);
        let exclusion = self.exclusion(f, source.as_ref(), probed, calls, scope, time_share);
        let (exclusion, excluded) = exclusion.unzip();
        BoundaryOption {
            function: FunctionRef::of(stats),
            time_share,
            native_share,
            portable_share: portable,
            portable_error,
            teardown_share: teardown,
            native_math_share: native_math,
            functions: scope,
            calls,
            crossing_ns,
            crossing_share: crossing.map(|c| c[1] / whole),
            data,
            code_kind: kind.name().into(),
            factor,
            saved: [lo, hi],
            expected,
            speedup: [amdahl(lo), amdahl(hi)],
            excluded,
            exclusion,
            chosen: false,
            gil,
            size: Some(size),
            operations: priced.operations,
            priced_share: priced.priced,
            chain_floor: priced.chain_floor,
            executed: executed.shares,
            executed_bytecodes: executed.bytecodes,
        }
    }

    /// What a port of `region` would have to cover: its program functions, their classes and
    /// their lines.
    fn port_size(&self, region: &Region) -> PortSize {
        let mut functions: Vec<usize> = region
            .by_function
            .keys()
            .copied()
            .filter(|&g| self.index.origins[g] == Origin::Program && !self.index.is_module_body(g))
            .collect();
        functions.sort_unstable();
        let mut classes: Vec<String> = Vec::new();
        let mut lines = 0u32;
        for &g in &functions {
            if let Some(class) = class_of(&self.analysis.functions[g].name) {
                if !classes.iter().any(|c| c == class) {
                    classes.push(class.to_owned());
                }
            }
            if let Some(src) = self.source_of(g) {
                lines += src.last_line.saturating_sub(src.decorator_line) + 1;
            }
        }
        classes.sort();
        PortSize {
            functions: functions.len(),
            classes,
            lines,
        }
    }

    /// Whether a good part of `region`'s time (at least [`ENGINE_METHODS_SHARE`]) is in methods
    /// of the program's classes, and every method of those classes the profile saw runs
    /// mostly under `f`: their objects are made and used inside the boundary, and move to Rust
    /// with it.
    fn moves_whole_classes(&self, f: usize, region: &Region, size: &PortSize) -> bool {
        if size.classes.is_empty() {
            return false;
        }
        // A method called over and over gets its object from outside each time: the object
        // lives in Python between the calls, and its state crosses with every one.
        let stats = &self.analysis.functions[f];
        if class_of(&stats.name).is_some() && stats.calls.is_none_or(|c| c.count > FEW_CALLS) {
            return false;
        }
        let (mut methods, mut all) = (0.0, 0.0);
        for (&g, &w) in &region.by_function {
            if self.index.origins[g] != Origin::Program {
                continue;
            }
            all += w;
            if class_of(&self.analysis.functions[g].name).is_some() {
                methods += w;
            }
        }
        if all <= 0.0 || methods < ENGINE_METHODS_SHARE * all {
            return false;
        }
        let file = &self.analysis.functions[f].file;
        self.analysis
            .functions
            .iter()
            .enumerate()
            .filter(|(g, stats)| {
                self.index.origins[*g] == Origin::Program
                    && &stats.file == file
                    && class_of(&stats.name).is_some_and(|c| size.classes.iter().any(|x| x == c))
            })
            .all(|(g, _)| g == f || self.index.within(g, f) >= 0.5)
    }

    /// Argument and return conversions observed by the probe, each at its mean size.
    fn data_flows(&self, p: &ProbedFunction) -> Vec<DataFlow> {
        let mut by_name: BTreeMap<(bool, String), Vec<&TypeObservation>> = BTreeMap::new();
        for obs in &p.args {
            by_name
                .entry((false, obs.name.clone()))
                .or_default()
                .push(obs);
        }
        for obs in &p.returns {
            by_name
                .entry((true, obs.name.clone()))
                .or_default()
                .push(obs);
        }
        let mut flows = Vec::new();
        for ((is_return, name), observations) in by_name {
            let direction = if is_return {
                Direction::Return
            } else {
                Direction::Argument
            };
            let total: u64 = observations
                .iter()
                .map(|o| o.count)
                .fold(0u64, u64::saturating_add)
                .max(1);
            let mut cost = 0.0;
            for obs in &observations {
                cost += obs.count as f64 / total as f64
                    * conversion_ns(&self.rules.costs, obs, direction);
            }
            let top = observations
                .iter()
                .max_by_key(|o| o.count)
                .expect("at least one observation");
            flows.push(DataFlow {
                name,
                type_name: top.type_name.clone(),
                mean_size: top.mean_size,
                cost_ns: cost,
            });
        }
        flows
    }

    fn code_kind(&self, region: &Region) -> CodeKind {
        let mut votes: HashMap<CodeKind, f64> = HashMap::new();
        let mut total = 0.0;
        for (&f, &w) in &region.by_function {
            if self.index.origins[f] != Origin::Program {
                continue;
            }
            let kind = self
                .source_of(f)
                .map(|s| CodeKind::of(&s))
                .unwrap_or(CodeKind::Mixed);
            *votes.entry(kind).or_default() += w;
            total += w;
        }
        votes
            .into_iter()
            .filter(|(_, w)| total > 0.0 && *w >= 0.6 * total)
            .map(|(k, _)| k)
            .next()
            .unwrap_or(CodeKind::Mixed)
    }
}

/// What converting one observed value costs, beyond the call: its type's measured entry in
/// `rules/costs.toml`, item by item through what it holds when the probe counted that.
fn conversion_ns(costs: &Costs, obs: &TypeObservation, direction: Direction) -> f64 {
    if obs.type_name == "NoneType" {
        return 0.0;
    }
    let Some(c) = costs.conversion(&obs.type_name, direction) else {
        return 0.0;
    };
    // A container whose contents the probe counted is priced item by item, nested
    // containers included: its outer length alone prices a `list[tuple]` of 200,000 rows
    // as 200,000 references, not the strings and numbers each row converts.
    if let Some(contents) = &obs.contents {
        let items = costs.contents.way(direction);
        return c.per_call_ns
            + contents
                .iter()
                .map(|(kind, n)| n.max(0.0) * items.of(kind))
                .sum::<f64>();
    }
    // For `int` the observed size is a bit length, not an element count.
    let elements = if obs.type_name == "int" || obs.type_name == "float" || obs.type_name == "bool"
    {
        0.0
    } else {
        obs.mean_size
    };
    c.per_call_ns + c.per_element_ns * elements
}

/// Calls of a method few enough for its object to be converted into a Rust struct at each.
pub(super) const FEW_CALLS: u64 = 100;

/// The share of a boundary's program time its classes' methods must hold for their objects to
/// move into the port whole. Not most of it: making an instance is booked to the line that
/// calls the class (the allocation, the garbage collector it sets off), not to `__init__`, so
/// on pyperformance's float benchmark, whose `Point`s never leave `benchmark`, the methods
/// held 41%-61% of `benchmark` in four runs.
const ENGINE_METHODS_SHARE: f64 = 0.25;

/// The class of a method's qualified name (`Task.run` -> `Task`), not of a nested function.
pub(super) fn class_of(name: &str) -> Option<&str> {
    let (class, _) = name.rsplit_once('.')?;
    let class = class.rsplit('.').next().unwrap_or(class);
    let bare = class.trim_start_matches('_');
    (!class.contains('<') && bare.starts_with(|c: char| c.is_ascii_uppercase())).then_some(class)
}

/// Whole-program speedup when `saved` of the run is saved.
/// The range around `expected` that independent errors leave: `ends` holds, for each source
/// of error, the value at its two bounds with the others at their middle. Their deviations
/// below and above `expected` add in quadrature, not at their extremes all at once, which no
/// run meets: a time share two standard errors high with the factor at its calibrated best.
fn in_quadrature(expected: f64, ends: &[[f64; 2]]) -> [f64; 2] {
    let (mut below, mut above) = (0.0f64, 0.0f64);
    for &[a, b] in ends {
        below += (a.min(b) - expected).min(0.0).powi(2);
        above += (a.max(b) - expected).max(0.0).powi(2);
    }
    [expected - below.sqrt(), expected + above.sqrt()]
}

pub(super) fn amdahl(saved: f64) -> f64 {
    1.0 / (1.0 - saved.clamp(0.0, 0.999))
}

/// What a function mostly does, which sets how much faster Rust runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CodeKind {
    Numeric,
    Text,
    Containers,
    Objects,
    /// Object-heavy code whose classes move whole into the port.
    Engine,
    Mixed,
}

impl CodeKind {
    fn of(f: &PyFunction) -> CodeKind {
        let x = &f.features;
        let scores = [
            (
                CodeKind::Numeric,
                x.arithmetic as f64 + x.comparisons as f64 * 0.5,
            ),
            (CodeKind::Text, x.string_methods as f64 * 3.0),
            (CodeKind::Containers, x.subscripts as f64),
            (CodeKind::Objects, x.attribute_loads as f64),
        ];
        let total: f64 = scores.iter().map(|s| s.1).sum();
        scores
            .iter()
            .filter(|(_, s)| total > 0.0 && *s >= 0.5 * total)
            .map(|(k, _)| *k)
            .next()
            .unwrap_or(CodeKind::Mixed)
    }

    fn name(self) -> &'static str {
        match self {
            CodeKind::Numeric => "numeric",
            CodeKind::Text => "text",
            CodeKind::Containers => "container",
            CodeKind::Objects => "object",
            CodeKind::Engine => "object engine",
            CodeKind::Mixed => "mixed",
        }
    }

    fn factor(self, f: &crate::rules::Factors) -> Span {
        match self {
            CodeKind::Numeric => f.numeric,
            CodeKind::Text => f.text,
            CodeKind::Containers => f.containers,
            CodeKind::Objects => f.objects,
            CodeKind::Engine => f.engine,
            CodeKind::Mixed => f.mixed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::parser;

    /// A function that makes `Point`s and calls their methods, the methods holding `methods`
    /// of its 100 samples and its own lines the rest (as pyperformance's float benchmark: the
    /// allocation of each instance is booked to the line calling the class).
    fn points_made_and_used_in(methods: u64) -> crate::advise::Advice {
        use crate::advise::test_support::{advice_of, python_frame};
        use crate::profile::{Meta, ProfileBuilder};
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let file = "/home/me/points.py";
        let main = b.intern_frame(python_frame("main", file, "points"));
        let bench = b.intern_frame(python_frame("benchmark", file, "points"));
        let init = b.intern_frame(python_frame("Point.__init__", file, "points"));
        let normalize = b.intern_frame(python_frame("Point.normalize", file, "points"));
        for i in 0..100 {
            let stack = match i {
                i if i < methods / 2 => vec![main, bench, init],
                i if i < methods => vec![main, bench, normalize],
                _ => vec![main, bench],
            };
            b.add_stack(t, stack, false, true, false);
        }
        advice_of(&b.to_profile(Meta::default()))
    }

    #[test]
    fn a_port_calls_the_c_librarys_math_faster_at_the_top_of_its_range() {
        use crate::advise::test_support::{option_named, python_frame};
        use crate::advise::{advise, AdviseOptions};
        use crate::analyze::{analyze, AnalyzeOptions};
        use crate::profile::{Frame, FrameKind, Meta, ProfileBuilder};
        use crate::rules::Rules;
        // A loop whose line `y = sin(x)` the native pass saw in the C library's sin, one
        // sample in five.
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let file = "/home/me/wave.py";
        let main = b.intern_frame(python_frame("main", file, "wave"));
        let wave = b.intern_frame(python_frame("wave", file, "wave"));
        let sin = b.intern_frame(Frame {
            name: "__sin_fma".into(),
            module: Some("libm.so.6".into()),
            kind: FrameKind::Native,
            ..python_frame("__sin_fma", "", "")
        });
        for i in 0..100 {
            b.add_stack(t, vec![main, wave], false, true, false);
            if i % 5 == 0 {
                b.add_stack(t, vec![main, wave, sin], false, true, true);
            } else if i % 5 == 1 {
                b.add_stack(t, vec![main, wave], false, true, true);
            }
        }
        let profile = b.to_profile(Meta::default());
        let analysis = analyze(&profile, &AnalyzeOptions::default());
        let option = |in_port: f64| {
            let mut rules = Rules::load(None).unwrap();
            rules.scoring.thresholds.native_math_in_port = in_port;
            let advice = advise(&profile, &analysis, &rules, &AdviseOptions::default());
            option_named(&advice, "wave").clone()
        };
        let (same, faster) = (option(1.0), option(0.3));
        assert!(
            (faster.native_share - 0.5).abs() < 1e-9,
            "{}",
            faster.native_share
        );
        assert!((faster.native_math_share - 0.5).abs() < 0.01);
        // The bottom keeps all of the C library's time; the top saves up to 70% of it.
        assert_eq!(same.speedup[0], faster.speedup[0]);
        assert!(
            faster.speedup[1] > 1.4 * same.speedup[1],
            "{:?} against {:?}",
            faster.speedup,
            same.speedup
        );
    }

    #[test]
    fn objects_made_and_used_under_a_boundary_move_with_it() {
        use crate::advise::test_support::option_named;
        // Methods under half of the time, the rest making the objects and calling them: the
        // objects still never leave `benchmark`, so its port takes the class with it.
        for methods in [40, 60] {
            let advice = points_made_and_used_in(methods);
            let option = option_named(&advice, "benchmark");
            assert_eq!(option.code_kind, "object engine", "methods {methods}%");
        }
        // A function whose time is nearly all its own, with a small class on the side, is
        // not an engine.
        let advice = points_made_and_used_in(10);
        assert_ne!(
            option_named(&advice, "benchmark").code_kind,
            "object engine"
        );
    }

    /// A float loop over small vector objects it makes and drops (pyperformance's chaos): its
    /// arithmetic makes it numeric, and its classes move into the port with it as an object
    /// engine's do, where the vectors become plain values.
    #[test]
    fn a_numeric_loop_over_its_own_small_objects_is_an_engine() {
        use crate::advise::test_support::{advice_of, line_frame, local_app, option_named};
        const SOURCE: &str = "\
class Vec:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def scaled(self, k):
        return Vec(self.x * k + 1.0, self.y * k - 2.0)


def chaos(n):
    p = Vec(0.5, 0.5)
    t = 0.0
    for i in range(n):
        q = p.scaled(0.5 * i + 0.25)
        t += q.x * q.y - q.x / (i + 1.0) + q.y * 3.0 - (q.x - q.y) * 0.5
        p = Vec(q.x * 0.5 - 1.0, q.y * 0.25 + 2.0)
    return t
";
        let (_dir, p) = local_app(SOURCE, |b, file| {
            let t = b.intern_thread(1, 1, None);
            let chaos_loop = line_frame(b, file, "chaos", 10, 15);
            let chaos_call = line_frame(b, file, "chaos", 10, 14);
            let chaos_make = line_frame(b, file, "chaos", 10, 16);
            let scaled = line_frame(b, file, "Vec.scaled", 6, 7);
            let init = line_frame(b, file, "Vec.__init__", 2, 3);
            for i in 0..200 {
                let stack = match i % 10 {
                    0..=4 => vec![chaos_loop],
                    5 | 6 => vec![chaos_call, scaled],
                    7 => vec![chaos_call, scaled, init],
                    _ => vec![chaos_make, init],
                };
                b.add_stack(t, stack, false, true, false);
            }
        });
        let advice = advice_of(&p);
        assert_eq!(option_named(&advice, "chaos").code_kind, "object engine");
    }

    #[test]
    fn the_kind_of_code_comes_from_what_the_body_does() {
        let src = "def mean_sq(xs):\n    t = 0.0\n    for x in xs:\n        t += x * x - 1\n    return t / len(xs)\n\n\ndef shout(words):\n    return ' '.join(w.upper().strip() for w in words)\n";
        let m = parser::parse_source(src).unwrap();
        assert_eq!(
            CodeKind::of(m.find("mean_sq", None).unwrap()),
            CodeKind::Numeric
        );
        assert_eq!(CodeKind::of(m.find("shout", None).unwrap()), CodeKind::Text);
    }

    #[test]
    fn a_list_of_tuples_is_priced_by_what_its_rows_hold() {
        let costs = crate::rules::Rules::builtin().costs;
        let rows = |contents: Option<&[(&str, f64)]>| TypeObservation {
            name: "orders".into(),
            type_name: "list[tuple]".into(),
            count: 1,
            mean_size: 1000.0,
            max_size: 1000,
            contents: contents.map(|c| c.iter().map(|&(k, n)| (k.to_owned(), n)).collect()),
        };
        // 1,000 rows of (str, str, int): before, only as 1,000 references.
        let unknown = conversion_ns(&costs, &rows(None), Direction::Argument);
        let known = conversion_ns(
            &costs,
            &rows(Some(&[
                ("container", 1000.0),
                ("str", 2000.0),
                ("int", 1000.0),
            ])),
            Direction::Argument,
        );
        let items = &costs.contents.argument;
        let any = costs.conversion("*", Direction::Argument).unwrap();
        let expected = any.per_call_ns + 1000.0 * (items.container + 2.0 * items.str + items.int);
        assert!((known - expected).abs() < 1e-6, "{known} vs {expected}");
        assert!(known > 10.0 * unknown, "{known} vs {unknown}");
    }

    #[test]
    fn a_flat_list_costs_the_same_by_its_contents_as_by_its_entry() {
        let costs = crate::rules::Rules::builtin().costs;
        for (type_name, kind) in [
            ("list[float]", "float"),
            ("list[int]", "int"),
            ("list[str]", "str"),
        ] {
            for direction in [Direction::Argument, Direction::Return] {
                let mut obs = TypeObservation {
                    name: "xs".into(),
                    type_name: type_name.into(),
                    count: 1,
                    mean_size: 500.0,
                    max_size: 500,
                    contents: None,
                };
                let by_entry = conversion_ns(&costs, &obs, direction);
                obs.contents = Some([(kind.to_owned(), 500.0)].into_iter().collect());
                let by_contents = conversion_ns(&costs, &obs, direction);
                assert!(
                    (by_entry - by_contents).abs() < 0.01 * by_entry,
                    "{type_name} {direction:?}: {by_entry} vs {by_contents}"
                );
            }
        }
    }

    #[test]
    fn the_interpreters_start_up_is_part_of_the_whole_run() {
        use crate::advise::test_support::{advice_of, main_calling_work, option_named};
        use crate::profile::Meta;

        let b = main_calling_work();
        let profile = |startup_seconds| {
            b.to_profile(Meta {
                wall_seconds: 2.0,
                startup_seconds,
                ..Meta::default()
            })
        };
        let (sampled, started) = (advice_of(&profile(None)), advice_of(&profile(Some(0.5))));
        let (sampled, started) = (
            option_named(&sampled, "work"),
            option_named(&started, "work"),
        );
        // Every sample is in `work`; the half second before the first one is not, and no port
        // makes it faster: 2 s of 2.5 s.
        assert_eq!(started.time_share, sampled.time_share);
        assert!((started.portable_share - 0.8 * sampled.portable_share).abs() < 1e-12);
        assert!(started.speedup[1] <= 5.0, "{:?}", started.speedup);
        assert!(sampled.speedup[1] > 5.0, "{:?}", sampled.speedup);
    }

    #[test]
    fn amdahl_bounds_the_saving() {
        assert_eq!(amdahl(0.0), 1.0);
        assert!((amdahl(0.5) - 2.0).abs() < 1e-9);
        assert!(amdahl(1.0).is_finite());
    }

    #[test]
    fn independent_errors_add_in_quadrature() {
        // Two sources each 0.03 either side of 0.5: together 0.042, not 0.06.
        let [lo, hi] = in_quadrature(0.5, &[[0.47, 0.53], [0.53, 0.47]]);
        let both = 0.03 * 2f64.sqrt();
        assert!((0.5 - lo - both).abs() < 1e-12 && (hi - 0.5 - both).abs() < 1e-12);
        // One-sided sources widen one side only, and a source without error none.
        let [lo, hi] = in_quadrature(0.5, &[[0.5, 0.6], [0.4, 0.5], [0.5, 0.5]]);
        assert!((lo - 0.4).abs() < 1e-12 && (hi - 0.6).abs() < 1e-12);
    }
}
