//! speedscope's JSON file format (<https://www.speedscope.app/file-format-schema.json>): one
//! table of frames (`shared.frames`) and profiles that index it, each of them a thread here.
//!
//! Read as each tool writes it:
//! - py-spy `--format speedscope`: frames `{name, file, line}` with the qualified name, the full
//!   path and the *sampled* line; one `sampled` profile per thread (`Thread 1835 "name"`), one
//!   sample per sampling round, each weighing `1/rate` seconds;
//! - port-advisor's own export: frames labelled `function (file.py:12)` with the full path and
//!   the function's *first* line, identical stacks merged, weights in seconds, and threads as
//!   profiles (`thread NAME (0xTID)`) or processes as `process N` root frames;
//! - any other exporter: `sampled` profiles (stacks outermost first, weights in any unit) and
//!   `evented` ones (frames opened and closed at times, whose intervals become stack weights).
//!
//! Weights become samples at one rate for the whole file: with unit `none` they are sample
//! counts at [`ImportOptions::default_rate_hz`]; with a time unit, the rate is one whose period
//! divides every weight, found from the shortest weight (py-spy's 0.005 s is 200 Hz, exactly;
//! port-advisor's merged stacks are whole samples at its rate), else 1 kHz, each stack rounded
//! to whole milliseconds and at least one sample.
//! Memory profiles (unit `bytes`) are refused: the advice is about time.
//!
//! A stack keeps its innermost [`MAX_STACK_FRAMES`](super::MAX_STACK_FRAMES) frames. Evented
//! profiles are walked as a tree of open frames, one step an event, so that a deep nesting
//! costs each event nothing more; each stack's frames are spelled out once, at the end.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::{
    frame_from_label, python_or_native, FrameBudget, ImportError, ImportOptions, Limits, Position,
    MAX_WEIGHT,
};
use crate::profile::{
    Frame, FrameId, FrameKind, Meta, Profile, ProfileBuilder, ThreadId, NO_FRAME,
};
use crate::text::printable;

/// The fastest rate a period found in the weights may set: beyond it the "period" is more
/// likely one short event than a sampler's interval.
const MAX_RATE_HZ: u32 = 100_000;

/// The rate of inputs whose weights share no period: stacks rounded to whole milliseconds.
const FALLBACK_RATE_HZ: u32 = 1000;

/// The longest single weight taken for time rather than a corrupt file, in seconds: what
/// [`MAX_WEIGHT`] samples at the fastest rate hold (about 89 years).
const MAX_SECONDS: f64 = MAX_WEIGHT as f64 / MAX_RATE_HZ as f64;

/// The whole file; field names are the schema's, other fields are ignored.
#[derive(Deserialize)]
struct File<'a> {
    #[serde(default, borrow)]
    shared: Shared<'a>,
    #[serde(borrow)]
    profiles: Vec<SpeedscopeProfile<'a>>,
    #[serde(default, borrow)]
    exporter: Option<Cow<'a, str>>,
}

#[derive(Default, Deserialize)]
struct Shared<'a> {
    #[serde(borrow)]
    frames: Vec<SharedFrame<'a>>,
}

#[derive(Deserialize)]
struct SharedFrame<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    file: Option<Cow<'a, str>>,
    #[serde(default)]
    line: Option<f64>,
}

/// A `sampled` or an `evented` profile: one struct, so that a missing field can be named.
#[derive(Deserialize)]
struct SpeedscopeProfile<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    unit: Option<Cow<'a, str>>,
    #[serde(rename = "startValue", default)]
    start_value: Option<f64>,
    #[serde(rename = "endValue", default)]
    end_value: Option<f64>,
    /// Indices into the shared frames, outermost first (`sampled`).
    #[serde(default)]
    samples: Option<Vec<Vec<i64>>>,
    #[serde(default)]
    weights: Option<Vec<f64>>,
    #[serde(default, borrow)]
    events: Option<Vec<Event<'a>>>,
}

#[derive(Deserialize)]
struct Event<'a> {
    /// `O` opens a frame, `C` closes it.
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    at: f64,
    frame: i64,
}

/// What the weights of a profile measure.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// Sample counts.
    Samples,
    /// Time, in this many seconds per unit.
    Time(f64),
}

/// The thread a profile is, interned when a stack first needs it.
struct Thread {
    pid: u32,
    tid: u64,
    name: Option<String>,
}

/// One stack of one profile, before weights become samples.
struct RawStack {
    thread: ThreadId,
    frames: Vec<FrameId>,
    seconds: f64,
}

/// The stacks of a file, weighed in seconds, and what the choice of a rate looks at.
#[derive(Default)]
struct Weighed {
    /// Stack index by (thread, frames), to add equal stacks as they come.
    ids: FxHashMap<(ThreadId, Vec<FrameId>), usize>,
    stacks: Vec<RawStack>,
    /// Every positive weight as the file wrote it, in seconds: the samples or intervals whose
    /// common period, if any, is the rate.
    periods: Vec<f64>,
    /// Some weight was a time, not a count.
    timed: bool,
    /// The sum of the weights so far, in seconds.
    total_seconds: f64,
    /// The longest profile, in seconds, from its start and end values or its weights.
    wall_seconds: f64,
}

impl Weighed {
    /// One sample's or interval's weight, as the file wrote it.
    fn count(&mut self, seconds: f64) {
        self.periods.push(seconds);
        self.total_seconds += seconds;
    }

