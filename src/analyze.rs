//! Analysis of a profile: per-function self, inclusive and native time, per-line time, who
//! calls whom, and the probe's call counts.
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

use crate::profile::{Frame, FrameId, FrameKind, ProbedFunction, Profile};
use crate::rules::{InterpreterRole, Rules};

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
    /// Caller-callee pairs with their inclusive weight, by callee: read through
    /// [`Analysis::callers`] and [`Analysis::callees`].
    calls: CallIndex,
    /// Estimated weight spent collecting garbage (seen only with `--native`).
    pub gc_weight: f64,
    /// Samples of the `--native` pass, the evidence behind native shares from native frames.
    pub native_pass_samples: u64,
    /// For each frame of the profile, its function (an index into `functions`), or `None` for
    /// frames of functions without counted samples.
    pub frame_function: Vec<Option<usize>>,
    /// For each frame seen as the innermost one, the native fraction of its self time.
    pub leaf_native: FxHashMap<FrameId, f64>,
    /// For each innermost frame whose native fraction is the native pass's ratio, the
    /// binomial variance of that ratio, p(1-p)/n over the pass's n samples of the line.
    pub leaf_native_variance: FxHashMap<FrameId, f64>,
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
                .and_then(|leaf| self.leaf_native.get(leaf))
                .copied()
                .unwrap_or(0.0);
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

    /// The callers of function `i`, heaviest first (then by caller).
    pub fn callers(&self, i: usize) -> Vec<CallEdge> {
        let mut v: Vec<CallEdge> = self.calls.of_callee(i).collect();
        v.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.caller.cmp(&b.caller)));
        v
    }

    /// The callees of function `i`, heaviest first (then by callee). Reads every pair: for
    /// the few functions a stub follows, not for a loop over all functions.
    pub fn callees(&self, i: usize) -> Vec<CallEdge> {
        let mut v: Vec<CallEdge> = (0..self.functions.len())
            .flat_map(|callee| self.calls.of_callee(callee))
            .filter(|e| e.caller == i)
            .collect();
        v.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.callee.cmp(&b.callee)));
        v
    }
}

/// Of the native pass's samples whose innermost Python frame is one frame: how many had
/// native frames below it, which ones, and how many were collecting garbage.
#[derive(Debug, Default)]
struct NativeEvidence {
    total: u64,
    native: u64,
    gc: u64,
    symbols: HashMap<String, u64>,
}

/// Below this many native-pass samples on a line, its native ratio is not trusted.
const MIN_NATIVE_PASS_SAMPLES: u64 = 3;

pub fn analyze(profile: &Profile, opts: &AnalyzeOptions) -> Analysis {
    let (frame_fn, mut functions) = functions_of_frames(profile);
    let frame_fn32: Vec<u32> = frame_fn.iter().map(|&f| f as u32).collect();
    // Who calls whom is gathered on another core meanwhile: on a fleet profile of random
    // paths it is as much work as the rest of the analysis.
    let n_functions = functions.len();
    std::thread::scope(|scope| {
        let calls =
            scope.spawn(|| CallIndex::build(profile, opts.include_idle, &frame_fn32, n_functions));
        let mut analysis = analyze_with(profile, opts, &frame_fn, &frame_fn32, &mut functions);
        let mut calls = calls.join().expect("the call index does not panic");
        calls.renumber(&analysis.renumbered);
        analysis.analysis.calls = calls;
        analysis.analysis
    })
}

/// An analysis, and the new place of each function in it.
struct Renumbered {
    analysis: Analysis,
    /// For each function of `functions_of_frames`, its index in the analysis (`usize::MAX`
    /// for none).
    renumbered: Vec<usize>,
}

