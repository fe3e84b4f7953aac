//! The factor of a boundary from the operations its code executes: each sampled line's time is
//! split among the operations the line performs (`python::ops`), in proportion to what each
//! costs CPython, and each share runs as many times faster in the port as its class gains
//! (`rules/scoring.toml`, `[operations]`). Two boundaries of the same "kind" differ in what a
//! port gains because they execute different operations; this is where that shows.
//!
//! Numbers only, like `estimate.rs`: it reads the analysis' line times and the sources.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use super::index::{Origin, Region};
use super::model::Model;
use super::report::OperationShare;
use crate::python::chains::LoopChain;
use crate::python::ops::{Op, OpCounts, ALL, OP_CLASSES};
use crate::rules::{Operations, Span};

/// What one unit of a function's interpreted time becomes in the port, and what it is made of.
#[derive(Debug, Clone, Copy)]
pub(super) struct FunctionPrice {
    /// Time after the port per unit of time before, at the low gains and at the high ones.
    after: [f64; 2],
    /// The function's interpreted time by class of operation, summing to 1.
    mix: [f64; OP_CLASSES],
    /// Time after the port per unit of time before that its loops' float recurrences hold it
    /// to at least, whatever the gains (0 without one): `after` is never below it.
    floor: f64,
}

/// Priced functions, by (function, classes moved whole); `None` when a function's lines cannot
/// be priced (no readable source, or no line times).
#[derive(Default)]
pub(super) struct PriceCache(RefCell<HashMap<(usize, bool), Option<FunctionPrice>>>);

/// The factor of a region and what its interpreted time is made of.
pub(super) struct PricedFactor {
    pub(super) factor: Span,
    /// Classes of operations by their share of the priced time, largest first.
    pub(super) operations: Vec<OperationShare>,
    /// The share of the region's interpreted time whose lines were priced; the rest took the
    /// kind's factor.
    pub(super) priced: f64,
    /// Time after the port per unit of priced time before, at least, from the float
    /// recurrences of the priced functions' loops (0 without one).
    pub(super) chain_floor: f64,
}

/// What a region's functions executed, from the probe's instruction windows.
#[derive(Default)]
pub(super) struct ExecutedMix {
    /// By class, weighed by CPython's cost per class, largest first.
    pub(super) shares: Vec<OperationShare>,
    /// Bytecodes counted.
    pub(super) bytecodes: u64,
}