    /// Adds `seconds` to a stack, already [counted](Weighed::count).
    fn add(&mut self, thread: ThreadId, frames: Vec<FrameId>, seconds: f64) {
        let key = (thread, frames);
        if let Some(&i) = self.ids.get(&key) {
            self.stacks[i].seconds += seconds;
            return;
        }
        self.stacks.push(RawStack {
            thread: key.0,
            frames: key.1.clone(),
            seconds,
        });
        self.ids.insert(key, self.stacks.len() - 1);
    }
}

pub fn parse(bytes: &[u8], name: &str, opts: &ImportOptions) -> Result<Profile, ImportError> {
    parse_within(bytes, name, opts, Limits::default())
}

/// [`parse`], holding the file to `limits`.
fn parse_within(
    bytes: &[u8],
    name: &str,
    opts: &ImportOptions,
    limits: Limits,
) -> Result<Profile, ImportError> {
    let file: File = serde_json::from_slice(bytes).map_err(|e| json_error(name, &e))?;
    if file.profiles.is_empty() {
        return Err(ImportError::new(
            name,
            Position::Whole,
            "`profiles` is empty: the speedscope file holds no profile",
        ));
    }
    let ours = file
        .exporter
        .as_deref()
        .is_some_and(|e| e.starts_with("port-advisor"));
    let default_rate = opts.default_rate_hz.max(1);
    let mut reader = Reader {
        name,
        shared: &file.shared.frames,
        ours,
        default_rate,
        builder: ProfileBuilder::default(),
        frame_ids: vec![None; file.shared.frames.len()],
        no_frame: None,
        threads: HashSet::new(),
        limits,
        budget: FrameBudget::new(limits),
    };
    let mut weighed = Weighed::default();
    for (i, p) in file.profiles.iter().enumerate() {
        let unit = reader.unit(i, p)?;
        weighed.timed |= matches!(unit, Unit::Time(_));
        let thread = reader.thread(i, p.name.as_deref());
        let thread = &thread;
        let before = weighed.total_seconds;
        match p.kind.as_ref() {
            "sampled" => reader.sampled(i, p, unit, thread, &mut weighed)?,
            "evented" => reader.evented(i, p, unit, thread, &mut weighed)?,
            other => {
                return Err(ImportError::new(
                    name,
                    Position::Whole,
                    format!(
                        "profiles[{i}] is of type `{}`, expected `sampled` or `evented`",
                        short(other)
                    ),
                ))
            }
        }
        let weights = weighed.total_seconds - before;
        let span = match (p.start_value, p.end_value, unit) {
            (Some(start), Some(end), Unit::Time(scale)) => (end - start) * scale,
            (Some(start), Some(end), Unit::Samples) => (end - start) / f64::from(default_rate),
            _ => 0.0,
        };
        let span = if span.is_finite() && span <= MAX_SECONDS {
            span
        } else {
            0.0
        };
        weighed.wall_seconds = weighed.wall_seconds.max(span.max(weights));
    }
    if weighed.stacks.is_empty() {
        return Err(ImportError::new(
            name,
            Position::Whole,
            "no profile has a sample or an interval with a weight",
        ));
    }
    let rate = choose_rate(&weighed, default_rate);
    let wall_seconds = weighed.wall_seconds;
    // The index goes before the builder makes its own: one copy of the stacks less at a time.
    let stacks = std::mem::take(&mut weighed.stacks);
    drop(weighed);
    let mut builder = reader.builder;
    let mut per_thread: HashMap<ThreadId, u64> = HashMap::new();
    let mut samples = 0u64;
    for s in stacks {
        let weight = ((s.seconds * f64::from(rate)).round() as u64).clamp(1, MAX_WEIGHT);
        samples = samples.saturating_add(weight);
        let thread_samples = per_thread.entry(s.thread).or_default();
        *thread_samples = thread_samples.saturating_add(weight);
        builder.add_weighted(s.thread, s.frames, false, true, weight);
    }
    let mut meta = Meta {
        samples,
        ticks: per_thread.values().copied().max().unwrap_or(0),
        wall_seconds,
        ..Meta::default()
    };
    meta.sampling.rate_hz = rate;
    Ok(builder.into_profile(meta))
}

/// serde's message at serde's line; the column stays in the message.
fn json_error(name: &str, e: &serde_json::Error) -> ImportError {
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let (position, message) = match message.strip_suffix(&suffix) {
        Some(m) if e.line() > 0 => (
            Position::Line(e.line()),
            format!("{m} (column {}); not a speedscope file", e.column()),
        ),
        _ => (Position::Whole, format!("{message}; not a speedscope file")),
    };
    ImportError::new(name, position, message)
}

/// A rate whose period divides every weight: the one at which the shortest weight is one
/// sample, the default rate, or one at which it is a few samples (the shortest of merged
/// stacks); else 1 kHz, which rounds them to milliseconds.
fn choose_rate(weighed: &Weighed, default_rate: u32) -> u32 {
    let divides = |rate: u32| {
        weighed.periods.iter().all(|&s| {
            let n = s * f64::from(rate);
            n >= 0.5 && (n - n.round()).abs() <= 1e-6 * n.max(1.0)
        })
    };
    let shortest = weighed
        .periods
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    // The rate at which the shortest weight is `k` samples, when that is a whole number.
    let holding = |k: u32| {
        let hz = f64::from(k) / shortest;
        let rounded = hz.round();
        ((hz - rounded).abs() <= 1e-6 * hz && (1.0..=f64::from(MAX_RATE_HZ)).contains(&rounded))
            .then_some(rounded as u32)
    };
    // Counts keep their own rate first.
    let mut candidates: Vec<u32> = Vec::new();
    if !weighed.timed {
        candidates.push(default_rate);
    }
    candidates.extend(holding(1));
    candidates.push(default_rate);
    candidates.extend((2..=16).filter_map(holding));
    candidates
        .into_iter()
        .find(|&rate| divides(rate))
        .unwrap_or(FALLBACK_RATE_HZ)
}

