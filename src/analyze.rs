//! Analysis of a profile: per-function self, inclusive and native time, per-line time, the
//! probe's call counts, and who calls whom when asked.
//!
//! Works on any profile, saved or fresh; reads only the model in [`crate::profile`] and the
//! rules. A function is identified by its file and qualified name (Python) or its library and
//! symbol (native), so that the many sampled lines of one function add up.
//!
//! Native time has three sources, because each alone misses some: the `--native` pass
//! (which C frames run under a Python line; py-spy hides libpython's own C, such as big-integer
//! `pow`), the rules of known-native functions (`json.encoder.JSONEncoder.iterencode` is a thin
//! Python frame over C), and the sampled line's own text (`pattern.findall(text)`: the C call
//! is charged to the calling line by a Python-only sampler).

use std::collections::{BTreeMap, HashMap};

use rustc_hash::FxHashMap;

use crate::cores;
use crate::profile::{Frame, FrameId, FrameKind, ProbedFunction, Profile, Stack};
use crate::rules::{InterpreterRole, NativeCallRule, Rules};

/// What the analysis counts, and with which knowledge.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Count samples of threads that were waiting, not running.
    pub include_idle: bool,
    /// Known native and pure-Python code.
    pub rules: Rules,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            include_idle: false,
            rules: Rules::builtin(),
        }
    }
}

/// A call count from the probe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Calls {
    pub count: u64,
    /// Every call was counted; otherwise `count` is an estimate with `error`.
    pub exact: bool,
    pub error: u64,
}

/// One function's share of the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionStats {
    /// Qualified name when known, else the plain name.
    pub name: String,
    pub module: Option<String>,
    pub file: String,
    pub first_line: Option<u32>,
    pub kind: FrameKind,
    /// Samples in which this function was the innermost frame.
    pub self_weight: u64,
    /// Samples in which this function was anywhere on the stack (counted once per sample).
    pub inclusive_weight: u64,
    /// The part of `inclusive_weight` estimated to run as native code.
    pub native_weight: f64,
    /// Why time under this function counts as native, most weighty first.
    pub native_evidence: Vec<String>,
    /// From the probe, when it watched this function.
    pub calls: Option<Calls>,
}

impl FunctionStats {
    /// `file:line` or just `file`.
    pub fn location(&self) -> String {
        match self.first_line {
            Some(l) => format!("{}:{l}", self.file),
            None => self.file.clone(),
        }
    }

    /// Share of this function's inclusive time that is native, 0 to 1.
    pub fn native_share(&self) -> f64 {
        if self.inclusive_weight == 0 {
            0.0
        } else {
            (self.native_weight / self.inclusive_weight as f64).min(1.0)
        }
    }
}

/// Time on one source line, as the innermost frame.
#[derive(Debug, Clone, PartialEq)]
pub struct LineStats {
    /// Index into [`Analysis::functions`].
    pub function: usize,
    pub line: u32,
    pub code: Option<String>,
    pub self_weight: u64,
    pub native_weight: f64,
}

/// Time on one line of a function, callees included.
#[derive(Debug, Clone, PartialEq)]
pub struct LineTime {
    pub line: u32,
    /// Samples with the function on the stack executing this line (its outermost frame, so
    /// recursion counts once).
    pub weight: u64,
    /// Of that, the part whose innermost frame ran machine code.
    pub native_weight: f64,
}

/// Time spent in `callee` when called from `caller` (indexes into [`Analysis::functions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallEdge {
    pub caller: usize,
    pub callee: usize,
    pub weight: u64,
}

/// Per-function results for a whole profile.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Weight of all counted samples: the denominator of every share.
    pub total_weight: u64,
    /// Every function seen, hottest (inclusive) first.
    pub functions: Vec<FunctionStats>,
    /// Lines with self time, hottest first.
    pub lines: Vec<LineStats>,
    /// Estimated weight spent collecting garbage (seen only with `--native`).
    pub gc_weight: f64,
    /// Samples of the `--native` pass, the evidence behind native shares from native frames.
    pub native_pass_samples: u64,
    /// For each frame of the profile, its function (an index into `functions`), or `None` for
    /// frames of functions without counted samples.
    pub frame_function: Vec<Option<usize>>,
    /// For each frame, the native fraction of its self time as the innermost one (0 for
    /// frames never innermost): read through [`Analysis::leaf_native`].
    leaf_native: Vec<f64>,
    /// For each innermost frame whose native fraction is the native pass's ratio, the
    /// binomial variance of that ratio, p(1-p)/n over the pass's n samples of the line.
    pub leaf_native_variance: FxHashMap<FrameId, f64>,
    /// For each innermost frame the native pass saw in the C library's math, the fraction of
    /// its self time there: native work a port still calls, but faster (see
    /// `native_math_in_port` in rules/scoring.toml).
    pub leaf_native_math: FxHashMap<FrameId, f64>,
}

impl Analysis {
    /// Where the time of `function` (an index into [`Analysis::functions`]) went, line by line,
    /// callees included: what a source view shades. Ordered by line.
    pub fn line_times(
        &self,
        profile: &Profile,
        function: usize,
        include_idle: bool,
    ) -> Vec<LineTime> {
        let mut lines: BTreeMap<u32, LineTime> = BTreeMap::new();
        for stack in &profile.stacks {
            if stack.idle && !include_idle {
                continue;
            }
            let Some(frame) = stack
                .frames
                .iter()
                .find(|&&f| self.frame_function[f as usize] == Some(function))
            else {
                continue;
            };
            let Some(line) = profile.frames[*frame as usize].line else {
                continue;
            };
            let native = stack
                .frames
                .last()
                .map_or(0.0, |&leaf| self.leaf_native(leaf));
            let entry = lines.entry(line).or_insert(LineTime {
                line,
                weight: 0,
                native_weight: 0.0,
            });
            entry.weight += stack.weight;
            entry.native_weight += native * stack.weight as f64;
        }
        lines.into_values().collect()
    }

    /// The native fraction of `frame`'s self time as the innermost frame (0 for a frame never
    /// innermost).
    pub fn leaf_native(&self, frame: FrameId) -> f64 {
        self.leaf_native.get(frame as usize).copied().unwrap_or(0.0)
    }

    pub fn share(&self, weight: u64) -> f64 {
        if self.total_weight == 0 {
            0.0
        } else {
            weight as f64 / self.total_weight as f64
        }
    }

    /// Functions sorted by self time, hottest first.
    pub fn by_self(&self) -> Vec<&FunctionStats> {
        let mut v: Vec<&FunctionStats> = self.functions.iter().collect();
        v.sort_by(|a, b| b.self_weight.cmp(&a.self_weight).then(a.name.cmp(&b.name)));
        v
    }

