//! The advice: which parts of the program to port to Rust, where to cut, and what it gains.
//!
//! Works on an [`Analysis`] of any profile. For every hot function of the program it searches a
//! boundary among the function and its callers: the saving of each option is the interpreted
//! time it covers, made faster by the factor expected for that kind of code, minus what crossing
//! the boundary costs (calls times the conversion of the observed arguments and return values,
//! from `rules/costs.toml`). The smallest option within a tolerance of the best saving wins:
//! porting a loop rather than its body when the body is called millions of times.
//!
//! Every number in the result carries its inputs, so a report can show why.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analyze::{Analysis, Calls, FunctionStats};
use crate::profile::{FrameKind, ProbedFunction, Profile, TypeObservation};
use crate::pysource::{self, PyFunction, PyModuleInfo};
use crate::readiness::{self, BlockerKind};
use crate::rules::{Direction, Rules, Span};

/// Version of the advice model written to `report.json`.
pub const ADVICE_SCHEMA: u32 = 1;

/// What the advice may look at besides the profile.
#[derive(Debug, Clone)]
pub struct AdviseOptions {
    /// Look for tests and git history of the candidates (reads the program's files).
    pub readiness: bool,
    /// At most this many candidates to report, ports first.
    pub top: usize,
    /// Leave out candidates below this share of the run (`None`: the rules' `min_share`).
    pub min_share: Option<f64>,
}

impl Default for AdviseOptions {
    fn default() -> Self {
        AdviseOptions {
            readiness: true,
            top: 10,
            min_share: None,
        }
    }
}

/// The advice for one profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    pub schema: u32,
    /// The profiled command.
    pub command: Vec<String>,
    pub python_version: Option<String>,
    /// Wall time of the recording, in seconds.
    pub wall_seconds: f64,
    /// Samples the shares are fractions of (one per sampling round and thread in the busiest
    /// thread, idle rounds included: a port cannot shorten waiting).
    pub run_samples: u64,
    /// Whether call counts and argument data were measured, and if not why.
    pub probe: ProbeState,
    /// What the advice could not know, and how to learn it.
    pub unknowns: Vec<String>,
    /// Whole-program speedup when every `port` candidate is ported.
    pub combined_speedup: Option<Span>,
    /// Ports first (by score), then libraries to use, then what to leave.
    pub candidates: Vec<Candidate>,
    /// Interpreted time outside the program's own code (installed packages, the standard
    /// library), by top-level package, largest first: what a port of the program cannot speed
    /// up.
    #[serde(default)]
    pub elsewhere: Vec<PackageTime>,
    /// Where the crossing costs were measured.
    pub costs_measured: String,
}

/// Interpreted time in one package that is not the program's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageTime {
    /// Top-level package or module (`networkx`, `importlib`).
    pub package: String,
    /// `library` (installed) or `stdlib`.
    pub origin: String,
    /// Share of the run spent interpreting its code (innermost frame in it, native time out).
    pub share: f64,
}

/// Packages shown in `elsewhere`: at most this many, each with at least this share.
const ELSEWHERE_TOP: usize = 5;
const ELSEWHERE_MIN_SHARE: f64 = 0.03;

/// Whether the probe measured call counts and argument data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeState {
    pub available: bool,
    pub why_not: Option<String>,
}

/// What to do with a region of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Port the boundary function to Rust.
    Port,
    /// A native library already does this job.
    UseLibrary,
    /// A port would not pay.
    LeaveIt,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Port => "port",
            Verdict::UseLibrary => "use library",
            Verdict::LeaveIt => "leave it",
        }
    }
}

/// The main reason behind a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The port saves enough.
    Pays,
    /// A native library does the same work.
    NativeLibrary,
    /// The time already runs as machine code.
    AlreadyNative,
    /// No boundary small enough covers enough time.
    SpreadThin,
    /// Converting data at each crossing would cost more than the port saves.
    ConversionCost,
    /// The time is the interpreter's own machinery (resuming generators or coroutines).
    InterpreterMachinery,
    /// The time is in the program's top level: a loop to move into a function first.
    EntryPoint,
    /// The saving is below the threshold.
    TooSmall,
}

/// Why a function cannot be a boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// Too many program functions under it.
    Scope,
    /// The classes of the objects it handles would have to move too.
    Classes,
    /// A generator: a crossing per item.
    Generator,
    /// A coroutine: it suspends into a Python event loop.
    Coroutine,
    /// No arguments, called once, most of the run: the program's driver.
    Driver,
    /// Only module-level code calls it and it covers nearly all of the run.
    EntryPoint,
    /// A comprehension, generator expression or lambda: part of the function around it.
    Inner,
}

/// A function, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRef {
    /// Qualified name (`Parser.expr`).
    pub name: String,
    pub module: Option<String>,
    pub file: String,
    pub first_line: Option<u32>,
}

impl FunctionRef {
    fn of(f: &FunctionStats) -> FunctionRef {
        FunctionRef {
            name: f.name.clone(),
            module: f.module.clone(),
            file: f.file.clone(),
            first_line: f.first_line,
        }
    }

    /// Where this function is in [`Analysis::functions`].
    pub fn index_in(&self, analysis: &Analysis) -> Option<usize> {
        analysis.functions.iter().position(|f| {
            f.name == self.name && f.file == self.file && f.first_line == self.first_line
        })
    }

    /// `module.name`, or the name alone.
    pub fn dotted(&self) -> String {
        match &self.module {
            Some(m) if !m.is_empty() => format!("{m}.{}", self.name),
            _ => self.name.clone(),
        }
    }

    /// `module:name`, the form `port-advisor stub --function` takes.
    pub fn spec(&self) -> String {
        format!("{}:{}", self.module.as_deref().unwrap_or(""), self.name)
    }
}

/// Data converted at each crossing, for one argument or the return value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFlow {
    /// Argument name, or `return`.
    pub name: String,
    /// The most often observed type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Mean element count (or characters, bytes; bit length for `int`).
    pub mean_size: f64,
    /// Estimated conversion cost per call, in nanoseconds.
    pub cost_ns: f64,
}

/// One boundary considered for a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundaryOption {
    pub function: FunctionRef,
    /// Share of the run with this function on the stack.
    pub time_share: f64,
    /// Of that, the share already native.
    pub native_share: f64,
    /// Program functions with time under it: what the port would have to cover.
    pub functions: usize,
    pub calls: Option<Calls>,
    /// Crossing cost per call (overhead and conversions), in nanoseconds.
    pub crossing_ns: Option<f64>,
    /// Crossings times their cost, as a share of the run.
    pub crossing_share: Option<f64>,
    pub data: Vec<DataFlow>,
    /// What the code mostly does, which sets the expected factor.
    pub code_kind: String,
    pub factor: Span,
    /// Share of the run saved, low and high.
    pub saved: Span,
    /// Share of the run saved at the measured share, the middle factor (geometric mean) and
    /// the measured crossing cost: what the verdict is judged on. The range around it adds
    /// sampling noise, which is symmetric, but the low end stops at nothing saved, so the
    /// middle of the range overstates small regions measured from few samples.
    #[serde(default)]
    pub expected: f64,
    /// Whole-program speedup, low and high.
    pub speedup: Span,
    /// Why it cannot be the boundary, when it cannot.
    pub excluded: Option<String>,
    /// The kind of that reason.
    pub exclusion: Option<Exclusion>,
    pub chosen: bool,
}