/// The state of one file's reading: frames and threads interned as profiles use them.
struct Reader<'f, 'a> {
    name: &'f str,
    shared: &'f [SharedFrame<'a>],
    /// Written by port-advisor: `line` is a function's first line, not a sampled one.
    ours: bool,
    /// The rate of sample counts (unit `none`).
    default_rate: u32,
    builder: ProfileBuilder,
    frame_ids: Vec<Option<FrameId>>,
    no_frame: Option<FrameId>,
    threads: HashSet<(u32, u64)>,
    limits: Limits,
    /// The frames of every stack spelled out so far.
    budget: FrameBudget,
}

impl Reader<'_, '_> {
    fn error(&self, message: String) -> ImportError {
        ImportError::new(self.name, Position::Whole, message)
    }

    fn unit(&self, i: usize, p: &SpeedscopeProfile) -> Result<Unit, ImportError> {
        let Some(unit) = p.unit.as_deref() else {
            return Err(self.error(format!(
                "profiles[{i}] has no `unit` (none, nanoseconds, microseconds, milliseconds \
                 or seconds)"
            )));
        };
        Ok(match unit {
            "none" => Unit::Samples,
            "nanoseconds" => Unit::Time(1e-9),
            "microseconds" => Unit::Time(1e-6),
            "milliseconds" => Unit::Time(1e-3),
            "seconds" => Unit::Time(1.0),
            "bytes" => {
                return Err(self.error(format!(
                    "profiles[{i}] weighs bytes: a memory profile, and port-advisor advises on \
                     time; export a time profile (unit seconds, or none for sample counts at \
                     --input-rate, now {} Hz)",
                    self.default_rate
                )))
            }
            other => {
                return Err(self.error(format!(
                    "profiles[{i}] has the unknown unit `{}` (expected none, nanoseconds, \
                     microseconds, milliseconds or seconds)",
                    short(other)
                )))
            }
        })
    }

    /// A thread per profile, named after it. The names port-advisor and py-spy give their
    /// profiles carry the thread id (and the process, when several); any other profile is
    /// numbered by its place.
    fn thread(&mut self, i: usize, name: Option<&str>) -> Thread {
        let (mut key, thread_name) = match name.and_then(thread_of_name) {
            Some((pid, tid, thread_name)) => ((pid, tid), thread_name),
            None => ((0, i as u64), name.map(str::to_owned)),
        };
        // Two profiles are two threads, even under one name.
        while self.threads.contains(&key) {
            key.1 = key.1.wrapping_add(1);
        }
        self.threads.insert(key);
        Thread {
            pid: key.0,
            tid: key.1,
            name: thread_name,
        }
    }

    fn frame(&mut self, index: usize) -> FrameId {
        if let Some(id) = self.frame_ids[index] {
            return id;
        }
        let frame = frame_of(&self.shared[index], self.ours);
        let id = self.builder.intern_frame(frame);
        self.frame_ids[index] = Some(id);
        id
    }

    /// Frame ids of a stack of shared-frame indices, checked, and cut to its innermost frames;
    /// `cut` says the indices were cut already. `where_` names the stack in errors.
    fn stack(
        &mut self,
        indices: &[i64],
        cut: bool,
        thread: &Thread,
        where_: impl Fn() -> String,
    ) -> Result<(ThreadId, Vec<FrameId>), ImportError> {
        // port-advisor's export of several processes into one profile: `process N` first.
        let mut pid = thread.pid;
        let mut indices = indices;
        if let (true, Some((&first, rest))) = (self.ours, indices.split_first()) {
            let root = &self.shared[self.check_index(first, &where_)?];
            let process = root
                .name
                .strip_prefix("process ")
                .and_then(|p| p.parse().ok());
            if let (None, Some(p)) = (&root.file, process) {
                pid = p;
                indices = rest;
            }
        }
        for &index in indices {
            self.check_index(index, &where_)?;
        }
        let (indices, cut_here) = self.limits.innermost(indices);
        let mut frames = Vec::with_capacity(indices.len());
        for &index in indices {
            frames.push(self.frame(self.check_index(index, &where_)?));
        }
        if cut || cut_here {
            self.builder.add_error(self.limits.cut_note());
        }
        let thread = self
            .builder
            .intern_thread(pid, thread.tid, thread.name.as_deref());
        if frames.is_empty() {
            let no_frame = match self.no_frame {
                Some(id) => id,
                None => self.builder.intern_frame(frame_from_label(NO_FRAME)),
            };
            self.no_frame = Some(no_frame);
            frames.push(no_frame);
        }
        self.budget
            .spend(frames.len())
            .map_err(|e| self.error(format!("{}: {e}", where_())))?;
        Ok((thread, frames))
    }

    fn check_index(&self, index: i64, where_: impl Fn() -> String) -> Result<usize, ImportError> {
        match usize::try_from(index) {
            Ok(i) if i < self.shared.len() => Ok(i),
            _ => Err(self.error(format!(
                "{} names frame {index}, but `shared.frames` has {} (numbered from 0)",
                where_(),
                self.shared.len()
            ))),
        }
    }

