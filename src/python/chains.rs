//! Float recurrences of loops: how many floating-point operations each iteration of a loop
//! must wait for, one after the other, on values the iteration before computed.
//!
//! A port runs independent float arithmetic several operations a cycle, but an operation that
//! needs the result of the one before waits for it (3-4 cycles an add or a multiply): a loop
//! whose every iteration updates its floats from their previous values (`zi = 2.0 * zr * zi +
//! ci; zr = zr2 - zi2 + cr; zr2 = zr * zr` in a Mandelbrot kernel) runs no faster than that
//! chain of waits, however little else it does. The advice prices such a loop's lines at least
//! at the chain's length ([`LoopChain`]); see `src/advise/mix.rs`.
//!
//! Which names hold floats is read from the function itself: names bound to a float literal,
//! `float(...)`, a true division, a `math` function, or arithmetic on any of these, and
//! parameters annotated `float`. Integer arithmetic is not counted: it waits a cycle at most.

use std::collections::{BTreeSet, HashMap, HashSet};

use rustpython_ruff_python_ast::{self as ast, Expr, Operator, Stmt};
use rustpython_ruff_text_size::{Ranged, TextRange};

/// `math` functions that return floats.
const MATH_FLOATS: &[&str] = &[
    "sqrt", "exp", "log", "log2", "log10", "log1p", "expm1", "sin", "cos", "tan", "asin", "acos",
    "atan", "atan2", "sinh", "cosh", "tanh", "hypot", "pow", "fabs", "fmod", "copysign", "radians",
    "degrees", "fsum", "dist",
];

/// Iterations simulated to find a loop's steady chain: the first half lets the chains fill,
/// the second is measured.
const ITERATIONS: u32 = 16;

/// One loop with a float recurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopChain {
    /// The lines whose operations run once per iteration: the loop's own line and its body's,
    /// nested loops' bodies left out (they are loops of their own).
    pub lines: BTreeSet<u32>,
    /// Dependent float operations per iteration, in steady state.
    pub ops: u32,
}

/// The float recurrences of the loops in `body` (a function's), nested loops included.
pub fn float_chains(
    body: &[Stmt],
    float_params: &[&str],
    line_of: &dyn Fn(&dyn Ranged) -> u32,
) -> Vec<LoopChain> {
    let mut floats: HashSet<String> = float_params.iter().map(|&p| p.to_owned()).collect();
    // Grow the set of float names until it holds still: `zr2 = zr * zr` after `zr = 0.0`.
    loop {
        let before = floats.len();
        each_assignment(body, &mut |target, value| {
            if is_float(value, &floats) {
                floats.insert(target.to_owned());
            }
        });
        if floats.len() == before {
            break;
        }
    }
    let mut out = Vec::new();
    find_loops(body, &floats, line_of, &mut out);
    out
}

/// Calls `f(name, value)` for each name bound by an assignment anywhere in `body` (nested
/// defs and classes left out); `a, b = x, y` binds `a` to `x` and `b` to `y`.
fn each_assignment<'a>(body: &'a [Stmt], f: &mut dyn FnMut(&'a str, &'a Expr)) {
    for stmt in body {
        match stmt {
            Stmt::Assign(s) => {
                for target in &s.targets {
                    bind(target, &s.value, f);
                }
            }
            Stmt::AugAssign(s) => {
                if let Expr::Name(n) = s.target.as_ref() {
                    f(n.id.as_str(), &s.value);
                }
            }
            Stmt::AnnAssign(s) => {
                if let (Expr::Name(n), Some(v)) = (s.target.as_ref(), &s.value) {
                    f(n.id.as_str(), v);
                }
            }
            _ => {}
        }
        for inner in blocks(stmt) {
            each_assignment(inner, f);
        }
    }
}

fn bind<'a>(target: &'a Expr, value: &'a Expr, f: &mut dyn FnMut(&'a str, &'a Expr)) {
    match (target, value) {
        (Expr::Name(n), v) => f(n.id.as_str(), v),
        (Expr::Tuple(t), Expr::Tuple(v)) if t.elts.len() == v.elts.len() => {
            for (t, v) in t.elts.iter().zip(&v.elts) {
                bind(t, v, f);
            }
        }
        _ => {}
    }
}

/// The statement blocks directly inside `stmt` (not inside nested defs or classes).
fn blocks(stmt: &Stmt) -> Vec<&[Stmt]> {
    match stmt {
        Stmt::For(s) => vec![&s.body, &s.orelse],
        Stmt::While(s) => vec![&s.body, &s.orelse],
        Stmt::If(s) => {
            let mut v: Vec<&[Stmt]> = vec![&s.body];
            v.extend(s.elif_else_clauses.iter().map(|c| c.body.as_slice()));
            v
        }
        Stmt::With(s) => vec![&s.body],
        Stmt::Try(s) => {
            let mut v: Vec<&[Stmt]> = vec![&s.body, &s.orelse, &s.finalbody];
            for h in &s.handlers {
                let ast::ExceptHandler::ExceptHandler(h) = h;
                v.push(&h.body);
            }
            v
        }
        _ => Vec::new(),
    }
}

