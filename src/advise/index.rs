//! The stack index: every non-idle stack of the profile reduced to its distinct functions,
//! innermost function and native fraction, with, for each function, the stacks holding it.
//! Every question the advice asks about time (what a boundary covers, how much of one
//! function's time lies under another, which program function a stack's time is charged to)
//! is answered here from those lists alone, which keeps the boundary search fast on fleet
//! profiles of a million stacks.
//!
//! Reads the profile's stacks and the analysis' functions and nothing else: no rules, no
//! source files, no verdicts.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::analyze::{add_call_pairs, Analysis, CallEdge, FunctionStats};
use crate::cores;
use crate::profile::{FrameId, FrameKind, Profile};
use crate::python::paths::{self, PathOrigin};

/// Where a function's code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// The program's own code: what can be ported.
    Program,
    /// The standard library: pure-Python parts port along with their caller (a crate does
    /// the same job).
    Stdlib,
    /// Installed packages: a port keeps calling them.
    Library,
    /// An installed package whose Python layer a crate replaces (`calls` in
    /// rules/analogues.toml: numpy's wrappers, ndarray): like the standard library's, it ports
    /// along with its caller.
    Along,
    /// Native code.
    Native,
}

fn origin(f: &FunctionStats) -> Origin {
    origin_of(f.kind, &f.file)
}

/// The top-level package of a function's module (`networkx` for
/// `networkx.algorithms.centrality`), when it has one.
pub(super) fn package_of(f: &FunctionStats) -> Option<&str> {
    f.module
        .as_deref()
        .and_then(|m| m.split('.').next())
        .filter(|p| !p.is_empty() && !p.starts_with('<'))
}

/// Where code of `kind` in `file` comes from.
pub(super) fn origin_of(kind: FrameKind, file: &str) -> Origin {
    if kind == FrameKind::Native {
        return Origin::Native;
    }
    // CPython 3.13+'s frame between a class's call and its `__init__` (file `__init__`, no
    // source), in profiles recorded before the recorder dropped it or imported from other
    // tools: interpreter code, which goes with its caller.
    if file == "__init__" {
        return Origin::Stdlib;
    }
    match paths::origin(file) {
        PathOrigin::Installed => Origin::Library,
        PathOrigin::Stdlib => Origin::Stdlib,
        PathOrigin::Program => Origin::Program,
    }
}

/// One non-idle stack, reduced to what the model needs (the thread, seldom asked, is the
/// profile's stack's). Made when asked from the index's [`Columns`].
#[derive(Clone, Copy)]
pub(super) struct StackFacts {
    pub(super) weight: u64,
    /// Native fraction of its weight.
    pub(super) native: f64,
    /// Its place in the profile's stacks, where its frames are.
    stack: u32,
    /// Its innermost function.
    leaf: u32,
}

impl StackFacts {
    /// Its innermost function.
    pub(super) fn leaf(&self) -> usize {
        self.leaf as usize
    }
}

/// The stacks that run, a column per fact: 16 bytes a stack, of which the boundary search,
/// reading most stacks once per region, reads the 12 of the weight and the innermost frame
/// (the frame gives the native fraction and the function).
#[derive(Default)]
struct Columns {
    weight: Vec<u64>,
    leaf_frame: Vec<FrameId>,
    /// Its place in the profile's stacks, where its frames are.
    stack: Vec<u32>,
}

impl Columns {
    fn len(&self) -> usize {
        self.weight.len()
    }

    fn push(&mut self, weight: u64, leaf_frame: FrameId, stack: u32) {
        self.weight.push(weight);
        self.leaf_frame.push(leaf_frame);
        self.stack.push(stack);
    }
}

/// What a boundary covers.
#[derive(Debug, Default, Clone)]
pub(super) struct Region {
    pub(super) weight: f64,
    pub(super) native: f64,
    /// The variance of `native` from the native pass's sampling: the lines' ratios are
    /// estimates, each from the pass's few samples of that line.
    pub(super) native_variance: f64,
    /// Of `native`, the weight in the C library's math (`Analysis::leaf_native_math`).
    pub(super) native_math: f64,
    pub(super) library: f64,
    pub(super) portable: f64,
    /// Portable weight per program (or stdlib) function as the innermost frame.
    pub(super) by_function: HashMap<usize, f64>,
}

/// For each function, the stacks holding it (indexes into [`Shared::stacks`], ascending),
/// stored as LEB128 varints of the gaps between them: a function on most stacks of a deep
/// profile costs about a byte a stack, not four. Built in parts, each of a range of the stacks
/// and on its own core, read one after the other.
struct Postings {
    parts: Vec<PostingPart>,
    /// How many stacks hold each function.
    counts: Vec<u32>,
}

/// The lists of a range of the stacks: each list's first stack as its index, the next ones as
/// gaps.
struct PostingPart {
    /// Where each function's list starts in `bytes`; one more entry than functions.
    starts: Vec<usize>,
    bytes: Vec<u8>,
}

fn varint_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut [u8], at: &mut usize, mut v: u32) {
    while v >= 0x80 {
        out[*at] = (v as u8) | 0x80;
        *at += 1;
        v >>= 7;
    }
    out[*at] = v as u8;
    *at += 1;
}

/// The stack ids of one posting list, in order: its parts one after the other.
struct PostingIter<'p> {
    parts: std::slice::Iter<'p, PostingPart>,
    f: usize,
    bytes: &'p [u8],
    at: usize,
    last: Option<u32>,
}

