//! Profiles other tools wrote: collapsed ("folded") stacks (py-spy `--format raw`, Austin,
//! Python's `profiling.sampling --collapsed`, inferno/FlameGraph), speedscope JSON and pprof
//! (`profile.proto`, gzipped or not), besides port-advisor's own `profile.json`. Each becomes a
//! [`Profile`] whose weights are samples at its own rate; [`Merge`] adds many of them into one,
//! each weighted by its sampling period, holding only the unique stacks.
//!
//! Parsers take bytes and a name for messages, and never panic on any input: what they cannot
//! read is an [`ImportError`] naming the file and the line or byte offset.
//!
//! A profile received from elsewhere is data, and a few kilobytes of it can describe far more
//! than they hold: pprof's inlined lines and repeated locations, speedscope's nested events.
//! Every importer therefore keeps at most [`MAX_STACK_FRAMES`] frames of a stack (counting
//! each stack cut in [`Profile::errors`]) and refuses a file whose stacks spell out more than
//! [`MAX_FILE_FRAMES`] frames in all, so that memory and time stay bounded whatever the input.
//!
//! Importing is the other source of a [`Profile`], beside recording: nothing here starts,
//! reads or signals a process. It builds on `profile`, and on `python` only to name modules
//! and read the source files a profile points at. It never uses `report`: what the
//! importers share with the writers of the same formats lives below both (the model's
//! [`NO_FRAME`](crate::profile::NO_FRAME), [`crate::pprof_proto`], [`crate::text`]).

pub mod folded;
mod labels;
pub mod pprof;
pub mod speedscope;

use rustc_hash::FxHashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::io::{BufRead, Read};
use std::path::Path;

use crate::profile::{
    ErrorCount, Frame, FrameId, FrameKind, Meta, Profile, ProfileBuilder, Stack, TargetKind,
};
use crate::python::{blocks, paths::module_name};

/// The formats `report`, `merge` and the other commands read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// port-advisor's `profile.json`.
    PortAdvisor,
    /// Collapsed stacks: `frame;frame;frame count` lines.
    Folded,
    /// speedscope's JSON file format.
    Speedscope,
    /// pprof's `profile.proto`, gzipped or not.
    Pprof,
}

impl InputFormat {
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::PortAdvisor => "port-advisor profile",
            InputFormat::Folded => "collapsed stacks",
            InputFormat::Speedscope => "speedscope",
            InputFormat::Pprof => "pprof",
        }
    }
}

/// Where in an input a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// A 1-based line of a text format.
    Line(usize),
    /// A byte offset of a binary format.
    Offset(usize),
    /// The input as a whole (empty, or a JSON document that does not fit the format).
    Whole,
}

/// An input that cannot be read, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub file: String,
    pub position: Position,
    pub message: String,
}