/// A note on how ready a function is to be ported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessNote {
    /// `tests`, `history`, or a blocker kind.
    pub signal: String,
    /// Multiplier of the score (1.0: no effect).
    pub effect: f64,
    pub note: String,
}

/// One reported region of the program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub rank: usize,
    pub verdict: Verdict,
    pub reason: Reason,
    /// The verdict in one line, with its numbers.
    pub summary: String,
    /// The function to port (the chosen boundary), or the one the verdict is about.
    pub function: FunctionRef,
    /// The hot functions inside this region that started the search.
    pub hot_functions: Vec<String>,
    pub time_share: f64,
    pub self_share: f64,
    pub native_share: f64,
    pub calls: Option<Calls>,
    pub data: Vec<DataFlow>,
    pub crossing_share: Option<f64>,
    pub code_kind: String,
    pub factor: Span,
    /// Share of the run saved by the port, low and high.
    pub saved: Span,
    /// Whole-program speedup if this alone is ported, low and high.
    pub speedup: Option<Span>,
    /// Every boundary considered, innermost first.
    pub alternatives: Vec<BoundaryOption>,
    pub readiness: Vec<ReadinessNote>,
    /// The native library to use (`use library`), or crates a port would use.
    pub analogues: Vec<String>,
    /// Saving at the middle of its range times the readiness effects: the rank order.
    pub score: f64,
    /// How the numbers were reached, one line each.
    pub evidence: Vec<String>,
}

impl Candidate {
    /// A candidate about `function`, to be numbered by the ranking: no time, no saving, a
    /// factor of 1 and nothing considered yet, for its maker to fill in.
    fn new(
        verdict: Verdict,
        reason: Reason,
        summary: String,
        function: FunctionRef,
        self_share: f64,
    ) -> Candidate {
        Candidate {
            rank: 0,
            verdict,
            reason,
            summary,
            hot_functions: vec![function.name.clone()],
            function,
            time_share: 0.0,
            self_share,
            native_share: 0.0,
            calls: None,
            data: Vec::new(),
            crossing_share: None,
            code_kind: String::new(),
            factor: [1.0, 1.0],
            saved: [0.0, 0.0],
            speedup: None,
            alternatives: Vec::new(),
            readiness: Vec::new(),
            analogues: Vec::new(),
            score: 0.0,
            evidence: Vec::new(),
        }
    }

    /// With the numbers of the boundary option `o` it is judged on, the only one considered.
    fn judged_on(self, o: &BoundaryOption) -> Candidate {
        Candidate {
            time_share: o.time_share,
            native_share: o.native_share,
            calls: o.calls,
            data: o.data.clone(),
            crossing_share: o.crossing_share,
            code_kind: o.code_kind.clone(),
            factor: o.factor,
            saved: o.saved,
            alternatives: vec![o.clone()],
            ..self
        }
    }
}

/// Advice for `profile`, from its analysis.
pub fn advise(
    profile: &Profile,
    analysis: &Analysis,
    rules: &Rules,
    opts: &AdviseOptions,
) -> Advice {
    let model = Model::new(profile, analysis, rules);
    let mut candidates = model.find_candidates(opts);
    rank(&mut candidates, opts, &rules.scoring.thresholds.min_share);
    let run = model.run_samples as f64;
    let combined = if run > 0.0 {
        let ports: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| c.verdict == Verdict::Port)
            .collect();
        (!ports.is_empty()).then(|| {
            let lo: f64 = ports.iter().map(|c| c.saved[0]).sum();
            // Each high end carries its own two standard errors of sampling noise; added up
            // they could claim more than the ported regions hold. Together the regions hold
            // their summed share, with the noise of that one share.
            let share = ports.iter().map(|c| c.time_share).sum::<f64>().min(1.0);
            let noise = 2.0 * (share * (1.0 - share) / run).sqrt();
            let hi = ports
                .iter()
                .map(|c| c.saved[1])
                .sum::<f64>()
                .min(share + noise);
            [amdahl(lo), amdahl(hi.max(lo))]
        })
    } else {
        None
    };
    let probe = model.probe_state();
    let mut unknowns = Vec::new();
    let imported = model.profile.meta.target == crate::profile::TargetKind::Imported;
    if imported && model.profile.frames.iter().all(|f| f.code.is_none()) {
        unknowns.push(
            "The imported profile names no source line that could be read here: native time is \
             judged from function names only (rules/native.toml), so a function that calls C \
             code line by line reads as interpreted. Run the import where the program's source \
             is at the same paths, or profile one process locally."
                .into(),
        );
    }
    if !probe.available {
        unknowns.push(format!(
            "Call counts and argument data are unknown ({}): crossing costs are left out, so \
             the speedups of small functions are optimistic and the boundary choice cannot \
             weigh crossings. Profile one representative run with `port-advisor profile` to \
             measure them.",
            probe.why_not.as_deref().unwrap_or("no probe")
        ));
    }
    let m = &model.profile.meta;
    if m.ticks > 0 && m.error_ticks * 20 >= m.ticks {
        let cause = model
            .profile
            .errors
            .first()
            .map(|e| format!(" (most often: {})", e.message))
            .unwrap_or_default();
        unknowns.push(format!(
            "{:.0}% of sampling rounds could not be read{cause}: the shares cover only the \
             rest of the run.",
            100.0 * m.error_ticks as f64 / m.ticks as f64
        ));
    }
    if model.run_samples < 200 {
        unknowns.push(format!(
            "Only {} samples: shares are uncertain by several points. Run longer or raise \
             --rate.",
            model.run_samples
        ));
    }
    let elsewhere = model.elsewhere();
    Advice {
        schema: ADVICE_SCHEMA,
        command: profile.meta.command.clone(),
        python_version: profile.meta.python_version.clone(),
        wall_seconds: profile.meta.wall_seconds,
        run_samples: model.run_samples,
        probe,
        unknowns,
        combined_speedup: combined,
        elsewhere,
        candidates,
        costs_measured: format!(
            "{}, {} (CPython {}, pyo3 {})",
            rules.costs.measured.machine,
            rules.costs.measured.date,
            rules.costs.measured.python,
            rules.costs.measured.pyo3
        ),
    }
}

/// Whole-program speedup when `saved` of the run is saved.
fn amdahl(saved: f64) -> f64 {
    1.0 / (1.0 - saved.clamp(0.0, 0.999))
}

