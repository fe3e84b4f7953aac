//! The profile model: what a recording keeps, and the contract every later stage reads.
//!
//! Frames are interned once; a stack is a root-first sequence of frame ids with a weight (the
//! number of samples that saw exactly that stack on that thread). Metadata says how the
//! samples were taken, so that shares and rates can be interpreted later without the run.
//!
//! This module depends on nothing else of ours but [`crate::error`], for the wording of a
//! failed write. It is serialized as versioned JSON (`"schema": 1`); a file of another schema
//! is refused with an error that says so.

use std::collections::{BTreeMap, HashMap};

use rustc_hash::FxHashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::UserError;

/// The version of the JSON layout written by this build.
pub const SCHEMA: u32 = 1;

/// This build's version, written into every profile it makes.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The most samples a profile may weigh in all: about 890 years at 10 kHz. A larger total is a
/// corrupt or forged file, and keeping under it lets every later sum of weights fit in a u64.
pub const MAX_WEIGHT: u64 = 1 << 48;

/// The label of a sample taken while no Python code ran on the thread. The writers of other
/// tools' formats spell it and their importers recognise it, so it belongs to the model.
pub const NO_FRAME: &str = "(no Python frame)";

/// Index of a frame in [`Profile::frames`].
pub type FrameId = u32;
/// Index of a thread in [`Profile::threads`].
pub type ThreadId = u32;

/// One recorded profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Layout version; see [`SCHEMA`].
    pub schema: u32,
    /// The port-advisor version that made this profile (recorded, imported or merged it);
    /// absent in files written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_advisor_version: Option<String>,
    pub meta: Meta,
    /// Interned frames; stacks refer to them by index.
    pub frames: Vec<Frame>,
    /// Every thread (of every process) that was sampled.
    pub threads: Vec<ThreadInfo>,
    /// Time stacks. Their weights are the time shares.
    pub stacks: Vec<Stack>,
    /// Stacks from the low-rate blocking pass that unwinds native frames (`--native`). They
    /// say *what* native code runs under a Python frame; the time shares come from `stacks`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub native_stacks: Vec<Stack>,
    /// Sampling errors, grouped by message, with how many samples each one cost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorCount>,
    /// What the in-process probe measured: call counts, argument types and sizes, examples.
    /// `None` when there was no probe (attached with `--pid`, `--no-probe`, imported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeResults>,
    /// Whether the profile may be acted on (its sources read, git run, its examples replayed):
    /// never stored in the file, decided as it is read (see `trust`).
    #[serde(skip)]
    pub provenance: Provenance,
}

/// Where a profile comes from, as far as acting on what it names goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Provenance {
    /// Read from a file not sealed here: data only. What every profile is until shown otherwise.
    #[default]
    Received,
    /// Recorded on this machine by this user, or vouched for with `--trust`.
    Local,
}

/// Results of the in-process probe.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProbeResults {
    /// How calls were observed (`sys.monitoring`), or `none`.
    pub method: String,
    /// Why there are no results, when there are none (e.g. the Python is too old).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// How long the probe ran, in seconds.
    #[serde(default)]
    pub seconds: f64,
    /// The probe's start on the system's monotonic clock (`time.monotonic()`), in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_monotonic: Option<f64>,
    #[serde(default)]
    pub functions: Vec<ProbedFunction>,
    /// What the probe cost the program and what it left out to stay within its budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<ProbeCost>,
    /// Candidates the probe did not watch, and why (Python before 3.12: recursive functions,
    /// generators and coroutines are not wrapped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unwatched: Vec<UnwatchedFunction>,
}

/// The probe's own time, and the observations it skipped.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProbeCost {
    /// Seconds spent on the program's threads describing arguments and pickling examples.
    pub observing_seconds: f64,
    /// CPU seconds of the probe's own thread (reading candidates, writing results).
    pub thread_seconds: f64,
    /// The share of wall time the probe allows itself; it skips observations beyond it.
    pub budget_share: f64,
    /// Seconds one counted bytecode of an instruction window costs the program (3.12+),
    /// measured at the first window; 0 when none opened. Included in `observing_seconds`.
    #[serde(default)]
    pub instruction_event_seconds: f64,
    #[serde(default)]
    pub skipped: ProbeSkipped,
}