impl ImportError {
    pub fn new(file: &str, position: Position, message: impl Into<String>) -> ImportError {
        ImportError {
            file: file.to_owned(),
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Position::Line(n) => write!(f, "{}:{n}: {}", self.file, self.message),
            Position::Offset(n) => write!(f, "{} at byte {n}: {}", self.file, self.message),
            Position::Whole => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ImportError {}

pub use crate::profile::MAX_WEIGHT;
pub use labels::{LabelFrames, LabelHasher};

/// The most frames one imported stack keeps: py-spy's own limit on the stacks it reads, so an
/// imported stack is never deeper than a recorded one.
///
/// A deeper stack keeps its innermost frames and loses its outermost ones. The leaf is where
/// self time is counted, and the frames near it are the port candidates and their callers;
/// what is cut is the root side, whose functions (`<module>`, `main`) then lose only inclusive
/// time. Refusing the stack instead, as py-spy does, would take its samples out of every share,
/// and deep recursion is precisely where a hot function is.
pub const MAX_STACK_FRAMES: usize = 4096;

/// The most frame references one file's stacks may spell out in all, after each is cut to
/// [`MAX_STACK_FRAMES`]: 50 million, about 200 MB at 4 bytes each, which the profile builder
/// keeps once (its list of unique stacks; its index holds their places, not copies).
/// Repeated stacks count too, so the bound holds for the time spent as well as the memory kept.
///
/// A file of real stacks writes each reference out (a label, an index), so only a file of
/// tens of megabytes reaches it; a large one from py-spy's one sample per round can (hours of
/// samples), and a small one only by expansion. Collapsed stacks, which cannot expand, have
/// their own, higher limit, [`MAX_FOLDED_FILE_FRAMES`].
pub const MAX_FILE_FRAMES: u64 = 50_000_000;

/// The same limit for collapsed stacks, which spell every frame reference out as text (two
/// bytes at the least, `a;`): their work follows the file's size, and what is kept of them is
/// their unique stacks, once, at 4 bytes a frame. 256 million, a 3-million-stack fleet profile
/// 80 frames deep (benches/fleet_scale.py), about 1 GB kept when no stack repeats.
pub const MAX_FOLDED_FILE_FRAMES: u64 = 256_000_000;

/// The limits an import holds a file to; [`Limits::default`] is the ones above, and tests
/// lower them to reach them with small inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub stack_frames: usize,
    pub file_frames: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            stack_frames: MAX_STACK_FRAMES,
            file_frames: MAX_FILE_FRAMES,
        }
    }
}

impl Limits {
    /// The innermost frames of a stack (outermost first) that it keeps, and whether that cuts
    /// the stack.
    pub fn innermost<'s, T>(&self, frames: &'s [T]) -> (&'s [T], bool) {
        let cut = frames.len().saturating_sub(self.stack_frames);
        (&frames[cut..], cut > 0)
    }

    /// The note a profile carries in [`Profile::errors`], counted once per stack cut.
    pub fn cut_note(&self) -> String {
        format!(
            "stack deeper than {} frames, cut to its innermost {0}: its outermost callers \
             lose inclusive time",
            self.stack_frames
        )
    }
}

/// The frame references one file's stacks have spelled out so far, against
/// [`Limits::file_frames`].
#[derive(Debug)]
pub(crate) struct FrameBudget {
    limits: Limits,
    spent: u64,
}

impl FrameBudget {
    pub fn new(limits: Limits) -> FrameBudget {
        FrameBudget { limits, spent: 0 }
    }

    /// Counts one stack of `frames` frames. The error is the message an importer gives with
    /// the file and the place where the limit was passed.
    pub fn spend(&mut self, frames: usize) -> Result<(), String> {
        self.spent = self.spent.saturating_add(frames as u64);
        if self.spent <= self.limits.file_frames {
            return Ok(());
        }
        Err(format!(
            "the stacks so far hold more than {} frames in all, the most port-advisor reads \
             from one file (so that a profile cannot take all memory): split the profile into \
             several files, which `merge` and `report` take together",
            with_commas(self.limits.file_frames)
        ))
    }
}

/// `50,000,000`.
fn with_commas(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The format of `bytes`, judged by content: gzip or protobuf is pprof, a JSON object is a
/// port-advisor profile or speedscope, anything else that reads as text is collapsed stacks.
pub fn detect(bytes: &[u8]) -> Option<InputFormat> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Some(InputFormat::Pprof);
    }
    let text_start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &bytes[i..])?;
    if let Some(object) = text_start.strip_prefix(b"{") {
        // port-advisor writes its schema version first; test it before the words below, which
        // a merged profile's command (its input files' names) may hold.
        let first_key = object.iter().position(|b| !b.is_ascii_whitespace());
        if first_key.is_some_and(|i| object[i..].starts_with(b"\"schema\"")) {
            return Some(InputFormat::PortAdvisor);
        }
        let head = &text_start[..text_start.len().min(4096)];
        let head = String::from_utf8_lossy(head);
        if head.contains("speedscope") || head.contains("\"profiles\"") {
            return Some(InputFormat::Speedscope);
        }
        return Some(InputFormat::PortAdvisor);
    }
    if pprof::looks_like_protobuf(bytes) {
        return Some(InputFormat::Pprof);
    }
    Some(InputFormat::Folded)
}