/// Orders candidates (ports by score, then libraries, then leave-its by time), drops small
/// and surplus ones, and numbers them.
fn rank(candidates: &mut Vec<Candidate>, opts: &AdviseOptions, default_min: &f64) {
    let min_share = opts.min_share.unwrap_or(*default_min);
    candidates.retain(|c| c.time_share >= min_share);
    candidates.sort_by(|a, b| {
        let group = |c: &Candidate| match c.verdict {
            Verdict::Port => 0,
            Verdict::UseLibrary => 1,
            Verdict::LeaveIt => 2,
        };
        group(a)
            .cmp(&group(b))
            .then(b.score.total_cmp(&a.score))
            .then(b.time_share.total_cmp(&a.time_share))
            .then(a.function.name.cmp(&b.function.name))
    });
    candidates.truncate(opts.top);
    for (i, c) in candidates.iter_mut().enumerate() {
        c.rank = i + 1;
    }
}

/// Where a function's code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The program's own code: what can be ported.
    Program,
    /// The standard library: pure-Python parts port along with their caller (a crate does
    /// the same job).
    Stdlib,
    /// Installed packages: a port keeps calling them.
    Library,
    /// Native code.
    Native,
}

fn origin(f: &FunctionStats) -> Origin {
    if f.kind == FrameKind::Native {
        return Origin::Native;
    }
    let file = f.file.as_str();
    if file.contains("/site-packages/") || file.contains("/dist-packages/") {
        Origin::Library
    } else if file.starts_with('<') || is_stdlib_path(file) {
        Origin::Stdlib
    } else {
        Origin::Program
    }
}

/// A file of CPython's own library (`.../lib/python3.11/json/encoder.py`).
fn is_stdlib_path(file: &str) -> bool {
    file.split('/').any(|part| {
        part.strip_prefix("python")
            .is_some_and(|v| v.starts_with(['2', '3']) && v.contains('.'))
    }) && (file.contains("/lib/python") || file.contains("/lib64/python"))
}

/// One non-idle stack, reduced to what the model needs.
struct StackFacts {
    weight: u64,
    /// Distinct functions on it, outermost first.
    functions: Vec<usize>,
    /// Its innermost function.
    leaf: usize,
    /// Native fraction of its weight.
    native: f64,
}

/// What a boundary covers.
#[derive(Debug, Default, Clone)]
struct Region {
    weight: f64,
    native: f64,
    library: f64,
    portable: f64,
    /// Portable weight per program (or stdlib) function as the innermost frame.
    by_function: HashMap<usize, f64>,
}

struct Model<'a> {
    profile: &'a Profile,
    analysis: &'a Analysis,
    rules: &'a Rules,
    stacks: Vec<StackFacts>,
    /// For each function, the stacks holding it: every question about a boundary reads only
    /// these, which keeps the search fast on fleet profiles of a million stacks.
    stacks_of: Vec<Vec<u32>>,
    origins: Vec<Origin>,
    run_samples: u64,
    sources: std::cell::RefCell<HashMap<String, Option<PyModuleInfo>>>,
    /// The folders its source files may be read from (none for a received profile).
    readable: Vec<std::path::PathBuf>,
    regions: std::cell::RefCell<HashMap<usize, Region>>,
}

impl<'a> Model<'a> {
    fn new(profile: &'a Profile, analysis: &'a Analysis, rules: &'a Rules) -> Model<'a> {
        let origins = analysis.functions.iter().map(origin).collect();
        let mut stacks = Vec::new();
        let mut per_thread: HashMap<u32, u64> = HashMap::new();
        // The last stack each function was seen on: distinct functions in one pass.
        let mut seen: Vec<usize> = vec![usize::MAX; analysis.functions.len()];
        for stack in &profile.stacks {
            *per_thread.entry(stack.thread).or_default() += stack.weight;
            if stack.idle {
                continue;
            }
            let Some(&leaf_frame) = stack.frames.last() else {
                continue;
            };
            let mut functions: Vec<usize> = Vec::with_capacity(stack.frames.len());
            for f in stack
                .frames
                .iter()
                .filter_map(|&f| analysis.frame_function.get(f as usize).copied().flatten())
            {
                if seen[f] != stacks.len() {
                    seen[f] = stacks.len();
                    functions.push(f);
                }
            }
            let Some(leaf) = analysis.frame_function[leaf_frame as usize] else {
                continue;
            };
            stacks.push(StackFacts {
                weight: stack.weight,
                functions,
                leaf,
                native: analysis
                    .leaf_native
                    .get(&leaf_frame)
                    .copied()
                    .unwrap_or(0.0),
            });
        }
        let busiest = per_thread.values().copied().max().unwrap_or(0);
        let mut stacks_of: Vec<Vec<u32>> = vec![Vec::new(); analysis.functions.len()];
        for (i, s) in stacks.iter().enumerate() {
            for &f in &s.functions {
                stacks_of[f].push(i as u32);
            }
        }
        Model {
            profile,
            analysis,
            rules,
            stacks,
            stacks_of,
            origins,
            run_samples: busiest,
            sources: Default::default(),
            readable: crate::trust::source_roots(profile),
            regions: Default::default(),
        }
    }

    fn probe_state(&self) -> ProbeState {
        match &self.profile.probe {
            Some(p) if p.unavailable.is_none() && !p.functions.is_empty() => ProbeState {
                available: true,
                why_not: None,
            },
            Some(p) => ProbeState {
                available: false,
                why_not: Some(
                    p.unavailable
                        .clone()
                        .unwrap_or_else(|| "the probe recorded no function".into()),
                ),
            },
            None => ProbeState {
                available: false,
                why_not: Some(match self.profile.meta.target {
                    crate::profile::TargetKind::Attached => {
                        "attached with --pid: the probe runs only in programs port-advisor \
                         launches"
                            .into()
                    }
                    crate::profile::TargetKind::Imported => {
                        "imported from another tool's profile, which holds none".into()
                    }
                    _ => "recorded without the probe".into(),
                }),
            },
        }
    }

    fn share(&self, weight: f64) -> f64 {
        if self.run_samples == 0 {
            0.0
        } else {
            weight / self.run_samples as f64
        }
    }

    /// What `boundary` covers; computed once per function, since every hot function under a
    /// common caller asks about it again.
    fn region(&self, boundary: usize) -> Region {
        if let Some(r) = self.regions.borrow().get(&boundary) {
            return r.clone();
        }
        let r = self.compute_region(boundary);
        self.regions.borrow_mut().insert(boundary, r.clone());
        r
    }

    fn compute_region(&self, boundary: usize) -> Region {
        let mut r = Region::default();
        for s in self.holding(boundary) {
            let w = s.weight as f64;
            r.weight += w;
            r.native += w * s.native;
            let rest = w * (1.0 - s.native);
            match self.origins[s.leaf] {
                Origin::Program | Origin::Stdlib => {
                    r.portable += rest;
                    *r.by_function.entry(s.leaf).or_default() += rest;
                }
                Origin::Library | Origin::Native => r.library += rest,
            }
        }
        r
    }

    /// The stacks holding function `f`.
    fn holding(&self, f: usize) -> impl Iterator<Item = &StackFacts> + '_ {
        self.stacks_of
            .get(f)
            .into_iter()
            .flatten()
            .map(|&i| &self.stacks[i as usize])
    }