/// Observations the probe left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProbeSkipped {
    /// Argument observations skipped while the probe was over its time budget.
    #[serde(default)]
    pub over_budget: u64,
    /// Functions whose examples stopped because an argument was not plain data (an object
    /// of the program's classes, say): examples are kept only of builtins and numpy arrays.
    #[serde(default)]
    pub not_plain_data: u64,
    /// Functions whose examples stopped because one was larger than the cap.
    #[serde(default)]
    pub too_large: u64,
}

/// A candidate the probe left alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UnwatchedFunction {
    pub file: String,
    pub qualname: String,
    pub why: String,
}

/// One function the probe watched.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProbedFunction {
    /// `co_filename`, as in the frames.
    pub file: String,
    /// `co_name`.
    pub name: String,
    /// `co_qualname`.
    pub qualname: String,
    /// `co_firstlineno` (the first decorator's line when decorated).
    pub first_line: u32,
    /// Calls counted, plus calls estimated while the function was too hot to count.
    pub calls: u64,
    /// True when every call was counted.
    pub calls_exact: bool,
    /// One standard error of the estimated part of `calls`.
    #[serde(default)]
    pub calls_error: u64,
    /// Seconds after start when counting began (0: from the first call).
    #[serde(default)]
    pub counted_since: f64,
    /// When counting began late: the samples (busy, inclusive) the function had by then, and
    /// in the whole run. The calls counted cover the time sampled after, so the whole run's
    /// count is the count scaled by `sampled / (sampled - sampled_before)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled_before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled: Option<u64>,
    /// The sampler found it hot enough to observe its arguments.
    pub candidate: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<TypeObservation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub returns: Vec<TypeObservation>,
    /// Calls whose arguments were observed.
    #[serde(default)]
    pub observed_calls: u64,
    /// Small real inputs and outputs, pickled then base64-encoded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Example>,
    /// Why no (more) examples were kept: `not_plain_data` or `too_large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples_skipped: Option<String>,
    /// Bytecodes the function executed in its instruction windows (CPython 3.12+), by opcode
    /// name as `dis` gives it: what its own code does, counted, not read from its source.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub instructions: BTreeMap<String, u64>,
    /// How many instruction windows counted them (each up to 4,096 bytecodes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub instruction_windows: u64,
}

/// How often an argument (or the return value) had one type, and its sizes: element count
/// for containers, length for str/bytes, bit length for int, element count for arrays.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TypeObservation {
    /// Argument name, or `return`.
    pub name: String,
    /// `float`, `list[float]`, `dict[str, int]`, `numpy.ndarray[float64]`, ...
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    pub mean_size: f64,
    pub max_size: u64,
    /// For a builtin container: what it holds, per call on average, counted through its nested
    /// containers (`int`, `float`, `str`, `container`, `entry` of a dict, `member` of a set,
    /// `object` of any other type), estimated from the first items of each. Conversions of types
    /// without a measured cost are priced by these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<BTreeMap<String, f64>>,
}

/// One recorded call: pickled keyword arguments and result (base64), `None` when they could
/// not be pickled or were too large.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Example {
    pub args: Option<String>,
    pub result: Option<String>,
}

/// How and what was recorded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// The command line of the target (argv), as launched or as read from `/proc`.
    pub command: Vec<String>,
    /// `launched` when port-advisor started the program, `attached` with `--pid`.
    pub target: TargetKind,
    /// Process id of the (root) target.
    pub pid: u32,
    /// Python version of the target, e.g. `3.11.7`, when known.
    pub python_version: Option<String>,
    /// Interpreter executable, when known.
    pub python_executable: Option<String>,
    /// Working directory of the target, used to find source files again.
    pub cwd: Option<String>,
    pub sampling: Sampling,
    /// Local start time, RFC 3339.
    pub started_at: String,
    /// Wall time from the start of sampling to its end, in seconds.
    pub wall_seconds: f64,
    /// Seconds the launched interpreter took to start before the program's first line (CPU
    /// time, as the runner measured it): part of the program's whole run that no sample
    /// covers. `None` when attached, imported, or not told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_seconds: Option<f64>,
    /// Sampling rounds taken (one round reads every thread once).
    pub ticks: u64,
    /// Thread samples kept (a round yields one per thread).
    pub samples: u64,
    /// Rounds taken later than their schedule (the sampler could not keep up).
    pub late_ticks: u64,
    /// Rounds that failed to read the target; see [`Profile::errors`].
    pub error_ticks: u64,
    /// Rounds whose non-blocking reads failed or came back cut short (they race the running
    /// program), read again with the program paused for the moment of the read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub locked_reads: u64,
    /// Rounds read with the program paused by choice (`paused` and `blocking` modes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub paused_reads: u64,
    /// Pauses that stopped a thread at a system call's edge, where a stop lands far more
    /// often than the program spends time: those rounds were read while it ran instead.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub system_call_rereads: u64,
    /// Samples dropped because they showed the probe's own code, not the program's.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub probe_samples: u64,
    /// Time-pass rounds dropped because the native pass held the program stopped meanwhile.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overlapped_ticks: u64,
    /// True when recording stopped on Ctrl-C or a signal rather than the target's exit.
    pub interrupted: bool,
    /// How the launched target ended; `None` while it still ran or when attached.
    pub exit: Option<ExitInfo>,
    /// Cores the recording machine offered (what threads released from the GIL could use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Whether port-advisor launched the program or attached to it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    #[default]
    Launched,
    Attached,
    /// Read from another tool's file (`report`, `merge`): no probe, no source at hand.
    Imported,
}