    /// The function with this (qualified) name, when exactly one matches.
    pub fn find(&self, name: &str) -> Option<&FunctionStats> {
        let mut it = self.functions.iter().filter(|f| f.name == name);
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// The caller-callee pairs of the counted stacks (non-idle ones unless `include_idle`)
    /// that `keep` keeps, with their inclusive weight: consecutive frames of two functions,
    /// counted once per stack even when recursion repeats them. One pass over every frame:
    /// for the few questions a stub asks; the advice asks the stack index, which reads only
    /// the stacks holding the callee.
    pub fn call_edges(
        &self,
        profile: &Profile,
        include_idle: bool,
        keep: impl Fn(usize, usize) -> bool,
    ) -> Vec<CallEdge> {
        let mut weights: FxHashMap<(u32, u32), u64> = FxHashMap::default();
        let mut pairs = Vec::new();
        let function = |frame: FrameId| self.frame_function[frame as usize].map(|f| f as u32);
        for stack in profile.stacks.iter().filter(|s| include_idle || !s.idle) {
            add_call_pairs(
                &stack.frames,
                function,
                |caller, callee| keep(caller as usize, callee as usize),
                stack.weight,
                &mut pairs,
                &mut weights,
            );
        }
        let mut edges: Vec<CallEdge> = weights
            .into_iter()
            .map(|((caller, callee), weight)| CallEdge {
                caller: caller as usize,
                callee: callee as usize,
                weight,
            })
            .collect();
        edges.sort_by(|a, b| {
            b.weight
                .cmp(&a.weight)
                .then(a.caller.cmp(&b.caller))
                .then(a.callee.cmp(&b.callee))
        });
        edges
    }
}

/// Adds one stack's caller-callee pairs to `weights` (by caller, then callee): consecutive
/// frames of two functions (`function` of each frame, `None` for a frame without one) that
/// `keep` keeps, each counted once even when recursion repeats it. `pairs` is scratch, kept
/// from stack to stack.
pub(crate) fn add_call_pairs(
    frames: &[FrameId],
    function: impl Fn(FrameId) -> Option<u32>,
    keep: impl Fn(u32, u32) -> bool,
    weight: u64,
    pairs: &mut Vec<(u32, u32)>,
    weights: &mut FxHashMap<(u32, u32), u64>,
) {
    pairs.clear();
    let mut previous: Option<u32> = None;
    for &frame in frames {
        let f = function(frame);
        if let (Some(caller), Some(callee)) = (previous, f) {
            if caller != callee && keep(caller, callee) {
                pairs.push((caller, callee));
            }
        }
        previous = f;
    }
    pairs.sort_unstable();
    pairs.dedup();
    for &pair in pairs.iter() {
        *weights.entry(pair).or_default() += weight;
    }
}

/// Of the native pass's samples whose innermost Python frame is one frame: how many had
/// native frames below it, which ones, and how many were collecting garbage.
#[derive(Debug, Default)]
struct NativeEvidence {
    total: u64,
    native: u64,
    /// Of `native`, the samples whose innermost frame is in the C library's math (libm).
    math: u64,
    gc: u64,
    symbols: HashMap<String, u64>,
}

/// From this many native-pass samples on a line, its native ratio is measured: one. A line
/// the pass saw once or twice in C counts as native as its samples say, with the wide error
/// its few samples give it (`LeafNative::variance`); ignoring such lines only ever took native
/// time away (a short run's pass sees most lines once or twice), so every share it moved, it
/// moved toward a port.
const MIN_NATIVE_PASS_SAMPLES: u64 = 1;

pub fn analyze(profile: &Profile, opts: &AnalyzeOptions) -> Analysis {
    let counted = || {
        profile
            .stacks
            .iter()
            .filter(|s| opts.include_idle || !s.idle)
    };
    // Self time by innermost frame first, in one list by frame: what a stack adds to its leaf
    // is then one write, and what each leaf's function and line get is added up once per
    // distinct leaf, not once per stack (a fleet profile has a million stacks over far fewer
    // leaves, and each visit to a function's or line's record is a cache miss). Added up on
    // another core while the frames are matched to functions.
    let by_leaf = || {
        let mut total = 0;
        let mut leaf_weight = vec![0u64; profile.frames.len()];
        for stack in counted() {
            total += stack.weight;
            if let Some(&leaf) = stack.frames.last() {
                leaf_weight[leaf as usize] += stack.weight;
            }
        }
        (total, leaf_weight)
    };
    let ((frame_fn, mut functions), (total, leaf_weight)) = if cores::split(profile.stacks.len()) {
        cores::join("analysis", || functions_of_frames(profile), by_leaf)
    } else {
        (functions_of_frames(profile), by_leaf())
    };
    let functions = &mut functions[..];
    let frame_fn32: Vec<u32> = frame_fn.iter().map(|&f| f as u32).collect();
    let evidence = native_pass_evidence(profile, &opts.rules);
    let pooled = pooled_evidence(profile, &evidence, &opts.rules);
    let native_pass_samples = profile.native_stacks.iter().map(|s| s.weight).sum();
    // Per leaf frame: the native fraction of its self time, and why (an index into
    // `reasons`, or `NO_REASON`).
    let mut leaf_native_variance: FxHashMap<FrameId, f64> = FxHashMap::default();
    let mut leaf_native_math: FxHashMap<FrameId, f64> = FxHashMap::default();
    let mut reasons: Vec<String> = Vec::new();
    let mut reason_ids: HashMap<String, u32> = HashMap::new();
    let mut leaf_fraction = vec![0f64; profile.frames.len()];
    let mut leaf_reason = vec![NO_REASON; profile.frames.len()];
    let mut gc_weight = 0.0;
    let mut lines: FxHashMap<(usize, u32), LineStats> = FxHashMap::default();
    // Each leaf function's rule, looked up once for all its lines.
    let mut function_native: Vec<Option<Option<NativeFunction>>> = vec![None; functions.len()];
    let line_rules = line_rules(profile, &leaf_weight, &opts.rules);
    for (leaf, &weight) in leaf_weight.iter().enumerate().filter(|(_, &w)| w > 0) {
        let frame = &profile.frames[leaf];
        let id = leaf as FrameId;
        let leaf_fn = frame_fn[leaf];
        let function = function_native[leaf_fn]
            .get_or_insert_with(|| native_function(frame, &opts.rules))
            .as_ref();
        // A frame of a measured rule's function that the pass did not see takes what it saw
        // under all the rule's frames: a short run's pass sees few of numpy's many lines.
        let seen = evidence.get(&id);
        let seen = match function {
            Some(f) if f.measured && seen.is_none() => pooled.get(&f.reason),
            _ => seen,
        };
        let native = native_fraction(
            frame,
            function,
            seen,
            line_rules.get(leaf).copied().flatten(),
        );
        let reason = native.reason.as_ref().map_or(NO_REASON, |r| {
            *reason_ids.entry(r.clone()).or_insert_with(|| {
                reasons.push(r.clone());
                (reasons.len() - 1) as u32
            })
        });
        leaf_fraction[leaf] = native.fraction;
        leaf_reason[leaf] = reason;
        if let Some(ev) = evidence
            .get(&id)
            .filter(|e| e.total >= MIN_NATIVE_PASS_SAMPLES)
        {
            gc_weight += weight as f64 * ev.gc as f64 / ev.total as f64;
        }
        functions[leaf_fn].self_weight += weight;
        if let Some(line) = frame.line {
            let entry = lines.entry((leaf_fn, line)).or_insert_with(|| LineStats {
                function: leaf_fn,
                line,
                code: frame.code.clone(),
                self_weight: 0,
                native_weight: 0.0,
            });
            entry.self_weight += weight;
            entry.native_weight += weight as f64 * native.fraction;
        }
        if native.variance > 0.0 {
            leaf_native_variance.insert(id, native.variance);
        }
        if native.math > 0.0 {
            leaf_native_math.insert(id, native.math);
        }
    }
    drop(leaf_weight);

    // Inclusive and native weights, apart from the functions' records: the loop over every
    // frame touches only these. A profile of many stacks is cut in two halves, added up at
    // once on two cores.
    let stacks: Vec<&Stack> = counted().collect();
    let held_of = |part: &[&Stack]| {
        held_weights(
            part,
            &frame_fn32,
            functions.len(),
            &leaf_fraction,
            &leaf_reason,
        )
    };
    let (held, why) = if cores::split(stacks.len()) {
        let (first, second) = stacks.split_at(stacks.len() / 2);
        let ((mut held, mut why), (more, more_why)) =
            cores::join("analysis", || held_of(first), || held_of(second));
        for (h, m) in held.iter_mut().zip(more) {
            h.inclusive += m.inclusive;
            h.native += m.native;
        }
        for (key, w) in more_why {
            *why.entry(key).or_default() += w;
        }
        (held, why)
    } else {
        held_of(&stacks)
    };
    drop(stacks);
    drop(leaf_reason);
    for (f, h) in functions.iter_mut().zip(held) {
        f.inclusive_weight = h.inclusive;
        f.native_weight = h.native;
    }
    let mut by_function: Vec<(u32, f64, &str)> = why
        .into_iter()
        .map(|((f, r), w)| (f, w, reasons[r as usize].as_str()))
        .collect();
    by_function.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(b.2)));
    for group in by_function.chunk_by(|a, b| a.0 == b.0) {
        functions[group[0].0 as usize].native_evidence = group
            .iter()
            .take(3)
            .map(|(_, _, r)| (*r).to_owned())
            .collect();
    }
    attach_probe_counts(profile, functions);

    // Sort hottest first and renumber everything that refers to functions.
    let mut order: Vec<usize> = (0..functions.len())
        .filter(|&i| functions[i].inclusive_weight > 0)
        .collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (&functions[a], &functions[b]);
        fb.inclusive_weight
            .cmp(&fa.inclusive_weight)
            .then(fb.self_weight.cmp(&fa.self_weight))
            .then(fa.name.cmp(&fb.name))
    });
    let mut new_index = vec![usize::MAX; functions.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    // Moved out, not copied: a fleet profile has a hundred thousand functions.
    let sorted: Vec<FunctionStats> = order
        .iter()
        .map(|&i| {
            let stats = &mut functions[i];
            FunctionStats {
                name: std::mem::take(&mut stats.name),
                module: stats.module.take(),
                file: std::mem::take(&mut stats.file),
                native_evidence: std::mem::take(&mut stats.native_evidence),
                ..stats.clone()
            }
        })
        .collect();
    let mut lines: Vec<LineStats> = lines
        .into_values()
        .map(|mut l| {
            l.function = new_index[l.function];
            l
        })
        .collect();
    // (function, line) is unique: an unstable sort gives one order.
    lines.sort_unstable_by(|a, b| {
        b.self_weight
            .cmp(&a.self_weight)
            .then(a.function.cmp(&b.function))
            .then(a.line.cmp(&b.line))
    });
    let frame_function = frame_fn
        .iter()
        .map(|&f| Some(new_index[f]).filter(|&i| i != usize::MAX))
        .collect();
    Analysis {
        total_weight: total,
        functions: sorted,
        lines,
        gc_weight,
        native_pass_samples,
        frame_function,
        leaf_native: leaf_fraction,
        leaf_native_variance,
        leaf_native_math,
    }
}

