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
use crate::profile::{Frame, FrameKind};

/// Code compiled from Python that a region's native time runs in.
pub(super) struct CompiledCode {
    /// `mypyc` or `Cython`.
    pub(super) flavor: &'static str,
    /// The compiled modules most seen, most first.
    pub(super) modules: Vec<String>,
    /// Their share of the region's native samples.
    pub(super) share: f64,
}

impl CompiledCode {
    pub(super) fn summary(&self, function: &str) -> String {
        format!(
            "{function} runs code already compiled to machine code: {:.0}% of its native time \
             is {}-compiled {} ({}); a port gains little over it; the way out is calling it \
             less often, or a faster native library doing the same job",
            100.0 * self.share,
            self.flavor,
            if self.modules.len() == 1 {
                "module"
            } else {
                "modules"
            },
            self.modules.join(", ")
        )
    }
}

/// The module a compiled frame belongs to: mypyc's from its symbol, else the folder of its C
/// source (`/project/msgpack/_cmsgpack.c`: `msgpack`), else its shared object's name.
fn compiled_module(frame: &Frame, flavor: &str) -> String {
    if flavor == "mypyc" {
        if let Some((_, m)) = compiled_symbol(&frame.name).filter(|(_, m)| !m.is_empty()) {
            return m;
        }
    }
    let source_dir = std::path::Path::new(&frame.file)
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|d| d.to_str())
        .filter(|_| frame.file.ends_with(".c") || frame.file.ends_with(".pyx"));
    if let Some(dir) = source_dir {
        return dir.to_owned();
    }
    let module = frame.module.as_deref().unwrap_or(&frame.name);
    module.split('.').next().unwrap_or(module).to_owned()
}

/// A native symbol of code compiled from Python, with its module: mypyc's
/// `CPyDef_linegen___LineGenerator___visit` (`linegen`), Cython's
/// `__pyx_pw_7msgpack_9_cmsgpack_7Packer_5pack` (`msgpack`).
fn compiled_symbol(symbol: &str) -> Option<(&'static str, String)> {
    for prefix in ["CPyDef_", "CPyPy_", "CPyL_"] {
        if let Some(rest) = symbol.strip_prefix(prefix) {
            let module = rest.split("___").next().unwrap_or(rest);
            return Some(("mypyc", module.to_owned()));
        }
    }
    if symbol.starts_with("__Pyx") {
        // One of Cython's runtime helpers: the module is the shared object's.
        return Some(("Cython", String::new()));
    }
    let rest = symbol.strip_prefix("__pyx_")?;
    // `pw_7msgpack_9_cmsgpack_...`: a kind, then length-prefixed names.
    let (_, names) = rest.split_once('_')?;
    let digits: String = names.chars().take_while(|c| c.is_ascii_digit()).collect();
    let len: usize = digits.parse().ok()?;
    let name = names.get(digits.len()..digits.len() + len)?;
    Some(("Cython", name.to_owned()))
}

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

    /// Code compiled from Python (mypyc's `CPyDef_`, Cython's `__pyx_` functions, and every
    /// other function of the shared objects holding them) in the native pass's samples under
    /// `f`, when it is most of them.
    pub(super) fn compiled_code(&self, f: usize) -> Option<CompiledCode> {
        let compiled_objects = self.compiled_objects();
        if compiled_objects.is_empty() {
            return None;
        }
        let (mut native, mut compiled) = (0u64, 0u64);
        let mut modules: HashMap<String, u64> = HashMap::new();
        let mut flavors: HashMap<&'static str, u64> = HashMap::new();
        for stack in &self.profile.native_stacks {
            let holds_f = stack.frames.iter().any(|&id| {
                self.analysis
                    .frame_function
                    .get(id as usize)
                    .copied()
                    .flatten()
                    == Some(f)
            });
            if !holds_f {
                continue;
            }
            let natives: Vec<&Frame> = stack
                .frames
                .iter()
                .map(|&id| &self.profile.frames[id as usize])
                .filter(|fr| fr.kind == FrameKind::Native)
                .collect();
            if natives.is_empty() {
                continue;
            }
            native += stack.weight;
            // The outermost compiled function: the package's entry point on this stack.
            let found = natives.iter().find_map(|fr| {
                let flavor = *compiled_objects.get(fr.module.as_deref()?)?;
                Some((flavor, compiled_module(fr, flavor)))
            });
            let Some((flavor, module)) = found else {
                continue;
            };
            compiled += stack.weight;
            *modules.entry(module).or_default() += stack.weight;
            *flavors.entry(flavor).or_default() += stack.weight;
        }
        if native == 0 || (compiled as f64) < 0.5 * native as f64 {
            return None;
        }
        let mut modules: Vec<(String, u64)> = modules.into_iter().collect();
        modules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let flavor = flavors
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(f, _)| f)
            .unwrap_or("mypyc");
        Some(CompiledCode {
            flavor,
            modules: modules.into_iter().take(4).map(|(m, _)| m).collect(),
            share: compiled as f64 / native as f64,
        })
    }

    /// The shared objects of the profile compiled from Python, with how.
    fn compiled_objects(&self) -> HashMap<&str, &'static str> {
        let mut out = HashMap::new();
        for frame in self
            .profile
            .frames
            .iter()
            .filter(|f| f.kind == FrameKind::Native)
        {
            if let (Some(module), Some((flavor, _))) =
                (frame.module.as_deref(), compiled_symbol(&frame.name))
            {
                out.insert(module, flavor);
            }
        }
        out
    }

    /// A program function whose time is mostly native.
    fn already_native(&self, f: usize) -> Candidate {
        let o = self.option(f);
        let stats = &self.analysis.functions[f];
        if let Some(compiled) = self.compiled_code(f) {
            let mut c = Candidate::new(
                Verdict::LeaveIt,
                Reason::Compiled,
                compiled.summary(&stats.name),
                FunctionRef::of(stats),
                self.index.share(stats.self_weight as f64),
            )
            .judged_on(&o);
            c.evidence = stats.native_evidence.clone();
            return c;
        }
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

#[cfg(test)]
mod tests {
    use super::compiled_symbol;

    #[test]
    fn compiled_functions_are_told_by_their_symbols() {
        assert_eq!(
            compiled_symbol("CPyDef_linegen___LineGenerator___visit_default"),
            Some(("mypyc", "linegen".to_owned()))
        );
        assert_eq!(
            compiled_symbol("CPyPy_black___format_file_contents"),
            Some(("mypyc", "black".to_owned()))
        );
        assert_eq!(
            compiled_symbol("__pyx_pw_7msgpack_9_cmsgpack_6Packer_5pack"),
            Some(("Cython", "msgpack".to_owned()))
        );
        assert_eq!(compiled_symbol("_pickle_dumps_impl"), None);
        assert_eq!(compiled_symbol("__pyx_bogus"), None);
    }
}