/// The sampler's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// Samples per second of the time sampler.
    pub rate_hz: u32,
    /// `paused` pauses the target for each read while the pauses stay within a small share
    /// of the run, and reads it while it runs beyond that; `blocking` pauses it at each
    /// sample; `nonblocking` reads it while it runs.
    pub mode: SamplingMode,
    /// Rate of the native (blocking, unwinding) pass, when `--native` was given.
    pub native_rate_hz: Option<u32>,
    /// Only the thread holding the GIL was kept.
    pub gil_only: bool,
    /// Child processes were sampled too.
    pub subprocesses: bool,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SamplingMode {
    #[default]
    Nonblocking,
    Blocking,
    Paused,
}

impl SamplingMode {
    /// How the summary and the HTML report name the mode.
    pub fn name(self) -> &'static str {
        match self {
            SamplingMode::Nonblocking => "non-blocking",
            SamplingMode::Blocking => "blocking",
            SamplingMode::Paused => "paused",
        }
    }
}

/// How a launched program ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExitInfo {
    /// Exit code, when it exited normally.
    pub code: Option<i32>,
    /// Signal number, when a signal ended it.
    pub signal: Option<i32>,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit status {code}"),
            (None, Some(sig)) => write!(f, "killed by signal {sig}"),
            (None, None) => write!(f, "unknown exit"),
        }
    }
}

/// Where a frame's code runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// Python bytecode.
    Python,
    /// Machine code: C/C++/Rust extensions, libpython, libc.
    Native,
}

/// One interned frame: a function at one sampled line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    /// The function's own name (`co_name`), or the native symbol.
    pub name: String,
    /// Dotted qualified name inside its module (`Class.method`, `outer.<locals>.inner`),
    /// when the source could be read.
    pub qualname: Option<String>,
    /// Source file (Python) or shared object / C source (native).
    pub file: String,
    /// First line of the function's definition, when the source could be read.
    pub first_line: Option<u32>,
    /// The line that was executing when sampled; `None` when unknown.
    pub line: Option<u32>,
    /// Python module (`json.encoder`) or shared library basename (`_json.cpython-311...so`).
    pub module: Option<String>,
    pub kind: FrameKind,
    /// The text of the sampled line (trimmed), read from the source after recording, so that
    /// a saved profile carries its own line-level evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Frame {
    /// The name a user knows the function by: qualified name when known.
    pub fn display_name(&self) -> &str {
        self.qualname.as_deref().unwrap_or(&self.name)
    }
}

/// One sampled thread.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct ThreadInfo {
    pub pid: u32,
    /// Python's thread identifier.
    pub tid: u64,
    pub name: Option<String>,
}

/// A distinct stack and how many samples saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// Frame ids, outermost first.
    pub frames: Vec<FrameId>,
    pub thread: ThreadId,
    pub weight: u64,
    /// The thread was waiting (not on CPU) when sampled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idle: bool,
    /// The thread held the GIL when sampled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gil: bool,
}

/// A sampling error message and the number of rounds it cost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ErrorCount {
    pub message: String,
    pub count: u64,
}