    /// Interpreted weight charged to the innermost program function of each stack (its own
    /// lines and the standard library's Python under it), and native weight likewise.
    fn deepest_program_weights(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.analysis.functions.len();
        let (mut interpreted, mut native) = (vec![0.0; n], vec![0.0; n]);
        for s in &self.stacks {
            let deepest = s
                .functions
                .iter()
                .copied()
                .rev()
                .find(|&f| self.origins[f] == Origin::Program && !self.is_module_body(f));
            if let Some(f) = deepest {
                let w = s.weight as f64;
                native[f] += w * s.native;
                if self.origins[s.leaf] != Origin::Library {
                    interpreted[f] += w * (1.0 - s.native);
                }
            }
        }
        (interpreted, native)
    }

    /// The share of `f`'s inclusive weight on stacks that also hold `b`.
    fn within(&self, f: usize, b: usize) -> f64 {
        let (mut all, mut inside) = (0u64, 0u64);
        for s in self.holding(f) {
            all += s.weight;
            if s.functions.contains(&b) {
                inside += s.weight;
            }
        }
        if all == 0 {
            0.0
        } else {
            inside as f64 / all as f64
        }
    }

    fn is_module_body(&self, f: usize) -> bool {
        self.analysis.functions[f].name.ends_with("<module>")
    }

    fn source_of(&self, f: usize) -> Option<PyFunction> {
        let stats = &self.analysis.functions[f];
        let path = self.profile.source_path(&stats.file);
        let key = path.display().to_string();
        let mut cache = self.sources.borrow_mut();
        let module = cache.entry(key).or_insert_with(|| {
            let text = crate::trust::read_under(&self.readable, &path)?;
            pysource::parse_source(&text).ok()
        });
        module
            .as_ref()?
            .find(&stats.name, stats.first_line)
            .cloned()
    }

    fn probed(&self, f: usize) -> Option<&ProbedFunction> {
        let stats = &self.analysis.functions[f];
        self.profile.probed_function(&stats.file, &stats.name)
    }

    /// The heaviest caller of `f` that could be a boundary.
    fn heaviest_caller(&self, f: usize, chain: &[usize]) -> Option<usize> {
        self.analysis
            .callers(f)
            .into_iter()
            .map(|e| e.caller)
            .find(|&c| {
                self.origins[c] == Origin::Program && !self.is_module_body(c) && !chain.contains(&c)
            })
    }