/// A function's weights over some stacks.
#[derive(Clone, Copy)]
struct Held {
    /// The last of the stacks that counted it: a function counts once per stack, whatever
    /// the recursion.
    seen: u32,
    inclusive: u64,
    native: f64,
}

/// No reason for a leaf's native time.
const NO_REASON: u32 = u32::MAX;

/// Each function's inclusive and native weight over `stacks`, and its native weight by
/// reason (an index into the leaves' reasons).
fn held_weights(
    stacks: &[&Stack],
    frame_fn: &[u32],
    n: usize,
    leaf_fraction: &[f64],
    leaf_reason: &[u32],
) -> (Vec<Held>, FxHashMap<(u32, u32), f64>) {
    let mut held = vec![
        Held {
            seen: u32::MAX,
            inclusive: 0,
            native: 0.0,
        };
        n
    ];
    let mut why: FxHashMap<(u32, u32), f64> = FxHashMap::default();
    for (i, stack) in stacks.iter().enumerate() {
        let Some(&leaf) = stack.frames.last() else {
            continue;
        };
        let (fraction, reason) = (leaf_fraction[leaf as usize], leaf_reason[leaf as usize]);
        let native = stack.weight as f64 * fraction;
        for &frame in &stack.frames {
            let f = frame_fn[frame as usize];
            let h = &mut held[f as usize];
            if h.seen != i as u32 {
                h.seen = i as u32;
                h.inclusive += stack.weight;
                h.native += native;
                if reason != NO_REASON {
                    *why.entry((f, reason)).or_default() += native;
                }
            }
        }
    }
    (held, why)
}

/// Maps every frame to its function, creating the function entries.
fn functions_of_frames(profile: &Profile) -> (Vec<usize>, Vec<FunctionStats>) {
    let mut keys: HashMap<(FrameKind, &str, &str), usize, foldhash::fast::FixedState> =
        HashMap::default();
    let mut functions: Vec<FunctionStats> = Vec::new();
    let frame_fn = profile
        .frames
        .iter()
        .map(|f| {
            let place = match f.kind {
                FrameKind::Python => f.file.as_str(),
                FrameKind::Native => f.module.as_deref().unwrap_or(&f.file),
            };
            *keys
                .entry((f.kind, place, f.display_name()))
                .or_insert_with(|| {
                    functions.push(FunctionStats {
                        name: f.display_name().to_owned(),
                        module: f.module.clone(),
                        file: f.file.clone(),
                        first_line: f.first_line,
                        kind: f.kind,
                        self_weight: 0,
                        inclusive_weight: 0,
                        native_weight: 0.0,
                        native_evidence: Vec::new(),
                        calls: None,
                    });
                    functions.len() - 1
                })
        })
        .collect();
    (frame_fn, functions)
}

/// What the `--native` pass saw under each innermost Python frame.
fn native_pass_evidence(profile: &Profile, rules: &Rules) -> HashMap<FrameId, NativeEvidence> {
    let mut out: HashMap<FrameId, NativeEvidence> = HashMap::new();
    // Whether the samples say which thread held the GIL at all.
    let gil_known = profile.native_stacks.iter().any(|s| s.gil);
    for stack in &profile.native_stacks {
        let Some(py) = stack
            .frames
            .iter()
            .rposition(|&f| profile.frames[f as usize].kind == FrameKind::Python)
        else {
            continue;
        };
        let below = &stack.frames[py + 1..];
        // A thread waiting for the GIL waits in the interpreter loop itself (`take_gil`,
        // inlined, then a condition variable or a futex straight in the C library): no native
        // work, and no Python work either. Native work without the GIL (zlib, hashing, I/O)
        // runs in an extension or libpython first.
        let first_native = below.first().map(|&f| &profile.frames[f as usize]);
        let waits_for_gil = first_native.is_some_and(|f| {
            is_gil_wait_symbol(&f.name)
                || (gil_known
                    && !stack.gil
                    && f.module.as_deref().is_some_and(|m| m.starts_with("libc.")))
        });
        if waits_for_gil {
            continue;
        }
        let e = out.entry(stack.frames[py]).or_default();
        e.total += stack.weight;
        // The cyclic garbage collector runs because interpreted code allocated Python
        // objects: its time goes with that code (a port keeping its data in Rust has none),
        // not with the native code a port keeps calling.
        let gc_at = below
            .iter()
            .position(|&f| is_gc_symbol(&profile.frames[f as usize].name));
        if gc_at.is_some() {
            e.gc += stack.weight;
        }
        // A collection an extension's allocations set off (a C decoder building objects)
        // stays with that extension.
        let by_interpreted_code = gc_at.is_some_and(|at| {
            below[..at].iter().all(|&f| {
                is_interpreter_module(profile.frames[f as usize].module.as_deref().unwrap_or(""))
            })
        });
        if by_interpreted_code || below.is_empty() {
            continue;
        }
        // The interpreter's own C code, running the bytecode of this frame (comparing two
        // strings, looking up a key), is interpreted time: the first frame that is not the
        // machinery of a call decides.
        // Below a native function's per-call set-up (`Call`), the C library's allocator and a
        // yield of the core are that set-up too: the state a regex match allocates and frees
        // on every call, BLAS's threads woken for a tiny matrix.
        let mut in_call = false;
        let native = below
            .iter()
            .enumerate()
            .find_map(|(i, &f)| {
                let frame = &profile.frames[f as usize];
                match rules.interpreter_role(&frame.name, frame.module.as_deref().unwrap_or("")) {
                    Some(InterpreterRole::Dispatch) => None,
                    Some(InterpreterRole::Call) => {
                        in_call = true;
                        None
                    }
                    Some(InterpreterRole::Work) => Some(false),
                    None => Some(
                        !(in_call
                            && below[i + 1..]
                                .iter()
                                .any(|&g| is_call_overhead(&profile.frames[g as usize]))),
                    ),
                }
            })
            .unwrap_or(false);
        if native {
            e.native += stack.weight;
            let leaf = &profile.frames[*below.last().expect("not empty") as usize];
            *e.symbols.entry(leaf.name.clone()).or_default() += stack.weight;
            if leaf.module.as_deref().is_some_and(is_math_library) {
                e.math += stack.weight;
            }
        }
    }
    out
}