impl ErrorCount {
    /// Error counts by message, the most frequent first (then by message, so that equal input
    /// gives equal output whatever the order of the map they were gathered in).
    pub fn ranked(counts: impl IntoIterator<Item = (String, u64)>) -> Vec<ErrorCount> {
        let mut errors: Vec<ErrorCount> = counts
            .into_iter()
            .map(|(message, count)| ErrorCount { message, count })
            .collect();
        errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.message.cmp(&b.message)));
        errors
    }
}

impl Profile {
    /// A frame's source file on this machine: relative paths are relative to the recording's
    /// working directory.
    pub fn source_path(&self, file: &str) -> PathBuf {
        let path = Path::new(file);
        match self.meta.cwd.as_deref() {
            Some(cwd) if path.is_relative() => Path::new(cwd).join(path),
            _ => path.to_path_buf(),
        }
    }

    /// What the probe recorded of the function `qualname` (or plain name) in `file`.
    pub fn probed_function(&self, file: &str, qualname: &str) -> Option<&ProbedFunction> {
        let plain = qualname.rsplit('.').next().unwrap_or(qualname);
        self.probe
            .as_ref()?
            .functions
            .iter()
            .filter(|p| p.file == file && p.name == plain)
            .find(|p| p.qualname == qualname || p.qualname == p.name)
    }

    pub fn new(meta: Meta) -> Profile {
        Profile {
            schema: SCHEMA,
            port_advisor_version: Some(VERSION.to_owned()),
            meta,
            frames: Vec::new(),
            threads: Vec::new(),
            stacks: Vec::new(),
            native_stacks: Vec::new(),
            errors: Vec::new(),
            probe: None,
            provenance: Provenance::Received,
        }
    }

    /// Total weight of the time stacks, optionally counting idle samples.
    pub fn total_weight(&self, include_idle: bool) -> u64 {
        self.stacks
            .iter()
            .filter(|s| include_idle || !s.idle)
            .map(|s| s.weight)
            .sum()
    }

    /// Reads a profile written by [`Profile::save`], refusing other schema versions.
    pub fn load(path: &Path) -> Result<Profile> {
        let text = std::fs::read(path)
            .with_context(|| format!("cannot open profile {}", path.display()))?;
        let text = String::from_utf8_lossy(&text);
        Profile::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// A profile from its JSON form, checked: the schema version, and every index (frames
    /// and threads of each stack) in range, so that no later stage can be led out of bounds.
    pub fn from_json(text: &str) -> Result<Profile, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not a JSON profile ({e})"))?;
        match value.get("schema").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA) => {}
            Some(v) => {
                return Err(format!(
                    "profile schema {v}, this port-advisor reads schema {SCHEMA}: use the \
                     port-advisor version that wrote it, or record it again"
                ))
            }
            None => return Err("not a port-advisor profile (no \"schema\" field)".into()),
        }
        let profile: Profile = serde_json::from_value(value)
            .map_err(|e| format!("not a valid port-advisor profile ({e})"))?;
        profile.check_weights()?;
        let (frames, threads) = (profile.frames.len(), profile.threads.len());
        for (i, stack) in profile
            .stacks
            .iter()
            .chain(&profile.native_stacks)
            .enumerate()
        {
            if let Some(f) = stack.frames.iter().find(|&&f| f as usize >= frames) {
                return Err(format!(
                    "stack {i} names frame {f}, but the profile has {frames} frames"
                ));
            }
            if stack.thread as usize >= threads {
                return Err(format!(
                    "stack {i} names thread {}, but the profile has {threads} threads",
                    stack.thread
                ));
            }
        }
        Ok(profile)
    }

    /// Refuses stacks (time or native pass) that weigh more than [`MAX_WEIGHT`] in all.
    pub fn check_weights(&self) -> Result<(), String> {
        for (what, stacks) in [
            ("stacks", &self.stacks),
            ("native stacks", &self.native_stacks),
        ] {
            let total = stacks.iter().try_fold(0u64, |t, s| {
                t.checked_add(s.weight).filter(|&t| t <= MAX_WEIGHT)
            });
            if total.is_none() {
                return Err(format!(
                    "its {what} weigh more than {MAX_WEIGHT} samples in all: not a recorded profile"
                ));
            }
        }
        Ok(())
    }

    /// Writes the profile as JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, |w| {
            serde_json::to_writer(&mut *w, self)?;
            w.write_all(b"\n")?;
            Ok(())
        })
    }
}

/// Writes a file through a temporary file in the same folder, renamed into place once
/// complete, so that a reader never sees half a file. A path that is not a regular file (a
/// device such as `/dev/null`, a pipe) is written to directly: renaming over it would replace
/// the device with a file. A failure is [`UserError::cannot_write`], naming `path`.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    write_atomic_mode(path, 0o666, write)
}