    fn sampled(
        &mut self,
        i: usize,
        p: &SpeedscopeProfile,
        unit: Unit,
        thread: &Thread,
        weighed: &mut Weighed,
    ) -> Result<(), ImportError> {
        let (Some(samples), Some(weights)) = (&p.samples, &p.weights) else {
            return Err(self.error(format!(
                "profiles[{i}] is `sampled` but has no `{}`",
                if p.samples.is_none() {
                    "samples"
                } else {
                    "weights"
                }
            )));
        };
        if samples.len() != weights.len() {
            return Err(self.error(format!(
                "profiles[{i}] has {} samples but {} weights: each sample needs its weight",
                samples.len(),
                weights.len()
            )));
        }
        for (j, (sample, &weight)) in samples.iter().zip(weights).enumerate() {
            let seconds = self.seconds(weight, unit, || format!("profiles[{i}].weights[{j}]"))?;
            let at_sample = || format!("profiles[{i}].samples[{j}]");
            if seconds == 0.0 {
                // No time, but still a stack of this file: its frames must exist.
                for &index in sample {
                    self.check_index(index, at_sample)?;
                }
                continue;
            }
            let (thread, frames) = self.stack(sample, false, thread, at_sample)?;
            weighed.count(seconds);
            weighed.add(thread, frames, seconds);
        }
        Ok(())
    }

    /// Open and close events become the time each stack was open: the stack between two
    /// events weighs the time between them. The stacks are nodes of a tree (see [`OpenTree`])
    /// while the events are read, and frames only once each has its time.
    fn evented(
        &mut self,
        i: usize,
        p: &SpeedscopeProfile,
        unit: Unit,
        thread: &Thread,
        weighed: &mut Weighed,
    ) -> Result<(), ImportError> {
        let Some(events) = &p.events else {
            return Err(self.error(format!("profiles[{i}] is `evented` but has no `events`")));
        };
        // Open frames as shared indices, with the event that opened each; and the same stack
        // as a node of the tree.
        let mut open: Vec<(i64, usize)> = Vec::new();
        let mut tree = OpenTree::new();
        let mut node = OpenTree::ROOT;
        let mut last_at: Option<f64> = None;
        for (j, event) in events.iter().enumerate() {
            let at_event = || format!("profiles[{i}].events[{j}]");
            if !event.at.is_finite() {
                return Err(self.error(format!("{} is at {}", at_event(), event.at)));
            }
            let index = self.check_index(event.frame, at_event)?;
            if let Some(last) = last_at {
                if event.at < last {
                    return Err(self.error(format!(
                        "{} is at {}, before the event ahead of it (at {last}): events must \
                         come in time order",
                        at_event(),
                        event.at
                    )));
                }
                if !open.is_empty() && event.at > last {
                    let interval = || format!("the time up to {}", at_event());
                    let seconds = self.seconds(event.at - last, unit, interval)?;
                    weighed.count(seconds);
                    tree.add(node, seconds);
                }
            }
            last_at = Some(event.at);
            match event.kind.as_ref() {
                "O" => {
                    open.push((event.frame, j));
                    node = tree.child(node, event.frame);
                }
                "C" => match open.pop() {
                    Some((f, _)) if f == event.frame => node = tree.parent(node),
                    Some((f, _)) => {
                        return Err(self.error(format!(
                            "{} closes frame {} `{}`, but frame {f} `{}` is the one open: \
                             unbalanced events",
                            at_event(),
                            event.frame,
                            short(&self.shared[index].name),
                            short(&self.shared[f as usize].name)
                        )))
                    }
                    None => {
                        return Err(self.error(format!(
                            "{} closes frame {} `{}`, but no frame is open: unbalanced events",
                            at_event(),
                            event.frame,
                            short(&self.shared[index].name)
                        )))
                    }
                },
                other => {
                    return Err(self.error(format!(
                        "{} has type `{}`, expected `O` (open) or `C` (close)",
                        at_event(),
                        short(other)
                    )))
                }
            }
        }
        if let Some(&(f, j)) = open.last() {
            return Err(self.error(format!(
                "profiles[{i}].events[{j}] opens frame {f} `{}`, which is never closed: \
                 unbalanced events",
                short(&self.shared[f as usize].name)
            )));
        }
        for (node, seconds) in tree.timed() {
            let (indices, cut) = tree.innermost(node, self.limits.stack_frames);
            let (thread, frames) =
                self.stack(&indices, cut, thread, || format!("profiles[{i}].events"))?;
            weighed.add(thread, frames, seconds);
        }
        Ok(())
    }

    /// A weight in seconds (counts at the default rate), checked.
    fn seconds(
        &self,
        weight: f64,
        unit: Unit,
        where_: impl Fn() -> String,
    ) -> Result<f64, ImportError> {
        if !weight.is_finite() || weight < 0.0 {
            return Err(self.error(format!(
                "{} is {weight}: a weight must be a number, 0 or more",
                where_()
            )));
        }
        match unit {
            Unit::Samples if weight > MAX_WEIGHT as f64 => Err(self.error(format!(
                "{} is {weight}, too large to be a number of samples",
                where_()
            ))),
            Unit::Samples => Ok(weight / f64::from(self.default_rate)),
            Unit::Time(scale) if weight * scale > MAX_SECONDS => Err(self.error(format!(
                "{} is {weight}, too long to be a time (more than {} years)",
                where_(),
                (MAX_SECONDS / (365.25 * 86_400.0)).floor()
            ))),
            Unit::Time(scale) => Ok(weight * scale),
        }
    }
}

