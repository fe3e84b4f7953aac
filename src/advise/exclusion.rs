//! Why a function cannot be the boundary: a comprehension or lambda (part of the function
//! around it), too many program functions under it, a generator or coroutine, the program's
//! driver or entry point, a generator or a Python function its caller passes in, or classes
//! whose methods would have to move with it.
//!
//! Reads the function's source, its callers and its probed arguments; it may not weigh
//! savings or choose among boundaries, which is the boundary search's job.

use std::cell::RefCell;
use std::collections::HashMap;

use super::index::Origin;
use super::model::Model;
use super::report::Exclusion;
use crate::analyze::Calls;
use crate::profile::ProbedFunction;
use crate::python::parser::PyFunction;

/// A method of the boundary's classes running outside it with at least this share of the run
/// makes their objects cross the boundary.
const OUTSIDE_METHOD_SHARE: f64 = 0.02;

/// A generator whose own code takes at least this share of a boundary's interpreted time is
/// asked where it is made.
const GENERATOR_SHARE: f64 = 0.25;

/// How many calls deep, from the boundary, the functions that could make a generator are
/// looked for.
const MAKER_DEPTH: usize = 4;

/// Generators running under a boundary that it does not make: see [`Model::kept_generators`].
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct KeptGenerators {
    /// Their interpreted time under it, with what they call, in the region's weights.
    pub(super) weight: f64,
    /// The one with the most.
    pub(super) largest: Option<usize>,
}

/// Each boundary's kept generators, worked out once: the estimate and the exclusion of the
/// same boundary both ask, and each asking walks the stacks under it.
#[derive(Default)]
pub(super) struct KeptCache(RefCell<HashMap<usize, KeptGenerators>>);