impl Iterator for PostingIter<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        if self.at >= self.bytes.len() && !self.next_part() {
            return None;
        }
        let mut v: u32 = 0;
        let mut shift = 0;
        loop {
            let b = self.bytes[self.at];
            self.at += 1;
            v |= u32::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        let id = match self.last {
            Some(last) => last + v,
            None => v,
        };
        self.last = Some(id);
        Some(id)
    }
}

impl PostingIter<'_> {
    /// Moves to the next part holding some of the list; false at the end.
    #[cold]
    fn next_part(&mut self) -> bool {
        while self.at >= self.bytes.len() {
            let Some(part) = self.parts.next() else {
                return false;
            };
            self.bytes = match (part.starts.get(self.f), part.starts.get(self.f + 1)) {
                (Some(&a), Some(&b)) => &part.bytes[a..b],
                _ => &[],
            };
            self.at = 0;
            self.last = None;
        }
        true
    }
}

impl Postings {
    fn list(&self, f: usize) -> PostingIter<'_> {
        PostingIter {
            parts: self.parts.iter(),
            f,
            bytes: &[],
            at: 0,
            last: None,
        }
    }
}

/// What every view of one profile shares, built once: the stacks, who holds what, the
/// weights. A package's search ([`StackIndex::with_fresh_origins`]) reuses it.
struct Shared {
    stacks: Columns,
    gil_waits: Vec<StackFacts>,
    holding: Postings,
    /// For each function, the weight of the stacks holding it.
    held_weight: Vec<u64>,
    /// Each frame's function, `u32::MAX` for none: what every walk over frames reads.
    frame_fn: Vec<u32>,
    /// Whether each function is a module's top level.
    module_body: Vec<bool>,
    /// Bit `k` of each stack's weight, a bitset per `k`, interleaved a word at a time (word
    /// `i` of plane `k` at `i * plane_count + k`): with two functions' bitsets, the weight they
    /// share is counted in one pass over the three.
    planes: Vec<u64>,
    plane_count: usize,
    run_samples: u64,
    /// Whether the stacks are of more than one thread.
    several_threads: bool,
    /// Words of bitsets kept at once.
    bitset_words: usize,
    /// Callers of the functions asked about, as [`StackIndex::callers`] gives them.
    callers: RefCell<FxHashMap<usize, Rc<[CallEdge]>>>,
    /// Each function's native share of its self time, once asked.
    self_native: OnceCell<Vec<f64>>,
}

impl Shared {
    /// The weight of stack `i`, from the bit planes: a few bytes beside one another, where
    /// the stack's facts are one of many megabytes of them.
    fn weight(&self, i: usize) -> u64 {
        let word = &self.planes[i / 64 * self.plane_count..][..self.plane_count];
        word.iter()
            .enumerate()
            .map(|(k, bits)| (bits >> (i % 64) & 1) << k)
            .sum()
    }
}

/// Bitsets of the stacks holding the functions most asked about: whether a stack holds a
/// function is then one bit, whatever its depth. Kept to a budget of memory.
#[derive(Default)]
struct Bitsets {
    sets: HashMap<usize, Vec<u64>>,
    words: usize,
}

/// A function held by at least one stack in this many is a wide one: its callers are found
/// with those of every other wide function, in one pass over all stacks.
const WIDE_SHARE: usize = 64;

/// Words of bitsets kept at once, at least: 16 MiB of them, a hundred functions of a million
/// stacks. A profile whose posting lists take more keeps as much in bitsets (a deep profile
/// asks about several hundred functions on most of its stacks, over and over: made again each
/// time, their bitsets took most of the advice's time).
const BITSET_WORDS: usize = 1 << 21;

/// The profile's non-idle stacks, by the functions on them.
pub(super) struct StackIndex<'a> {
    profile: &'a Profile,
    analysis: &'a Analysis,
    shared: Rc<Shared>,
    /// Where each function of the analysis comes from.
    pub(super) origins: Vec<Origin>,
    /// Samples the shares are fractions of: the busiest thread's, idle rounds included.
    pub(super) run_samples: u64,
    /// Samples of the main thread on CPU with no frame at all: after its last frame, while the
    /// interpreter tears down and its final collection frees every object still alive.
    pub(super) teardown: u64,
    regions: RefCell<HashMap<usize, Rc<Region>>>,
    /// Stack weights shared by two functions, as asked.
    pairs: RefCell<FxHashMap<(usize, usize), u64>>,
    bitsets: RefCell<Bitsets>,
}

/// How threads shared a region's time under the GIL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct GilContention {
    /// Threads that ran Python in the region, each for a tenth of its time or more.
    pub(super) threads: u32,
    /// Share of the region's samples that waited for the GIL instead of running.
    pub(super) waiting: f64,
}