/// A shared frame as a profile frame. With a `file`, it is the function `name` there (Python
/// for `.py` files and `<frozen ...>`-like names, native code otherwise); without, `name` is
/// a label (`function (file:line)`, `file:function:line`).
fn frame_of(shared: &SharedFrame, ours: bool) -> Frame {
    let Some(file) = shared.file.as_deref().filter(|f| !f.is_empty()) else {
        return frame_from_label(&shared.name);
    };
    let python = file.ends_with(".py") || file.starts_with('<');
    let line = shared
        .line
        .filter(|l| l.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(l))
        .map(|l| l as u32);
    let name = function_name(&shared.name, file);
    let mut frame = python_or_native(name, file, line, !python);
    if ours && frame.kind == FrameKind::Python {
        frame.first_line = line;
        frame.line = None;
    }
    frame
}

/// The function in a label that repeats the file (`work (m.py:5)` for `/app/m.py`), as
/// port-advisor writes them; any other name as it is.
fn function_name<'n>(name: &'n str, file: &str) -> &'n str {
    let base = Path::new(file)
        .file_name()
        .and_then(|b| b.to_str())
        .unwrap_or(file);
    let strip = || {
        let inner = name.strip_suffix(')')?;
        let (function, place) = inner.rsplit_once(" (")?;
        let place = place.strip_prefix(base)?;
        let line_ok = place.is_empty()
            || place
                .strip_prefix(':')
                .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
        (line_ok && !function.is_empty()).then_some(function)
    };
    strip().unwrap_or(name)
}

/// `(pid, tid, thread name)` from the profile names port-advisor (`thread NAME (0x10)`,
/// `process 7, thread 0x10`) and py-spy (`Thread 1835 "MainThread"`) write.
fn thread_of_name(name: &str) -> Option<(u32, u64, Option<String>)> {
    if let Some(rest) = name.strip_prefix("Thread ") {
        let (tid, thread_name) = rest.split_once(' ').unwrap_or((rest, ""));
        let tid = tid.parse().ok()?;
        let thread_name = thread_name.trim().trim_matches('"');
        return Some((0, tid, non_empty(thread_name)));
    }
    let (pid, rest) = match name.strip_prefix("process ") {
        Some(rest) => {
            let (pid, rest) = rest.split_once(", ")?;
            (pid.parse().ok()?, rest)
        }
        None => (0, name),
    };
    let rest = rest.strip_prefix("thread ")?;
    let (thread_name, hex) = match rest.strip_suffix(')').and_then(|r| r.rsplit_once(" (")) {
        Some((thread_name, hex)) => (non_empty(thread_name), hex),
        None => (None, rest),
    };
    let tid = u64::from_str_radix(hex.strip_prefix("0x")?, 16).ok()?;
    Some((pid, tid, thread_name))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The stacks of an evented profile as a tree: each node is a frame opened on top of its
/// parent's stack, and [`OpenTree::ROOT`] the empty stack. Opening or closing a frame is one
/// step in it, however deep the stack, where spelling the stack out at each event would cost
/// its depth every time: 100,000 nested frames would be 5 billion frames to copy.
struct OpenTree {
    nodes: Vec<OpenNode>,
    children: FxHashMap<(u32, i64), u32>,
    /// The nodes that have time, in the order they first had it.
    timed: Vec<u32>,
}

struct OpenNode {
    parent: u32,
    /// The shared frame opened.
    frame: i64,
    depth: usize,
    seconds: f64,
    /// Listed in `timed`: it had an interval, if one of no time.
    timed: bool,
}

impl OpenTree {
    const ROOT: u32 = 0;

    fn new() -> OpenTree {
        OpenTree {
            nodes: vec![OpenNode {
                parent: Self::ROOT,
                frame: -1,
                depth: 0,
                seconds: 0.0,
                timed: false,
            }],
            children: FxHashMap::default(),
            timed: Vec::new(),
        }
    }

    /// The stack of `frame` opened on top of `node`'s.
    fn child(&mut self, node: u32, frame: i64) -> u32 {
        if let Some(&child) = self.children.get(&(node, frame)) {
            return child;
        }
        // No more nodes than events, and a profile holds fewer than 4 billion.
        let child = self.nodes.len() as u32;
        self.nodes.push(OpenNode {
            parent: node,
            frame,
            depth: self.nodes[node as usize].depth + 1,
            seconds: 0.0,
            timed: false,
        });
        self.children.insert((node, frame), child);
        child
    }

    fn parent(&self, node: u32) -> u32 {
        self.nodes[node as usize].parent
    }

    fn add(&mut self, node: u32, seconds: f64) {
        let n = &mut self.nodes[node as usize];
        if !n.timed {
            n.timed = true;
            self.timed.push(node);
        }
        n.seconds += seconds;
    }

    /// The stacks with time, and their time.
    fn timed(&self) -> impl Iterator<Item = (u32, f64)> + '_ {
        self.timed
            .iter()
            .map(|&n| (n, self.nodes[n as usize].seconds))
    }

    /// The innermost `keep` frames of `node`'s stack, outermost first, and whether that is
    /// not all of them.
    fn innermost(&self, mut node: u32, keep: usize) -> (Vec<i64>, bool) {
        let depth = self.nodes[node as usize].depth;
        let mut frames = Vec::with_capacity(depth.min(keep));
        while node != Self::ROOT && frames.len() < keep {
            let n = &self.nodes[node as usize];
            frames.push(n.frame);
            node = n.parent;
        }
        frames.reverse();
        (frames, depth > keep)
    }
}