/// Whether `expr` evaluates to a float, given the names known to hold floats.
fn is_float(expr: &Expr, floats: &HashSet<String>) -> bool {
    match expr {
        Expr::NumberLiteral(n) => matches!(n.value, ast::Number::Float(_)),
        Expr::Name(n) => floats.contains(n.id.as_str()),
        Expr::BinOp(b) => {
            b.op == Operator::Div || is_float(&b.left, floats) || is_float(&b.right, floats)
        }
        Expr::UnaryOp(u) => is_float(&u.operand, floats),
        Expr::Call(c) => match c.func.as_ref() {
            Expr::Name(n) => n.id.as_str() == "float",
            Expr::Attribute(a) => {
                matches!(a.value.as_ref(), Expr::Name(m) if m.id.as_str() == "math")
                    && MATH_FLOATS.contains(&a.attr.as_str())
            }
            _ => false,
        },
        Expr::If(i) => is_float(&i.body, floats) || is_float(&i.orelse, floats),
        _ => false,
    }
}

fn find_loops(
    body: &[Stmt],
    floats: &HashSet<String>,
    line_of: &dyn Fn(&dyn Ranged) -> u32,
    out: &mut Vec<LoopChain>,
) {
    for stmt in body {
        if let Some(loop_body) = loop_body(stmt) {
            let ops = steady_chain(loop_body, floats);
            if ops > 0 {
                let mut lines: BTreeSet<u32> =
                    (line_of(stmt)..=line_of_end(stmt, line_of)).collect();
                remove_nested_bodies(loop_body, line_of, &mut lines);
                out.push(LoopChain { lines, ops });
            }
        }
        for inner in blocks(stmt) {
            find_loops(inner, floats, line_of, out);
        }
    }
}

/// The body of a `for` or `while` loop.
fn loop_body(stmt: &Stmt) -> Option<&[Stmt]> {
    match stmt {
        Stmt::For(s) => Some(&s.body),
        Stmt::While(s) => Some(&s.body),
        _ => None,
    }
}

fn line_of_end(stmt: &Stmt, line_of: &dyn Fn(&dyn Ranged) -> u32) -> u32 {
    // The range ends just past the last character: step back onto it.
    let range = stmt.range();
    let last = range.end().checked_sub(1.into()).unwrap_or(range.start());
    line_of(&TextRange::empty(last.max(range.start())))
}

/// Leaves out of `lines` the bodies of the loops nested in `body` (their own lines stay: a
/// nested loop starts once per iteration of this one).
fn remove_nested_bodies(
    body: &[Stmt],
    line_of: &dyn Fn(&dyn Ranged) -> u32,
    lines: &mut BTreeSet<u32>,
) {
    for stmt in body {
        if loop_body(stmt).is_some() {
            for l in line_of(stmt) + 1..=line_of_end(stmt, line_of) {
                lines.remove(&l);
            }
        } else {
            for inner in blocks(stmt) {
                remove_nested_bodies(inner, line_of, lines);
            }
        }
    }
}

/// Dependent float operations per iteration of a loop over `body`, in steady state: the
/// body's assignments are replayed, each name's value ready some operations after the
/// iteration starts, for [`ITERATIONS`] iterations; the chain is how much later the latest
/// value is ready per iteration in the second half. Branches are taken all (an `if` inside
/// the loop may or may not run: its chain counts as if it did); nested loops are left out.
fn steady_chain(body: &[Stmt], floats: &HashSet<String>) -> u32 {
    let mut ready: HashMap<&str, f64> = HashMap::new();
    let mut latest_at = Vec::with_capacity(ITERATIONS as usize);
    for _ in 0..ITERATIONS {
        replay(body, floats, &mut ready);
        latest_at.push(ready.values().copied().fold(0.0, f64::max));
    }
    let half = (ITERATIONS / 2) as usize;
    let per_iteration = (latest_at[latest_at.len() - 1] - latest_at[half - 1]) / half as f64;
    per_iteration.round() as u32
}