impl Model<'_> {
    /// The executed mix of `region`: each counted function's bytecodes by class, priced by
    /// CPython's cost per class, weighed by the function's interpreted time in the region.
    pub(super) fn executed_mix(&self, region: &Region) -> ExecutedMix {
        let ops = &self.rules.scoring.operations;
        let opcodes = &self.rules.scoring.opcodes;
        let mut functions: Vec<(usize, f64)> =
            region.by_function.iter().map(|(&g, &w)| (g, w)).collect();
        functions.sort_unstable_by_key(|&(g, _)| g);
        let mut mix = [0.0f64; OP_CLASSES];
        let mut bytecodes = 0;
        for (g, w) in functions {
            let Some(probed) = self.probed(g).filter(|p| !p.instructions.is_empty()) else {
                continue;
            };
            let mut counts = [0.0f64; OP_CLASSES];
            for (name, &n) in &probed.instructions {
                bytecodes += n;
                if let Some(op) = opcodes.class_of(name) {
                    counts[op.index()] += n as f64;
                }
            }
            if w > 0.0 {
                for (m, share) in mix.iter_mut().zip(split_by_cost(counts, ops)) {
                    *m += w * share;
                }
            }
        }
        let total: f64 = mix.iter().sum();
        if total <= 0.0 {
            return ExecutedMix::default();
        }
        ExecutedMix {
            shares: shares_of(&mix, total),
            bytecodes,
        }
    }

    /// The factor range for `region`: its priced operations where its lines can be read, the
    /// `fallback` factor (the kind's) for the rest. `moved` says the program's classes move
    /// into the port whole.
    pub(super) fn priced_factor(
        &self,
        region: &Region,
        moved: bool,
        fallback: Span,
    ) -> PricedFactor {
        let mut functions: Vec<(usize, f64)> =
            region.by_function.iter().map(|(&g, &w)| (g, w)).collect();
        functions.sort_unstable_by_key(|&(g, _)| g);
        let (mut total, mut priced) = (0.0, 0.0);
        let mut after = [0.0f64; 2];
        let mut mix = [0.0f64; OP_CLASSES];
        let mut floor = 0.0;
        for (g, w) in functions {
            if w <= 0.0 {
                continue;
            }
            total += w;
            let price = if self.index.origins[g] == Origin::Program {
                self.function_price(g, moved)
            } else {
                None
            };
            match price {
                Some(p) => {
                    priced += w;
                    after[0] += w * p.after[0];
                    after[1] += w * p.after[1];
                    floor += w * p.floor;
                    for (m, share) in mix.iter_mut().zip(p.mix) {
                        *m += w * share;
                    }
                }
                None => {
                    after[0] += w / fallback[0];
                    after[1] += w / fallback[1];
                }
            }
        }
        if total <= 0.0 || priced <= 0.0 {
            return PricedFactor {
                factor: fallback,
                operations: Vec::new(),
                priced: 0.0,
                chain_floor: 0.0,
            };
        }
        PricedFactor {
            factor: [total / after[0].max(1e-12), total / after[1].max(1e-12)],
            operations: shares_of(&mix, priced),
            priced: priced / total,
            chain_floor: floor / priced,
        }
    }

    fn function_price(&self, g: usize, moved: bool) -> Option<FunctionPrice> {
        if let Some(p) = self.prices.0.borrow().get(&(g, moved)) {
            return *p;
        }
        let price = self.compute_price(g, moved);
        self.prices.0.borrow_mut().insert((g, moved), price);
        price
    }

    fn compute_price(&self, g: usize, moved: bool) -> Option<FunctionPrice> {
        let lines = self.line_times(g);
        let total: f64 = lines.iter().map(|l| l.1).sum();
        if total <= 0.0 {
            return None;
        }
        let source = self.source_of(g)?;
        let ops = &self.rules.scoring.operations;
        let mut after = [0.0f64; 2];
        let mut mix = [0.0f64; OP_CLASSES];
        for &(line, weight) in &lines {
            let t = weight / total;
            let counts = source
                .features
                .line_ops
                .get(&line)
                .copied()
                .filter(|c| c.iter().any(|&n| n > 0))
                .unwrap_or_else(only_a_store);
            let split = split_line(&counts, ops);
            for (i, share) in split.iter().enumerate() {
                if *share <= 0.0 {
                    continue;
                }
                let gain = gain_of(ops, ALL[i], moved);
                mix[i] += t * share;
                after[0] += t * share / gain[0].max(1e-9);
                after[1] += t * share / gain[1].max(1e-9);
            }
        }
        let floor = chain_floor(
            &source.features.float_chains,
            &source.features.line_ops,
            &lines,
            total,
            ops,
        );
        for end in &mut after {
            *end = end.max(floor);
        }
        Some(FunctionPrice { after, mix, floor })
    }
}