/// Options of an import that the file itself may not say.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// The sampling rate of inputs that do not record theirs (collapsed stacks carry counts
    /// only); py-spy's default.
    pub default_rate_hz: u32,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            default_rate_hz: 100,
        }
    }
}

/// Reads one input in the given format (or the detected one).
pub fn parse(
    bytes: &[u8],
    name: &str,
    format: InputFormat,
    opts: &ImportOptions,
) -> Result<Profile, ImportError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::new(name, Position::Whole, "the file is empty"));
    }
    let mut profile = match format {
        InputFormat::PortAdvisor => {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                ImportError::new(
                    name,
                    Position::Offset(e.valid_up_to()),
                    "not UTF-8 text, so not a port-advisor profile",
                )
            })?;
            Profile::from_json(text).map_err(|e| ImportError::new(name, Position::Whole, e))?
        }
        InputFormat::Folded => folded::parse(bytes, name, opts)?,
        InputFormat::Speedscope => speedscope::parse(bytes, name, opts)?,
        InputFormat::Pprof => pprof::parse(bytes, name, opts)?,
    };
    if format != InputFormat::PortAdvisor {
        mark_imported(&mut profile, name);
    }
    profile
        .check_weights()
        .map_err(|e| ImportError::new(name, Position::Whole, e))?;
    Ok(profile)
}

fn mark_imported(profile: &mut Profile, name: &str) {
    profile.meta.target = TargetKind::Imported;
    if profile.meta.command.is_empty() {
        profile.meta.command = vec![name.to_owned()];
    }
}

/// Reads one file, detecting its format unless `format` is given. The source files the
/// profile names, where they can be read here, fill in what other tools leave out (qualified
/// names, first lines, the text of each sampled line, which the native rules read).
pub fn read(
    path: &Path,
    format: Option<InputFormat>,
    opts: &ImportOptions,
) -> Result<Profile, ImportError> {
    let name = path.display().to_string();
    let cannot =
        |e: std::io::Error| ImportError::new(&name, Position::Whole, format!("cannot read: {e}"));
    let mut file =
        std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).map_err(cannot)?);
    // Judged by the first megabyte; collapsed stacks, the format of the largest files, are
    // then read line by line instead of whole.
    let head = file.fill_buf().map_err(cannot)?;
    let format = match format.or_else(|| detect(head)) {
        Some(f) => f,
        None => {
            return Err(ImportError::new(
                &name,
                Position::Whole,
                "the file is empty",
            ))
        }
    };
    let mut profile = if format == InputFormat::Folded {
        let mut profile = folded::read(file, &name, opts)?;
        mark_imported(&mut profile, &name);
        profile
            .check_weights()
            .map_err(|e| ImportError::new(&name, Position::Whole, e))?;
        profile
    } else {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(cannot)?;
        parse(&bytes, &name, format, opts)?
    };
    if format != InputFormat::PortAdvisor {
        let readable = crate::trust::source_roots(&profile);
        blocks::enrich(&mut profile, &readable);
    }
    Ok(profile)
}

/// A frame named the way other tools name Python frames. Recognized, in order:
/// - `function (file:line)`, py-spy's and port-advisor's own label;
/// - `file:function:line`, Austin's and `profiling.sampling`'s;
/// - anything else: a function name alone.
///
/// A name with no file is taken as native code when it looks like a C symbol in a library
/// (`PyEval_EvalFrameDefault`, `do_work (libfoo.so)`); otherwise as Python code.
pub fn frame_from_label(label: &str) -> Frame {
    frame_from_label_in(label, &mut module_of_file)
}

/// The module of a frame's source file, as a file from another tool gives it (no roots).
fn module_of_file(file: &str) -> String {
    module_name(Path::new(file), &[])
}