fn replay<'a>(body: &'a [Stmt], floats: &HashSet<String>, ready: &mut HashMap<&'a str, f64>) {
    for stmt in body {
        match stmt {
            Stmt::Assign(s) => {
                let at = depth(&s.value, floats, ready);
                for target in &s.targets {
                    match (target, s.value.as_ref()) {
                        (Expr::Name(n), _) => {
                            ready.insert(n.id.as_str(), at);
                        }
                        (Expr::Tuple(t), Expr::Tuple(v)) if t.elts.len() == v.elts.len() => {
                            // Every right-hand value is read before any name is bound.
                            let ats: Vec<f64> =
                                v.elts.iter().map(|e| depth(e, floats, ready)).collect();
                            for (t, at) in t.elts.iter().zip(ats) {
                                if let Expr::Name(n) = t {
                                    ready.insert(n.id.as_str(), at);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            Stmt::AugAssign(s) => {
                if let Expr::Name(n) = s.target.as_ref() {
                    let name = n.id.as_str();
                    let own = ready.get(name).copied().unwrap_or(0.0);
                    let value = depth(&s.value, floats, ready);
                    let float = floats.contains(name) || is_float(&s.value, floats);
                    ready.insert(name, own.max(value) + if float { 1.0 } else { 0.0 });
                }
            }
            Stmt::AnnAssign(s) => {
                if let (Expr::Name(n), Some(v)) = (s.target.as_ref(), &s.value) {
                    let at = depth(v, floats, ready);
                    ready.insert(n.id.as_str(), at);
                }
            }
            Stmt::If(_) | Stmt::With(_) | Stmt::Try(_) => {
                for inner in blocks(stmt) {
                    replay(inner, floats, ready);
                }
            }
            _ => {}
        }
    }
}

/// When `expr`'s value is ready, in dependent float operations after the iteration began.
fn depth(expr: &Expr, floats: &HashSet<String>, ready: &HashMap<&str, f64>) -> f64 {
    match expr {
        Expr::Name(n) => ready.get(n.id.as_str()).copied().unwrap_or(0.0),
        Expr::BinOp(b) => {
            let operands = depth(&b.left, floats, ready).max(depth(&b.right, floats, ready));
            // Each float operator waits once (`x ** 2` is one multiply).
            operands + if is_float(expr, floats) { 1.0 } else { 0.0 }
        }
        Expr::UnaryOp(u) => depth(&u.operand, floats, ready),
        Expr::Call(c) => {
            let args = c
                .arguments
                .args
                .iter()
                .map(|a| depth(a, floats, ready))
                .fold(0.0, f64::max);
            // A libm call (sqrt, log) waits as long as several multiplies; counted as one,
            // the floor it makes stays a floor.
            args + if is_float(expr, floats) { 1.0 } else { 0.0 }
        }
        Expr::If(i) => depth(&i.body, floats, ready).max(depth(&i.orelse, floats, ready)),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustpython_ruff_python_parser::parse_module;

    fn chains(source: &str) -> Vec<(Vec<u32>, u32)> {
        let parsed = parse_module(source).unwrap();
        let module = parsed.into_syntax();
        let Stmt::FunctionDef(def) = &module.body[0] else {
            panic!("a def first")
        };
        let line_of = |node: &dyn Ranged| -> u32 {
            source[..usize::from(node.start())].matches('\n').count() as u32 + 1
        };
        let float_params: Vec<&str> = def
            .parameters
            .iter()
            .filter(|p| {
                p.annotation()
                    .is_some_and(|a| matches!(a, Expr::Name(n) if n.id.as_str() == "float"))
            })
            .map(|p| p.name().as_str())
            .collect();
        float_chains(&def.body, &float_params, &line_of)
            .into_iter()
            .map(|c| (c.lines.into_iter().collect(), c.ops))
            .collect()
    }

    #[test]
    fn a_mandelbrot_iteration_waits_for_three_operations() {
        let source = "\
def escape(cr, ci, max_iter):
    zr = zi = zr2 = zi2 = 0.0
    n = 0
    while n < max_iter and zr2 + zi2 <= 4.0:
        zi = 2.0 * zr * zi + ci
        zr = zr2 - zi2 + cr
        zr2 = zr * zr
        zi2 = zi * zi
        n += 1
    return n
";
        assert_eq!(chains(source), vec![(vec![4, 5, 6, 7, 8, 9], 3)]);
    }

    #[test]
    fn a_running_sum_is_one_operation_and_integers_none() {
        let source = "\
def f(xs: list, w: float):
    total = 0.0
    count = 0
    for x in xs:
        total += x * w
        count += 1
    for i in range(10):
        count = count * 3 + i
    return total, count
";
        // total waits only for its own add; x * w is ready at once.
        assert_eq!(chains(source), vec![(vec![4, 5, 6], 1)]);
    }

    #[test]
    fn a_nested_loop_is_its_own_and_independent_work_waits_for_nothing() {
        let source = "\
def f(rows):
    acc = 0.0
    for row in rows:
        a = row[0] * 2.5
        b = a * a + 1.0
        for v in row:
            acc = acc * 0.5 + v
    return acc
";
        // The outer loop's floats are made afresh each time; the inner one carries acc.
        assert_eq!(chains(source), vec![(vec![6, 7], 2)]);
    }
}