fn analyze_with(
    profile: &Profile,
    opts: &AnalyzeOptions,
    frame_fn: &[usize],
    frame_fn32: &[u32],
    functions: &mut [FunctionStats],
) -> Renumbered {
    let evidence = native_pass_evidence(profile, &opts.rules);
    let native_pass_samples = profile.native_stacks.iter().map(|s| s.weight).sum();

    // Per leaf frame: the native fraction of its self time, and why.
    let mut leaf_native: FxHashMap<FrameId, LeafNative> = FxHashMap::default();
    let mut total = 0;
    let mut gc_weight = 0.0;
    let mut seen: Vec<u32> = vec![u32::MAX; functions.len()];
    let mut lines: FxHashMap<(usize, u32), LineStats> = FxHashMap::default();
    let mut why: Vec<HashMap<String, f64>> = vec![HashMap::new(); functions.len()];
    // Inclusive and native weights, apart from the functions' records: the loop over every
    // frame touches only these.
    let mut inclusive = vec![0u64; functions.len()];
    let mut native_of = vec![0f64; functions.len()];
    for (i, stack) in profile.stacks.iter().enumerate() {
        if stack.idle && !opts.include_idle {
            continue;
        }
        total += stack.weight;
        let Some(&leaf) = stack.frames.last() else {
            continue;
        };
        let LeafNative {
            fraction, reason, ..
        } = leaf_native.entry(leaf).or_insert_with(|| {
            native_fraction(
                &profile.frames[leaf as usize],
                evidence.get(&leaf),
                &opts.rules,
            )
        });
        let fraction = *fraction;
        if let Some(ev) = evidence
            .get(&leaf)
            .filter(|e| e.total >= MIN_NATIVE_PASS_SAMPLES)
        {
            gc_weight += stack.weight as f64 * ev.gc as f64 / ev.total as f64;
        }
        let native = stack.weight as f64 * fraction;
        let leaf_fn = frame_fn[leaf as usize];
        functions[leaf_fn].self_weight += stack.weight;
        if let Some(line) = profile.frames[leaf as usize].line {
            let entry = lines.entry((leaf_fn, line)).or_insert_with(|| LineStats {
                function: leaf_fn,
                line,
                code: profile.frames[leaf as usize].code.clone(),
                self_weight: 0,
                native_weight: 0.0,
            });
            entry.self_weight += stack.weight;
            entry.native_weight += native;
        }
        for &frame in &stack.frames {
            let f = frame_fn32[frame as usize] as usize;
            if seen[f] != i as u32 {
                seen[f] = i as u32;
                inclusive[f] += stack.weight;
                native_of[f] += native;
                if let Some(r) = &reason {
                    *why[f].entry(r.clone()).or_default() += native;
                }
            }
        }
    }
    for (f, (w, n)) in functions
        .iter_mut()
        .zip(inclusive.into_iter().zip(native_of))
    {
        f.inclusive_weight = w;
        f.native_weight = n;
    }
    for (f, reasons) in functions.iter_mut().zip(why) {
        let mut reasons: Vec<(String, f64)> = reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        f.native_evidence = reasons.into_iter().take(3).map(|(r, _)| r).collect();
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
    let sorted: Vec<FunctionStats> = order.iter().map(|&i| functions[i].clone()).collect();
    let mut lines: Vec<LineStats> = lines
        .into_values()
        .map(|mut l| {
            l.function = new_index[l.function];
            l
        })
        .collect();
    lines.sort_by(|a, b| {
        b.self_weight
            .cmp(&a.self_weight)
            .then(a.function.cmp(&b.function))
            .then(a.line.cmp(&b.line))
    });
    let frame_function = frame_fn
        .iter()
        .map(|&f| Some(new_index[f]).filter(|&i| i != usize::MAX))
        .collect();
    let leaf_native_variance = leaf_native
        .iter()
        .filter(|(_, n)| n.variance > 0.0)
        .map(|(&frame, n)| (frame, n.variance))
        .collect();
    let leaf_native = leaf_native
        .into_iter()
        .map(|(frame, n)| (frame, n.fraction))
        .collect();
    Renumbered {
        analysis: Analysis {
            total_weight: total,
            functions: sorted,
            lines,
            calls: CallIndex::default(),
            gc_weight,
            native_pass_samples,
            frame_function,
            leaf_native,
            leaf_native_variance,
        },
        renumbered: new_index,
    }
}

/// Caller-callee pairs by callee: for each callee, its callers ascending, each as a varint of
/// the gap from the one before, then its weight as a varint. A fleet profile of random paths
/// has as many distinct pairs as frames; so stored, a pair costs a few bytes.
#[derive(Debug, Clone, Default)]
struct CallIndex {
    /// Where each callee's pairs start in `bytes`; one more entry than functions.
    starts: Vec<usize>,
    bytes: Vec<u8>,
    /// The functions are numbered as before the analysis sorted them: for each function of
    /// the analysis, its number here, and back (`u32::MAX` for one not in the analysis).
    to_old: Vec<u32>,
    to_new: Vec<u32>,
}

/// Distinct pairs gathered in one hash map before the pairs are gathered by ranges of callees
/// instead, and pair sightings sorted at once in each range: about 50 MB either way.
const PAIRS_AT_ONCE: usize = 2_000_000;
const SIGHTINGS_AT_ONCE: usize = 3_000_000;

impl CallIndex {
    /// Each stack's caller-callee pairs (consecutive frames of two functions, counted once per
    /// stack even when recursion repeats them), weighted, of the stacks `include_idle` counts.
    fn build(profile: &Profile, include_idle: bool, frame_fn: &[u32], n: usize) -> CallIndex {
        let counted = || {
            profile
                .stacks
                .iter()
                .filter(move |s| include_idle || !s.idle)
        };
        let mut pairs: Vec<u64> = Vec::new();
        // The pairs of one stack, with callees in `lo..hi`, as `callee << 32 | caller`.
        let stack_pairs = |frames: &[FrameId], lo: u32, hi: u32, pairs: &mut Vec<u64>| {
            pairs.clear();
            let mut previous: Option<u32> = None;
            for &frame in frames {
                let f = frame_fn[frame as usize];
                if let Some(caller) = previous.filter(|&c| c != f && c != u32::MAX) {
                    if (lo..hi).contains(&f) && f != u32::MAX {
                        pairs.push(u64::from(f) << 32 | u64::from(caller));
                    }
                }
                previous = Some(f);
            }
            pairs.sort_unstable();
            pairs.dedup();
        };
        let mut out = CallIndex {
            starts: Vec::with_capacity(n + 1),
            bytes: Vec::new(),
            to_old: Vec::new(),
            to_new: Vec::new(),
        };
        // Most profiles have few distinct pairs: one pass, one map.
        let mut map: FxHashMap<u64, u64> = FxHashMap::default();
        let mut fits = true;
        for s in counted() {
            stack_pairs(&s.frames, 0, u32::MAX, &mut pairs);
            for &p in &pairs {
                *map.entry(p).or_default() += s.weight;
            }
            if map.len() > PAIRS_AT_ONCE {
                fits = false;
                break;
            }
        }
        if fits {
            let mut all: Vec<(u64, u64)> = map.into_iter().collect();
            drop(pairs);
            all.sort_unstable();
            out.append(&all, n as u32);
            out.finish(n);
            return out;
        }
        drop(map);
        // Many: sightings by callee, then ranges of callees of about SIGHTINGS_AT_ONCE
        // sightings each, every range a pass over the stacks, sorted and added up.
        let mut sightings = vec![0u64; n];
        for s in counted() {
            stack_pairs(&s.frames, 0, u32::MAX, &mut pairs);
            for &p in &pairs {
                sightings[(p >> 32) as usize] += 1;
            }
        }
        let mut lo = 0u32;
        while (lo as usize) < n {
            let mut hi = lo;
            let mut seen = 0u64;
            while (hi as usize) < n
                && (hi == lo || seen + sightings[hi as usize] <= SIGHTINGS_AT_ONCE as u64)
            {
                seen += sightings[hi as usize];
                hi += 1;
            }
            let mut range: Vec<(u64, u64)> = Vec::with_capacity(seen as usize);
            for s in counted() {
                stack_pairs(&s.frames, lo, hi, &mut pairs);
                range.extend(pairs.iter().map(|&p| (p, s.weight)));
            }
            range.sort_unstable_by_key(|&(p, _)| p);
            let mut summed: Vec<(u64, u64)> = Vec::with_capacity(range.len());
            for (p, w) in range {
                match summed.last_mut() {
                    Some(last) if last.0 == p => last.1 += w,
                    _ => summed.push((p, w)),
                }
            }
            out.append(&summed, hi);
            lo = hi;
        }
        out.finish(n);
        out
    }

    /// Adds pairs sorted by callee then caller, all of callees below `upto`, starting the
    /// lists of the callees up to it.
    fn append(&mut self, pairs: &[(u64, u64)], upto: u32) {
        let mut last_caller = 0u32;
        for &(p, w) in pairs {
            let (callee, caller) = ((p >> 32) as u32, p as u32);
            while self.starts.len() <= callee as usize {
                self.starts.push(self.bytes.len());
                last_caller = 0;
            }
            put_varint(&mut self.bytes, u64::from(caller - last_caller));
            put_varint(&mut self.bytes, w);
            last_caller = caller;
        }
        while self.starts.len() < upto as usize {
            self.starts.push(self.bytes.len());
        }
    }

    fn finish(&mut self, n: usize) {
        while self.starts.len() < n {
            self.starts.push(self.bytes.len());
        }
        self.starts.push(self.bytes.len());
        self.bytes.shrink_to_fit();
    }

    /// Takes the analysis' numbering of functions, `renumbered[old]` for each.
    fn renumber(&mut self, renumbered: &[usize]) {
        self.to_new = renumbered
            .iter()
            .map(|&i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        let n = renumbered.iter().filter(|&&i| i != usize::MAX).count();
        self.to_old = vec![u32::MAX; n];
        for (old, &new) in renumbered.iter().enumerate() {
            if new != usize::MAX {
                self.to_old[new] = old as u32;
            }
        }
    }

    /// The callers of `callee` (numbered as in the analysis).
    fn of_callee(&self, callee: usize) -> impl Iterator<Item = CallEdge> + '_ {
        let old = self.to_old.get(callee).map_or(usize::MAX, |&o| o as usize);
        let bytes = match (self.starts.get(old), self.starts.get(old.wrapping_add(1))) {
            (Some(&a), Some(&b)) => &self.bytes[a..b],
            _ => &[],
        };
        let mut at = 0;
        let mut caller = 0u64;
        std::iter::from_fn(move || {
            if at >= bytes.len() {
                return None;
            }
            caller += get_varint(bytes, &mut at);
            let weight = get_varint(bytes, &mut at);
            Some(CallEdge {
                caller: self
                    .to_new
                    .get(caller as usize)
                    .map_or(usize::MAX, |&c| c as usize),
                callee,
                weight,
            })
        })
        .filter(|e| e.caller != u32::MAX as usize && e.caller != usize::MAX)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = bytes.get(*at) {
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    v
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
        let native = below
            .iter()
            .find_map(|&f| {
                let frame = &profile.frames[f as usize];
                match rules.interpreter_role(&frame.name, frame.module.as_deref().unwrap_or("")) {
                    Some(InterpreterRole::Dispatch) => None,
                    Some(InterpreterRole::Work) => Some(false),
                    None => Some(true),
                }
            })
            .unwrap_or(false);
        if native {
            e.native += stack.weight;
            let leaf = &profile.frames[*below.last().expect("not empty") as usize];
            *e.symbols.entry(leaf.name.clone()).or_default() += stack.weight;
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
}

impl LeafNative {
    fn known(reason: String) -> Self {
        LeafNative {
            fraction: 1.0,
            reason: Some(reason),
            variance: 0.0,
        }
    }
}

fn native_fraction(frame: &Frame, evidence: Option<&NativeEvidence>, rules: &Rules) -> LeafNative {
    if frame.kind == FrameKind::Native {
        return LeafNative::known(format!("native frame {}", frame.name));
    }
    let module = frame.module.as_deref().unwrap_or("");
    if let Some(rule) = rules.native_function(module, frame.display_name()) {
        return LeafNative::known(format!("{} (rules: {})", rule.what, rule.example));
    }
    if let Some(rule) = frame
        .code
        .as_deref()
        .and_then(|c| rules.native_call_on_line(c))
    {
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
            LeafNative {
                fraction: p,
                reason: Some(format!("native frames under it ({top})")),
                variance: p * (1.0 - p) / n,
            }
        }
        None => LeafNative {
            fraction: 0.0,
            reason: None,
            variance: 0.0,
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
        let cases: [Case; 7] = [
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
        ];
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(frame("main", "app", 3, "run()", FrameKind::Python));
        for (i, (name, below, _)) in cases.iter().enumerate() {
            let line = 10 + i as u32;
            let py = b.intern_frame(frame(name, "app", line, "x = step(y)", FrameKind::Python));
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
        assert_eq!(a.callees(main_i).len(), 4);
        assert!(a.callees(main_i).iter().all(|e| e.weight == 4));
        let hot_line = a.lines.iter().find(|l| l.line == 9).unwrap();
        assert_eq!((hot_line.self_weight, hot_line.native_weight), (4, 4.0));
        // Only the pass's ratio is uncertain: 4 of its 8 samples of `mixed`'s line in C,
        // p(1-p)/n = 1/32; rules and native frames are known.
        assert_eq!(a.leaf_native_variance.len(), 1);
        assert!((a.leaf_native_variance[&mixed] - 0.25 / 8.0).abs() < 1e-12);
    }
}