/// The native pass's samples under each measured `[[native]]` rule (by its reason), added up
/// over the frames of the functions it names.
fn pooled_evidence(
    profile: &Profile,
    evidence: &HashMap<FrameId, NativeEvidence>,
    rules: &Rules,
) -> HashMap<String, NativeEvidence> {
    let mut out: HashMap<String, NativeEvidence> = HashMap::new();
    for (&id, e) in evidence {
        let Some(f) = native_function(&profile.frames[id as usize], rules).filter(|f| f.measured)
        else {
            continue;
        };
        let pool = out.entry(f.reason).or_default();
        pool.total += e.total;
        pool.native += e.native;
        pool.math += e.math;
        pool.gc += e.gc;
        for (symbol, n) in &e.symbols {
            *pool.symbols.entry(symbol.clone()).or_default() += n;
        }
    }
    out
}

/// The first native frame under a Python frame whose thread waits for the GIL.
fn is_gil_wait_symbol(name: &str) -> bool {
    matches!(
        name,
        "take_gil"
            | "drop_gil"
            | "PyEval_RestoreThread"
            | "PyEval_AcquireThread"
            | "PyCOND_TIMEDWAIT"
            | "pthread_cond_timedwait"
            | "pthread_cond_wait"
            | "__pthread_cond_timedwait"
            | "__pthread_cond_wait"
    )
}

/// Whether a native frame's module is the interpreter itself (or the C library under it), not
/// an extension.
fn is_interpreter_module(module: &str) -> bool {
    crate::rules::is_interpreter_module(module)
        || module.starts_with("libc.")
        || module.starts_with("libc-")
        || module.starts_with("ld-linux")
}

/// What a native call does around its work rather than as it, wherever it is called from:
/// the C library's allocator (malloc, free and the internals named or bare below them), and a
/// thread giving up its core while it waits for others (OpenBLAS's threads, woken on every
/// call, finish a 2x2 inverse in less time than it takes to wake them).
fn is_call_overhead(frame: &Frame) -> bool {
    let module = frame.module.as_deref().unwrap_or("");
    (module.starts_with("libc.") || module.starts_with("libc-"))
        && matches!(
            frame.name.as_str(),
            "sched_yield"
                | "__sched_yield"
                | "malloc"
                | "free"
                | "cfree"
                | "realloc"
                | "calloc"
                | "__libc_malloc"
                | "__libc_free"
                | "__libc_realloc"
                | "__libc_calloc"
                | "_int_malloc"
                | "_int_free"
                | "_int_realloc"
                | "malloc_consolidate"
        )
}

/// The C library's math (`libm.so.6`): sin, pow, exp, called once per element.
fn is_math_library(module: &str) -> bool {
    module.starts_with("libm.") || module.starts_with("libm-")
}

fn is_gc_symbol(name: &str) -> bool {
    name.starts_with("gc_collect") || name == "collect" || name.starts_with("_PyGC_Collect")
}

/// The native fraction of a leaf frame's self time, with the evidence that decided it.
/// The native fraction of a line's self time, why, and how sure the native pass is of it.
struct LeafNative {
    fraction: f64,
    reason: Option<String>,
    /// The binomial variance of `fraction` when it is the native pass's ratio; 0 when it is
    /// known (a native frame, a rule) or nothing was seen.
    variance: f64,
    /// Of `fraction`, the part the pass saw in the C library's math.
    math: f64,
}

impl LeafNative {
    fn known(reason: String) -> Self {
        LeafNative {
            fraction: 1.0,
            reason: Some(reason),
            variance: 0.0,
            math: 0.0,
        }
    }
}

/// Why all of a function's time is native, when it is: a native frame, or a function the
/// rules know. The same for every frame of the function.
#[derive(Clone)]
struct NativeFunction {
    reason: String,
    /// The rule's native code shows to the native pass, which decides where it saw the frame.
    measured: bool,
}

fn native_function(frame: &Frame, rules: &Rules) -> Option<NativeFunction> {
    if frame.kind == FrameKind::Native {
        return Some(NativeFunction {
            reason: format!("native frame {}", frame.name),
            measured: false,
        });
    }
    let module = frame.module.as_deref().unwrap_or("");
    let rule = rules.native_function(module, frame.display_name())?;
    Some(NativeFunction {
        reason: format!("{} (rules: {})", rule.what, rule.example),
        measured: rule.measured,
    })
}

/// The rule of each leaf frame whose line calls what a rule knows as native (`w.dot(x)`,
/// numpy's), by frame id; empty when no line matches (a fleet's profiles have no source lines at
/// all: then no stack is walked). A line the sampled stacks show calling a Python function of
/// the callee's name outside the rule's package instead (`cp.dot(ray.vector)`, a ray tracer's
/// own `Vector.dot`) has none: the rule is not about it.
fn line_rules<'r>(
    profile: &Profile,
    leaf_weight: &[u64],
    rules: &'r Rules,
) -> Vec<Option<&'r NativeCallRule>> {
    let mut matched: Vec<Option<&NativeCallRule>> = Vec::new();
    for (leaf, _) in leaf_weight.iter().enumerate().filter(|(_, &w)| w > 0) {
        let frame = &profile.frames[leaf];
        let Some(rule) = frame
            .code
            .as_deref()
            .filter(|_| frame.kind == FrameKind::Python && !is_inner_expression(&frame.name))
            .and_then(|c| rules.native_call_on_line(c))
        else {
            continue;
        };
        if matched.is_empty() {
            matched = vec![None; profile.frames.len()];
        }
        matched[leaf] = Some(rule);
    }
    if matched.is_empty() {
        return matched;
    }
    for stack in &profile.stacks {
        for pair in stack.frames.windows(2) {
            let caller = pair[0] as usize;
            let called = &profile.frames[pair[1] as usize];
            if matched[caller].is_some_and(|rule| calls_namesake(rule, called)) {
                matched[caller] = None;
            }
        }
    }
    matched
}

/// Whether a frame runs an expression nested in its line (a generator expression, a
/// comprehension, a lambda): its line's text is the outer line's, `sum(...)` and all, but what
/// it executes is the inner expression, in Python.
fn is_inner_expression(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    matches!(
        last,
        "<genexpr>" | "<listcomp>" | "<setcomp>" | "<dictcomp>" | "<lambda>"
    )
}

/// Whether `called` is a Python function of `rule`'s callee name outside the package the rule
/// is about: `json.loads` is about json (its own Python wrapper is what the rule means),
/// `w.dot(x)` about numpy (its hint), `sorted` about no package, so any Python `sorted` is
/// another.
fn calls_namesake(rule: &NativeCallRule, called: &Frame) -> bool {
    let package = rule
        .module_hint
        .as_deref()
        .or_else(|| rule.callee.rsplit_once('.').map(|(module, _)| module))
        .and_then(|m| m.split('.').next());
    let in_package = package.is_some_and(|p| {
        called
            .module
            .as_deref()
            .is_some_and(|m| m.split('.').next() == Some(p))
    });
    called.kind == FrameKind::Python
        && called.name.rsplit('.').next() == rule.callee.rsplit('.').next()
        && !in_package
}

/// The native fraction of a leaf frame's self time, given what its function is
/// ([`native_function`]) and the rule its line's call matches ([`line_rules`]).
fn native_fraction(
    frame: &Frame,
    function: Option<&NativeFunction>,
    evidence: Option<&NativeEvidence>,
    line_rule: Option<&NativeCallRule>,
) -> LeafNative {
    let seen = evidence.is_some_and(|e| e.total >= MIN_NATIVE_PASS_SAMPLES);
    if let Some(f) = function.filter(|f| !(f.measured && seen)) {
        return LeafNative::known(f.reason.clone());
    }
    if let Some(rule) = line_rule.filter(|r| !(r.measured && seen)) {
        // py-spy's unwinder hides the interpreter's own C frames (all but those named time*,
        // os*, sys*, gc*, unicode*, thread*, stringio*, sre* and lock*): sorted(), sum() and
        // pow() on big ints leave no native frame, so a line that calls a known native
        // function counts as native even when the native pass saw nothing below it.
        return LeafNative::known(format!(
            "line {} calls {} ({})",
            frame.line.unwrap_or(0),
            rule.callee,
            rule.what
        ));
    }
    match evidence.filter(|e| e.total >= MIN_NATIVE_PASS_SAMPLES && e.native > 0) {
        Some(e) => {
            let top = e
                .symbols
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(s, _)| s.clone())
                .unwrap_or_default();
            let n = e.total as f64;
            let p = e.native as f64 / n;
            // The ratio's variance from a smoothed ratio, (k + 1/2) / (n + 1): a line whose
            // few samples were all native is not known to be wholly native (p(1-p)/n would
            // say it is, exactly), and the interpreted part of a line calling C is small but
            // real.
            let smoothed = (e.native as f64 + 0.5) / (n + 1.0);
            LeafNative {
                fraction: p,
                reason: Some(format!("native frames under it ({top})")),
                variance: smoothed * (1.0 - smoothed) / n,
                math: e.math as f64 / n,
            }
        }
        None => LeafNative {
            fraction: 0.0,
            reason: None,
            variance: 0.0,
            math: 0.0,
        },
    }
}