/// A name quoted in a message, cut short, control characters written out.
fn short(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    printable(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::MAX_STACK_FRAMES;

    fn read(text: &str) -> Result<Profile, ImportError> {
        parse(text.as_bytes(), "in.json", &ImportOptions::default())
    }

    fn err(text: &str) -> ImportError {
        read(text).expect_err("the input is refused")
    }

    /// Each stack as its frames' display names, with its weight, in a stable order.
    fn stacks(p: &Profile) -> Vec<(Vec<String>, u64)> {
        let mut out: Vec<(Vec<String>, u64)> = p
            .stacks
            .iter()
            .map(|s| {
                let names = s
                    .frames
                    .iter()
                    .map(|&f| p.frames[f as usize].display_name().to_owned())
                    .collect();
                (names, s.weight)
            })
            .collect();
        out.sort();
        out
    }

    /// What py-spy 0.4 writes: one sample per round at 1/rate seconds, full paths, qualified
    /// names and sampled lines, `col: null`, and an empty sample.
    const PY_SPY: &str = r#"{"$schema":"https://www.speedscope.app/file-format-schema.json",
        "profiles":[{"type":"sampled","name":"Thread 1835 \"MainThread\"","unit":"seconds",
        "startValue":0.0,"endValue":0.025,
        "samples":[[],[2,1,0],[2,1,0],[2,1,3],[2,4]],
        "weights":[0.005,0.005,0.005,0.005,0.005]}],
        "shared":{"frames":[
          {"name":"Parser.term","file":"/srv/calc.py","line":14,"col":null},
          {"name":"main","file":"/srv/calc.py","line":40,"col":null},
          {"name":"<module>","file":"/srv/calc.py","line":50,"col":null},
          {"name":"_find_and_load","file":"<frozen importlib._bootstrap>","line":1360,"col":null},
          {"name":"do_work","file":"/usr/lib/libwork.so","line":null,"col":null}]},
        "activeProfileIndex":null,"exporter":"py-spy@0.4.3","name":"py-spy profile"}"#;

    #[test]
    fn py_spy_seconds_become_samples_at_its_rate() {
        let p = read(PY_SPY).unwrap();
        assert_eq!(p.meta.sampling.rate_hz, 200);
        assert_eq!(p.meta.samples, 5);
        assert!((p.meta.wall_seconds - 0.025).abs() < 1e-9);
        assert_eq!(
            (p.threads[0].tid, p.threads[0].name.as_deref()),
            (1835, Some("MainThread"))
        );
        let term = p.frames.iter().find(|f| f.name == "term").unwrap();
        assert_eq!(term.qualname.as_deref(), Some("Parser.term"));
        assert_eq!((term.line, term.first_line), (Some(14), None));
        let frozen = p
            .frames
            .iter()
            .find(|f| f.name == "_find_and_load")
            .unwrap();
        assert_eq!(frozen.kind, FrameKind::Python);
        let native = p.frames.iter().find(|f| f.name == "do_work").unwrap();
        assert_eq!(native.kind, FrameKind::Native);
        let s = stacks(&p);
        assert!(s.contains(&(vec![NO_FRAME.into()], 1)), "{s:?}");
        assert!(s.contains(&(
            vec!["<module>".into(), "main".into(), "Parser.term".into()],
            2
        )));
    }

    #[test]
    fn units_and_rates() {
        let file = |unit: &str, weights: &str| {
            format!(
                r#"{{"shared":{{"frames":[{{"name":"a"}},{{"name":"b"}}]}},"profiles":[
                {{"type":"sampled","unit":"{unit}","samples":[[0],[0,1],[1]],
                "weights":{weights}}}]}}"#
            )
        };
        let weights = |p: &Profile| stacks(p).into_iter().map(|(_, w)| w).collect::<Vec<_>>();
        // Counts at the default rate, even when none is 1.
        let p = read(&file("none", "[3,6,9]")).unwrap();
        assert_eq!((p.meta.sampling.rate_hz, weights(&p)), (100, vec![3, 6, 9]));
        // A common period: 250 µs is 4 kHz.
        let p = read(&file("microseconds", "[250,500,1000]")).unwrap();
        assert_eq!(
            (p.meta.sampling.rate_hz, weights(&p)),
            (4000, vec![1, 2, 4])
        );
        // Multiples of the default period, not of the shortest weight.
        let p = read(&file("milliseconds", "[30,50,20]")).unwrap();
        assert_eq!((p.meta.sampling.rate_hz, weights(&p)), (100, vec![3, 5, 2]));
        // No common period: milliseconds, at least one sample.
        let p = read(&file("nanoseconds", "[1234567,100,2600000]")).unwrap();
        assert_eq!(
            (p.meta.sampling.rate_hz, weights(&p)),
            (1000, vec![1, 1, 3])
        );
        // Whole samples at a rate of neither: 3, 5 and 8 samples at 250 Hz.
        let p = read(&file("seconds", "[0.012,0.02,0.032]")).unwrap();
        assert_eq!((p.meta.sampling.rate_hz, weights(&p)), (250, vec![3, 5, 8]));
        // A zero weight is no sample.
        let p = read(&file("seconds", "[0,0.01,0.02]")).unwrap();
        assert_eq!((p.meta.sampling.rate_hz, weights(&p)), (100, vec![1, 2]));
    }

    #[test]
    fn evented_intervals_become_stack_times() {
        let p = read(
            r#"{"shared":{"frames":[{"name":"main (app.py:3)"},{"name":"work (app.py:9)"},
                {"name":"fib (app.py:20)"}]},
              "profiles":[{"type":"evented","name":"main","unit":"milliseconds",
                "startValue":0,"endValue":12,"events":[
                {"type":"O","frame":0,"at":0},
                {"type":"O","frame":1,"at":1},
                {"type":"C","frame":1,"at":4},
                {"type":"O","frame":2,"at":5},
                {"type":"O","frame":2,"at":5},
                {"type":"C","frame":2,"at":6},
                {"type":"C","frame":2,"at":6},
                {"type":"C","frame":0,"at":10}]}]}"#,
        )
        .unwrap();
        assert_eq!(p.meta.sampling.rate_hz, 1000);
        assert_eq!(
            stacks(&p),
            [
                (vec!["main".into()], 6),
                (vec!["main".into(), "fib".into(), "fib".into()], 1),
                (vec!["main".into(), "work".into()], 3),
            ]
        );
        let work = p.frames.iter().find(|f| f.name == "work").unwrap();
        assert_eq!((work.file.as_str(), work.line), ("app.py", Some(9)));
        assert!((p.meta.wall_seconds - 0.012).abs() < 1e-9);
        assert_eq!(p.threads[0].name.as_deref(), Some("main"));
    }

    const FRAMES: &str = r#""shared":{"frames":[{"name":"a"},{"name":"b"}]}"#;

    fn sampled(samples: &str, weights: &str, unit: &str) -> String {
        format!(
            r#"{{{FRAMES},"profiles":[{{"type":"sampled","unit":"{unit}",
            "samples":{samples},"weights":{weights}}}]}}"#
        )
    }

    fn evented(events: &str) -> String {
        format!(
            r#"{{{FRAMES},"profiles":[{{"type":"evented","unit":"seconds",
            "events":[{events}]}}]}}"#
        )
    }

    #[test]
    fn malformed_files_name_what_is_wrong() {
        let e = err("{\n\"profiles\": [\n  {\"type\": \"sampled\",,}\n]}");
        assert_eq!(e.position, Position::Line(3));
        assert!(e.to_string().starts_with("in.json:3: "), "{e}");
        assert!(e.message.contains("column"), "{e}");

        let e = err(&sampled("[[0,2]]", "[1]", "none"));
        assert!(
            e.message.contains("profiles[0].samples[0] names frame 2"),
            "{e}"
        );
        let e = err(&sampled("[[0],[5]]", "[1,0]", "none"));
        assert!(e.message.contains("samples[1] names frame 5"), "{e}");
        let e = err(&sampled("[[-1]]", "[1]", "none"));
        assert!(e.message.contains("names frame -1"), "{e}");
        let e = err(&sampled("[[0],[1]]", "[1]", "none"));
        assert!(e.message.contains("2 samples but 1 weights"), "{e}");
        let e = err(&sampled("[[0]]", "[-1]", "none"));
        assert!(e.message.contains("profiles[0].weights[0] is -1"), "{e}");
        let e = err(&sampled("[[0]]", "[1e15]", "none"));
        assert!(e.message.contains("too large"), "{e}");
        let e = err(&sampled("[[0]]", "[1e13]", "seconds"));
        assert!(e.message.contains("too long"), "{e}");
        let e = err(&sampled("[[0]]", "[1]", "furlongs"));
        assert!(e.message.contains("unknown unit `furlongs`"), "{e}");
        let e = err(&sampled("[[0]]", "[1]", "bytes"));
        assert!(e.message.contains("memory profile"), "{e}");
        let e = err(&format!(
            r#"{{{FRAMES},"profiles":[{{"type":"sampled","unit":"none"}}]}}"#
        ));
        assert!(e.message.contains("has no `samples`"), "{e}");
        let e = err(&format!(
            r#"{{{FRAMES},"profiles":[{{"type":"flame","unit":"none"}}]}}"#
        ));
        assert!(e.message.contains("type `flame`"), "{e}");
        let e = err(&format!(r#"{{{FRAMES},"profiles":[]}}"#));
        assert!(e.message.contains("no profile"), "{e}");
        let e = err(&sampled("[[0]]", "[0]", "none"));
        assert!(e.message.contains("no profile has a sample"), "{e}");
        let e = err(r#"{"profiles":[{"type":"sampled","samples":[[0]],"weights":[1]}]}"#);
        assert!(e.message.contains("has no `unit`"), "{e}");
        assert_eq!(e.position, Position::Whole);
    }

    #[test]
    fn unbalanced_events_are_refused() {
        let e = err(&evented(r#"{"type":"C","frame":0,"at":1}"#));
        assert!(e.message.contains("no frame is open"), "{e}");
        let e = err(&evented(
            r#"{"type":"O","frame":0,"at":0},{"type":"C","frame":1,"at":1}"#,
        ));
        assert!(
            e.message.contains("closes frame 1 `b`, but frame 0 `a`"),
            "{e}"
        );
        let e = err(&evented(
            r#"{"type":"O","frame":0,"at":0},{"type":"O","frame":1,"at":1},
               {"type":"C","frame":1,"at":2}"#,
        ));
        assert!(
            e.message
                .contains("profiles[0].events[0] opens frame 0 `a`, which is never closed"),
            "{e}"
        );
        let e = err(&evented(
            r#"{"type":"O","frame":0,"at":5},{"type":"C","frame":0,"at":1}"#,
        ));
        assert!(e.message.contains("time order"), "{e}");
        let e = err(&evented(r#"{"type":"O","frame":7,"at":0}"#));
        assert!(e.message.contains("events[0] names frame 7"), "{e}");
        let e = err(&evented(r#"{"type":"X","frame":0,"at":0}"#));
        assert!(e.message.contains("type `X`"), "{e}");
        let e = err(&evented(
            r#"{"type":"O","frame":0,"at":0},{"type":"C","frame":0,"at":1e13}"#,
        ));
        assert!(
            e.message
                .contains("the time up to profiles[0].events[1] is 10000000000000, too long"),
            "{e}"
        );
    }

    /// An evented profile of `depth` nested opens of frame `a` then as many closes, under one
    /// open of frame `b`: with `spread`, each event a millisecond after the one before, else
    /// the opens at 0 and the closes at 1.
    fn nested(depth: usize, spread: bool) -> String {
        let mut events = String::from(r#"{"type":"O","frame":1,"at":0}"#);
        for j in 0..depth {
            let at = if spread { j } else { 0 };
            events.push_str(&format!(r#",{{"type":"O","frame":0,"at":{at}}}"#));
        }
        for j in 0..depth {
            let at = if spread { depth + j } else { 1 };
            events.push_str(&format!(r#",{{"type":"C","frame":0,"at":{at}}}"#));
        }
        events.push_str(&format!(r#",{{"type":"C","frame":1,"at":{}}}"#, 2 * depth));
        format!(
            r#"{{{FRAMES},"profiles":[{{"type":"evented","unit":"milliseconds",
            "events":[{events}]}}]}}"#
        )
    }

    #[test]
    fn deeply_nested_events_keep_the_innermost_frames() {
        let started = std::time::Instant::now();
        let p = read(&nested(100_000, false)).unwrap();
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
        // The full depth for a millisecond, then `b` alone.
        assert_eq!(
            stacks(&p)
                .iter()
                .map(|(s, w)| (s.len(), *w))
                .collect::<Vec<_>>(),
            [(MAX_STACK_FRAMES, 1), (1, 199_999)]
        );
        let deep = p.stacks.iter().find(|s| s.frames.len() > 1).unwrap();
        assert!(deep
            .frames
            .iter()
            .all(|&f| p.frames[f as usize].name == "a"));
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert_eq!(p.errors[0].count, 1, "{:?}", p.errors);

        // Each event at its own time: every depth a stack with time, 100,000 of them, which
        // even cut spell out more frames than a file may.
        let started = std::time::Instant::now();
        let e = err(&nested(100_000, true));
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
        assert!(
            e.to_string().starts_with(
                "in.json: profiles[0].events: the stacks so far hold more than 50,000,000 frames"
            ),
            "{e}"
        );
    }

    #[test]
    fn deep_samples_keep_their_innermost_frames_and_a_file_its_limit() {
        let deep = format!("[[{}1]]", "0,".repeat(10_000));
        let p = read(&sampled(&deep, "[2]", "none")).unwrap();
        assert_eq!(p.stacks[0].frames.len(), MAX_STACK_FRAMES);
        let leaf = p.stacks[0].frames[MAX_STACK_FRAMES - 1];
        assert_eq!(p.frames[leaf as usize].name, "b");
        assert_eq!(p.errors[0].count, 1);

        let limits = Limits {
            stack_frames: 2,
            file_frames: 5,
        };
        let within = |text: &str| {
            parse_within(
                text.as_bytes(),
                "in.json",
                &ImportOptions::default(),
                limits,
            )
        };
        let p = within(&sampled("[[0,0,1],[1,1]]", "[1,1]", "none")).unwrap();
        assert_eq!(
            stacks(&p),
            [
                (vec!["a".into(), "b".into()], 1),
                (vec!["b".into(), "b".into()], 1)
            ]
        );
        let e = within(&sampled("[[0,1],[1],[0,1],[1,0]]", "[1,1,1,1]", "none")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("in.json: profiles[0].samples[3]: the stacks so far hold more than 5"),
            "{e}"
        );
        // An index past the limit is checked all the same.
        let e = within(&sampled("[[7,0,1]]", "[1]", "none")).unwrap_err();
        assert!(e.message.contains("samples[0] names frame 7"), "{e}");
    }

    #[test]
    fn no_input_panics() {
        // Cut-short copies of our own export are tried in tests/hermetic/speedscope_roundtrip.rs.
        let mut inputs: Vec<Vec<u8>> = vec![b"\xff\xfe{}".to_vec()];
        inputs.push(b"[]".to_vec());
        inputs.push(
            b"{\"profiles\":[{\"type\":\"sampled\",\"unit\":\"none\",\"samples\":[[1e400]]"
                .to_vec(),
        );
        inputs.push(sampled("[[0]]", "[1.7976931348623157e308]", "nanoseconds").into_bytes());
        inputs.push(sampled("[[9223372036854775807]]", "[1]", "none").into_bytes());
        inputs.push(
            r#"{"shared":{"frames":[{"name":"a","file":"x.py","line":-3.5}]},
                "profiles":[{"type":"evented","unit":"none","startValue":-1e308,
                "endValue":1e308,"events":[{"type":"O","frame":0,"at":-1e308},
                {"type":"C","frame":0,"at":1e308}]}]}"#
                .as_bytes()
                .to_vec(),
        );
        for input in inputs {
            let _ = parse(&input, "fuzz", &ImportOptions::default());
        }
    }
}
