//! The factor of a boundary from the operations its code executes: each sampled line's time is
//! split among the operations the line performs (`python::ops`), in proportion to what each
//! costs CPython, and each share runs as many times faster in the port as its class gains
//! (`rules/scoring.toml`, `[operations]`). Two boundaries of the same "kind" differ in what a
//! port gains because they execute different operations; this is where that shows.
//!
//! Numbers only, like `estimate.rs`: it reads the analysis' line times and the sources.

use std::cell::RefCell;
use std::collections::HashMap;

use super::index::{Origin, Region};
use super::model::Model;
use super::report::OperationShare;
use crate::python::ops::{Op, OpCounts, ALL, OP_CLASSES};
use crate::rules::{Operations, Span};

/// What one unit of a function's interpreted time becomes in the port, and what it is made of.
#[derive(Debug, Clone, Copy)]
pub(super) struct FunctionPrice {
    /// Time after the port per unit of time before, at the low gains and at the high ones.
    after: [f64; 2],
    /// The function's interpreted time by class of operation, summing to 1.
    mix: [f64; OP_CLASSES],
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
}

impl Model<'_> {
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
            };
        }
        let mut operations: Vec<OperationShare> = ALL
            .iter()
            .zip(mix)
            .filter(|(_, m)| *m > 0.0)
            .map(|(op, m)| OperationShare {
                op: op.key().to_owned(),
                share: m / priced,
            })
            .collect();
        operations.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.op.cmp(&b.op)));
        PricedFactor {
            factor: [total / after[0].max(1e-12), total / after[1].max(1e-12)],
            operations,
            priced: priced / total,
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
        for (line, weight) in lines {
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
        Some(FunctionPrice { after, mix })
    }
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
    let mut cost = [0.0f64; OP_CLASSES];
    for (i, &n) in counts.iter().enumerate() {
        cost[i] = f64::from(n) * ops.price(ALL[i]).cpython_ns.max(0.0);
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

    #[test]
    fn moved_classes_take_the_moved_gain() {
        let rules = Rules::builtin();
        let ops = &rules.scoring.operations;
        let moved = ops.attribute.gain_moved.unwrap();
        assert_eq!(gain_of(ops, Op::Attribute, true), moved);
        assert_eq!(gain_of(ops, Op::Attribute, false), ops.attribute.gain);
        assert_eq!(gain_of(ops, Op::Arithmetic, true), ops.arithmetic.gain);
    }
}