/// The least time after the port, per unit of a function's interpreted time, that its loops'
/// float recurrences allow: each such loop's share of the function's time, times the chain's
/// wait per iteration ([`LoopChain::ops`] at `float_latency_ns` each) over what an iteration
/// of its lines costs CPython (their operations at `cpython_ns`). Loops that call Python
/// functions are left out.
fn chain_floor(
    chains: &[LoopChain],
    line_ops: &BTreeMap<u32, OpCounts>,
    lines: &[(u32, f64)],
    total: f64,
    ops: &Operations,
) -> f64 {
    let mut floor = 0.0;
    // A loop that calls Python functions runs their work in each iteration too, priced in
    // their own lines: the chain's waits overlap it, and a floor on this function's lines
    // alone would count both (spectral.py's product loop, whose port gains 122x, was held
    // to 152x, and a live run's 57.4x fell outside).
    let calls = |line: &u32| {
        line_ops
            .get(line)
            .is_some_and(|c| c[Op::Call.index()] > 0 || c[Op::InlinedCall.index()] > 0)
    };
    for chain in chains.iter().filter(|c| !c.lines.iter().any(calls)) {
        let share: f64 = lines
            .iter()
            .filter(|(line, _)| chain.lines.contains(line))
            .map(|(_, w)| w / total)
            .sum();
        let python_ns: f64 = chain
            .lines
            .iter()
            .filter_map(|l| line_ops.get(l))
            .flat_map(|counts| {
                ALL.iter()
                    .map(move |&op| f64::from(counts[op.index()]) * ops.price(op).cpython_ns)
            })
            .sum();
        if share > 0.0 && python_ns > 0.0 {
            let wait = f64::from(chain.ops) * ops.float_latency_ns;
            floor += share * (wait / python_ns).min(1.0);
        }
    }
    floor.min(1.0)
}

/// Each class's share of `total`, largest first, the classes without any left out.
fn shares_of(mix: &[f64; OP_CLASSES], total: f64) -> Vec<OperationShare> {
    let mut shares: Vec<OperationShare> = ALL
        .iter()
        .zip(mix)
        .filter(|(_, m)| **m > 0.0)
        .map(|(op, m)| OperationShare {
            op: op.key().to_owned(),
            share: m / total,
        })
        .collect();
    shares.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.op.cmp(&b.op)));
    shares
}

/// A line that performs none of the counted operations (`else:`, a bare name, a decorator's
/// line) costs what an assignment does.
fn only_a_store() -> OpCounts {
    let mut c = OpCounts::default();
    c[Op::Store.index()] = 1;
    c
}

/// A line's time by class: its operations weighted by what each costs CPython.
fn split_line(counts: &OpCounts, ops: &Operations) -> [f64; OP_CLASSES] {
    split_by_cost(counts.map(f64::from), ops)
}

/// Operations counted by class, as shares of their cost to CPython (all zero when none cost
/// anything).
fn split_by_cost(counts: [f64; OP_CLASSES], ops: &Operations) -> [f64; OP_CLASSES] {
    let mut cost = [0.0f64; OP_CLASSES];
    for (i, n) in counts.into_iter().enumerate() {
        cost[i] = n * ops.price(ALL[i]).cpython_ns.max(0.0);
    }
    let sum: f64 = cost.iter().sum();
    if sum > 0.0 {
        for c in &mut cost {
            *c /= sum;
        }
    }
    cost
}

