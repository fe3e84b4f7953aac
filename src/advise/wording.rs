//! The words of the advice: the one-line summary of a searched region's verdict, the evidence
//! lines behind its numbers, the summary of a group of leave-its, and numbers as people read
//! them.
//!
//! Text only, from numbers already decided: it may not change a verdict, a share or a
//! ranking, and reads the stack index only to quote a share.

use std::collections::BTreeMap;

use super::index::{Origin, Region};
use super::model::Model;
use super::report::{BoundaryOption, Exclusion, OperationShare, Reason, Verdict};
use crate::analyze::FunctionStats;

impl Model<'_> {
    /// How the numbers of boundary option `o` were reached from hot function `seed`, one line
    /// each.
    pub(super) fn evidence(&self, o: &BoundaryOption, seed: usize, boundary: usize) -> Vec<String> {
        let mut e = Vec::new();
        let seed_stats = &self.analysis.functions[seed];
        e.push(format!(
            "{} has {:.1}% of the run as its own interpreted time",
            seed_stats.name,
            100.0
                * self.analysis.share(seed_stats.self_weight)
                * (1.0 - self.index.self_native_fraction(seed))
        ));
        if boundary != seed {
            e.push(format!(
                "{} calls it and covers {:.1}% of the run",
                o.function.name,
                100.0 * o.time_share
            ));
        }
        if let Some(h) = self.hidden_native(seed) {
            e.push(format!(
                "{} takes {} a call where its operations cost the interpreter about {}: {:.0}% \
                 of its time is native work inside its operators ({}), which a port would run \
                 the same",
                seed_stats.name,
                duration(h.per_call),
                duration(h.bytecode),
                100.0 * h.fraction,
                if h.arithmetic {
                    "arithmetic on big integers"
                } else {
                    "copies and compares of long sequences or strings"
                }
            ));
        }
        if o.operations.is_empty() {
            e.push(format!(
                "{:.0}% of that is already native; the rest is {} code, expected {:.0}x-{:.0}x faster in Rust",
                100.0 * o.native_share,
                o.code_kind,
                o.factor[0],
                o.factor[1]
            ));
        } else {
            e.push(format!(
                "{:.0}% of that is already native; the rest is {}{}: priced {:.0}x-{:.0}x faster in Rust",
                100.0 * o.native_share,
                operation_mix(&o.operations),
                if o.priced_share < 0.95 {
                    format!(
                        " ({:.0}% of it read from its lines, the rest {} code)",
                        100.0 * o.priced_share,
                        o.code_kind
                    )
                } else {
                    String::new()
                },
                o.factor[0],
                o.factor[1]
            ));
        }
        if o.chain_floor > 0.0 && o.factor[1] * o.chain_floor >= 0.99 * o.priced_share {
            e.push(format!(
                "its loops carry chains of float operations, each waiting for the one before, \
                 iteration after iteration: no port of it runs more than {:.0}x faster",
                1.0 / o.chain_floor
            ));
        }
        if !o.executed.is_empty() {
            e.push(format!(
                "counted as it ran ({} bytecodes in the probe's instruction windows): {}",
                thousands(o.executed_bytecodes),
                operation_mix(&o.executed)
            ));
        }
        match (o.calls, o.crossing_ns) {
            (Some(c), Some(ns)) => e.push(format!(
                "{} calls{} x {:.0} ns per crossing ({}) = {:.1}% of the run",
                thousands(c.count),
                if c.exact { "" } else { " (estimated)" },
                ns,
                if o.data.is_empty() {
                    "call overhead only".to_string()
                } else {
                    o.data
                        .iter()
                        .map(|d| format!("{} {} of {:.0}", d.name, d.type_name, d.mean_size))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                100.0 * o.crossing_share.unwrap_or(0.0)
            )),
            _ => e.push("call count unknown: crossing cost not counted".into()),
        }
        e
    }

    /// The verdict on a searched region in one line, with its numbers.
    pub(super) fn summary(
        &self,
        verdict: Verdict,
        reason: Reason,
        o: &BoundaryOption,
        options: &[BoundaryOption],
        seed: &FunctionStats,
    ) -> String {
        let pct = |x: f64| format!("{:.0}%", 100.0 * x);
        match (verdict, reason) {
            (Verdict::Port, _) => {
                let size = o
                    .size
                    .as_ref()
                    .filter(|s| s.functions >= 3)
                    .map(|s| {
                        let classes = match s.classes.len() {
                            0 => String::new(),
                            n if n <= 4 => format!(", classes {}", s.classes.join(", ")),
                            n => format!(", {n} classes"),
                        };
                        let lines = if s.lines > 0 {
                            format!(", ~{} lines", s.lines)
                        } else {
                            String::new()
                        };
                        let engine = if o.code_kind == "object engine" {
                            "the engine: "
                        } else {
                            ""
                        };
                        format!(" ({engine}{} functions{classes}{lines})", s.functions)
                    })
                    .unwrap_or_default();
                let mut s = format!(
                    "port {}{size}: {:.1}x-{:.1}x for the whole program, {} of the run",
                    o.function.name,
                    o.speedup[0],
                    o.speedup[1],
                    pct(o.time_share)
                );
                if let Some(g) = o.gil.filter(|_| reason == Reason::ReleaseGil) {
                    s.push_str(&format!(
                        "; release the GIL while it runs (`Python::detach` in PyO3): its {} \
                         threads take turns on the GIL today ({} of their samples waiting), \
                         and {} of them could run at once on {} cores",
                        g.threads,
                        pct(g.waiting),
                        g.parallel,
                        g.cores
                    ));
                }
                if o.function.name != seed.name {
                    let leaf = &options[0];
                    s.push_str(&format!(
                        "; porting {} alone: {:.1}x-{:.1}x",
                        leaf.function.name, leaf.speedup[0], leaf.speedup[1]
                    ));
                }
                s
            }
            (_, Reason::NativeLibrary) => {
                let a = self.rules.analogue_for_name(&seed.name);
                format!(
                    "use {} instead of {}: {}",
                    a.and_then(|a| a.use_instead.as_deref())
                        .unwrap_or("a native library"),
                    seed.name,
                    a.map(|a| a.what.as_str()).unwrap_or("")
                )
            }
            (_, Reason::AlreadyNative) => format!(
                "{} is already {} native",
                o.function.name,
                pct(o.native_share)
            ),
            (_, Reason::SpreadThin) => {
                let biggest = options.iter().find(|x| x.excluded.is_some());
                match biggest {
                    Some(b) => format!(
                        "time spread thin: {} has {} of the run itself; covering more means \
                         porting {} ({})",
                        seed.name,
                        pct(self.analysis.share(seed.self_weight)),
                        b.function.name,
                        b.excluded.as_deref().unwrap_or("")
                    ),
                    None => format!(
                        "time spread thin: {} has {} of the run itself",
                        seed.name,
                        pct(self.analysis.share(seed.self_weight))
                    ),
                }
            }
            (_, Reason::ConversionCost) => format!(
                "crossing the boundary would cost {} against {} of the run in interpreted time \
                 ({} calls, {})",
                match o.crossing_share.unwrap_or(0.0) {
                    c if c >= 2.0 => format!("{c:.0}x the whole run's time"),
                    c => format!("{} of the run", pct(c)),
                },
                pct(o.time_share * (1.0 - o.native_share)),
                o.calls.map(|c| thousands(c.count)).unwrap_or_default(),
                o.data
                    .iter()
                    .map(|d| format!("{} {} of {:.0}", d.name, d.type_name, d.mean_size))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (_, Reason::EntryPoint)
                if options.get(1).and_then(|o| o.exclusion) == Some(Exclusion::Coroutine) =>
            {
                format!(
                    "{} runs inside the coroutine {}, which awaits: move it into a plain `def` \
                     function that takes the data as arguments, then port that function",
                    seed.name, options[1].function.name
                )
            }
            (_, Reason::EntryPoint) => {
                let region = self
                    .analysis
                    .functions
                    .iter()
                    .position(|f| std::ptr::eq(f, seed))
                    .map(|i| self.index.region(i))
                    .filter(|r| r.weight > 0.0);
                let library = region.as_ref().map_or(0.0, |r| r.library / r.weight);
                let in_stdlib = region
                    .as_deref()
                    .and_then(|r| self.stdlib_module_holding(r));
                if let Some((module, share)) = in_stdlib {
                    format!(
                        "{} is the program's top level ({} of the run itself), and {} of its \
                         time is in the standard library's {}, written in Python: call it from a \
                         function that takes the data as arguments, then port that function \
                         with the code of {} it runs",
                        seed.name,
                        pct(self.analysis.share(seed.self_weight)),
                        pct(share),
                        module,
                        module
                    )
                } else if library >= 0.5 {
                    format!(
                        "{} is the program's top level, and {} of its time is in installed \
                         packages, which a port would keep calling (listed as interpreted outside the \
                         program's code)",
                        seed.name,
                        pct(library)
                    )
                } else {
                    format!(
                        "{} is the program's top level ({} of the run itself): move its hot \
                         loop into a function that takes the data as arguments, then port that \
                         function",
                        seed.name,
                        pct(self.analysis.share(seed.self_weight))
                    )
                }
            }
            (_, Reason::InterpreterMachinery) => format!(
                "{} is generator or coroutine machinery: a port keeps one crossing per item; \
                 batch the items (return lists) or port the consumer instead",
                seed.name
            ),
            _ => {
                let min_gain = self.rules.scoring.thresholds.min_gain;
                format!(
                    "porting {} saves at most {} of the run ({:.1}x for the whole program at \
                     best, {:.1}x expected): under the {:.1}x a port needs to be worth writing \
                     and maintaining",
                    o.function.name,
                    pct(o.saved[1].max(0.0)),
                    o.speedup[1],
                    super::estimate::amdahl(o.expected.max(0.0)),
                    super::estimate::amdahl(min_gain)
                )
            }
        }
    }
}

/// The summary of leave-its grouped under one boundary: the first one's, unless the reason
/// reads better for all of them together.
pub(super) fn grouped_summary(
    reason: Reason,
    names: &[String],
    self_share: f64,
    first: &str,
) -> String {
    let listed = if names.len() > 4 {
        format!("{} and {} more", names[..4].join(", "), names.len() - 4)
    } else {
        names.join(", ")
    };
    match reason {
        Reason::SpreadThin => format!(
            "time spread thin over {} functions ({listed}), {:.0}% of the run together: no \
             boundary small enough covers enough of it",
            names.len(),
            100.0 * self_share
        ),
        Reason::InterpreterMachinery => format!(
            "{listed}: generator or coroutine machinery; a port keeps one crossing per item. \
             Batch the items (return lists) or port the consumer instead"
        ),
        _ => first.to_owned(),
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A short time as people read it: `38 us`, `65 ns`, `1.2 ms`.
fn duration(seconds: f64) -> String {
    if seconds >= 1e-3 {
        format!("{:.1} ms", seconds * 1e3)
    } else if seconds >= 1e-6 {
        format!("{:.0} us", seconds * 1e6)
    } else {
        format!("{:.0} ns", seconds * 1e9)
    }
}

/// The largest classes of operations of a boundary, as a sentence names them: "arithmetic
/// 62%, indexing 18%, Python calls 9%".
fn operation_mix(ops: &[OperationShare]) -> String {
    let named: Vec<String> = ops
        .iter()
        .filter(|o| o.share >= 0.05)
        .take(4)
        .map(|o| {
            let name = crate::python::ops::ALL
                .iter()
                .find(|c| c.key() == o.op)
                .map_or(o.op.as_str(), |c| c.describe());
            format!("{name} {:.0}%", 100.0 * o.share)
        })
        .collect();
    if named.is_empty() {
        "interpreted code of no dominant kind".to_owned()
    } else {
        named.join(", ")
    }
}

impl Model<'_> {
    /// The standard-library module written in Python that holds at least half of `region`'s
    /// time, with its share: it ports along with a function that calls it.
    fn stdlib_module_holding(&self, region: &Region) -> Option<(&str, f64)> {
        let mut by_module: BTreeMap<&str, f64> = BTreeMap::new();
        for (&g, &w) in &region.by_function {
            if self.index.origins[g] == Origin::Stdlib {
                let module = self.analysis.functions[g].module.as_deref().unwrap_or("");
                *by_module.entry(module).or_default() += w;
            }
        }
        by_module
            .into_iter()
            .map(|(module, w)| (module, w / region.weight))
            .find(|&(_, share)| share >= 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