/// Attaches the probe's counts to the functions it watched.
fn attach_probe_counts(profile: &Profile, functions: &mut [FunctionStats]) {
    let Some(probe) = &profile.probe else {
        return;
    };
    for f in functions.iter_mut().filter(|f| f.kind == FrameKind::Python) {
        if let Some(p) = profile.probed_function(&f.file, &f.name) {
            let counted = probe.seconds - p.counted_since;
            if let (true, Some(before), Some(sampled)) =
                (p.counted_since > 0.0, p.sampled_before, p.sampled)
            {
                f.calls = late_count(p, before, sampled);
                continue;
            }
            f.calls = Some(if p.counted_since > 0.0 && counted > 0.0 && p.calls > 1 {
                // Counted only since it became a candidate (Python before 3.12): the whole
                // run's count at the same rate, its uncertainty growing with the part guessed.
                let scale = probe.seconds / counted;
                let count = (p.calls as f64 * scale).round() as u64;
                Calls {
                    count,
                    exact: false,
                    error: ((p.calls_error as f64 * scale).powi(2)
                        + (0.25 * (count - p.calls) as f64).powi(2))
                    .sqrt()
                    .round() as u64,
                }
            } else {
                // Sampled, so called at least once, even if that call began before counting.
                Calls {
                    count: p.calls.max(1),
                    exact: p.calls_exact && p.calls > 0,
                    error: p.calls_error,
                }
            });
        }
    }
}