/// [`write_atomic`] for a file only its owner may read (mode 0600): what passes between the
/// recorder and the program's probe.
pub fn write_private(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    write_atomic_mode(path, 0o600, write)
}

fn write_atomic_mode(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let failed =
            |e: anyhow::Error| -> anyhow::Error { UserError::cannot_write(path, e).into() };
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| failed(e.into()))?;
        let mut buf = std::io::BufWriter::new(file);
        write(&mut buf).map_err(failed)?;
        return buf.flush().map_err(|e| failed(e.into()));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Created like any other file (0666 less the umask) unless asked to be private; temporary
    // files would otherwise always be private.
    let mode = std::os::unix::fs::PermissionsExt::from_mode(mode);
    let failed = |e: anyhow::Error| -> anyhow::Error { UserError::cannot_write(path, e).into() };
    let mut tmp = tempfile::Builder::new()
        .prefix(".port-advisor-")
        .permissions(mode)
        .tempfile_in(dir)
        .map_err(|e| {
            let cause = format!("cannot create a file in {}: {e}", dir.display());
            UserError::cannot_write(path, cause)
        })?;
    {
        let mut buf = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut buf).map_err(failed)?;
        buf.flush().map_err(|e| failed(e.into()))?;
    }
    tmp.as_file().sync_all().map_err(|e| failed(e.into()))?;
    tmp.persist(path).map_err(|e| failed(e.error.into()))?;
    Ok(())
}

/// Builds a [`Profile`] sample by sample, interning frames, threads and stacks.
#[derive(Debug, Default)]
pub struct ProfileBuilder {
    frames: Vec<Frame>,
    frame_ids: ByHash,
    threads: Vec<ThreadInfo>,
    thread_ids: HashMap<(u32, u64), ThreadId>,
    stacks: Vec<Stack>,
    stack_ids: ByHash,
    native_stacks: Vec<Stack>,
    native_stack_ids: ByHash,
    errors: HashMap<String, u64>,
}

/// Positions in a list, found by the hash of what is there: the list itself is the only copy
/// of its items (a fleet profile's million stacks are kept once, not once more as keys).
#[derive(Debug, Default)]
struct ByHash {
    first: FxHashMap<u64, u32>,
    /// Further positions whose items share a hash with the first's: almost never any.
    more: FxHashMap<u64, Vec<u32>>,
}

impl ByHash {
    fn find(&self, hash: u64, is: impl Fn(u32) -> bool) -> Option<u32> {
        let &first = self.first.get(&hash)?;
        if is(first) {
            return Some(first);
        }
        self.more.get(&hash)?.iter().copied().find(|&i| is(i))
    }

    fn insert(&mut self, hash: u64, at: u32) {
        match self.first.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.more.entry(hash).or_default().push(at)
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(at);
            }
        }
    }
}

fn hash_of(value: &impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(value)
}

impl ProfileBuilder {
    pub fn intern_frame(&mut self, frame: Frame) -> FrameId {
        let hash = hash_of(&frame);
        let frames = &self.frames;
        if let Some(id) = self.frame_ids.find(hash, |i| frames[i as usize] == frame) {
            return id;
        }
        let id = self.frames.len() as FrameId;
        self.frames.push(frame);
        self.frame_ids.insert(hash, id);
        id
    }

    pub fn intern_thread(&mut self, pid: u32, tid: u64, name: Option<&str>) -> ThreadId {
        if let Some(&id) = self.thread_ids.get(&(pid, tid)) {
            let info = &mut self.threads[id as usize];
            if info.name.is_none() {
                info.name = name.map(str::to_owned);
            }
            return id;
        }
        let id = self.threads.len() as ThreadId;
        self.threads.push(ThreadInfo {
            pid,
            tid,
            name: name.map(str::to_owned),
        });
        self.thread_ids.insert((pid, tid), id);
        id
    }

    /// Adds one sample of `frames` (outermost first) to the time stacks, or to the native
    /// pass when `native_pass` is set.
    pub fn add_stack(
        &mut self,
        thread: ThreadId,
        frames: Vec<FrameId>,
        idle: bool,
        gil: bool,
        native_pass: bool,
    ) {
        self.add_sample(thread, frames, idle, gil, native_pass, 1);
    }