impl<'a> StackIndex<'a> {
    pub(super) fn new(profile: &'a Profile, analysis: &'a Analysis) -> StackIndex<'a> {
        let origins = analysis.functions.iter().map(origin).collect();
        let frame_fn: Vec<u32> = analysis
            .frame_function
            .iter()
            .map(|f| f.map_or(u32::MAX, |f| f as u32))
            .collect();
        // Each thread's weight, and of its stacks holding the GIL, a run of one thread's
        // stacks at a time.
        let mut per_thread: FxHashMap<u32, u64> = FxHashMap::default();
        let mut python_threads: FxHashMap<u32, u64> = FxHashMap::default();
        for run in profile.stacks.chunk_by(|a, b| a.thread == b.thread) {
            let thread = run[0].thread;
            *per_thread.entry(thread).or_default() += run.iter().map(|s| s.weight).sum::<u64>();
            let mut python = run.iter().filter(|s| s.gil && !s.idle).peekable();
            if python.peek().is_some() {
                *python_threads.entry(thread).or_default() += python.map(|s| s.weight).sum::<u64>();
            }
        }
        // Several threads running Python, and a profile that says which one held the GIL:
        // then a thread on CPU without the GIL, in interpreted code, waits for its turn.
        let gil_known = !python_threads.is_empty();
        let most = python_threads.values().copied().max().unwrap_or(0);
        let shared_gil =
            gil_known && python_threads.values().filter(|&&w| w * 10 >= most).count() >= 2;
        // The stacks that run, and those waiting for the GIL.
        let mut stacks = Columns::default();
        let mut gil_waits = Vec::new();
        // The main thread on CPU without a frame: a launched program's interpreter tearing
        // down after its last frame returned (its start-up is timed apart, before the first
        // sample). None when no thread is named the main one.
        let main_thread = profile
            .threads
            .iter()
            .position(|t| t.name.as_deref() == Some("MainThread"));
        let mut teardown = 0;
        for (i, stack) in profile.stacks.iter().enumerate() {
            if stack.idle {
                continue;
            }
            let Some(&leaf_frame) = stack.frames.last() else {
                if main_thread == Some(stack.thread as usize) {
                    teardown += stack.weight;
                }
                continue;
            };
            let leaf = frame_fn[leaf_frame as usize];
            if leaf == u32::MAX {
                continue;
            }
            let facts = StackFacts {
                weight: stack.weight,
                native: analysis.leaf_native(leaf_frame),
                stack: i as u32,
                leaf,
            };
            if shared_gil && !stack.gil && facts.native < 0.5 {
                gil_waits.push(facts);
            } else {
                stacks.push(stack.weight, leaf_frame, i as u32);
            }
        }
        let busiest = per_thread.values().copied().max().unwrap_or(0);
        let n = analysis.functions.len();
        let module_body = analysis
            .functions
            .iter()
            .map(|f| f.name.ends_with("<module>"))
            .collect();
        let (holding, held_weight) = postings(profile, &frame_fn, &stacks, n);
        let posting_bytes: usize = holding.parts.iter().map(|p| p.bytes.len()).sum();
        let bitset_words = BITSET_WORDS.max(posting_bytes / 8);
        let heaviest = stacks.weight.iter().copied().max().unwrap_or(0);
        let words = stacks.len().div_ceil(64);
        let thread = |i: &u32| profile.stacks[*i as usize].thread;
        let several_threads = stacks
            .stack
            .iter()
            .any(|i| thread(i) != thread(&stacks.stack[0]));
        let plane_count = (64 - heaviest.leading_zeros()).max(1) as usize;
        let mut planes = vec![0u64; words * plane_count];
        for (i, &weight) in stacks.weight.iter().enumerate() {
            let word = &mut planes[i / 64 * plane_count..][..plane_count];
            for (k, bits) in word.iter_mut().enumerate() {
                *bits |= (weight >> k & 1) << (i % 64);
            }
        }
        StackIndex {
            profile,
            analysis,
            shared: Rc::new(Shared {
                stacks,
                gil_waits,
                holding,
                held_weight,
                frame_fn,
                module_body,
                planes,
                plane_count,
                run_samples: busiest,
                several_threads,
                bitset_words,
                callers: Default::default(),
                self_native: OnceCell::new(),
            }),
            origins,
            run_samples: busiest,
            teardown,
            regions: Default::default(),
            pairs: Default::default(),
            bitsets: Default::default(),
        }
    }

    /// Another view of the same stacks, with origins as the analysis gives them and nothing
    /// asked yet: what [`StackIndex::adopt_package`] changes, without indexing again.
    pub(super) fn with_fresh_origins(&self) -> StackIndex<'a> {
        StackIndex {
            profile: self.profile,
            analysis: self.analysis,
            shared: Rc::clone(&self.shared),
            origins: self.analysis.functions.iter().map(origin).collect(),
            run_samples: self.shared.run_samples,
            teardown: self.teardown,
            regions: Default::default(),
            pairs: Default::default(),
            bitsets: Default::default(),
        }
    }

    /// The non-idle stacks that run (those waiting for the GIL set apart), in profile order.
    pub(super) fn stacks(&self) -> impl Iterator<Item = StackFacts> + '_ {
        (0..self.shared.stacks.len()).map(|i| self.facts(i))
    }

    /// The facts of stack `i` of [`StackIndex::stacks`]: inlined where asked, only the
    /// columns a caller reads are read.
    #[inline]
    fn facts(&self, i: usize) -> StackFacts {
        let columns = &self.shared.stacks;
        let frame = columns.leaf_frame[i];
        StackFacts {
            weight: columns.weight[i],
            native: self.analysis.leaf_native(frame),
            stack: columns.stack[i],
            leaf: self.shared.frame_fn[frame as usize],
        }
    }

    /// The distinct functions of a stack, outermost first (in the order they first appear).
    fn for_each_function(
        &self,
        stack: u32,
        mark: &mut [u32],
        id: u32,
        mut each: impl FnMut(usize),
    ) {
        let frame_fn = &self.shared.frame_fn;
        for &frame in &self.profile.stacks[stack as usize].frames {
            let f = frame_fn[frame as usize];
            if f != u32::MAX && mark[f as usize] != id {
                mark[f as usize] = id;
                each(f as usize);
            }
        }
    }

    /// The functions of a stack's frames, outermost first (repeated as often as they are).
    pub(super) fn functions_on<'s>(&'s self, s: &StackFacts) -> impl Iterator<Item = usize> + 's {
        let frame_fn = &self.shared.frame_fn;
        self.profile.stacks[s.stack as usize]
            .frames
            .iter()
            .map(move |&frame| frame_fn[frame as usize])
            .filter(|&f| f != u32::MAX)
            .map(|f| f as usize)
    }

    /// Whether the stack holds function `f`.
    fn holds(&self, s: &StackFacts, f: usize) -> bool {
        let frame_fn = &self.shared.frame_fn;
        self.profile.stacks[s.stack as usize]
            .frames
            .iter()
            .any(|&frame| frame_fn[frame as usize] as usize == f)
    }
    pub(super) fn share(&self, weight: f64) -> f64 {
        if self.run_samples == 0 {
            0.0
        } else {
            weight / self.run_samples as f64
        }
    }

    /// What `boundary` covers; computed once per function, since every hot function under a
    /// common caller asks about it again.
    pub(super) fn region(&self, boundary: usize) -> Rc<Region> {
        if let Some(r) = self.regions.borrow().get(&boundary) {
            return Rc::clone(r);
        }
        let r = Rc::new(self.compute_region(boundary));
        self.regions.borrow_mut().insert(boundary, Rc::clone(&r));
        r
    }

    fn compute_region(&self, boundary: usize) -> Region {
        let mut r = Region::default();
        // The region's weight on each line whose native ratio is an estimate: one line's
        // error moves all its stacks together.
        let mut estimated: FxHashMap<FrameId, f64> = FxHashMap::default();
        let variance = &self.analysis.leaf_native_variance;
        let math = &self.analysis.leaf_native_math;
        // Added to once per stack: a fast hash here, the region's map made at the end.
        let mut by_function: FxHashMap<usize, f64> = FxHashMap::default();
        let columns = &self.shared.stacks;
        for i in self.holding_ids(boundary) {
            let s = self.facts(i as usize);
            let w = s.weight as f64;
            r.weight += w;
            r.native += w * s.native;
            if !variance.is_empty() && s.native > 0.0 {
                let leaf = columns.leaf_frame[i as usize];
                if variance.contains_key(&leaf) {
                    *estimated.entry(leaf).or_default() += w;
                    // Only a measured line has a C-library share.
                    if let Some(m) = math.get(&leaf) {
                        r.native_math += w * m;
                    }
                }
            }
            let rest = w * (1.0 - s.native);
            match self.origins[s.leaf()] {
                Origin::Program | Origin::Stdlib | Origin::Along => {
                    r.portable += rest;
                    *by_function.entry(s.leaf()).or_default() += rest;
                }
                Origin::Library | Origin::Native => r.library += rest,
            }
        }
        r.by_function = by_function.into_iter().collect();
        r.native_variance = estimated
            .iter()
            .map(|(leaf, w)| w * w * variance[leaf])
            .sum();
        r
    }

    /// Calls `each` with every stack holding `boundary` whose innermost frame is interpreted
    /// code of the program or the standard library (what `Region::portable` counts): that
    /// interpreted time, and the functions on the stack below `boundary`, outermost first.
    fn each_portable_stack_below(
        &self,
        boundary: usize,
        mut each: impl FnMut(f64, &mut dyn Iterator<Item = usize>),
    ) {
        for i in self.holding_ids(boundary) {
            let s = self.facts(i as usize);
            if !matches!(
                self.origins[s.leaf()],
                Origin::Program | Origin::Stdlib | Origin::Along
            ) {
                continue;
            }
            let mut below = self
                .functions_on(&s)
                .skip_while(|&g| g != boundary)
                .filter(|&g| g != boundary);
            each(s.weight as f64 * (1.0 - s.native), &mut below);
        }
    }

    /// The functions below `boundary` in the stacks holding it, each with the interpreted
    /// time of the stacks it is on below `boundary`: its inclusive portable time there.
    pub(super) fn below(&self, boundary: usize) -> FxHashMap<usize, f64> {
        let mut out: FxHashMap<usize, f64> = FxHashMap::default();
        let mut seen: Vec<usize> = Vec::new();
        self.each_portable_stack_below(boundary, |rest, below| {
            seen.clear();
            for g in below {
                if !seen.contains(&g) {
                    seen.push(g);
                    *out.entry(g).or_default() += rest;
                }
            }
        });
        out
    }

    /// The interpreted time of the stacks holding `boundary` that have one of `under` below
    /// it (each stack once).
    pub(super) fn portable_under(&self, boundary: usize, under: &[usize]) -> f64 {
        let mut total = 0.0;
        self.each_portable_stack_below(boundary, |rest, below| {
            for g in below {
                if under.contains(&g) {
                    total += rest;
                    break;
                }
            }
        });
        total
    }

    /// How the threads running `boundary` shared the GIL, when more than one ran it and some
    /// of its samples waited for the GIL.
    pub(super) fn gil_contention(&self, boundary: usize) -> Option<GilContention> {
        if self.shared.gil_waits.is_empty() {
            return None;
        }
        let mut by_thread: HashMap<u32, u64> = HashMap::new();
        let mut running = 0u64;
        for s in self.holding(boundary) {
            *by_thread.entry(self.thread_of(&s)).or_default() += s.weight;
            running += s.weight;
        }
        let waiting: u64 = self
            .shared
            .gil_waits
            .iter()
            .filter(|s| self.holds(s, boundary))
            .map(|s| s.weight)
            .sum();
        let most = by_thread.values().copied().max().unwrap_or(0);
        let threads = by_thread.values().filter(|&&w| w * 10 >= most).count() as u32;
        let all = (running + waiting) as f64;
        (threads >= 2 && all > 0.0 && waiting as f64 >= 0.05 * all).then(|| GilContention {
            threads,
            waiting: waiting as f64 / all,
        })
    }

    /// The callers of `f`, heaviest first (then by caller): the functions of the frames right
    /// above `f`'s frames in the stacks holding it (those waiting for the GIL included), each
    /// counted once per stack even when recursion repeats it. Kept once found: the boundary
    /// search climbs the same callers from several hot functions.
    ///
    /// A function on few stacks is answered from those stacks alone. The first question about
    /// one on many (at least one stack in [`WIDE_SHARE`]) answers for every such function in
    /// one pass over all stacks: in a deep profile, most of the chain the search climbs is on
    /// most stacks.
    pub(super) fn callers(&self, f: usize) -> Rc<[CallEdge]> {
        let shared = &self.shared;
        if let Some(known) = shared.callers.borrow().get(&f) {
            return Rc::clone(known);
        }
        let wide = |g: usize| shared.holding.counts[g] as usize * WIDE_SHARE >= shared.stacks.len();
        let found = if wide(f) {
            let wide: Vec<bool> = (0..shared.holding.counts.len()).map(wide).collect();
            let stacks = self.stacks().chain(shared.gil_waits.iter().copied());
            let found = self.callers_in(stacks, |g| wide[g as usize]);
            // Wide functions no stack calls have no callers: known too.
            let mut callers = shared.callers.borrow_mut();
            for (g, _) in wide.iter().enumerate().filter(|(_, &w)| w) {
                callers.entry(g).or_insert_with(|| Rc::from(Vec::new()));
            }
            found
        } else {
            let stacks = self.holding(f).chain(shared.gil_waits.iter().copied());
            self.callers_in(stacks, |g| g as usize == f)
        };
        let mut callers = shared.callers.borrow_mut();
        for (callee, edges) in found {
            callers.insert(callee, edges);
        }
        callers
            .get(&f)
            .map_or_else(|| Rc::from(Vec::new()), Rc::clone)
    }

    /// The callers, as [`StackIndex::callers`] gives them, of each function `callee` takes, in
    /// `stacks`.
    fn callers_in(
        &self,
        stacks: impl Iterator<Item = StackFacts>,
        callee: impl Fn(u32) -> bool,
    ) -> Vec<(usize, Rc<[CallEdge]>)> {
        let frame_fn = &self.shared.frame_fn;
        let function = |frame: FrameId| Some(frame_fn[frame as usize]).filter(|&g| g != u32::MAX);
        let mut weights: FxHashMap<(u32, u32), u64> = FxHashMap::default();
        let mut pairs = Vec::new();
        for s in stacks {
            add_call_pairs(
                &self.profile.stacks[s.stack as usize].frames,
                function,
                |_, g| callee(g),
                s.weight,
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
            a.callee
                .cmp(&b.callee)
                .then(b.weight.cmp(&a.weight))
                .then(a.caller.cmp(&b.caller))
        });
        edges
            .chunk_by(|a, b| a.callee == b.callee)
            .map(|group| (group[0].callee, Rc::from(group)))
            .collect()
    }

    /// Whether more than one thread ran `f`: a walk of its stacks up to the first of another
    /// thread than the first's.
    pub(super) fn several_threads_run(&self, f: usize) -> bool {
        if !self.shared.several_threads {
            return false;
        }
        let mut threads = self.holding(f).map(|s| self.thread_of(&s));
        let first = threads.next();
        threads.any(|t| Some(t) != first)
    }

    fn thread_of(&self, s: &StackFacts) -> u32 {
        self.profile.stacks[s.stack as usize].thread
    }

    /// The stacks holding function `f`, in profile order.
    pub(super) fn holding(&self, f: usize) -> impl Iterator<Item = StackFacts> + '_ {
        self.holding_ids(f).map(|i| self.facts(i as usize))
    }

    /// Interpreted weight charged to the innermost program function of each stack (its own
    /// lines and the standard library's Python under it), and native weight likewise.
    pub(super) fn deepest_program_weights(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.analysis.functions.len();
        let (mut interpreted, mut native) = (vec![0.0; n], vec![0.0; n]);
        let mut mark = vec![u32::MAX; n];
        for (i, s) in self.stacks().enumerate() {
            // The program function whose first appearance on the stack is the innermost.
            let mut deepest = None;
            self.for_each_function(s.stack, &mut mark, i as u32, |f| {
                if self.origins[f] == Origin::Program && !self.is_module_body(f) {
                    deepest = Some(f);
                }
            });
            if let Some(f) = deepest {
                let w = s.weight as f64;
                native[f] += w * s.native;
                if self.origins[s.leaf()] != Origin::Library {
                    interpreted[f] += w * (1.0 - s.native);
                }
            }
        }
        (interpreted, native)
    }

    /// The share of `f`'s inclusive weight on stacks that also hold `b`.
    pub(super) fn within(&self, f: usize, b: usize) -> f64 {
        let all = self.shared.held_weight.get(f).copied().unwrap_or(0);
        if all == 0 {
            return 0.0;
        }
        self.together(f, b) as f64 / all as f64
    }

    /// The weight of the stacks holding both `f` and `g`.
    fn together(&self, f: usize, g: usize) -> u64 {
        if f == g {
            return self.shared.held_weight[f];
        }
        let key = (f.min(g), f.max(g));
        if let Some(&w) = self.pairs.borrow().get(&key) {
            return w;
        }
        let counts = &self.shared.holding.counts;
        let n = self.shared.stacks.len() as u32;
        let (few, many) = if counts[f] <= counts[g] {
            (f, g)
        } else {
            (g, f)
        };
        let w = if counts[few] >= (n / 64).max(64) {
            // Both on many stacks: their bitsets and the weights' bit planes, a word at a time,
            // in one pass (over 2 MiB of them at 3M stacks: a pass per plane read them all
            // from beyond the core's cache again for each plane).
            let mut bitsets = self.bitsets.borrow_mut();
            self.bitset(&mut bitsets, many, few);
            self.bitset(&mut bitsets, few, many);
            let (a, b) = (&bitsets.sets[&few], &bitsets.sets[&many]);
            let count = self.shared.plane_count;
            let mut ones = [0u64; 64];
            for ((x, y), word) in a.iter().zip(b).zip(self.shared.planes.chunks_exact(count)) {
                let both = x & y;
                if both != 0 {
                    for (n, p) in ones.iter_mut().zip(word) {
                        *n += u64::from((both & p).count_ones());
                    }
                }
            }
            ones.iter().enumerate().map(|(k, n)| n << k).sum()
        } else if counts[many] >= 64 {
            // Walk the stacks of the one on fewer stacks, asking of each whether it holds the
            // other: by a bit.
            let mut bitsets = self.bitsets.borrow_mut();
            let bits = self.bitset(&mut bitsets, many, many);
            self.holding_ids(few)
                .filter(|&i| bits[i as usize / 64] >> (i % 64) & 1 == 1)
                .map(|i| self.shared.weight(i as usize))
                .sum()
        } else {
            // Or, both on few stacks, by its frames.
            self.holding(few)
                .filter(|s| self.holds(s, many))
                .map(|s| s.weight)
                .sum()
        };
        self.pairs.borrow_mut().insert(key, w);
        w
    }

    fn holding_ids(&self, f: usize) -> PostingIter<'_> {
        self.shared.holding.list(f)
    }

    /// The bitset of the stacks holding `f`, made when missing (all of them dropped when over
    /// the budget).
    fn bitset<'b>(&self, bitsets: &'b mut Bitsets, f: usize, keep: usize) -> &'b [u64] {
        if !bitsets.sets.contains_key(&f) {
            let words = self.shared.stacks.len().div_ceil(64);
            if bitsets.words + words > self.shared.bitset_words.max(2 * words) {
                bitsets.sets.retain(|&g, _| g == keep);
                bitsets.words = bitsets.sets.len() * words;
            }
            let mut bits = vec![0u64; words];
            for i in self.holding_ids(f) {
                bits[i as usize / 64] |= 1 << (i % 64);
            }
            bitsets.words += words;
            bitsets.sets.insert(f, bits);
        }
        &bitsets.sets[&f]
    }

    /// The native share of `f`'s self time. Worked out for every function in one pass over
    /// the stacks the first time: asked of a function on most stacks, a walk of its own
    /// stacks was one of every stack, for each boundary option's evidence.
    pub(super) fn self_native_fraction(&self, f: usize) -> f64 {
        let fractions = self.shared.self_native.get_or_init(|| {
            let n = self.analysis.functions.len();
            let (mut weight, mut native) = (vec![0.0f64; n], vec![0.0f64; n]);
            for s in self.stacks() {
                weight[s.leaf()] += s.weight as f64;
                native[s.leaf()] += s.weight as f64 * s.native;
            }
            weight
                .iter()
                .zip(native)
                .map(|(&w, n)| if w > 0.0 { n / w } else { 0.0 })
                .collect()
        });
        fractions.get(f).copied().unwrap_or(0.0)
    }

    /// Counts the code of the installed package `package` (top-level name) as the program's:
    /// what a port inside a vendored copy, or upstream, could cover.
    pub(super) fn adopt_package(&mut self, package: &str) {
        self.relabel_package(package, Origin::Program);
    }

    /// Counts the code of the installed package `package` as porting along with its caller:
    /// a crate does its job (see [`Origin::Along`]).
    pub(super) fn port_along(&mut self, package: &str) {
        self.relabel_package(package, Origin::Along);
    }

    /// Gives the installed package `package`'s functions the origin `to`; the regions asked
    /// so far are asked again.
    fn relabel_package(&mut self, package: &str, to: Origin) {
        for (f, stats) in self.analysis.functions.iter().enumerate() {
            if self.origins[f] == Origin::Library && package_of(stats) == Some(package) {
                self.origins[f] = to;
            }
        }
        self.regions.borrow_mut().clear();
    }

    pub(super) fn is_module_body(&self, f: usize) -> bool {
        self.shared.module_body[f]
    }
}