/// The whole run's calls of a function counted only from late in the run, when the samples
/// place the start of counting: the count covers the time sampled after it, and is scaled by
/// the time sampled in all. Unknown when no sample fell after the start: every call of it
/// ended before it was counted.
fn late_count(p: &ProbedFunction, before: u64, sampled: u64) -> Option<Calls> {
    let after = sampled.saturating_sub(before);
    if after == 0 {
        return None;
    }
    if p.calls == 0 {
        // Sampled while counted yet no call counted: one call that began before counting.
        return Some(Calls {
            count: 1,
            exact: false,
            error: 0,
        });
    }
    let scale = sampled as f64 / after as f64;
    let count = (p.calls as f64 * scale).round() as u64;
    // The calls before counting are the counted ones times before/after, two Poisson counts
    // of samples: that ratio's relative noise is sqrt(1/before + 1/after). And the estimate's
    // own, for a function counted in windows.
    let guessed = if before == 0 {
        0.0
    } else {
        p.calls as f64
            * (before as f64 / after as f64)
            * (1.0 / before as f64 + 1.0 / after as f64).sqrt()
    };
    let error = ((p.calls_error as f64 * scale).powi(2) + guessed.powi(2))
        .sqrt()
        .round() as u64;
    Some(Calls {
        count,
        exact: false,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::test_support::draws;
    use crate::profile::{Frame, Meta, ProfileBuilder};

    fn py(name: &str, line: u32) -> Frame {
        Frame {
            name: name.into(),
            qualname: None,
            file: "m.py".into(),
            first_line: None,
            line: Some(line),
            module: None,
            kind: FrameKind::Python,
            code: None,
        }
    }

    #[test]
    fn a_late_count_is_scaled_by_the_time_sampled_after_it_began() {
        let probed = |calls| ProbedFunction {
            calls,
            counted_since: 1.5,
            ..ProbedFunction::default()
        };
        // 1,000 calls counted over the last quarter of its samples: 4,000 in all.
        let c = late_count(&probed(1000), 75, 100).unwrap();
        assert_eq!((c.count, c.exact), (4000, false));
        assert!(c.error > 0 && c.error < c.count, "{c:?}");
        // Counted from its first sample on: the count as it is.
        assert_eq!(late_count(&probed(1000), 0, 100).unwrap().count, 1000);
        // Sampled while counted, no call counted: one long call that began before.
        assert_eq!(late_count(&probed(0), 60, 100).unwrap().count, 1);
        // Never sampled after counting began: its calls all ended before, so unknown.
        assert_eq!(late_count(&probed(0), 100, 100), None);
    }

    #[test]
    fn a_profile_added_up_on_two_cores_counts_as_one_added_up_on_one() {
        // More stacks than cores::PARALLEL_STACKS, with recursion and idle stacks: each function's
        // weights against a count made stack by stack.
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let frames: Vec<FrameId> = (0..40)
            .map(|i| b.intern_frame(py(&format!("f{}", i % 25), i)))
            .collect();
        let mut next = draws(11);
        let mut expected: HashMap<String, (u64, u64)> = HashMap::new();
        let mut total = 0;
        for _ in 0..(cores::PARALLEL_STACKS * 2) {
            let depth = 3 + next(8) as usize;
            let stack: Vec<FrameId> = (0..depth).map(|_| frames[next(40) as usize]).collect();
            let idle = next(10) == 0;
            let weight = 1 + next(5);
            for _ in 0..weight {
                b.add_stack(t, stack.clone(), idle, true, false);
            }
            if idle {
                continue;
            }
            total += weight;
            let names: std::collections::HashSet<String> =
                stack.iter().map(|&f| format!("f{}", f % 25)).collect();
            for name in names {
                expected.entry(name).or_default().1 += weight;
            }
            let leaf = format!("f{}", stack.last().unwrap() % 25);
            expected.entry(leaf).or_default().0 += weight;
        }
        let p = b.to_profile(Meta::default());
        assert!(p.stacks.len() >= cores::PARALLEL_STACKS);
        let a = analyze(&p, &AnalyzeOptions::default());
        assert_eq!(a.total_weight, total);
        assert_eq!(a.functions.len(), expected.len());
        for f in &a.functions {
            assert_eq!(
                (f.self_weight, f.inclusive_weight),
                expected[&f.name],
                "{}",
                f.name
            );
        }
    }

    #[test]
    fn self_and_inclusive_count_recursion_once() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(py("main", 1));
        let fib_a = b.intern_frame(py("fib", 5));
        let fib_b = b.intern_frame(py("fib", 6));
        for _ in 0..3 {
            b.add_stack(t, vec![main, fib_a, fib_b, fib_a], false, true, false);
        }
        b.add_stack(t, vec![main], false, true, false);
        b.add_stack(t, vec![main], true, false, false);
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        assert_eq!(a.total_weight, 4);
        let fib = a.find("fib").unwrap();
        assert_eq!((fib.self_weight, fib.inclusive_weight), (3, 3));
        let main = a.find("main").unwrap();
        assert_eq!((main.self_weight, main.inclusive_weight), (1, 4));
        let with_idle = analyze(
            &p,
            &AnalyzeOptions {
                include_idle: true,
                ..AnalyzeOptions::default()
            },
        );
        assert_eq!(with_idle.find("main").unwrap().inclusive_weight, 5);
    }

    #[test]
    fn the_interpreters_own_c_code_is_interpreted_time() {
        const LIBPYTHON: &str = "libpython3.12.so.1.0";
        /// A Python line's function, the native frames (symbol, module) the pass saw below it,
        /// and its native share.
        type Case = (&'static str, &'static [(&'static str, &'static str)], f64);
        // The lines call nothing the rules know: the pass alone decides.
        const NUMPY: &str = "_multiarray_umath.cpython-311-x86_64-linux-gnu.so";
        const MATH: &str = "math.cpython-311-x86_64-linux-gnu.so";
        const ARRAY: &str = "array.cpython-311-x86_64-linux-gnu.so";
        let cases: [Case; 18] = [
            // `"a" <= ch`: the interpreter compares two strings (and memcmp in libc under it).
            (
                "compare",
                &[
                    ("unicode_compare", LIBPYTHON),
                    ("0x7f2843781961", "libc.so.6"),
                ],
                0.0,
            ),
            // A method call: the call machinery passes on to list.append, the interpreter's.
            (
                "append",
                &[
                    ("method_vectorcall_O", LIBPYTHON),
                    ("list_append", LIBPYTHON),
                ],
                0.0,
            ),
            // The same machinery into a regex match: native work, though inside libpython.
            (
                "match",
                &[
                    ("method_vectorcall_FASTCALL_KEYWORDS", LIBPYTHON),
                    ("_sre_SRE_Pattern_match", LIBPYTHON),
                    ("sre_ucs1_match", LIBPYTHON),
                ],
                1.0,
            ),
            // sum() loops over the list in C, adding with the interpreter's own addition.
            (
                "total",
                &[("builtin_sum", LIBPYTHON), ("PyNumber_Add", LIBPYTHON)],
                1.0,
            ),
            // The thread-state lookup of 3.13, straight below the Python frame.
            ("tls", &[("__tls_get_addr", "ld-linux-x86-64.so.2")], 0.0),
            // A system call through a named C function, and one an extension makes.
            ("read", &[("read", "libc.so.6")], 1.0),
            ("ext", &[("list_append", "_hashlib.cpython-312.so")], 1.0),
            // numpy on 3-element arrays: its per-call machinery, which a port does not do
            // (stacks of the native pass on a per-particle update, numpy 1.26).
            (
                "resolve",
                &[
                    ("array_add", NUMPY),
                    ("ufunc_generic_fastcall", NUMPY),
                    ("resolve_descriptors", NUMPY),
                    ("simple_legacy_resolve_descriptors", NUMPY),
                    ("ensure_native_byteorder", NUMPY),
                ],
                0.0,
            ),
            (
                "free",
                &[
                    ("array_dealloc", NUMPY),
                    ("PyDataMem_UserFREE", NUMPY),
                    ("0x7f545c18c09e", "libc.so.6"),
                ],
                0.0,
            ),
            // numpy on 400,000-element arrays: a typed loop and a copy under the same entry
            // points, and an indexing function no rule names, are native.
            (
                "loop",
                &[
                    ("array_subtract", NUMPY),
                    ("ufunc_generic_fastcall", NUMPY),
                    ("execute_ufunc_loop", NUMPY),
                    ("generic_wrapped_legacy_loop", NUMPY),
                    ("DOUBLE_subtract_FMA3__AVX2", NUMPY),
                ],
                1.0,
            ),
            (
                "copy",
                &[
                    ("array_subtract", NUMPY),
                    ("ufunc_generic_fastcall", NUMPY),
                    ("execute_ufunc_loop", NUMPY),
                    ("npyiter_buffered_iternext", NUMPY),
                    ("_contig_to_contig", NUMPY),
                    ("0x7fa3b5b8b874", "libc.so.6"),
                ],
                1.0,
            ),
            (
                "index",
                &[("array_subscript", NUMPY), ("prepare_index", NUMPY)],
                1.0,
            ),
            (
                "blas",
                &[
                    ("dispatcher_vectorcall", NUMPY),
                    ("array_matrixproduct", NUMPY),
                    ("PyArray_MatrixProduct2", NUMPY),
                    ("cblas_matrixproduct", NUMPY),
                    ("gemv", NUMPY),
                    ("cblas_sgemv64_", "libopenblas64_p-r0-0cf96a72.3.23.dev.so"),
                ],
                1.0,
            ),
            // `sin(i)`: the math module's wrapper converts and boxes (interpreted), the C
            // library's sin under it is native (pyperformance's float benchmark, 3.11), and
            // so is a math function that loops in C.
            (
                "wrapper",
                &[
                    ("math_sin", MATH),
                    ("math_1", MATH),
                    ("math_1_to_whatever", MATH),
                ],
                0.0,
            ),
            (
                "libm",
                &[
                    ("math_cos", MATH),
                    ("math_1", MATH),
                    ("math_1_to_whatever", MATH),
                    ("0x7fa07bea42db", "libm.so.6"),
                ],
                1.0,
            ),
            ("fsum", &[("math_fsum", MATH)], 1.0),
            // `x[col[i]]` on an array('d'): one element boxed (pyperformance's scimark sparse
            // matrix product); making an array from an iterable loops in C.
            (
                "element",
                &[("array_subscr", ARRAY), ("getarrayitem", ARRAY)],
                0.0,
            ),
            (
                "build",
                &[
                    ("array_new", ARRAY),
                    ("array_iter_extend", ARRAY),
                    ("BB_setitem", ARRAY),
                ],
                1.0,
            ),
        ];
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(frame("main", "app", 3, "run()", FrameKind::Python));
        let mut lines = Vec::new();
        for (i, (name, below, _)) in cases.iter().enumerate() {
            let line = 10 + i as u32;
            let py = b.intern_frame(frame(name, "app", line, "x = step(y)", FrameKind::Python));
            lines.push(py);
            let mut native = vec![main, py];
            native.extend(below.iter().map(|&(symbol, module)| {
                b.intern_frame(frame(symbol, module, 0, "", FrameKind::Native))
            }));
            for _ in 0..4 {
                b.add_stack(t, vec![main, py], false, true, false);
                b.add_stack(t, native.clone(), false, true, true);
            }
        }
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        for (name, _, native) in &cases {
            assert_eq!(a.find(name).unwrap().native_share(), *native, "{name}");
        }
        // Of those, only the C library's sin is the C library's math, which a port calls
        // faster (`native_math_in_port`).
        let math: Vec<&str> = cases
            .iter()
            .zip(&lines)
            .filter(|(_, line)| a.leaf_native_math.get(line) == Some(&1.0))
            .map(|((name, _, _), _)| *name)
            .collect();
        assert_eq!(math, ["libm"]);
        assert_eq!(a.leaf_native_math.len(), 1);
    }

    #[test]
    fn a_generator_expression_inside_a_native_call_runs_python() {
        // As in pyperformance's hexiom (`possible = sum(... for cell in done.cells)`): the
        // generator's frame has the line's text, the native call and all, but runs the
        // generator's body; the call's own work (here sorted's) is the outer frame's.
        let code = "ranked = sorted((len(cell), v) for cell in done.cells)";
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(frame("main", "app", 3, "run()", FrameKind::Python));
        let outer = b.intern_frame(frame("count", "app", 10, code, FrameKind::Python));
        let inner = b.intern_frame(frame(
            "count.<locals>.<genexpr>",
            "app",
            10,
            code,
            FrameKind::Python,
        ));
        for _ in 0..3 {
            b.add_stack(t, vec![main, outer, inner], false, true, false);
        }
        b.add_stack(t, vec![main, outer], false, true, false);
        let a = analyze(&b.to_profile(Meta::default()), &AnalyzeOptions::default());
        assert_eq!(
            a.find("count.<locals>.<genexpr>").unwrap().native_share(),
            0.0
        );
        assert_eq!(a.find("count").unwrap().native_share(), 0.25);
    }

    #[test]
    fn a_numpy_call_the_native_pass_saw_is_measured_not_assumed() {
        const NUMPY: &str = "_multiarray_umath.cpython-311-x86_64-linux-gnu.so";
        const BLAS: &str = "libopenblas64_p-r0-0cf96a72.3.23.dev.so";
        let entry = [
            ("dispatcher_vectorcall", NUMPY),
            ("array_matrixproduct", NUMPY),
            ("PyArray_MatrixProduct2", NUMPY),
        ];
        // `np.dot` on 3-vectors: the pass sees numpy allocating the result; on large
        // matrices, BLAS; where the pass saw nothing, the rule stands.
        type Case = (&'static str, Option<(&'static str, &'static str)>, f64);
        let cases: [Case; 3] = [
            ("small", Some(("PyArray_NewFromDescr_int", NUMPY)), 0.0),
            ("large", Some(("dgemm_kernel_HASWELL", BLAS)), 1.0),
            ("unseen", None, 1.0),
        ];
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(frame("main", "app", 3, "run()", FrameKind::Python));
        for (i, (name, leaf, _)) in cases.iter().enumerate() {
            let code = "y = np.dot(w, x)";
            let py = b.intern_frame(frame(name, "app", 10 + i as u32, code, FrameKind::Python));
            for _ in 0..4 {
                b.add_stack(t, vec![main, py], false, true, false);
            }
            if let Some(leaf) = leaf {
                let mut native = vec![main, py];
                for &(symbol, module) in entry.iter().chain(std::iter::once(leaf)) {
                    native.push(b.intern_frame(frame(symbol, module, 0, "", FrameKind::Native)));
                }
                for _ in 0..2 {
                    b.add_stack(t, native.clone(), false, true, true);
                }
            }
        }
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        for (name, _, native) in &cases {
            assert_eq!(a.find(name).unwrap().native_share(), *native, "{name}");
        }
    }

    /// Native frames, innermost last: (symbol, module).
    type NativeFrames<'a> = &'a [(&'a str, &'a str)];

    /// A profile of one Python function per case (name, source line, the native frames the
    /// pass saw under it), each on its own line, sampled 4 times by the time sampler and twice
    /// by the native pass.
    fn cases_under_native(cases: &[(&str, &str, NativeFrames)]) -> Analysis {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(frame("main", "app", 3, "run()", FrameKind::Python));
        for (i, (name, code, below)) in cases.iter().enumerate() {
            let py = b.intern_frame(frame(name, "app", 10 + i as u32, code, FrameKind::Python));
            for _ in 0..4 {
                b.add_stack(t, vec![main, py], false, true, false);
            }
            let mut native = vec![main, py];
            for &(symbol, module) in below.iter() {
                native.push(b.intern_frame(frame(symbol, module, 0, "", FrameKind::Native)));
            }
            for _ in 0..2 {
                b.add_stack(t, native.clone(), false, true, true);
            }
        }
        analyze(&b.to_profile(Meta::default()), &AnalyzeOptions::default())
    }

    #[test]
    fn a_regex_matchs_set_up_is_interpreted_and_its_matching_native() {
        const PY: &str = "libpython3.11.so.1.0";
        const LIBC: &str = "libc.so.6";
        let code = "m = rexmatch(text, pos)";
        let entry = ("_sre_SRE_Pattern_match", PY);
        // A lexer's short matches: the entry point's own time (its state set up, the Match
        // object made) and the backtracking stack allocated and freed under it, whether
        // straight below it or under the match loop, are what a compiled regex does not do
        // per call; the match loop itself stays native.
        let cases: [(&str, &str, NativeFrames); 5] = [
            ("set_up", code, &[entry]),
            (
                "freed",
                code,
                &[entry, ("free", LIBC), ("0x7fb2edeaa72c", LIBC)],
            ),
            (
                "grown",
                code,
                &[entry, ("sre_ucs1_match", PY), ("malloc", LIBC)],
            ),
            ("matching", code, &[entry, ("sre_ucs1_match", PY)]),
            (
                "searching",
                "m = pattern.search(text)",
                &[("_sre_SRE_Pattern_search", PY), ("sre_ucs1_search", PY)],
            ),
        ];
        let a = cases_under_native(&cases);
        for (name, native) in [
            ("set_up", 0.0),
            ("freed", 0.0),
            ("grown", 0.0),
            ("matching", 1.0),
            ("searching", 1.0),
        ] {
            assert_eq!(a.find(name).unwrap().native_share(), native, "{name}");
        }
    }

    #[test]
    fn blas_threads_woken_for_a_tiny_matrix_are_call_overhead() {
        const NUMPY: &str = "_multiarray_umath.cpython-311-x86_64-linux-gnu.so";
        const BLAS: &str = "libopenblas64_p-r0-0cf96a72.3.23.dev.so";
        const LIBC: &str = "libc.so.6";
        let code = "ainv = _umath_linalg.inv(a, signature=signature, extobj=extobj)";
        let gufunc: [(&str, &str); 2] = [
            ("ufunc_generic_fastcall", NUMPY),
            ("generic_wrapped_legacy_loop", NUMPY),
        ];
        let waiting = [
            gufunc[0],
            gufunc[1],
            ("inv<double>", "_umath_linalg.so"),
            ("inner_thread", BLAS),
            ("sched_yield", LIBC),
        ];
        let working = [
            gufunc[0],
            gufunc[1],
            ("inv<double>", "_umath_linalg.so"),
            ("dgetrf_single", BLAS),
        ];
        // Outside a native call's set-up, a yield is whatever the program asked for.
        let yielding = [("sched_yield", LIBC)];
        let a = cases_under_native(&[
            ("waiting", code, &waiting),
            ("working", code, &working),
            ("yielding", "os.sched_yield()", &yielding),
        ]);
        for (name, native) in [("waiting", 0.0), ("working", 1.0), ("yielding", 1.0)] {
            assert_eq!(a.find(name).unwrap().native_share(), native, "{name}");
        }
    }

    #[test]
    fn numpys_python_functions_are_as_native_as_the_pass_saw_them() {
        const NUMPY: &str = "_multiarray_umath.cpython-311-x86_64-linux-gnu.so";
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(frame("main", "app", 3, "run()", FrameKind::Python));
        let numpy = |b: &mut ProfileBuilder, name: &str, line: u32| {
            b.intern_frame(frame(
                name,
                "numpy.linalg.linalg",
                line,
                "x = y",
                FrameKind::Python,
            ))
        };
        let (seen, unseen) = (numpy(&mut b, "inv", 561), numpy(&mut b, "_makearray", 110));
        for py in [seen, unseen] {
            for _ in 0..4 {
                b.add_stack(t, vec![main, py], false, true, false);
            }
        }
        // The pass saw `inv` 4 times: once in a typed loop, three times interpreting.
        let typed = b.intern_frame(frame("DOUBLE_add", NUMPY, 0, "", FrameKind::Native));
        b.add_stack(t, vec![main, seen, typed], false, true, true);
        for _ in 0..3 {
            b.add_stack(t, vec![main, seen], false, true, true);
        }
        let a = analyze(&b.to_profile(Meta::default()), &AnalyzeOptions::default());
        // What it saw decides for `inv`, and stands in for numpy's line it did not see.
        assert_eq!(a.find("inv").unwrap().native_share(), 0.25);
        assert_eq!(a.find("_makearray").unwrap().native_share(), 0.25);
    }

    fn frame(name: &str, module: &str, line: u32, code: &str, kind: FrameKind) -> Frame {
        Frame {
            name: name.into(),
            qualname: Some(name.into()),
            file: format!("{module}.py"),
            first_line: Some(1),
            line: Some(line),
            module: Some(module.into()),
            kind,
            code: Some(code.into()),
        }
    }

    #[test]
    fn line_times_include_callees_count_recursion_once_and_mark_native() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main_3 = b.intern_frame(frame("main", "app", 3, "scan()", FrameKind::Python));
        let main_5 = b.intern_frame(frame("main", "app", 5, "walk()", FrameKind::Python));
        let scan = b.intern_frame(frame(
            "scan",
            "app",
            9,
            "return len(WORD.findall(TEXT))",
            FrameKind::Python,
        ));
        let walk = b.intern_frame(frame("walk", "app", 12, "s += i", FrameKind::Python));
        for _ in 0..3 {
            b.add_stack(t, vec![main_3, scan], false, true, false);
        }
        b.add_stack(t, vec![main_5, walk], false, true, false);
        // main calling itself: the outer frame's line is where the time went.
        b.add_stack(t, vec![main_5, main_3, scan], false, true, false);
        b.add_stack(t, vec![main_5, walk], true, false, false);
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        let main = a.functions.iter().position(|f| f.name == "main").unwrap();
        let lines = a.line_times(&p, main, false);
        let got: Vec<(u32, u64, f64)> = lines
            .iter()
            .map(|l| (l.line, l.weight, l.native_weight))
            .collect();
        assert_eq!(got, vec![(3, 3, 3.0), (5, 2, 1.0)]);
        let with_idle = a.line_times(&p, main, true);
        assert_eq!(with_idle[1].weight, 3);
    }

    #[test]
    fn the_garbage_collector_counts_with_the_code_that_allocated() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let build = b.intern_frame(frame(
            "build",
            "app",
            5,
            "nodes.append(Node(x))",
            FrameKind::Python,
        ));
        let gc = b.intern_frame(frame("gc_collect_main", "python", 0, "", FrameKind::Native));
        for _ in 0..10 {
            b.add_stack(t, vec![build], false, true, false);
            b.add_stack(t, vec![build, gc], false, true, true);
        }
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        assert_eq!(a.find("build").unwrap().native_share(), 0.0);
        assert!(a.gc_weight > 9.0, "{}", a.gc_weight);
    }

    #[test]
    fn a_thread_waiting_for_the_gil_is_no_native_time() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let work = b.intern_frame(frame("work", "app", 5, "s += i % 7", FrameKind::Python));
        let wait = b.intern_frame(frame(
            "pthread_cond_timedwait",
            "libc.so.6",
            0,
            "",
            FrameKind::Native,
        ));
        // An unnamed function of the C library, straight under the interpreter loop, in a
        // thread without the GIL: a futex on the GIL's way.
        let futex = b.intern_frame(frame(
            "0x7f98e90abcae",
            "libc.so.6",
            0,
            "",
            FrameKind::Native,
        ));
        for _ in 0..10 {
            b.add_stack(t, vec![work], false, true, false);
            // The native pass: twenty of its samples waited for the GIL, one ran the line.
            b.add_stack(t, vec![work, wait], false, false, true);
            b.add_stack(t, vec![work, futex], false, false, true);
        }
        b.add_stack(t, vec![work], false, true, true);
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        assert_eq!(a.find("work").unwrap().native_share(), 0.0);
    }

    #[test]
    fn native_time_comes_from_rules_lines_and_the_native_pass() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(frame("main", "app", 3, "run()", FrameKind::Python));
        // A thin Python frame over C, known from the rules.
        let iterencode = b.intern_frame(frame(
            "JSONEncoder.iterencode",
            "json.encoder",
            250,
            "return _iterencode(o, 0)",
            FrameKind::Python,
        ));
        // A line whose text calls a C method.
        let scan = b.intern_frame(frame(
            "scan",
            "app",
            9,
            "return len(WORD.findall(TEXT))",
            FrameKind::Python,
        ));
        // A pure-Python line that the native pass saw in C half of the time.
        let mixed = b.intern_frame(frame(
            "mixed",
            "app",
            20,
            "total += helper(x)",
            FrameKind::Python,
        ));
        let c_fn = b.intern_frame(frame("c_helper", "ext.so", 0, "", FrameKind::Native));
        let pure = b.intern_frame(frame("loop", "app", 30, "s += i * i", FrameKind::Python));
        for _ in 0..4 {
            b.add_stack(t, vec![main, iterencode], false, true, false);
            b.add_stack(t, vec![main, scan], false, true, false);
            b.add_stack(t, vec![main, mixed], false, true, false);
            b.add_stack(t, vec![main, pure], false, true, false);
            b.add_stack(t, vec![main, mixed, c_fn], false, true, true);
            b.add_stack(t, vec![main, mixed], false, true, true);
        }
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        let share = |n: &str| a.find(n).unwrap().native_share();
        assert_eq!(share("JSONEncoder.iterencode"), 1.0);
        assert_eq!(share("scan"), 1.0);
        assert!((share("mixed") - 0.5).abs() < 1e-9);
        assert_eq!(share("loop"), 0.0);
        assert!((share("main") - 2.5 / 4.0).abs() < 1e-9);
        assert!(a.find("scan").unwrap().native_evidence[0].contains("findall"));
        assert_eq!(a.native_pass_samples, 8);
        let main_i = a.functions.iter().position(|f| f.name == "main").unwrap();
        let callees = a.call_edges(&p, false, |caller, _| caller == main_i);
        assert_eq!(callees.len(), 4);
        assert!(callees.iter().all(|e| e.weight == 4));
        let hot_line = a.lines.iter().find(|l| l.line == 9).unwrap();
        assert_eq!((hot_line.self_weight, hot_line.native_weight), (4, 4.0));
        // Only the pass's ratio is uncertain: 4 of its 8 samples of `mixed`'s line in C,
        // smoothed (4.5 / 9 = 1/2), 1/2 (1 - 1/2) / 8; rules and native frames are known.
        assert_eq!(a.leaf_native_variance.len(), 1);
        assert!((a.leaf_native_variance[&mixed] - 0.25 / 8.0).abs() < 1e-12);
    }

    #[test]
    fn a_line_the_native_pass_saw_twice_in_c_is_native_with_a_wide_error() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(frame("main", "app", 3, "run()", FrameKind::Python));
        let decode = b.intern_frame(frame(
            "detect",
            "app",
            12,
            "score = probe(chunk)",
            FrameKind::Python,
        ));
        let c_fn = b.intern_frame(frame("probe_impl", "cd.so", 0, "", FrameKind::Native));
        for _ in 0..20 {
            b.add_stack(t, vec![main, decode], false, true, false);
        }
        for _ in 0..2 {
            b.add_stack(t, vec![main, decode, c_fn], false, true, true);
        }
        let a = analyze(&b.to_profile(Meta::default()), &AnalyzeOptions::default());
        assert_eq!(a.find("detect").unwrap().native_share(), 1.0);
        // Smoothed 2.5 / 3, over 2 samples: a standard error of 0.26.
        let variance = a.leaf_native_variance[&decode];
        assert!((variance - (2.5 / 3.0) * (0.5 / 3.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn a_call_the_rules_know_is_not_native_when_it_calls_the_programs_namesake() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(frame("main", "app", 3, "run()", FrameKind::Python));
        // numpy's ndarray.dot, as the rules know it: C over BLAS.
        let project = b.intern_frame(frame(
            "project",
            "app",
            9,
            "y = w.dot(x)",
            FrameKind::Python,
        ));
        // A ray tracer's own Vector.dot, called from the same kind of line.
        let hit = b.intern_frame(frame(
            "intersect",
            "app",
            20,
            "v = cp.dot(ray.vector)",
            FrameKind::Python,
        ));
        let dot = b.intern_frame(frame(
            "Vector.dot",
            "app",
            40,
            "return self.x * o.x + self.y * o.y",
            FrameKind::Python,
        ));
        for _ in 0..4 {
            b.add_stack(t, vec![main, project], false, true, false);
            b.add_stack(t, vec![main, hit], false, true, false);
            b.add_stack(t, vec![main, hit, dot], false, true, false);
        }
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        let share = |n: &str| a.find(n).unwrap().native_share();
        assert_eq!(share("project"), 1.0);
        assert_eq!(share("intersect"), 0.0);
        assert_eq!(share("Vector.dot"), 0.0);
    }

    #[test]
    fn a_line_the_native_pass_saw_only_in_c_is_not_known_to_be_wholly_native() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let ratio = b.intern_frame(frame("ratio", "app", 7, "r = score(x)", FrameKind::Python));
        let c_fn = b.intern_frame(frame("score", "ext.so", 0, "", FrameKind::Native));
        for _ in 0..4 {
            b.add_stack(t, vec![ratio], false, true, false);
            b.add_stack(t, vec![ratio, c_fn], false, false, true);
        }
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        assert_eq!(a.find("ratio").unwrap().native_share(), 1.0);
        // 4 of 4 in C: the ratio stays 1, its variance that of (4 + 1/2) / 5 = 0.9 over 4
        // samples, not 0.
        assert!((a.leaf_native_variance[&ratio] - 0.9 * 0.1 / 4.0).abs() < 1e-12);
    }
}