    /// Adds one sample that stands for `weight` sampling periods (a read that took longer
    /// than a period stands for the ticks it made the sampler skip).
    pub fn add_sample(
        &mut self,
        thread: ThreadId,
        frames: Vec<FrameId>,
        idle: bool,
        gil: bool,
        native_pass: bool,
        weight: u64,
    ) {
        self.add(thread, frames, idle, gil, native_pass, weight);
    }

    /// [`ProfileBuilder::add_sample`] of a time stack whose frames are borrowed: copied only
    /// when the stack is new.
    pub fn add_frames(
        &mut self,
        thread: ThreadId,
        frames: &[FrameId],
        idle: bool,
        gil: bool,
        weight: u64,
    ) {
        self.add(thread, frames, idle, gil, false, weight);
    }

    fn add<F: AsRef<[FrameId]> + Into<Vec<FrameId>>>(
        &mut self,
        thread: ThreadId,
        frames_in: F,
        idle: bool,
        gil: bool,
        native_pass: bool,
        weight: u64,
    ) {
        let (stacks, ids) = if native_pass {
            (&mut self.native_stacks, &mut self.native_stack_ids)
        } else {
            (&mut self.stacks, &mut self.stack_ids)
        };
        let frames = frames_in.as_ref();
        let hash = hash_of(&(thread, idle, gil, frames));
        let found = ids.find(hash, |i| {
            let s = &stacks[i as usize];
            s.thread == thread && s.idle == idle && s.gil == gil && s.frames == frames
        });
        if let Some(i) = found {
            let s = &mut stacks[i as usize];
            s.weight = s.weight.saturating_add(weight);
            return;
        }
        stacks.push(Stack {
            frames: frames_in.into(),
            thread,
            weight,
            idle,
            gil,
        });
        ids.insert(hash, (stacks.len() - 1) as u32);
    }

    /// Adds `weight` samples of one stack at once (imported and merged profiles).
    pub fn add_weighted(
        &mut self,
        thread: ThreadId,
        frames: Vec<FrameId>,
        idle: bool,
        gil: bool,
        weight: u64,
    ) {
        self.add_sample(thread, frames, idle, gil, false, weight);
    }

    pub fn add_error(&mut self, message: String) {
        *self.errors.entry(message).or_default() += 1;
    }

    /// The sampling errors so far, each message once.
    pub fn error_messages(&self) -> impl Iterator<Item = &str> {
        self.errors.keys().map(String::as_str)
    }

    /// The hottest Python functions so far as `(file, name)`, by inclusive weight among busy
    /// samples, each with at least `min_share` of them, followed by their direct callers;
    /// empty until `min_samples` busy samples exist. Module-level code and comprehensions
    /// (`<module>`, `<listcomp>`, ...) are not functions a port could replace and are skipped.
    pub fn hot_python_functions(
        &self,
        n: usize,
        min_share: f64,
        min_samples: u64,
    ) -> Vec<(String, String)> {
        let busy: Vec<&Stack> = self.stacks.iter().filter(|s| !s.idle).collect();
        let total: u64 = busy.iter().map(|s| s.weight).sum();
        if total < min_samples {
            return Vec::new();
        }
        let key = |id: FrameId| {
            let f = &self.frames[id as usize];
            // Frozen import machinery (`<frozen importlib._bootstrap>`) is no port candidate.
            (f.kind == FrameKind::Python && !f.name.starts_with('<') && !f.file.starts_with('<'))
                .then(|| (f.file.clone(), f.name.clone()))
        };
        let mut inclusive: HashMap<(String, String), u64> = HashMap::new();
        for s in &busy {
            let mut seen: Vec<(String, String)> = Vec::new();
            for &f in &s.frames {
                if let Some(k) = key(f) {
                    if !seen.contains(&k) {
                        seen.push(k);
                    }
                }
            }
            for k in seen {
                *inclusive.entry(k).or_default() += s.weight;
            }
        }
        let mut ranked: Vec<((String, String), u64)> = inclusive
            .into_iter()
            .filter(|(_, w)| *w as f64 >= min_share * total as f64)
            .collect();
        // Innermost first: rank by inclusive weight, then prefer leaves on ties.
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut chosen: Vec<(String, String)> =
            ranked.into_iter().take(n).map(|(k, _)| k).collect();
        let mut callers: Vec<(String, String)> = Vec::new();
        for s in &busy {
            let keys: Vec<Option<(String, String)>> = s.frames.iter().map(|&f| key(f)).collect();
            for pair in keys.windows(2) {
                if let (Some(caller), Some(callee)) = (&pair[0], &pair[1]) {
                    if chosen.contains(callee)
                        && !chosen.contains(caller)
                        && !callers.contains(caller)
                    {
                        callers.push(caller.clone());
                    }
                }
            }
        }
        chosen.extend(callers);
        chosen.sort();
        chosen
    }