/// The stacks holding each function, and the weight of those stacks: two passes over the
/// stacks' frames, one to size the lists and one to fill them. A profile of many stacks is
/// cut in two ranges, indexed at once on two cores when there are.
fn postings(
    profile: &Profile,
    frame_fn: &[u32],
    stacks: &Columns,
    n: usize,
) -> (Postings, Vec<u64>) {
    let index = |range: std::ops::Range<usize>| posting_part(profile, frame_fn, stacks, range, n);
    let parts = if cores::split(stacks.len()) {
        let mid = stacks.len() / 2;
        let (first, second) =
            cores::join("stack-index", || index(0..mid), || index(mid..stacks.len()));
        vec![first, second]
    } else {
        vec![index(0..stacks.len())]
    };
    let mut counts = vec![0u32; n];
    let mut held_weight = vec![0u64; n];
    let mut out = Vec::with_capacity(parts.len());
    for (part, part_counts, part_weights) in parts {
        for (c, p) in counts.iter_mut().zip(part_counts) {
            *c += p;
        }
        for (w, p) in held_weight.iter_mut().zip(part_weights) {
            *w += p;
        }
        out.push(part);
    }
    (Postings { parts: out, counts }, held_weight)
}

/// The lists of the stacks in `range`, with how many of them hold each function and their
/// weight.
fn posting_part(
    profile: &Profile,
    frame_fn: &[u32],
    stacks: &Columns,
    range: std::ops::Range<usize>,
    n: usize,
) -> (PostingPart, Vec<u32>, Vec<u64>) {
    // Each function's state side by side, one line of memory touched per frame where five
    // arrays took five: a profile of 100,000 functions keeps them beyond the core's cache.
    // `last` is the last stack holding the function, which also tells a repeat on the same
    // stack.
    #[derive(Clone, Copy)]
    struct Tally {
        last: u32,
        count: u32,
        size: u64,
        weight: u64,
    }
    const NONE: u32 = u32::MAX;
    let frames_of = |stack: u32| {
        profile.stacks[stack as usize]
            .frames
            .iter()
            .map(|&frame| frame_fn[frame as usize])
            .filter(|&g| g != NONE)
            .map(|g| g as usize)
    };
    let gap = |last: u32, i: u32| if last == NONE { i } else { i - last };
    let mut tallies = vec![
        Tally {
            last: NONE,
            count: 0,
            size: 0,
            weight: 0
        };
        n
    ];
    for i in range.clone() {
        let (stack, weight) = (stacks.stack[i], stacks.weight[i]);
        let i = i as u32;
        for g in frames_of(stack) {
            let t = &mut tallies[g];
            if t.last != i {
                t.size += varint_len(gap(t.last, i)) as u64;
                t.last = i;
                t.count += 1;
                t.weight += weight;
            }
        }
    }
    let mut starts = Vec::with_capacity(n + 1);
    let mut total = 0;
    for t in &tallies {
        starts.push(total);
        total += t.size as usize;
    }
    starts.push(total);
    let mut bytes = vec![0u8; total];
    // The second pass: where each list's next gap goes, beside its last stack.
    let mut cursors: Vec<(u32, usize)> = starts[..n].iter().map(|&at| (NONE, at)).collect();
    for i in range {
        let stack = stacks.stack[i];
        let i = i as u32;
        for g in frames_of(stack) {
            let (last, at) = &mut cursors[g];
            if *last != i {
                put_varint(&mut bytes, at, gap(*last, i));
                *last = i;
            }
        }
    }
    let counts = tallies.iter().map(|t| t.count).collect();
    let held_weight = tallies.iter().map(|t| t.weight).collect();
    (PostingPart { starts, bytes }, counts, held_weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::test_support::draws;
    use crate::analyze::{analyze, AnalyzeOptions};
    use crate::profile::{Frame, Meta, ProfileBuilder};

    #[test]
    fn the_teardown_is_the_main_threads_frameless_time_on_cpu() {
        let mut b = ProfileBuilder::default();
        let main = b.intern_thread(1, 1, Some("MainThread"));
        let worker = b.intern_thread(1, 2, Some("pool-0"));
        let work = b.intern_frame(frame("work".into(), 3));
        for _ in 0..90 {
            b.add_stack(main, vec![work], false, true, false);
        }
        for _ in 0..7 {
            b.add_stack(main, vec![], false, true, false);
        }
        // Waiting with no frame, and a worker's empty stacks, are not the teardown.
        for _ in 0..3 {
            b.add_stack(main, vec![], true, false, false);
            b.add_stack(worker, vec![], false, false, false);
        }
        let teardown = |profile: &Profile| {
            let analysis = analyze(profile, &AnalyzeOptions::default());
            StackIndex::new(profile, &analysis).teardown
        };
        assert_eq!(teardown(&b.to_profile(Meta::default())), 7);

        let mut unnamed = ProfileBuilder::default();
        let t = unnamed.intern_thread(1, 1, None);
        unnamed.add_stack(t, vec![], false, true, false);
        assert_eq!(teardown(&unnamed.to_profile(Meta::default())), 0);
    }

    /// A frame of `/app/m.py` at `line`.
    fn frame(name: String, line: u32) -> Frame {
        Frame {
            name,
            qualname: None,
            file: "/app/m.py".into(),
            first_line: None,
            line: Some(line),
            module: None,
            kind: FrameKind::Python,
            code: None,
        }
    }

    /// Stack lists in two parts, and callers found from them or in one pass over all
    /// stacks, against counts made stack by stack.
    #[test]
    fn stacks_indexed_on_two_cores_hold_and_call_as_counted_one_by_one() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let frames: Vec<FrameId> = (0..60)
            .map(|i| b.intern_frame(frame(format!("f{}", i % 30), i)))
            .collect();
        let mut next = draws(5);
        // f0 on every stack, f1 and its callers on a few.
        for _ in 0..(cores::PARALLEL_STACKS * 2) {
            let depth = 3 + next(8) as usize;
            let mut stack = vec![frames[0]];
            stack.extend((1..depth).map(|_| frames[2 + next(58) as usize]));
            if next(200) == 0 {
                stack.push(frames[1]);
            }
            b.add_stack(t, stack, false, true, false);
        }
        let p = b.to_profile(Meta::default());
        assert!(p.stacks.len() >= cores::PARALLEL_STACKS);
        let a = analyze(&p, &AnalyzeOptions::default());
        let index = StackIndex::new(&p, &a);
        let name = |f: usize| a.functions[f].name.clone();
        for f in 0..a.functions.len() {
            let expected: Vec<u32> = index
                .stacks()
                .enumerate()
                .filter(|(_, s)| {
                    p.stacks[s.stack as usize]
                        .frames
                        .iter()
                        .any(|&fr| a.frame_function[fr as usize] == Some(f))
                })
                .map(|(i, _)| i as u32)
                .collect();
            let listed: Vec<u32> = index.holding_ids(f).collect();
            assert_eq!(listed, expected, "{}", name(f));
            // Callers, counted once per stack.
            let mut callers: HashMap<usize, u64> = HashMap::new();
            for s in &p.stacks {
                let fns: Vec<usize> = s
                    .frames
                    .iter()
                    .map(|&fr| a.frame_function[fr as usize].unwrap())
                    .collect();
                let mut seen: Vec<usize> = fns
                    .windows(2)
                    .filter(|w| w[1] == f && w[0] != f)
                    .map(|w| w[0])
                    .collect();
                seen.sort_unstable();
                seen.dedup();
                for c in seen {
                    *callers.entry(c).or_default() += s.weight;
                }
            }
            let found: HashMap<usize, u64> = index
                .callers(f)
                .iter()
                .map(|e| (e.caller, e.weight))
                .collect();
            assert_eq!(found, callers, "{}", name(f));
        }
    }

    /// The weight two functions share, by bitsets and bit planes, by one's stacks and the
    /// other's bitset, or by frames, against a sum made stack by stack; with weights of many
    /// bit planes and two threads.
    #[test]
    fn shared_weights_by_every_path_match_a_count_stack_by_stack() {
        let mut b = ProfileBuilder::default();
        let threads = [b.intern_thread(1, 1, None), b.intern_thread(1, 2, None)];
        let frames: Vec<FrameId> = (0..40)
            .map(|i| b.intern_frame(frame(format!("f{i}"), i)))
            .collect();
        let mut next = draws(11);
        // f0-f9 on about half the stacks each (bitsets), f10-f19 on about one in 150 (walked
        // against a bitset), f20-f38 on a handful (by frames); f39 on thread 2's 20 only.
        for i in 0..20_000 {
            let mut stack = vec![frames[0]];
            stack.extend((1..10).filter(|_| next(2) == 0).map(|k| frames[k]));
            stack.extend((10..20).filter(|_| next(150) == 0).map(|k| frames[k]));
            stack.extend((20..39).filter(|_| next(2_000) == 0).map(|k| frames[k]));
            let thread = threads[usize::from(i % 1000 == 0)];
            if thread == threads[1] {
                stack.push(frames[39]);
            }
            let weight = 1 + next(5_000) * next(2);
            b.add_weighted(thread, stack, false, true, weight);
        }
        let p = b.to_profile(Meta::default());
        let a = analyze(&p, &AnalyzeOptions::default());
        let index = StackIndex::new(&p, &a);
        let by_name = |n: &str| a.functions.iter().position(|f| f.name == n).unwrap();
        let ids: Vec<usize> = (0..40).map(|i| by_name(&format!("f{i}"))).collect();
        let holds = |s: &crate::profile::Stack, f: usize| {
            s.frames
                .iter()
                .any(|&fr| a.frame_function[fr as usize] == Some(f))
        };
        for &f in &ids {
            let all: u64 = p
                .stacks
                .iter()
                .filter(|s| holds(s, f))
                .map(|s| s.weight)
                .sum();
            for &g in &ids {
                let both: u64 = p
                    .stacks
                    .iter()
                    .filter(|s| holds(s, f) && holds(s, g))
                    .map(|s| s.weight)
                    .sum();
                let expected = if all == 0 {
                    0.0
                } else {
                    both as f64 / all as f64
                };
                assert_eq!(index.within(f, g), expected, "f{f} within f{g}");
            }
            let mut threads: Vec<u32> = p
                .stacks
                .iter()
                .filter(|s| holds(s, f))
                .map(|s| s.thread)
                .collect();
            threads.sort_unstable();
            threads.dedup();
            assert_eq!(index.several_threads_run(f), threads.len() > 1, "f{f}");
        }
    }

    /// CPython 3.13+'s frame between a class's call and its `__init__` is never the program's.
    #[test]
    fn the_init_frame_of_cpython_is_not_the_programs() {
        assert_eq!(origin_of(FrameKind::Python, "__init__"), Origin::Stdlib);
        assert_eq!(
            origin_of(FrameKind::Python, "/app/__init__.py"),
            Origin::Program
        );
    }
}
