//! The advice as `report.json` holds it: the serde types every report format reads, documented
//! field by field, and the one constructor of a [`Candidate`].
//!
//! Plain data. It depends only on the analysis' types (a function's statistics, its call
//! count) and the rules' [`Span`]; it may not reach into the stack index, the sources or the
//! rules' knowledge. A change of any field or name here changes the JSON format (`schema`).

use serde::{Deserialize, Serialize};

use crate::analyze::{Analysis, Calls, FunctionStats};
use crate::rules::Span;

/// Version of the advice model written to `report.json`.
pub const ADVICE_SCHEMA: u32 = 1;

/// The advice for one profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackageTime {
    /// Top-level package or module (`networkx`, `importlib`).
    pub package: String,
    /// `library` (installed) or `stdlib`.
    pub origin: String,
    /// Share of the run spent interpreting its code (innermost frame in it, native time out).
    pub share: f64,
}

/// Whether the probe measured call counts and argument data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProbeState {
    pub available: bool,
    pub why_not: Option<String>,
}

/// What to do with a region of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The program mostly waits (sleep, sockets, locks, child processes): no port shortens
    /// that.
    Waiting,
    /// The time runs in a package's compiled code (mypyc, Cython): already machine code.
    Compiled,
    /// The port pays, and more so by releasing the GIL: threads that take turns on it today
    /// would run at once.
    ReleaseGil,
}

/// Why a function cannot be a boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// It holds a boundary another hot function already chose: one region, one candidate.
    Holds,
    /// It calls a Python function its caller passes in: ported alone, it would call back into
    /// Python for every call.
    Callback,
}

/// A function, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FunctionRef {
    /// Qualified name (`Parser.expr`).
    pub name: String,
    pub module: Option<String>,
    pub file: String,
    pub first_line: Option<u32>,
}

impl FunctionRef {
    pub(super) fn of(f: &FunctionStats) -> FunctionRef {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// One class of operations and its share of a boundary's interpreted time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OperationShare {
    /// The class (`arithmetic`, `index`, `call`, ...: `rules/scoring.toml` [operations]).
    pub op: String,
    pub share: f64,
}

/// One boundary considered for a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BoundaryOption {
    pub function: FunctionRef,
    /// Share of the run with this function on the stack.
    pub time_share: f64,
    /// Of that, the share already native.
    pub native_share: f64,
    /// Share of the run that is the program's interpreted code under it: what a port speeds
    /// up (the rest of its time is native, or in libraries a port keeps calling).
    #[serde(default)]
    pub portable_share: f64,
    /// Two standard errors of `portable_share`: the sampling noise of the region's share of
    /// the run and of the native pass's ratios on its lines, combined.
    #[serde(default)]
    pub portable_error: f64,
    /// Share of the whole run that the interpreter's teardown took, when the boundary is an
    /// engine whose objects move into the port: what it may save besides `portable_share`, at
    /// the top of its range (the objects alive at the end are collected then).
    #[serde(default, skip_serializing_if = "is_nothing")]
    pub teardown_share: f64,
    /// Share of the whole run in the C library's math (sin, pow, exp) under the boundary's
    /// lines: native, so not in `portable_share`, but a port calls those functions from
    /// compiled code, where they run faster; the top of `speedup` counts that saving.
    #[serde(default, skip_serializing_if = "is_nothing")]
    pub native_math_share: f64,
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
    /// Threads that took turns holding the GIL in it, when they did: a port that releases
    /// the GIL while it runs lets them run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gil: Option<GilShare>,
    /// What a port of it would have to cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<PortSize>,
    /// What its interpreted time is made of, by class of operation (from the operations of
    /// each sampled line), largest first: what the factor was priced from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<OperationShare>,
    /// The share of its interpreted time whose lines were priced by their operations; the
    /// rest took the factor of its kind of code.
    #[serde(default)]
    pub priced_share: f64,
    /// Time after the port per unit of priced time before, at least: the float operations its
    /// loops wait on one after the other, iteration after iteration, cost the port that much
    /// whatever it gains on the rest (`factor` is at most its inverse). 0 without such a loop.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub chain_floor: f64,
    /// What its functions executed, counted bytecode by bytecode in the probe's instruction
    /// windows (CPython 3.12+), by class (`rules/scoring.toml` [opcodes]) and weighed by what
    /// each class costs CPython, largest first; each function counts with its share of the
    /// interpreted time. Empty when no function under it was counted. Beside `operations`,
    /// which is read from the source: where the two disagree, the lines hide what runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executed: Vec<OperationShare>,
    /// Bytecodes counted for `executed`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub executed_bytecodes: u64,
}

fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_nothing(share: &f64) -> bool {
    *share == 0.0
}

/// The program code under a boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PortSize {
    /// Program functions with time under it.
    pub functions: usize,
    /// Classes those functions are methods of.
    pub classes: Vec<String>,
    /// Lines of those functions (their source, where it could be read).
    pub lines: u32,
}

/// Threads taking turns on the GIL inside a boundary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GilShare {
    /// Threads that ran Python under the boundary.
    pub threads: u32,
    /// Share of their samples spent waiting for the GIL instead of running.
    pub waiting: f64,
    /// Cores of the recording machine.
    pub cores: u32,
    /// Threads that could run at once after the port: the fewer of threads and cores.
    pub parallel: u32,
}

/// A note on how ready a function is to be ported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReadinessNote {
    /// `tests`, `history`, or a blocker kind.
    pub signal: String,
    /// Multiplier of the score (1.0: no effect).
    pub effect: f64,
    pub note: String,
}

/// One reported region of the program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The installed package the boundary lives in, for a port inside one (in a vendored
    /// copy, or upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

impl Candidate {
    /// A candidate about `function`, to be numbered by the ranking: no time, no saving, a
    /// factor of 1 and nothing considered yet, for its maker to fill in.
    pub(super) fn new(
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
            package: None,
        }
    }

    /// The verdict as reports show it: `port nogil` for a port that releases the GIL.
    pub fn label(&self) -> &'static str {
        match (self.verdict, self.reason) {
            (Verdict::Port, Reason::ReleaseGil) => "port nogil",
            (v, _) => v.label(),
        }
    }

    /// With the numbers of the boundary option `o` it is judged on, the only one considered.
    pub(super) fn judged_on(self, o: &BoundaryOption) -> Candidate {
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
