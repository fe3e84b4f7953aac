//! Time a function's bytecode cannot account for: native work inside its operators.
//!
//! `(q*j + r) // (s*j + t)` is seven bytecodes, about 60 ns of interpreter work; on integers
//! of tens of thousands of bits each call takes tens of microseconds, all of it in CPython's
//! big-integer routines, which the sampler sees as the line's own time because no native frame
//! of the program's is below it. The same holds for slicing or concatenating long sequences
//! and strings. A port runs the same arithmetic or copy, and gains nothing there. A function
//! whose calls are counted, with no loop and no call (a call may be to C code that is expected
//! to be slow), whose time per call is many times what its operations cost the interpreter,
//! has that excess counted as native: the advice then says so instead of proposing a port
//! whose estimate prices the operators as interpreted.

use std::cell::RefCell;
use std::collections::HashMap;

use super::model::Model;
use crate::python::ops::{Op, ALL};

/// How many times its bytecode's cost a call must take before the excess counts as native:
/// the operation prices (`cpython_ns`) are means, and a line's operations on small values vary
/// by a few times around them, never by tens.
const HIDDEN_RATIO: f64 = 30.0;

/// Counted calls needed to trust a mean time per call.
const MIN_CALLS: u64 = 1000;

/// What the operators of a function do natively.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct HiddenNative {
    /// The share of its interpreted self time that is native work inside its operators.
    pub(super) fraction: f64,
    /// Seconds of interpreted self time per call, measured.
    pub(super) per_call: f64,
    /// Seconds its operations cost the interpreter per call, priced.
    pub(super) bytecode: f64,
    /// Whether arithmetic is most of its operations (big integers, then).
    pub(super) arithmetic: bool,
    /// The samples of that native work: its interpreted self weight times `fraction`.
    pub(super) weight: f64,
}

/// Each function's [`HiddenNative`], worked out once: every boundary option holding a function
/// asks, and the answer reads its source.
#[derive(Default)]
pub(super) struct HiddenCache(RefCell<HashMap<usize, Option<HiddenNative>>>);

impl Model<'_> {
    /// The native work hidden in `g`'s operators, when its calls and source tell.
    pub(super) fn hidden_native(&self, g: usize) -> Option<HiddenNative> {
        // Asked of every function of the profile: those without enough counted calls, most of
        // a large one, are answered before the cache.
        let calls = self.analysis.functions[g].calls;
        if calls.is_none_or(|c| c.count < MIN_CALLS) {
            return None;
        }
        if let Some(&known) = self.hidden.0.borrow().get(&g) {
            return known;
        }
        let found = self.find_hidden_native(g);
        self.hidden.0.borrow_mut().insert(g, found);
        found
    }

    fn find_hidden_native(&self, g: usize) -> Option<HiddenNative> {
        let calls = self.analysis.functions[g].calls?;
        let run = self.index.run_samples;
        if run == 0 || self.profile.meta.wall_seconds <= 0.0 {
            return None;
        }
        let seconds_per_sample = self.profile.meta.wall_seconds / run as f64;
        let interpreted: f64 = self.line_times(g).iter().map(|l| l.1).sum();
        if interpreted <= 0.0 {
            return None;
        }
        let source = self.source_of(g)?;
        let f = &source.features;
        if f.loops > 0 || f.yields > 0 || f.awaits > 0 {
            return None;
        }
        let ops = &self.rules.scoring.operations;
        let calling = [Op::Call, Op::InlinedCall, Op::BuiltinCall];
        let mut ns = ops.price(Op::Call).cpython_ns;
        let (mut arithmetic, mut all) = (0u32, 0u32);
        for counts in f.line_ops.values() {
            for (op, &n) in ALL.iter().zip(counts) {
                if n == 0 {
                    continue;
                }
                if calling.contains(op) {
                    return None;
                }
                ns += f64::from(n) * ops.price(*op).cpython_ns;
                all += n;
                if *op == Op::Arithmetic {
                    arithmetic += n;
                }
            }
        }
        let bytecode = ns * 1e-9;
        let per_call = interpreted * seconds_per_sample / calls.count as f64;
        let fraction = 1.0 - bytecode / per_call;
        (per_call >= HIDDEN_RATIO * bytecode).then_some(HiddenNative {
            fraction,
            per_call,
            bytecode,
            arithmetic: 2 * arithmetic > all,
            weight: interpreted * fraction,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::advise::report::{Advice, Verdict};
    use crate::advise::test_support::{
        advice_of, counted_calls, line_frame, local_app, option_named,
    };

    const SOURCE: &str = "\
def extract(z, j):
    q, r, s, t = z
    return (q * j + r) // (s * j + t)


def drive(n):
    z = (1, 2, 3, 4)
    return [extract(z, j) for j in range(n)]
";

    /// One second of `drive` calling `extract` (recorded here, its source read), `calls`
    /// counted calls of `extract`.
    fn advice_with(calls: u64) -> (tempfile::TempDir, Advice) {
        let (dir, mut p) = local_app(SOURCE, |b, file| {
            let t = b.intern_thread(1, 1, None);
            let drive = line_frame(b, file, "drive", 6, 8);
            let extract = line_frame(b, file, "extract", 1, 3);
            for _ in 0..200 {
                b.add_stack(t, vec![drive, extract], false, true, false);
            }
        });
        let file = p.meta.command[1].clone();
        p.probe = Some(counted_calls(&file, &[("drive", 1), ("extract", calls)]));
        (dir, advice_of(&p))
    }

    /// 5,000 calls in a second: 200 us each for a line of arithmetic the interpreter runs in
    /// well under a microsecond. The time is the operators' (big integers): no port, a library.
    #[test]
    fn calls_far_slower_than_their_bytecode_are_native_work_in_the_operators() {
        let (_dir, advice) = advice_with(5_000);
        let first = &advice.candidates[0];
        assert_eq!(first.verdict, Verdict::UseLibrary, "{}", first.summary);
        assert!(first.summary.starts_with("use gmpy2"), "{}", first.summary);
        assert!(
            advice.candidates.iter().all(|c| c.verdict != Verdict::Port),
            "{:#?}",
            advice.candidates
        );
    }

    /// 5,000,000 calls in a second: 200 ns each, what its operations cost. Interpreted, and a
    /// port's to gain.
    #[test]
    fn calls_as_fast_as_their_bytecode_stay_interpreted() {
        let (_dir, advice) = advice_with(5_000_000);
        assert!(
            advice
                .candidates
                .iter()
                .all(|c| c.verdict != Verdict::UseLibrary),
            "{:#?}",
            advice.candidates
        );
        let extract = option_named(&advice, "extract");
        assert!(extract.native_share < 0.05, "{extract:#?}");
    }
}