    /// Every region worth reporting, unranked: the boundary search from each hot function,
    /// the program's mostly native regions no port covers, leave-its under one boundary
    /// grouped into one, the pure-Python libraries with a native replacement; with readiness
    /// notes on all but the leave-its when asked.
    fn find_candidates(&self, opts: &AdviseOptions) -> Vec<Candidate> {
        let t = &self.rules.scoring.thresholds;
        let (interpreted, native) = self.deepest_program_weights();
        let mut out: Vec<Candidate> = Vec::new();
        // Function -> the candidate whose region covers it.
        let mut covered: HashMap<usize, usize> = HashMap::new();
        // Chosen boundaries of port (and library) candidates, with the candidate's index.
        let mut boundaries: Vec<(usize, usize)> = Vec::new();

        let mut seeds: Vec<usize> = (0..self.analysis.functions.len())
            .filter(|&f| self.share(interpreted[f]) >= t.seed_share)
            .collect();
        seeds.sort_by(|&a, &b| interpreted[b].total_cmp(&interpreted[a]).then(a.cmp(&b)));

        for &seed in &seeds {
            let covering = covered.get(&seed).copied().or_else(|| {
                boundaries
                    .iter()
                    .find(|&&(b, _)| self.within(seed, b) >= 0.5)
                    .map(|&(_, c)| c)
            });
            if let Some(c) = covering {
                out[c]
                    .hot_functions
                    .push(self.analysis.functions[seed].name.clone());
                continue;
            }
            let candidate = self.search(seed);
            let boundary = candidate.function.index_in(self.analysis);
            let index = out.len();
            if let Some(b) = boundary.filter(|_| candidate.verdict != Verdict::LeaveIt) {
                if let Some(&(_, same)) = boundaries.iter().find(|&&(x, _)| x == b) {
                    // Another hot function already chose this boundary.
                    out[same]
                        .hot_functions
                        .push(self.analysis.functions[seed].name.clone());
                    covered.insert(seed, same);
                    continue;
                }
                boundaries.push((b, index));
                // Every function whose time mostly lies inside the region is covered by it.
                let region = self.region(b);
                for (&f, &w) in &region.by_function {
                    if w >= 0.5 * interpreted[f].max(1e-9) {
                        covered.entry(f).or_insert(index);
                    }
                }
                covered.entry(b).or_insert(index);
            }
            covered.entry(seed).or_insert(index);
            out.push(candidate);
        }

        // Regions that are mostly native, where no port candidate covers them.
        let mut natives: Vec<usize> = (0..self.analysis.functions.len())
            .filter(|&f| {
                let s = &self.analysis.functions[f];
                self.origins[f] == Origin::Program
                    && !covered.contains_key(&f)
                    && self.share(native[f]) >= t.min_share
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
                .filter(|&&g| self.within(g, f) >= 0.5)
                .map(|&g| self.analysis.functions[g].native_weight)
                .sum();
            if total > 0.0 && inside >= 0.8 * total {
                continue;
            }
            listed.push(f);
            out.push(self.already_native(f));
        }

        let mut out = group_leave_its(out);
        out.extend(self.library_analogues(t.analogue_share));
        if opts.readiness {
            for c in out.iter_mut().filter(|c| c.verdict != Verdict::LeaveIt) {
                self.add_readiness(c);
            }
        }
        out
    }

    /// The boundary search for one hot function.
    fn search(&self, seed: usize) -> Candidate {
        let t = &self.rules.scoring.thresholds;
        let mut chain = vec![seed];
        while chain.len() <= t.max_ancestors {
            let last = *chain.last().expect("not empty");
            match self.heaviest_caller(last, &chain) {
                Some(c) => chain.push(c),
                None => break,
            }
        }
        let mut options: Vec<BoundaryOption> = chain.iter().map(|&f| self.option(f)).collect();

        let choosable = |o: &BoundaryOption| o.excluded.is_none();
        let mid = |o: &BoundaryOption| (o.saved[0] + o.saved[1]) / 2.0;
        let best = options
            .iter()
            .filter(|o| choosable(o))
            .map(mid)
            .fold(f64::NEG_INFINITY, f64::max);
        // Within the tolerance of the best saving (below it, when even the best loses time).
        let bar = best - (1.0 - t.boundary_tolerance) * best.abs();
        let chosen = options
            .iter()
            .enumerate()
            .filter(|(_, o)| choosable(o) && mid(o) >= bar)
            .min_by_key(|(i, o)| (o.functions, *i))
            .map(|(i, _)| i);
        if let Some(i) = chosen {
            options[i].chosen = true;
        }
        let seed_stats = &self.analysis.functions[seed];
        let pick = chosen.unwrap_or(0);
        let o = options[pick].clone();
        let verdict_reason = self.judge(seed, &options, chosen);
        let (verdict, reason) = verdict_reason;
        let boundary = chain[pick];
        let b_stats = &self.analysis.functions[boundary];
        let mut analogues = Vec::new();
        if reason == Reason::NativeLibrary {
            for f in [boundary, seed] {
                if let Some(a) = self
                    .rules
                    .analogue_for_name(&self.analysis.functions[f].name)
                {
                    analogues.push(format!(
                        "{}: {} ({})",
                        a.use_instead.as_deref().unwrap_or(""),
                        a.why,
                        a.example
                    ));
                    break;
                }
            }
        }
        if verdict == Verdict::Port {
            if let Some(src) = self.source_of(boundary) {
                for (rule, callee) in self.rules.crates_for_calls(&src.features.called_names) {
                    analogues.push(format!(
                        "crate {} for {callee}: {}",
                        rule.rust_crate.as_deref().unwrap_or(""),
                        rule.why
                    ));
                }
            }
        }
        let evidence = self.evidence(&o, seed, boundary);
        let summary = self.summary(verdict, reason, &o, &options, seed_stats);
        let self_share = self.share(b_stats.self_weight as f64);
        let mut c = Candidate::new(
            verdict,
            reason,
            summary,
            FunctionRef::of(b_stats),
            self_share,
        )
        .judged_on(&o);
        c.hot_functions = vec![seed_stats.name.clone()];
        if verdict == Verdict::Port {
            c.speedup = Some(o.speedup);
            c.score = mid(&o).max(0.0);
        }
        c.alternatives = options;
        c.analogues = analogues;
        c.evidence = evidence;
        c
    }

    /// The verdict for a searched region.
    fn judge(
        &self,
        seed: usize,
        options: &[BoundaryOption],
        chosen: Option<usize>,
    ) -> (Verdict, Reason) {
        let t = &self.rules.scoring.thresholds;
        let seed_name = &self.analysis.functions[seed].name;
        if self.rules.analogue_for_name(seed_name).is_some() {
            return (Verdict::UseLibrary, Reason::NativeLibrary);
        }
        let excluded_as = |kinds: &[Exclusion]| {
            options
                .iter()
                .any(|o| o.exclusion.is_some_and(|e| kinds.contains(&e)))
        };
        let machinery = excluded_as(&[Exclusion::Generator, Exclusion::Coroutine]);
        let Some(i) = chosen else {
            let reason = if machinery {
                Reason::InterpreterMachinery
            } else if options[0].exclusion.is_some_and(|e| {
                matches!(
                    e,
                    Exclusion::EntryPoint | Exclusion::Driver | Exclusion::Inner
                )
            }) {
                Reason::EntryPoint
            } else {
                Reason::SpreadThin
            };
            return (Verdict::LeaveIt, reason);
        };
        let o = &options[i];
        if o.native_share >= t.already_native {
            return (Verdict::LeaveIt, Reason::AlreadyNative);
        }
        if o.expected >= t.min_gain {
            return (Verdict::Port, Reason::Pays);
        }
        let crossing_eats = o.crossing_share.is_some_and(|c| {
            let gain_without = o.time_share * (1.0 - o.native_share) * (1.0 - 1.0 / o.factor[1]);
            c >= 0.5 * gain_without
        });
        if crossing_eats {
            return (Verdict::LeaveIt, Reason::ConversionCost);
        }
        if machinery {
            return (Verdict::LeaveIt, Reason::InterpreterMachinery);
        }
        // Would a bigger boundary, excluded for its size, have paid? Then the time is spread.
        let spread = options.iter().any(|x| {
            x.exclusion
                .is_some_and(|e| matches!(e, Exclusion::Scope | Exclusion::Classes))
                && x.expected >= t.min_gain
        });
        if spread {
            return (Verdict::LeaveIt, Reason::SpreadThin);
        }
        (Verdict::LeaveIt, Reason::TooSmall)
    }

    /// The estimate for porting `f` as the boundary.
    fn option(&self, f: usize) -> BoundaryOption {
        let t = &self.rules.scoring.thresholds;
        let stats = &self.analysis.functions[f];
        let region = self.region(f);
        let run = self.run_samples.max(1) as f64;
        let time_share = region.weight / run;
        let native_share = if region.weight > 0.0 {
            region.native / region.weight
        } else {
            0.0
        };
        let scope = region
            .by_function
            .keys()
            .filter(|&&g| self.origins[g] == Origin::Program)
            .count()
            .max(1);
        let kind = self.code_kind(&region);
        let factor = kind.factor(&self.rules.scoring.factors);

        let probed = self.probed(f);
        let calls = stats.calls;
        let data = probed.map(|p| self.data_flows(p)).unwrap_or_default();
        let crossing_ns = calls.map(|_| {
            self.rules.costs.call.overhead_ns + data.iter().map(|d| d.cost_ns).sum::<f64>()
        });
        let seconds_per_sample = if self.run_samples > 0 {
            self.profile.meta.wall_seconds / run
        } else {
            0.0
        };
        // Crossing cost in samples, at the low and high ends.
        let crossing = match (calls, crossing_ns) {
            (Some(c), Some(ns)) if seconds_per_sample > 0.0 => {
                let samples = |n: f64| n * ns * 1e-9 / seconds_per_sample;
                Some([
                    samples(c.count.saturating_add(c.error) as f64) * t.conversion_uncertainty,
                    samples(c.count.saturating_sub(c.error) as f64),
                ])
            }
            _ => None,
        };
        // Sampling noise on the region's share: two standard errors.
        let p = (region.weight / run).clamp(0.0, 1.0);
        let noise = 2.0 * (p * (1.0 - p) / run).sqrt() * run;
        let portable_frac = if region.weight > 0.0 {
            region.portable / region.weight
        } else {
            0.0
        };
        let saved_at = |factor: f64, weight: f64, crossing: f64| {
            let portable = weight * portable_frac;
            (portable - portable / factor - crossing) / run
        };
        let lo = saved_at(
            factor[0],
            (region.weight - noise).max(0.0),
            crossing.map_or(0.0, |c| c[0]),
        );
        let hi = saved_at(
            factor[1],
            (region.weight + noise).min(run),
            crossing.map_or(0.0, |c| c[1]),
        );

        let source = self.source_of(f);
        let exclusion = self.exclusion(f, source.as_ref(), probed, calls, scope, time_share);
        let (exclusion, excluded) = exclusion.unzip();
        BoundaryOption {
            function: FunctionRef::of(stats),
            time_share,
            native_share,
            functions: scope,
            calls,
            crossing_ns,
            crossing_share: crossing.map(|c| c[1] / run),
            data,
            code_kind: kind.name().into(),
            factor,
            saved: [lo.min(hi), hi.max(lo)],
            expected: saved_at(
                (factor[0] * factor[1]).sqrt(),
                region.weight,
                crossing.map_or(0.0, |c| (c[0] + c[1]) / 2.0),
            ),
            speedup: [amdahl(lo.min(hi)), amdahl(hi.max(lo))],
            excluded,
            exclusion,
            chosen: false,
        }
    }

    /// Why `f` cannot be a boundary, when it cannot.
    fn exclusion(
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
        self.analysis
            .callers(f)
            .iter()
            .all(|e| self.origins[e.caller] != Origin::Program || self.is_module_body(e.caller))
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
                self.origins[*i] == Origin::Program
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

    /// Argument and return conversions observed by the probe, each at its mean size.
    fn data_flows(&self, p: &ProbedFunction) -> Vec<DataFlow> {
        let mut by_name: BTreeMap<(bool, String), Vec<&TypeObservation>> = BTreeMap::new();
        for obs in &p.args {
            by_name
                .entry((false, obs.name.clone()))
                .or_default()
                .push(obs);
        }
        for obs in &p.returns {
            by_name
                .entry((true, obs.name.clone()))
                .or_default()
                .push(obs);
        }
        let mut flows = Vec::new();
        for ((is_return, name), observations) in by_name {
            let direction = if is_return {
                Direction::Return
            } else {
                Direction::Argument
            };
            let total: u64 = observations
                .iter()
                .map(|o| o.count)
                .fold(0u64, u64::saturating_add)
                .max(1);
            let mut cost = 0.0;
            for obs in &observations {
                cost += obs.count as f64 / total as f64 * self.conversion_ns(obs, direction);
            }
            let top = observations
                .iter()
                .max_by_key(|o| o.count)
                .expect("at least one observation");
            flows.push(DataFlow {
                name,
                type_name: top.type_name.clone(),
                mean_size: top.mean_size,
                cost_ns: cost,
            });
        }
        flows
    }

    fn conversion_ns(&self, obs: &TypeObservation, direction: Direction) -> f64 {
        if obs.type_name == "NoneType" {
            return 0.0;
        }
        let Some(c) = self.rules.costs.conversion(&obs.type_name, direction) else {
            return 0.0;
        };
        // For `int` the observed size is a bit length, not an element count.
        let elements =
            if obs.type_name == "int" || obs.type_name == "float" || obs.type_name == "bool" {
                0.0
            } else {
                obs.mean_size
            };
        c.per_call_ns + c.per_element_ns * elements
    }

    fn code_kind(&self, region: &Region) -> CodeKind {
        let mut votes: HashMap<CodeKind, f64> = HashMap::new();
        let mut total = 0.0;
        for (&f, &w) in &region.by_function {
            if self.origins[f] != Origin::Program {
                continue;
            }
            let kind = self
                .source_of(f)
                .map(|s| CodeKind::of(&s))
                .unwrap_or(CodeKind::Mixed);
            *votes.entry(kind).or_default() += w;
            total += w;
        }
        votes
            .into_iter()
            .filter(|(_, w)| total > 0.0 && *w >= 0.6 * total)
            .map(|(k, _)| k)
            .next()
            .unwrap_or(CodeKind::Mixed)
    }

    fn evidence(&self, o: &BoundaryOption, seed: usize, boundary: usize) -> Vec<String> {
        let mut e = Vec::new();
        let seed_stats = &self.analysis.functions[seed];
        e.push(format!(
            "{} has {:.1}% of the run as its own interpreted time",
            seed_stats.name,
            100.0
                * self.analysis.share(seed_stats.self_weight)
                * (1.0 - self.self_native_fraction(seed))
        ));
        if boundary != seed {
            e.push(format!(
                "{} calls it and covers {:.1}% of the run",
                o.function.name,
                100.0 * o.time_share
            ));
        }
        e.push(format!(
            "{:.0}% of that is already native; the rest is {} code, expected {:.0}x-{:.0}x faster in Rust",
            100.0 * o.native_share,
            o.code_kind,
            o.factor[0],
            o.factor[1]
        ));
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

    fn self_native_fraction(&self, f: usize) -> f64 {
        let (mut w, mut n) = (0.0, 0.0);
        for s in self.holding(f).filter(|s| s.leaf == f) {
            w += s.weight as f64;
            n += s.weight as f64 * s.native;
        }
        if w > 0.0 {
            n / w
        } else {
            0.0
        }
    }

    fn summary(
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
                let mut s = format!(
                    "port {}: {:.1}x-{:.1}x for the whole program, {} of the run",
                    o.function.name,
                    o.speedup[0],
                    o.speedup[1],
                    pct(o.time_share)
                );
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
            (_, Reason::EntryPoint) => {
                let library = self
                    .analysis
                    .functions
                    .iter()
                    .position(|f| std::ptr::eq(f, seed))
                    .map(|i| self.region(i))
                    .filter(|r| r.weight > 0.0)
                    .map_or(0.0, |r| r.library / r.weight);
                if library >= 0.5 {
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
            _ => format!("saves at most {} of the run", pct(o.saved[1].max(0.0))),
        }
    }

    /// A program function whose time is mostly native.
    fn already_native(&self, f: usize) -> Candidate {
        let o = self.option(f);
        let stats = &self.analysis.functions[f];
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
        let self_share = self.share(stats.self_weight as f64);
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

    /// Interpreted time whose innermost frame is not the program's, by top-level package.
    fn elsewhere(&self) -> Vec<PackageTime> {
        let mut by_package: HashMap<(String, &'static str), f64> = HashMap::new();
        for s in &self.stacks {
            let origin = match self.origins[s.leaf] {
                Origin::Library => "library",
                Origin::Stdlib => "stdlib",
                Origin::Program | Origin::Native => continue,
            };
            let leaf = &self.analysis.functions[s.leaf];
            // Code compiled at run time (`<string>`, a decorator's generated wrapper) has no
            // package to name.
            let Some(package) = leaf
                .module
                .as_deref()
                .and_then(|m| m.split('.').next())
                .filter(|p| !p.is_empty() && !p.starts_with('<'))
            else {
                continue;
            };
            *by_package.entry((package.to_owned(), origin)).or_default() +=
                s.weight as f64 * (1.0 - s.native);
        }
        let mut out: Vec<PackageTime> = by_package
            .into_iter()
            .map(|((package, origin), w)| PackageTime {
                package,
                origin: origin.into(),
                share: self.share(w),
            })
            .filter(|p| p.share >= ELSEWHERE_MIN_SHARE)
            .collect();
        out.sort_by(|a, b| {
            b.share
                .total_cmp(&a.share)
                .then_with(|| a.package.cmp(&b.package))
        });
        out.truncate(ELSEWHERE_TOP);
        out
    }

    /// Pure-Python libraries with a native replacement, by the share of their code.
    fn library_analogues(&self, min_share: f64) -> Vec<Candidate> {
        let mut by_module: HashMap<String, (f64, usize)> = HashMap::new();
        for s in &self.stacks {
            let leaf = &self.analysis.functions[s.leaf];
            if self.origins[s.leaf] == Origin::Program || leaf.kind == FrameKind::Native {
                continue;
            }
            let Some(module) = leaf.module.as_deref() else {
                continue;
            };
            if self.rules.analogue_for_module(module).is_none() {
                continue;
            }
            // The outermost frame of that module on the stack: the library's entry point.
            let entry = s
                .functions
                .iter()
                .copied()
                .find(|&f| self.analysis.functions[f].module.as_deref() == Some(module))
                .unwrap_or(s.leaf);
            let e = by_module.entry(module.to_owned()).or_insert((0.0, entry));
            e.0 += s.weight as f64 * (1.0 - s.native);
        }
        // One candidate per analogue rule, summing its modules.
        let mut by_rule: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for (module, (w, entry)) in by_module {
            let rule = self.rules.analogue_for_module(&module).expect("filtered");
            let key = rule.module.clone().unwrap_or_default();
            let e = by_rule.entry(key).or_insert((0.0, entry));
            e.0 += w;
        }
        let mut out = Vec::new();
        for (pattern, (w, entry)) in by_rule {
            let share = self.share(w);
            if share < min_share {
                continue;
            }
            let stats = &self.analysis.functions[entry];
            let rule = self
                .rules
                .analogues
                .iter()
                .rev()
                .find(|a| a.module.as_deref() == Some(pattern.as_str()))
                .expect("found above");
            let use_instead = rule.use_instead.clone().unwrap_or_default();
            let self_share = self.share(stats.self_weight as f64);
            let summary = format!(
                "use {use_instead}: {:.0}% of the run is {} ({})",
                100.0 * share,
                rule.what,
                rule.example
            );
            let mut c = Candidate::new(
                Verdict::UseLibrary,
                Reason::NativeLibrary,
                summary,
                FunctionRef::of(stats),
                self_share,
            );
            c.time_share = share;
            c.native_share = stats.native_share();
            c.calls = stats.calls;
            c.analogues = vec![format!("{use_instead}: {}", rule.why)];
            c.score = share;
            c.evidence = vec![format!(
                "interpreted time in {pattern}: {:.1}% of the run",
                100.0 * share
            )];
            out.push(c);
        }
        out
    }

    /// Tests, history and blockers of a candidate's function, as score multipliers.
    fn add_readiness(&self, c: &mut Candidate) {
        let w = &self.rules.scoring.readiness;
        let Some(f) = c.function.index_in(self.analysis) else {
            return;
        };
        if self.origins[f] != Origin::Program {
            return;
        }
        if self.profile.provenance != crate::profile::Provenance::Local {
            c.readiness.push(ReadinessNote {
                signal: "source".into(),
                effect: 1.0,
                note: format!(
                    "tests, history and blockers unknown: {}",
                    crate::trust::RECEIVED_NOTE
                ),
            });
            return;
        }
        let Some(src) = self.source_of(f) else {
            c.readiness.push(ReadinessNote {
                signal: "source".into(),
                effect: 1.0,
                note: "source not found: tests, history and blockers unknown".into(),
            });
            return;
        };
        let mut notes = Vec::new();
        let mut seen = HashSet::new();
        for b in readiness::blockers(&src) {
            if !seen.insert(b.kind) {
                continue;
            }
            let effect = match b.kind {
                BlockerKind::EvalExec => w.eval_exec,
                BlockerKind::Callback => w.callback,
                BlockerKind::Generator => w.generator,
                BlockerKind::Coroutine => w.coroutine,
                BlockerKind::DynamicAttributes => w.dynamic_attributes,
                BlockerKind::GlobalState => w.global_state,
            };
            notes.push(ReadinessNote {
                signal: format!("{:?}", b.kind).to_lowercase(),
                effect,
                note: format!("line {}: {}; it {}", b.line, b.detail, b.kind.reason()),
            });
        }
        let path = self.profile.source_path(&c.function.file);
        let root = project_root(&path, self.profile.meta.cwd.as_deref(), &self.readable);
        let module = c.function.module.clone().unwrap_or_default();
        let tests = readiness::tests_for(&root, &module, src.class_name.as_deref(), &src.name);
        if tests.is_empty() {
            notes.push(ReadinessNote {
                signal: "tests".into(),
                effect: w.untested,
                note: format!(
                    "no test file under {} refers to {}: write tests before porting (the \
                     generated stub's parity test replays recorded calls)",
                    root.display(),
                    src.name
                ),
            });
        } else {
            let first = &tests[0];
            notes.push(ReadinessNote {
                signal: "tests".into(),
                effect: 1.0,
                note: format!(
                    "tested: {} reference{} (first {}:{})",
                    tests.len(),
                    if tests.len() == 1 { "" } else { "s" },
                    first.file.display(),
                    first.line
                ),
            });
        }
        if let Some(h) = readiness::history(&path, src.decorator_line, src.last_line) {
            let unstable = h.commits > w.unstable_commits;
            notes.push(ReadinessNote {
                signal: "history".into(),
                effect: if unstable { w.unstable } else { 1.0 },
                note: format!(
                    "{} commit{} by {} author{} changed it{}{}",
                    h.commits,
                    if h.commits == 1 { "" } else { "s" },
                    h.authors,
                    if h.authors == 1 { "" } else { "s" },
                    h.last_change
                        .as_deref()
                        .map(|d| format!(", last on {d}"))
                        .unwrap_or_default(),
                    if unstable { ": still changing" } else { "" }
                ),
            });
        }
        for n in &notes {
            c.score *= n.effect;
        }
        c.readiness = notes;
    }
}

/// One candidate per reason and outermost boundary considered among the leave-its of the
/// boundary search: nine tiny methods under one simulation loop are one "spread thin".
fn group_leave_its(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for c in candidates {
        // A comprehension's seed lands on the function around it: one row per function.
        if c.verdict == Verdict::LeaveIt {
            if let Some(same) = out.iter_mut().find(|o| o.function == c.function) {
                for name in c.hot_functions {
                    if !same.hot_functions.contains(&name) {
                        same.hot_functions.push(name);
                    }
                }
                continue;
            }
        }
        let groupable = c.verdict == Verdict::LeaveIt
            && matches!(
                c.reason,
                Reason::SpreadThin | Reason::InterpreterMachinery | Reason::TooSmall
            );
        let top = |c: &Candidate| c.alternatives.last().map(|o| o.function.clone());
        let same = out.iter_mut().find(|o| {
            groupable && o.verdict == Verdict::LeaveIt && o.reason == c.reason && top(o) == top(&c)
        });
        match same {
            Some(group) => {
                for name in c.hot_functions {
                    if !group.hot_functions.contains(&name) {
                        group.hot_functions.push(name);
                    }
                }
                group.self_share += c.self_share;
                if c.time_share > group.time_share {
                    group.time_share = c.time_share;
                }
                let names = group.hot_functions.clone();
                group.summary =
                    grouped_summary(group.reason, &names, group.self_share, &group.summary);
            }
            None => out.push(c),
        }
    }
    out
}

fn grouped_summary(reason: Reason, names: &[String], self_share: f64, first: &str) -> String {
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

/// The folder tests are looked for in: the git work tree holding `file`, else the recording's
/// working directory, else the file's folder.
fn project_root(file: &Path, cwd: Option<&str>, readable: &[PathBuf]) -> PathBuf {
    let mut dir = file.parent();
    // A repository above the folders sources may be read from is not searched for tests.
    while let Some(d) = dir.filter(|d| crate::trust::allowed(readable, d).is_some()) {
        if d.join(".git").exists() {
            return d.to_path_buf();
        }
        dir = d.parent();
    }
    cwd.map(PathBuf::from)
        .or_else(|| file.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// What a function mostly does, which sets how much faster Rust runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CodeKind {
    Numeric,
    Text,
    Containers,
    Objects,
    Mixed,
}

impl CodeKind {
    fn of(f: &PyFunction) -> CodeKind {
        let x = &f.features;
        let scores = [
            (
                CodeKind::Numeric,
                x.arithmetic as f64 + x.comparisons as f64 * 0.5,
            ),
            (CodeKind::Text, x.string_methods as f64 * 3.0),
            (CodeKind::Containers, x.subscripts as f64),
            (CodeKind::Objects, x.attribute_loads as f64),
        ];
        let total: f64 = scores.iter().map(|s| s.1).sum();
        scores
            .iter()
            .filter(|(_, s)| total > 0.0 && *s >= 0.5 * total)
            .map(|(k, _)| *k)
            .next()
            .unwrap_or(CodeKind::Mixed)
    }

    fn name(self) -> &'static str {
        match self {
            CodeKind::Numeric => "numeric",
            CodeKind::Text => "text",
            CodeKind::Containers => "container",
            CodeKind::Objects => "object",
            CodeKind::Mixed => "mixed",
        }
    }

    fn factor(self, f: &crate::rules::Factors) -> Span {
        match self {
            CodeKind::Numeric => f.numeric,
            CodeKind::Text => f.text,
            CodeKind::Containers => f.containers,
            CodeKind::Objects => f.objects,
            CodeKind::Mixed => f.mixed,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdlib_paths_are_recognised() {
        assert!(is_stdlib_path(
            "/root/.pyenv/versions/3.11.7/lib/python3.11/json/encoder.py"
        ));
        assert!(is_stdlib_path("/usr/lib/python3.11/re/__init__.py"));
        assert!(!is_stdlib_path("/home/me/python3.11-tools/app.py"));
        assert!(!is_stdlib_path("/home/me/app.py"));
    }

    #[test]
    fn time_in_installed_packages_and_the_stdlib_is_told_by_package() {
        use crate::analyze::{analyze, AnalyzeOptions};
        use crate::profile::{Frame, Meta, ProfileBuilder};
        let frame = |name: &str, file: &str, module: &str| Frame {
            name: name.into(),
            qualname: None,
            file: file.into(),
            first_line: None,
            line: Some(3),
            module: Some(module.into()),
            kind: FrameKind::Python,
            code: None,
        };
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 1, None);
        let main = b.intern_frame(frame("main", "/home/me/app.py", "app"));
        let site = "/venv/lib/python3.11/site-packages/networkx/algorithms/centrality.py";
        let nx = b.intern_frame(frame("betweenness", site, "networkx.algorithms.centrality"));
        let stdlib = "/usr/lib/python3.11/heapq.py";
        let heap = b.intern_frame(frame("heappush", stdlib, "heapq"));
        for _ in 0..80 {
            b.add_stack(t, vec![main, nx], false, true, false);
        }
        for _ in 0..15 {
            b.add_stack(t, vec![main, nx, heap], false, true, false);
        }
        for _ in 0..5 {
            b.add_stack(t, vec![main], false, true, false);
        }
        let p = b.to_profile(Meta::default());
        let rules = Rules::load(None).unwrap();
        let a = analyze(&p, &AnalyzeOptions::default());
        let advice = advise(&p, &a, &rules, &AdviseOptions::default());
        let got: Vec<(&str, &str, u32)> = advice
            .elsewhere
            .iter()
            .map(|p| {
                let share = (100.0 * p.share).round() as u32;
                (p.package.as_str(), p.origin.as_str(), share)
            })
            .collect();
        assert_eq!(got, [("networkx", "library", 80), ("heapq", "stdlib", 15)]);
        // networkx has a native replacement in rules/analogues.toml.
        let library = &advice.candidates[0];
        assert_eq!(library.verdict, Verdict::UseLibrary, "{}", library.summary);
        assert!(
            library.summary.starts_with("use rustworkx"),
            "{}",
            library.summary
        );
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn the_kind_of_code_comes_from_what_the_body_does() {
        let src = "def mean_sq(xs):\n    t = 0.0\n    for x in xs:\n        t += x * x - 1\n    return t / len(xs)\n\n\ndef shout(words):\n    return ' '.join(w.upper().strip() for w in words)\n";
        let m = pysource::parse_source(src).unwrap();
        assert_eq!(
            CodeKind::of(m.find("mean_sq", None).unwrap()),
            CodeKind::Numeric
        );
        assert_eq!(CodeKind::of(m.find("shout", None).unwrap()), CodeKind::Text);
    }

    fn leave_it(name: &str, reason: Reason, top: &str) -> Candidate {
        let f = FunctionRef {
            name: top.into(),
            module: None,
            file: "app.py".into(),
            first_line: None,
        };
        let option = BoundaryOption {
            function: f.clone(),
            time_share: 0.9,
            native_share: 0.0,
            functions: 20,
            calls: None,
            crossing_ns: None,
            crossing_share: None,
            data: Vec::new(),
            code_kind: "object".into(),
            factor: [1.5, 4.0],
            saved: [0.0, 0.0],
            expected: 0.0,
            speedup: [1.0, 1.0],
            excluded: Some("too big".into()),
            exclusion: Some(Exclusion::Scope),
            chosen: false,
        };
        Candidate {
            rank: 0,
            verdict: Verdict::LeaveIt,
            reason,
            summary: format!("{name} alone"),
            function: FunctionRef {
                name: name.into(),
                ..f
            },
            hot_functions: vec![name.into()],
            time_share: 0.05,
            self_share: 0.04,
            native_share: 0.0,
            calls: None,
            data: Vec::new(),
            crossing_share: None,
            code_kind: "object".into(),
            factor: [1.5, 4.0],
            saved: [0.0, 0.0],
            speedup: None,
            alternatives: vec![option],
            readiness: Vec::new(),
            analogues: Vec::new(),
            score: 0.0,
            evidence: Vec::new(),
        }
    }

    #[test]
    fn leave_its_under_one_boundary_become_one_row() {
        let grouped = group_leave_its(vec![
            leave_it("Vec.add", Reason::SpreadThin, "World.step"),
            leave_it("Vec.scale", Reason::SpreadThin, "World.step"),
            leave_it("Box.hit", Reason::SpreadThin, "Other.loop"),
            leave_it("parse", Reason::InterpreterMachinery, "World.step"),
        ]);
        assert_eq!(grouped.len(), 3);
        assert_eq!(grouped[0].hot_functions, ["Vec.add", "Vec.scale"]);
        assert!((grouped[0].self_share - 0.08).abs() < 1e-9);
        assert!(
            grouped[0].summary.contains("2 functions"),
            "{}",
            grouped[0].summary
        );
    }

    #[test]
    fn amdahl_bounds_the_saving() {
        assert_eq!(amdahl(0.0), 1.0);
        assert!((amdahl(0.5) - 2.0).abs() < 1e-9);
        assert!(amdahl(1.0).is_finite());
    }
}
