//! Why a function cannot be the boundary: a comprehension or lambda (part of the function
//! around it), too many program functions under it, a generator or coroutine, the program's
//! driver or entry point, or classes whose methods would have to move with it.
//!
//! Reads the function's source, its callers and its probed arguments; it may not weigh
//! savings or choose among boundaries, which is the boundary search's job.

use super::index::Origin;
use super::model::Model;
use super::report::Exclusion;
use crate::analyze::Calls;
use crate::profile::ProbedFunction;
use crate::python::parser::PyFunction;

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
            if src.is_async {
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
        if time_share >= 0.8 && self.is_entry_point(f) {
            return Some((
                Exclusion::EntryPoint,
                "the program's entry point, covering nearly all of it: porting it rewrites the \
                 program; move its hot loop into a function of its own to port that"
                    .into(),
            ));
        }
        let (classes, methods) = self.classes_crossing(f, probed);
        if !classes.is_empty() && methods + scope > t.max_boundary_functions {
            return Some((
                Exclusion::Classes,
                format!(
                    "its objects' classes ({}) have {methods} methods in the profile: a port \
                     would have to move them to Rust too",
                    classes.join(", ")
                ),
            ));
        }
        None
    }

    /// Whether only module-level code (or nothing the program owns) calls `f`.
    fn is_entry_point(&self, f: usize) -> bool {
        self.analysis.callers(f).iter().all(|e| {
            self.index.origins[e.caller] != Origin::Program || self.index.is_module_body(e.caller)
        })
    }

    /// The program's classes whose instances a port of `f` would handle (its own class for a
    /// method, the classes of observed arguments), and how many of their methods the profile
    /// saw.
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
                self.index.origins[*i] == Origin::Program
                    && g.file == stats.file
                    && classes.iter().any(|c| {
                        g.name
                            .strip_prefix(c.as_str())
                            .is_some_and(|r| r.starts_with('.'))
                    })
            })
            .count();
        (classes, methods)
    }
}