/// Modules of source files, each worked out once: a fleet's file names hundreds of thousands
/// of frames in a few thousand files.
#[derive(Debug, Default)]
pub(crate) struct ModuleNames(FxHashMap<Box<str>, Box<str>>);

impl ModuleNames {
    pub(crate) fn of(&mut self, file: &str) -> String {
        if let Some(module) = self.0.get(file) {
            return module.to_string();
        }
        let module = module_of_file(file);
        self.0.insert(file.into(), module.as_str().into());
        module
    }
}

/// [`frame_from_label`], with the module of a Python frame's file from `module_of`.
pub fn frame_from_label_in(label: &str, module_of: &mut dyn FnMut(&str) -> String) -> Frame {
    let label = label.trim();
    if let Some(frame) = paren_label(label, module_of) {
        return frame;
    }
    if let Some(frame) = colon_label(label, module_of) {
        return frame;
    }
    let native = label.starts_with("Py") || label.starts_with("_Py") || label.contains(".so");
    Frame {
        name: label.to_owned(),
        qualname: None,
        file: String::new(),
        first_line: None,
        line: None,
        module: None,
        kind: if native {
            FrameKind::Native
        } else {
            FrameKind::Python
        },
        code: None,
    }
}

/// `function (file:line)` or `function (file)`.
fn paren_label(label: &str, module_of: &mut dyn FnMut(&str) -> String) -> Option<Frame> {
    let inner = label.strip_suffix(')')?;
    let open = inner.rfind(" (")?;
    let (name, place) = (&inner[..open], &inner[open + 2..]);
    if name.is_empty() || place.is_empty() {
        return None;
    }
    let (file, line) = match place.rsplit_once(':') {
        Some((file, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => {
            (file, line.parse::<u32>().ok())
        }
        _ => (place, None),
    };
    let native = file.ends_with(".so") || file.contains(".so.") || !file.contains('.');
    let native = native && !file.starts_with('<');
    Some(python_or_native_in(name, file, line, native, module_of))
}

/// `file:function:line`.
fn colon_label(label: &str, module_of: &mut dyn FnMut(&str) -> String) -> Option<Frame> {
    let (rest, line) = label.rsplit_once(':')?;
    let line: u32 = line.parse().ok()?;
    let (file, name) = rest.rsplit_once(':')?;
    if file.is_empty() || name.is_empty() {
        return None;
    }
    Some(python_or_native_in(
        name,
        file,
        Some(line),
        false,
        module_of,
    ))
}

fn python_or_native(name: &str, file: &str, line: Option<u32>, native: bool) -> Frame {
    python_or_native_in(name, file, line, native, &mut module_of_file)
}

fn python_or_native_in(
    name: &str,
    file: &str,
    line: Option<u32>,
    native: bool,
    module_of: &mut dyn FnMut(&str) -> String,
) -> Frame {
    if native {
        return Frame {
            name: name.to_owned(),
            qualname: None,
            file: file.to_owned(),
            first_line: None,
            line: None,
            module: Some(file.to_owned()),
            kind: FrameKind::Native,
            code: None,
        };
    }
    let module = module_of(file);
    Frame {
        name: name.rsplit('.').next().unwrap_or(name).to_owned(),
        qualname: Some(name.to_owned()),
        file: file.to_owned(),
        first_line: None,
        line,
        module: Some(module),
        kind: FrameKind::Python,
        code: None,
    }
}

/// Adds profiles into one, each weighted by its own sampling period: the result counts samples
/// at the highest rate among them, and a sample of a slower input counts as many samples of
/// the result as its period holds. Inputs are folded in as they come, so memory grows with the
/// unique stacks of the result, not with the inputs or their samples.
#[derive(Debug, Default)]
pub struct Merge {
    builder: ProfileBuilder,
    /// The merged frames by fingerprint: two hashes of the whole frame, keyed for this
    /// process. Most frames of a fleet's hosts are the same functions at the same lines; found
    /// this way, a frame seen before costs its own hashing and one read, where interning it
    /// again compared it with the stored frame's strings, anywhere in memory (44% of merging
    /// a hundred hosts). Two of a million distinct frames share a fingerprint with a
    /// probability of about 10^-26, and keys drawn for each process leave no way to make two
    /// hosts' frames collide on purpose.
    frame_ids: FxHashMap<(u64, u64), FrameId>,
    frame_keys: [foldhash::fast::RandomState; 2],
    stacks: FxHashMap<StackKey, f64>,
    names: Vec<String>,
    max_rate: u32,
    wall_seconds: f64,
    /// The inputs' notes and errors ([`Profile::errors`]), added up by message.
    errors: FxHashMap<String, u64>,
}

/// Thread, idle, GIL and frames (outermost first) of a merged stack.
type StackKey = (u32, bool, bool, Vec<FrameId>);

impl Merge {
    /// Adds one profile: its stacks in seconds (samples over its rate), its frames and threads
    /// into the merged tables.
    pub fn add(&mut self, name: &str, profile: Profile) {
        let rate = profile.meta.sampling.rate_hz.max(1);
        let frames: Vec<FrameId> = profile
            .frames
            .into_iter()
            .map(|f| {
                let [a, b] = &self.frame_keys;
                let key = (a.hash_one(&f), b.hash_one(&f));
                *self
                    .frame_ids
                    .entry(key)
                    .or_insert_with(|| self.builder.intern_frame(f))
            })
            .collect();
        // Threads by how busy they are in their input: every input's busiest thread becomes
        // one merged thread, and so on down. The advice measures a run by its busiest thread,
        // so the merged run is the sum of each input's, as a fleet's time is.
        let mut busy: Vec<(u64, usize)> = (0..profile.threads.len()).map(|i| (0, i)).collect();
        for s in &profile.stacks {
            if let Some(b) = busy.get_mut(s.thread as usize) {
                b.0 = b.0.saturating_add(s.weight);
            }
        }
        busy.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut threads: Vec<u32> = vec![0; profile.threads.len()];
        for (rank, &(_, i)) in busy.iter().enumerate() {
            let name = profile.threads[i].name.as_deref();
            threads[i] = self.builder.intern_thread(0, rank as u64, name);
        }
        for s in profile.stacks {
            let key = (
                threads.get(s.thread as usize).copied().unwrap_or(0),
                s.idle,
                s.gil,
                s.frames
                    .iter()
                    .filter_map(|&f| frames.get(f as usize).copied())
                    .collect(),
            );
            *self.stacks.entry(key).or_default() += s.weight as f64 / rate as f64;
        }
        for e in profile.errors {
            let count = self.errors.entry(e.message).or_default();
            *count = count.saturating_add(e.count);
        }
        self.names.push(name.to_owned());
        self.max_rate = self.max_rate.max(rate);
        self.wall_seconds = self.wall_seconds.max(profile.meta.wall_seconds);
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Unique stacks so far.
    pub fn stacks(&self) -> usize {
        self.stacks.len()
    }

    /// The merged profile.
    pub fn finish(self) -> Profile {
        let rate = if self.max_rate == 0 {
            100
        } else {
            self.max_rate
        };
        let mut meta = Meta {
            command: self.names,
            target: TargetKind::Imported,
            ..Meta::default()
        };
        meta.sampling.rate_hz = rate;
        let mut profile = self.builder.to_profile(meta);
        let twins = short_path_twins(&profile.frames);
        let merged = if twins.is_empty() {
            self.stacks
        } else {
            let mut merged: FxHashMap<StackKey, f64> = FxHashMap::default();
            for ((thread, idle, gil, frames), seconds) in self.stacks {
                let frames = frames.iter().map(|f| *twins.get(f).unwrap_or(f)).collect();
                *merged.entry((thread, idle, gil, frames)).or_default() += seconds;
            }
            merged
        };
        let mut stacks: Vec<Stack> = merged
            .into_iter()
            .map(|((thread, idle, gil, frames), seconds)| Stack {
                frames,
                thread,
                weight: ((seconds * rate as f64).round() as u64).clamp(1, MAX_WEIGHT),
                idle,
                gil,
            })
            .collect();
        // Equal input, equal output: the order of a hash map is not.
        stacks.sort_unstable_by(|a, b| {
            (a.thread, a.idle, a.gil, &a.frames).cmp(&(b.thread, b.idle, b.gil, &b.frames))
        });
        let samples: u64 = stacks.iter().map(|s| s.weight).sum();
        profile.stacks = stacks;
        profile.errors = ErrorCount::ranked(self.errors);
        profile.meta.samples = samples;
        profile.meta.ticks = samples;
        profile.meta.wall_seconds = if self.wall_seconds > 0.0 {
            self.wall_seconds
        } else {
            samples as f64 / rate as f64
        };
        profile
    }
}

/// Frames one input names by a short path (py-spy's collapsed stacks give `app.py`) and
/// another by the full one (`/srv/app/app.py`): the same function at the same line, when one
/// full path alone ends with the short one among the frames of that function. Left apart, the
/// function's time is split between two functions, neither of which has all of it. Maps each
/// such short frame to its full twin; the short frames stay in the table, unused.
fn short_path_twins(frames: &[Frame]) -> FxHashMap<FrameId, FrameId> {
    fn base(file: &str) -> &str {
        file.rsplit('/').next().unwrap_or_default()
    }
    let mut full: FxHashMap<(&str, Option<u32>, &str), Vec<usize>> = FxHashMap::default();
    for (i, f) in frames.iter().enumerate() {
        if f.kind == FrameKind::Python && f.file.starts_with('/') {
            full.entry((f.name.as_str(), f.line, base(&f.file)))
                .or_default()
                .push(i);
        }
    }
    let mut twins = FxHashMap::default();
    for (i, f) in frames.iter().enumerate() {
        if f.kind != FrameKind::Python || f.file.is_empty() || f.file.starts_with('/') {
            continue;
        }
        let suffix = format!("/{}", f.file);
        let mut ending = full
            .get(&(f.name.as_str(), f.line, base(&f.file)))
            .into_iter()
            .flatten()
            .filter(|&&j| frames[j].file.ends_with(&suffix));
        if let Some(&first) = ending.next() {
            if ending.all(|&j| frames[j].file == frames[first].file) {
                twins.insert(i as FrameId, first as FrameId);
            }
        }
    }
    twins
}

#[cfg(test)]
mod tests {
    use super::*;

    /// py-spy's collapsed stacks name `app.py`, speedscope the full path: merged, the
    /// function is one, with the time of both; with two full paths ending alike, it is left.
    #[test]
    fn a_merge_takes_a_short_path_for_the_one_full_path_it_ends() {
        let parse = |text: &str| {
            folded::parse(text.as_bytes(), "input", &ImportOptions::default()).unwrap()
        };
        let short = "main (app.py:9);hot (app.py:3) 30\n";
        let full = "main (/srv/app.py:9);hot (/srv/app.py:3) 20\n\
                    main (/srv/app.py:9);cold (/srv/app.py:5) 10\n";
        let hot_files = |inputs: &[&str]| {
            let mut merge = Merge::default();
            for text in inputs {
                merge.add("input", parse(text));
            }
            let p = merge.finish();
            let mut files: Vec<(String, u64)> = p
                .stacks
                .iter()
                .filter(|s| p.frames[s.frames[1] as usize].name == "hot")
                .map(|s| (p.frames[s.frames[1] as usize].file.clone(), s.weight))
                .collect();
            files.sort();
            files
        };
        assert_eq!(hot_files(&[short, full]), [("/srv/app.py".to_owned(), 50)]);
        let other = "main (/opt/app.py:9);hot (/opt/app.py:3) 5\n";
        let files = hot_files(&[short, full, other]);
        assert!(files.iter().any(|(f, _)| f == "app.py"), "{files:?}");
    }

    #[test]
    fn labels_of_each_tool_become_frames() {
        let f = frame_from_label("main (app/server.py:42)");
        assert_eq!(
            (f.name.as_str(), f.file.as_str(), f.line),
            ("main", "app/server.py", Some(42))
        );
        assert_eq!(f.kind, FrameKind::Python);
        let f = frame_from_label("Parser.term (calc.py:12)");
        assert_eq!(
            (f.name.as_str(), f.qualname.as_deref()),
            ("term", Some("Parser.term"))
        );
        let f = frame_from_label("/usr/lib/python3.11/json/decoder.py:decode:337");
        assert_eq!(
            (f.name.as_str(), f.line, f.module.as_deref()),
            ("decode", Some(337), Some("json.decoder"))
        );
        let f = frame_from_label("<module> (<frozen runpy>:88)");
        assert_eq!(f.kind, FrameKind::Python);
        let f = frame_from_label("PyEval_EvalFrameDefault");
        assert_eq!(f.kind, FrameKind::Native);
        let f = frame_from_label("do_work (libfoo.so)");
        assert_eq!((f.kind, f.name.as_str()), (FrameKind::Native, "do_work"));
        let f = frame_from_label("just_a_name");
        assert_eq!((f.kind, f.file.as_str()), (FrameKind::Python, ""));
    }

    #[test]
    fn a_merge_weighs_each_input_by_its_period() {
        let fast = folded::parse(
            b"main;hot 50\nmain;cold 50\n",
            "fast",
            &ImportOptions {
                default_rate_hz: 1000,
            },
        )
        .unwrap();
        let slow = folded::parse(b"main;hot 10\n", "slow", &ImportOptions::default()).unwrap();
        let mut merge = Merge::default();
        merge.add("fast", fast);
        merge.add("slow", slow);
        assert_eq!(merge.stacks(), 2);
        let p = merge.finish();
        assert_eq!(p.meta.sampling.rate_hz, 1000);
        // The second input's frames are the first's: one of each.
        assert_eq!(p.frames.len(), 3, "{:?}", p.frames);
        // 10 samples at 100 Hz are 0.1 s: 100 samples at 1000 Hz.
        let weight = |leaf: &str| {
            p.stacks
                .iter()
                .find(|s| p.frames[*s.frames.last().unwrap() as usize].name == leaf)
                .unwrap()
                .weight
        };
        assert_eq!((weight("hot"), weight("cold")), (150, 50));
        assert_eq!(p.meta.samples, 200);
        assert_eq!(p.meta.command, ["fast", "slow"]);
    }

    #[test]
    fn a_merge_keeps_what_its_inputs_cut() {
        let deep = format!("{} 1\n", vec!["f"; MAX_STACK_FRAMES + 1].join(";"));
        let opts = ImportOptions::default();
        let mut merge = Merge::default();
        for name in ["a", "b"] {
            let p = folded::parse(deep.as_bytes(), name, &opts).unwrap();
            assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
            merge.add(name, p);
        }
        let p = merge.finish();
        assert_eq!(p.stacks[0].frames.len(), MAX_STACK_FRAMES);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert_eq!(p.errors[0].count, 2);
        assert_eq!(p.errors[0].message, Limits::default().cut_note());
    }

    #[test]
    fn formats_are_told_apart_by_content() {
        assert_eq!(detect(b"\x1f\x8b\x08\x00"), Some(InputFormat::Pprof));
        assert_eq!(
            detect(b"  {\"$schema\": \"https://www.speedscope.app/file-format-schema.json\"}"),
            Some(InputFormat::Speedscope)
        );
        assert_eq!(
            detect(b"{\"schema\": 1, \"meta\": {}}"),
            Some(InputFormat::PortAdvisor)
        );
        assert_eq!(detect(b"a;b;c 3\n"), Some(InputFormat::Folded));
        assert_eq!(
            detect(b"{\"schema\":1,\"meta\":{\"command\":[\"x.speedscope.json\"]}}"),
            Some(InputFormat::PortAdvisor)
        );
        assert_eq!(detect(b"   \n"), None);
    }
}