    /// A frame interned so far.
    pub fn frame(&self, id: FrameId) -> &Frame {
        &self.frames[id as usize]
    }

    /// Busy samples so far whose stack holds the function `(file, name)`, counted once per
    /// sample however deep it recurses.
    pub fn inclusive_busy_weight(&self, file: &str, name: &str) -> u64 {
        self.stacks
            .iter()
            .filter(|s| {
                !s.idle
                    && s.frames.iter().any(|&f| {
                        let f = &self.frames[f as usize];
                        f.file == file && f.name == name
                    })
            })
            .map(|s| s.weight)
            .sum()
    }

    /// The profile built, under `meta`, without copying it.
    pub fn into_profile(self, meta: Meta) -> Profile {
        let errors = self.errors;
        Profile {
            schema: SCHEMA,
            port_advisor_version: Some(VERSION.to_owned()),
            meta,
            frames: self.frames,
            threads: self.threads,
            stacks: self.stacks,
            native_stacks: self.native_stacks,
            errors: ErrorCount::ranked(errors),
            probe: None,
            provenance: Provenance::Received,
        }
    }

    /// A snapshot of everything gathered so far, under `meta`.
    pub fn to_profile(&self, meta: Meta) -> Profile {
        let errors = ErrorCount::ranked(self.errors.iter().map(|(m, &c)| (m.clone(), c)));
        Profile {
            schema: SCHEMA,
            port_advisor_version: Some(VERSION.to_owned()),
            meta,
            frames: self.frames.clone(),
            threads: self.threads.clone(),
            stacks: self.stacks.clone(),
            native_stacks: self.native_stacks.clone(),
            errors,
            probe: None,
            provenance: Provenance::Received,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn writing_to_a_pipe_writes_into_it_and_leaves_it_a_pipe() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut text = String::new();
                std::fs::File::open(&fifo)
                    .unwrap()
                    .read_to_string(&mut text)
                    .unwrap();
                text
            })
        };
        super::write_atomic(&fifo, |w| Ok(w.write_all(b"through the pipe")?)).unwrap();
        assert_eq!(reader.join().unwrap(), "through the pipe");
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left beside it");
    }

    use super::*;

    fn frame(name: &str, line: u32) -> Frame {
        Frame {
            name: name.into(),
            qualname: None,
            file: "m.py".into(),
            first_line: None,
            line: Some(line),
            module: Some("m".into()),
            kind: FrameKind::Python,
            code: None,
        }
    }

    #[test]
    fn builder_interns_frames_and_merges_equal_stacks() {
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 7, Some("MainThread"));
        let a = b.intern_frame(frame("a", 1));
        let a2 = b.intern_frame(frame("a", 1));
        let c = b.intern_frame(frame("c", 2));
        assert_eq!(a, a2);
        b.add_stack(t, vec![a, c], false, true, false);
        b.add_stack(t, vec![a, c], false, true, false);
        b.add_stack(t, vec![a], true, false, false);
        let p = b.to_profile(Meta::default());
        assert_eq!(p.frames.len(), 2);
        assert_eq!(p.stacks.len(), 2);
        assert_eq!(p.stacks[0].weight, 2);
        assert_eq!(p.total_weight(false), 2);
        assert_eq!(p.total_weight(true), 3);
    }

    #[test]
    fn round_trips_through_json_and_refuses_other_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let mut b = ProfileBuilder::default();
        let t = b.intern_thread(1, 7, None);
        let a = b.intern_frame(frame("a", 3));
        b.add_stack(t, vec![a], false, false, false);
        let p = b.to_profile(Meta::default());
        p.save(&path).unwrap();
        assert_eq!(Profile::load(&path).unwrap(), p);

        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"schema\":1", "\"schema\":99");
        std::fs::write(&path, text).unwrap();
        let err = Profile::load(&path).unwrap_err().to_string();
        assert!(err.contains("schema 99"), "{err}");
    }
}