fn gain_of(ops: &Operations, op: Op, moved: bool) -> Span {
    let price = ops.price(op);
    if moved {
        price.gain_moved.unwrap_or(price.gain)
    } else {
        price.gain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rules;

    #[test]
    fn a_line_splits_by_what_its_operations_cost_cpython() {
        let rules = Rules::builtin();
        let ops = &rules.scoring.operations;
        let mut counts = OpCounts::default();
        counts[Op::Arithmetic.index()] = 2;
        counts[Op::Text.index()] = 1;
        let split = split_line(&counts, ops);
        let arith = 2.0 * ops.arithmetic.cpython_ns;
        let text = ops.text.cpython_ns;
        assert!((split[Op::Arithmetic.index()] - arith / (arith + text)).abs() < 1e-12);
        assert!((split.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(split_line(&only_a_store(), ops)[Op::Store.index()], 1.0);
    }

    /// Each bytecode name is in one class at most, and the interpreter's bookkeeping in none.
    #[test]
    fn every_counted_bytecode_has_one_class() {
        let rules = Rules::builtin();
        let opcodes = &rules.scoring.opcodes;
        let lists = [
            &opcodes.arithmetic,
            &opcodes.compare,
            &opcodes.index,
            &opcodes.attribute,
            &opcodes.call,
            &opcodes.build,
            &opcodes.slice,
            &opcodes.lookup,
            &opcodes.text,
            &opcodes.iterate,
            &opcodes.store,
        ];
        let mut names: Vec<&String> = lists.iter().flat_map(|l| l.iter()).collect();
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all, "a bytecode in two classes");
        assert_eq!(opcodes.class_of("BINARY_OP"), Some(Op::Arithmetic));
        assert_eq!(opcodes.class_of("BINARY_SUBSCR"), Some(Op::Index));
        assert_eq!(opcodes.class_of("CALL"), Some(Op::Call));
        assert_eq!(opcodes.class_of("FOR_ITER"), Some(Op::Iterate));
        for bookkeeping in [
            "LOAD_FAST",
            "LOAD_CONST",
            "POP_TOP",
            "RETURN_VALUE",
            "RESUME",
        ] {
            assert_eq!(opcodes.class_of(bookkeeping), None, "{bookkeeping}");
        }
    }

    /// A candidate's counted bytecodes become its executed mix: by class, weighed by what each
    /// costs CPython, the bookkeeping left out; a function without counts adds nothing.
    #[test]
    fn counted_bytecodes_make_the_executed_mix() {
        use crate::advise::test_support::{
            advice_of, counted_calls, main_calling_work, option_named,
        };
        use crate::profile::Meta;

        let b = main_calling_work();
        let mut p = b.to_profile(Meta {
            wall_seconds: 2.0,
            ..Meta::default()
        });
        let mut probe = counted_calls("/home/me/app.py", &[("main", 1), ("work", 50)]);
        let work_counts = &mut probe.functions[1];
        work_counts.candidate = true;
        work_counts.instruction_windows = 3;
        work_counts.instructions = [
            ("BINARY_OP", 3000),
            ("FOR_ITER", 1000),
            ("CALL", 100),
            ("LOAD_FAST", 5000),
        ]
        .into_iter()
        .map(|(n, c)| (n.to_owned(), c))
        .collect();
        p.probe = Some(probe);
        let advice = advice_of(&p);
        let option = option_named(&advice, "work");
        assert_eq!(option.executed_bytecodes, 9100);
        let ops = &Rules::builtin().scoring.operations;
        let (a, i, c) = (
            3000.0 * ops.arithmetic.cpython_ns,
            1000.0 * ops.iterate.cpython_ns,
            100.0 * ops.call.cpython_ns,
        );
        let got: Vec<(&str, f64)> = option
            .executed
            .iter()
            .map(|s| (s.op.as_str(), s.share))
            .collect();
        let sum = a + i + c;
        let expected = [
            ("arithmetic", a / sum),
            ("iterate", i / sum),
            ("call", c / sum),
        ];
        assert_eq!(got.len(), 3, "{got:?}");
        for ((name, share), (want, want_share)) in got.iter().zip(expected) {
            assert_eq!(*name, want);
            assert!((share - want_share).abs() < 1e-9, "{got:?}");
        }
    }

    #[test]
    fn moved_classes_take_the_moved_gain() {
        let rules = Rules::builtin();
        let ops = &rules.scoring.operations;
        let moved = ops.attribute.gain_moved.unwrap();
        assert_eq!(gain_of(ops, Op::Attribute, true), moved);
        assert_eq!(gain_of(ops, Op::Attribute, false), ops.attribute.gain);
        // A class without a moved gain keeps its plain one.
        let mut ops = ops.clone();
        ops.arithmetic.gain_moved = None;
        assert_eq!(gain_of(&ops, Op::Arithmetic, true), ops.arithmetic.gain);
    }
}