impl Model<'_> {
    /// Why `f` cannot be a boundary, when it cannot.
    pub(super) fn exclusion(
        &self,
        f: usize,
        source: Option<&PyFunction>,
        probed: Option<&ProbedFunction>,
        calls: Option<Calls>,
        scope: usize,
        time_share: f64,
    ) -> Option<(Exclusion, String)> {
        let t = &self.rules.scoring.thresholds;
        let last = self.analysis.functions[f]
            .name
            .rsplit('.')
            .next()
            .unwrap_or("");
        if last.starts_with('<') {
            return Some((
                Exclusion::Inner,
                format!("{last} is part of the function around it, which is the boundary"),
            ));
        }
        if scope > t.max_boundary_functions {
            return Some((
                Exclusion::Scope,
                format!("{scope} program functions under it: a rewrite, not a port"),
            ));
        }
        if let Some(src) = source {
            if src.is_generator {
                return Some((
                    Exclusion::Generator,
                    "a generator: each item would cross the boundary, and its callers iterate \
                     it lazily"
                        .into(),
                ));
            }
            // An `async def` that awaits nothing is a plain function in disguise: it runs to
            // completion when awaited, and ports once it is made a `def`.
            if src.is_async && src.features.awaits > 0 {
                return Some((
                    Exclusion::Coroutine,
                    "a coroutine: it suspends into an event loop that stays in Python".into(),
                ));
            }
            let own_params = src
                .params
                .iter()
                .filter(|p| p.name != "self" && p.name != "cls")
                .count();
            if own_params == 0 && calls.is_none_or(|c| c.count <= 1) && time_share > 0.5 {
                return Some((
                    Exclusion::Driver,
                    "the program's driver (no arguments, called once): porting it rewrites the \
                     program; move its hot loop into a function of its own to port that"
                        .into(),
                ));
            }
        }
        // Only a function that is the program's body is its top level: one taking arguments,
        // or called more than once, is a function the top level calls (`f(n)` called 30 times
        // from the module), and can be ported as it is.
        let takes_arguments = source.is_some_and(|src| {
            src.params
                .iter()
                .any(|p| p.name != "self" && p.name != "cls")
        });
        // The thread count reads f's stacks: asked last, for the few that get that far.
        let called_repeatedly =
            || calls.is_some_and(|c| c.count > 1) || self.index.several_threads_run(f);
        if time_share >= 0.8 && !takes_arguments && !called_repeatedly() && self.is_entry_point(f) {
            return Some((
                Exclusion::EntryPoint,
                "the program's entry point, covering nearly all of it: porting it rewrites the \
                 program; move its hot loop into a function of its own to port that"
                    .into(),
            ));
        }
        // A generator passed in resumes Python code for every item the port takes from it.
        let generator_arg = probed.and_then(|p| {
            p.args
                .iter()
                .find(|a| matches!(a.type_name.as_str(), "generator" | "async_generator"))
        });
        if let Some(arg) = generator_arg {
            return Some((
                Exclusion::Callback,
                format!(
                    "takes `{}`, a generator its caller passes in: ported alone it would resume \
                     Python for every item; port it with the generator, from the caller that \
                     makes it",
                    arg.name
                ),
            ));
        }
        // The same when the generators come inside an object, or when no call of it was
        // watched (one call, begun before the probe): generators whose code runs under it that
        // nothing it calls makes.
        if let Some(generator) = source.and_then(|src| self.generator_made_outside(f, src)) {
            return Some((
                Exclusion::Callback,
                format!(
                    "iterates {generator}, a generator made outside it (nothing it calls makes \
                     it): ported alone it would resume Python for every item; port it with the \
                     generator, from the caller that makes it"
                ),
            ));
        }
        if let Some((line, param)) = source.and_then(|src| python_callback(src, probed)) {
            return Some((
                Exclusion::Callback,
                format!(
                    "calls `{param}` (line {line}), a Python function its caller passes in: \
                     ported alone it would call back into Python for every call; port it with \
                     the function passed, from the caller that passes it"
                ),
            ));
        }
        // Classes whose methods run outside the boundary too: their objects cross it, and a
        // port must move those methods as well. Methods all under it move with it (an engine).
        let (classes, outside) = self.classes_crossing(f, probed);
        if !classes.is_empty() && outside > 0 {
            return Some((
                Exclusion::Classes,
                format!(
                    "its objects' classes ({}) have {outside} methods running outside it: a \
                     port would have to move them to Rust too",
                    classes.join(", ")
                ),
            ));
        }
        None
    }

    /// The name of the largest of the generators running under `f` that `f` does not make
    /// ([`Model::kept_generators`]), when they take at least [`GENERATOR_SHARE`] of its
    /// interpreted time together. Only asked of a function taking arguments.
    fn generator_made_outside(&self, f: usize, src: &PyFunction) -> Option<String> {
        let takes_arguments = src
            .params
            .iter()
            .any(|p| p.name != "self" && p.name != "cls");
        if !takes_arguments {
            return None;
        }
        let portable = self.index.region(f).portable;
        let kept = self.kept_generators(f);
        kept.largest
            .filter(|_| portable > 0.0 && kept.weight >= GENERATOR_SHARE * portable)
            .map(|g| self.analysis.functions[g].name.clone())
    }

    /// The generators running under `f` that its callers made and handed over, as an
    /// argument or inside an object's state (an event loop's queue of processes, which the
    /// probe's argument types do not show): a port of `f` resumes them in Python, and their
    /// code stays interpreted. One is counted when no function `f` calls, [`MAKER_DEPTH`]
    /// calls deep, makes it (a nested generator is made by the function around it), and a
    /// function above `f` in the stacks, [`MAKER_DEPTH`] callers up, or another such
    /// generator, calls it by name: both sides are asked, so a maker too deep to find under
    /// `f` keeps the generator in the port. A call is followed to every function of that last
    /// name in the files of `f`, of the generator and of the profile's functions of that name.
    /// Nothing for a generator itself, or a function whose source cannot be read.
    pub(super) fn kept_generators(&self, f: usize) -> KeptGenerators {
        if let Some(kept) = self.kept.0.borrow().get(&f) {
            return *kept;
        }
        let kept = match self.source_of(f) {
            Some(src) if !src.is_generator => self.find_kept_generators(f, &src),
            _ => KeptGenerators::default(),
        };
        self.kept.0.borrow_mut().insert(f, kept);
        kept
    }

    fn find_kept_generators(&self, f: usize, src: &PyFunction) -> KeptGenerators {
        // Every generator below f, with its inclusive time there: a generator whose own lines
        // take no sample (its time in what it calls) can still make the others.
        let mut generators: Vec<(usize, f64, PyFunction)> = self
            .index
            .below(f)
            .into_iter()
            .filter(|&(g, _)| g != f)
            .filter_map(|(g, w)| {
                self.source_of(g)
                    .filter(|s| s.is_generator)
                    .map(|s| (g, w, s))
            })
            .collect();
        generators.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut kept = KeptGenerators::default();
        if generators.is_empty() {
            return kept;
        }
        generators.retain(|(g, _, generator)| {
            let files = [f, *g].map(|h| self.analysis.functions[h].file.clone());
            !self.makes(src, generator, &files)
        });
        // The functions above f, nearest first.
        let mut above: Vec<usize> = Vec::new();
        let mut level = vec![f];
        for _ in 0..MAKER_DEPTH {
            let mut next = Vec::new();
            for &g in &level {
                for edge in self.index.callers(g).iter() {
                    if edge.caller != f && !above.contains(&edge.caller) {
                        above.push(edge.caller);
                        next.push(edge.caller);
                    }
                }
            }
            level = next;
        }
        let makers: Vec<(PyFunction, String)> = above
            .iter()
            .filter_map(|&g| {
                let file = self.analysis.functions[g].file.clone();
                self.source_of(g).map(|s| (s, file))
            })
            .collect();
        // Whether a maker above calls each generator (or the function around it) itself, or
        // through the functions it calls: `highlight` calls `lex`, which calls the lexer's
        // `get_tokens`, which makes the token stream `format_unencoded` consumes. Asked once
        // per generator: the search below repeats until nothing changes.
        let made_above: Vec<bool> = generators
            .iter()
            .map(|(g, _, generator)| {
                let generator_file = &self.analysis.functions[*g].file;
                makers.iter().any(|(maker, file)| {
                    self.makes(maker, generator, &[file.clone(), generator_file.clone()])
                })
            })
            .collect();
        let made_by = |maker: &PyFunction, generator: &PyFunction| {
            maker
                .features
                .called_names
                .iter()
                .any(|n| last_name(n) == generator.name)
        };
        let mut found: Vec<usize> = Vec::new();
        loop {
            let before = found.len();
            for (i, (_, _, generator)) in generators.iter().enumerate() {
                if found.contains(&i) {
                    continue;
                }
                let handed_over =
                    made_above[i] || found.iter().any(|&j| made_by(&generators[j].2, generator));
                if handed_over {
                    found.push(i);
                }
            }
            if found.len() == before {
                break;
            }
        }
        found.sort_unstable();
        let ids: Vec<usize> = found.iter().map(|&i| generators[i].0).collect();
        kept.largest = ids.first().copied();
        // Their time and that of what they call, counted once where one runs inside another.
        kept.weight = self.index.portable_under(f, &ids);
        kept
    }

    /// Whether `from`, or a function it calls (by last name, in `files` or the files of the
    /// profile's functions of that name), calls `generator` or, for a nested generator, the
    /// function around it.
    fn makes(&self, from: &PyFunction, generator: &PyFunction, files: &[String]) -> bool {
        let mut makers = vec![generator.name.as_str()];
        let mut qualname = generator.qualname.as_str();
        while let Some((outer, _)) = qualname.rsplit_once(".<locals>.") {
            makers.push(outer.rsplit('.').next().unwrap_or(outer));
            qualname = outer;
        }
        let mut files = files.to_vec();
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut level = vec![from.clone()];
        for _ in 0..MAKER_DEPTH {
            let mut next = Vec::new();
            for function in &level {
                let called: Vec<&str> = function
                    .features
                    .called_names
                    .iter()
                    .map(|n| last_name(n))
                    .collect();
                if called.iter().any(|c| makers.contains(c)) {
                    return true;
                }
                for stats in &self.analysis.functions {
                    if called.contains(&last_name(&stats.name)) && !files.contains(&stats.file) {
                        files.push(stats.file.clone());
                    }
                }
                for file in &files {
                    let Some(parsed) = self.source_file(file) else {
                        continue;
                    };
                    let Ok(module) = parsed.parsed() else {
                        continue;
                    };
                    for callee in &module.functions {
                        let key = (file.clone(), callee.qualname.clone());
                        if called.contains(&callee.name.as_str()) && !seen.contains(&key) {
                            seen.push(key);
                            next.push(callee.clone());
                        }
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        false
    }

    /// Whether only module-level code (or nothing the program owns) calls `f`.
    fn is_entry_point(&self, f: usize) -> bool {
        self.index.callers(f).iter().all(|e| {
            self.index.origins[e.caller] != Origin::Program || self.index.is_module_body(e.caller)
        })
    }

    /// The program's classes whose instances a port of `f` would handle (its own class for a
    /// method, the classes of observed arguments), and how many of their methods the profile
    /// saw running mostly outside `f`.
    fn classes_crossing(&self, f: usize, probed: Option<&ProbedFunction>) -> (Vec<String>, usize) {
        let stats = &self.analysis.functions[f];
        let mut classes: Vec<String> = Vec::new();
        if let Some((class, _)) = stats.name.rsplit_once('.') {
            if !class.contains('<') {
                classes.push(class.to_owned());
            }
        }
        for obs in probed.map(|p| p.args.iter()).into_iter().flatten() {
            // `__main__.Particle`, `shapes.Circle`: a class of the program.
            let Some((module, class)) = obs.type_name.rsplit_once('.') else {
                continue;
            };
            let program_module = module == "__main__" || stats.module.as_deref() == Some(module);
            if program_module && !class.contains('[') && !classes.iter().any(|c| c == class) {
                classes.push(class.to_owned());
            }
        }
        let methods = self
            .analysis
            .functions
            .iter()
            .enumerate()
            .filter(|(i, g)| {
                // The stack index asked last: the other tests are a few bytes each.
                self.index.origins[*i] == Origin::Program
                    && *i != f
                    && self.index.share(g.inclusive_weight as f64) >= OUTSIDE_METHOD_SHARE
                    && g.file == stats.file
                    && classes.iter().any(|c| {
                        g.name
                            .strip_prefix(c.as_str())
                            .is_some_and(|r| r.starts_with('.'))
                    })
                    && self.index.within(*i, f) < 0.5
            })
            .count();
        (classes, methods)
    }
}

/// The last part of a dotted name: `step` of `self.step`, `method` of `Class.method`.
fn last_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// The first parameter `src` calls that may hold Python code: one the probe saw holding a
/// Python function, method or partial, or never saw at all. A builtin passed in (`len`,
/// `str.upper`) runs natively and keeps a port fast.
fn python_callback(src: &PyFunction, probed: Option<&ProbedFunction>) -> Option<(u32, String)> {
    src.features
        .callbacks
        .iter()
        .find(|(_, param)| {
            let seen: Vec<&str> = probed
                .map(|p| {
                    p.args
                        .iter()
                        .filter(|a| &a.name == param)
                        .map(|a| a.type_name.as_str())
                        .collect()
                })
                .unwrap_or_default();
            seen.is_empty()
                || seen.iter().any(|t| {
                    matches!(
                        *t,
                        "function" | "method" | "functools.partial" | "cython_function_or_method"
                    ) || t.contains('.') && !t.starts_with("numpy.")
                })
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use crate::advise::report::{Exclusion, Reason, Verdict};
    use crate::advise::test_support::{
        advice_of, line_frame, local_app, option_named, python_frame,
    };
    use crate::advise::Advice;
    use crate::profile::Frame;

    /// The advice on `app.py` whose module body calls `kernel` (source given) for 95% of the
    /// run.
    fn module_calling(kernel_source: &str, kernel_line: u32) -> (tempfile::TempDir, Advice) {
        let (dir, p) = local_app(kernel_source, |b, file| {
            let t = b.intern_thread(1, 1, None);
            let module = b.intern_frame(python_frame("<module>", file, "app"));
            let kernel = b.intern_frame(Frame {
                first_line: Some(kernel_line),
                ..python_frame("kernel", file, "app")
            });
            for _ in 0..95 {
                b.add_stack(t, vec![module, kernel], false, true, false);
            }
            for _ in 0..5 {
                b.add_stack(t, vec![module], false, true, false);
            }
        });
        (dir, advice_of(&p))
    }

    #[test]
    fn a_function_taking_arguments_called_from_the_module_is_no_top_level() {
        let source = "def kernel(n):\n    s = 0.0\n    for i in range(n):\n        s += i * 0.5\n    return s\n\nfor _ in range(30):\n    kernel(100000)\n";
        let (_dir, advice) = module_calling(source, 1);
        let first = &advice.candidates[0];
        assert_eq!(first.function.name, "kernel", "{}", first.summary);
        assert_eq!(
            (first.verdict, first.reason),
            (Verdict::Port, Reason::Pays),
            "{}",
            first.summary
        );
    }

    #[test]
    fn a_main_without_arguments_called_once_is_the_top_level() {
        let source = "def kernel():\n    s = 0.0\n    for i in range(3000000):\n        s += i * 0.5\n    return s\n\nkernel()\n";
        let (_dir, advice) = module_calling(source, 1);
        let first = &advice.candidates[0];
        assert_eq!(first.function.name, "kernel", "{}", first.summary);
        assert_eq!(
            (first.verdict, first.reason),
            (Verdict::LeaveIt, Reason::EntryPoint),
            "{}",
            first.summary
        );
    }

    /// A top level whose time is in a standard library module written in Python (pprint)
    /// has no hot loop to move: the call is what to wrap and port, with that module's code.
    #[test]
    fn a_top_level_calling_the_standard_librarys_python_says_so() {
        let source = "import pprint\n\n\ndef main():\n    rows = [(1, 2)] * 1000\n    print(pprint.pformat(rows))\n\n\nmain()\n";
        let (_dir, p) = local_app(source, |b, file| {
            let t = b.intern_thread(1, 1, None);
            let module = line_frame(b, file, "<module>", 1, 9);
            let main_call = line_frame(b, file, "main", 4, 6);
            let main_rows = line_frame(b, file, "main", 4, 5);
            let format = b.intern_frame(Frame {
                first_line: Some(180),
                line: Some(190),
                ..python_frame(
                    "PrettyPrinter._format",
                    "/usr/lib/python3.11/pprint.py",
                    "pprint",
                )
            });
            for _ in 0..90 {
                b.add_stack(t, vec![module, main_call, format], false, true, false);
            }
            for _ in 0..10 {
                b.add_stack(t, vec![module, main_rows], false, true, false);
            }
        });
        let advice = advice_of(&p);
        let first = &advice.candidates[0];
        assert_eq!(
            (first.verdict, first.reason, first.function.name.as_str()),
            (Verdict::LeaveIt, Reason::EntryPoint, "main"),
            "{}",
            first.summary
        );
        assert!(
            first.summary.contains("in the standard library's pprint")
                && !first.summary.contains("hot loop"),
            "{}",
            first.summary
        );
    }

    #[test]
    fn an_async_def_that_awaits_nothing_is_ported_as_a_plain_function() {
        let source = "async def kernel(items):\n    total = 0.0\n    for x in items:\n        total += x * x\n    return total\n";
        let (_dir, advice) = module_calling(source, 1);
        let first = &advice.candidates[0];
        assert_eq!(
            (first.verdict, first.function.name.as_str()),
            (Verdict::Port, "kernel"),
            "{}",
            first.summary
        );
        assert!(
            first.summary.contains("make it a plain `def`"),
            "{}",
            first.summary
        );
    }

    #[test]
    fn a_coroutine_that_awaits_is_no_boundary() {
        let source = "async def kernel(q):\n    total = 0.0\n    while True:\n        x = await q.get()\n        total += x * x\n";
        let (_dir, advice) = module_calling(source, 1);
        let first = &advice.candidates[0];
        assert_eq!(
            (first.verdict, first.reason),
            (Verdict::LeaveIt, Reason::InterpreterMachinery),
            "{}",
            first.summary
        );
    }

    #[test]
    fn a_function_calling_a_python_callable_it_is_passed_is_no_boundary() {
        let source = "def apply_all(func, xs):\n    out = []\n    for x in xs:\n        out.append(func(x))\n    return out\n\ndef smooth(x):\n    return x * x\n\ndef run(n):\n    return apply_all(smooth, range(n))\n\nrun(10)\n";
        let (_dir, p) = local_app(source, |b, file| {
            let t = b.intern_thread(1, 1, None);
            let mut frame =
                |name: &str, first: u32, line: u32| line_frame(b, file, name, first, line);
            let module = frame("<module>", 1, 13);
            let run = frame("run", 10, 11);
            let apply = frame("apply_all", 1, 4);
            let apply_own = frame("apply_all", 1, 3);
            let smooth = frame("smooth", 7, 8);
            for _ in 0..60 {
                b.add_stack(t, vec![module, run, apply, smooth], false, true, false);
            }
            for _ in 0..40 {
                b.add_stack(t, vec![module, run, apply_own], false, true, false);
            }
        });
        let advice = advice_of(&p);
        let first = &advice.candidates[0];
        assert_eq!(first.verdict, Verdict::Port, "{}", first.summary);
        let apply_all = first
            .alternatives
            .iter()
            .find(|o| o.function.name == "apply_all")
            .expect("considered");
        assert_eq!(
            apply_all.exclusion,
            Some(Exclusion::Callback),
            "{apply_all:?}"
        );
        assert_eq!(first.function.name, "run", "{}", first.summary);
    }

    #[test]
    fn a_function_taking_a_generator_is_no_boundary_on_its_own() {
        let source = "def total(items):\n    s = 0.0\n    for x in items:\n        s += x * x\n    return s\n";
        let (_dir, mut p) = local_app(source, |b, file| {
            let t = b.intern_thread(1, 1, None);
            let module = b.intern_frame(python_frame("<module>", file, "app"));
            let total = b.intern_frame(Frame {
                first_line: Some(1),
                ..python_frame("total", file, "app")
            });
            for _ in 0..100 {
                b.add_stack(t, vec![module, total], false, true, false);
            }
        });
        let file = p.meta.command[1].clone();
        p.probe = Some(crate::profile::ProbeResults {
            functions: vec![crate::profile::ProbedFunction {
                file: file.clone(),
                name: "total".into(),
                qualname: "total".into(),
                first_line: 1,
                calls: 30,
                calls_exact: true,
                args: vec![crate::profile::TypeObservation {
                    name: "items".into(),
                    type_name: "generator".into(),
                    count: 30,
                    mean_size: 0.0,
                    max_size: 0,
                    contents: None,
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let advice = advice_of(&p);
        let first = &advice.candidates[0];
        let option = first
            .alternatives
            .iter()
            .find(|o| o.function.name == "total")
            .unwrap();
        assert_eq!(option.exclusion, Some(Exclusion::Callback), "{option:?}");
        assert_ne!(first.verdict, Verdict::Port, "{}", first.summary);
    }

    /// The advice on a word-count pipeline in `app.py`: `tokens` (a generator) resumed under
    /// `consumer` for 60% of the run, `consumer`'s own loop 40%, `consumer` called by `run`.
    fn pipeline(source: &str, consumer: (&str, u32), own_line: u32) -> Advice {
        let (_dir, p) = local_app(source, |b, file| {
            let t = b.intern_thread(1, 1, None);
            let mut frame =
                |name: &str, first: u32, line: u32| line_frame(b, file, name, first, line);
            let module = frame("<module>", 1, 13);
            let run = frame("run", 10, 11);
            let consume = frame(consumer.0, consumer.1, consumer.1 + 1);
            let consume_own = frame(consumer.0, consumer.1, own_line);
            let tokens = frame("tokens", 1, 3);
            for _ in 0..60 {
                b.add_stack(t, vec![module, run, consume, tokens], false, true, false);
            }
            for _ in 0..40 {
                b.add_stack(t, vec![module, run, consume_own], false, true, false);
            }
        });
        advice_of(&p)
    }

    #[test]
    fn a_function_iterating_a_generator_its_caller_made_is_no_boundary_on_its_own() {
        // No call of `count` watched: the generator is told from the source, as made by `run`.
        let source = "def tokens(text):\n    for word in text.split():\n        yield word.lower()\n\ndef count(stream, table):\n    for w in stream:\n        table[w] = table.get(w, 0) + 1\n    return table\n\ndef run(text):\n    return count(tokens(text), {})\n\nrun('a b')\n";
        let advice = pipeline(source, ("count", 5), 7);
        let first = &advice.candidates[0];
        let count = option_named(&advice, "count");
        assert_eq!(count.exclusion, Some(Exclusion::Callback), "{count:?}");
        assert!(
            count.excluded.as_deref().unwrap_or("").contains("tokens"),
            "{count:?}"
        );
        assert_eq!(
            (first.verdict, first.function.name.as_str()),
            (Verdict::Port, "run"),
            "{}",
            first.summary
        );
    }

    #[test]
    fn a_generator_its_caller_makes_through_another_function_is_no_boundarys_own() {
        // `run` makes the stream through `lex`, which the profile never saw (Pygments'
        // `highlight` calls `lex`, whose lexer's `get_tokens` makes the token stream that
        // `format_unencoded` consumes).
        let source = "def tokens(text):\n    for word in text.split():\n        yield word.lower()\n\ndef count(stream, table):\n    for w in stream:\n        table[w] = table.get(w, 0) + 1\n    return table\n\ndef run(text):\n    return count(lex(text), {})\n\nrun('a b')\n\ndef lex(text):\n    return tokens(text)\n";
        let advice = pipeline(source, ("count", 5), 7);
        let count = option_named(&advice, "count");
        assert_eq!(count.exclusion, Some(Exclusion::Callback), "{count:?}");
        let first = &advice.candidates[0];
        assert_eq!(
            (first.verdict, first.function.name.as_str()),
            (Verdict::Port, "run"),
            "{}",
            first.summary
        );
    }

    #[test]
    fn a_function_making_the_generator_it_iterates_is_a_boundary() {
        // `count_text` makes `tokens` itself (through `words`): the port holds both.
        let source = "def tokens(text):\n    for word in text.split():\n        yield word.lower()\n\ndef count_text(text, table):\n    for w in words(text):\n        table[w] = table.get(w, 0) + 1\n    return table\n\ndef run(text):\n    return count_text(text, {})\n\nrun('a b')\n\ndef words(text):\n    return tokens(text)\n";
        let advice = pipeline(source, ("count_text", 5), 7);
        let first = &advice.candidates[0];
        let count = option_named(&advice, "count_text");
        assert_eq!(count.exclusion, None, "{count:?}");
        assert_eq!(
            (first.verdict, first.function.name.as_str()),
            (Verdict::Port, "count_text"),
            "{}",
            first.summary
        );
    }
}
