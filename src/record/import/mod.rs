//! Profiles other tools wrote: collapsed ("folded") stacks (py-spy `--format raw`, Austin,
//! Python's `profiling.sampling --collapsed`, inferno/FlameGraph), speedscope JSON and pprof
//! (`profile.proto`, gzipped or not), besides port-advisor's own `profile.json`. Each becomes a
//! [`Profile`] whose weights are samples at its own rate; [`Merge`] adds many of them into one,
//! each weighted by its sampling period, holding only the unique stacks.
//!
//! Parsers take bytes and a name for messages, and never panic on any input: what they cannot
//! read is an [`ImportError`] naming the file and the line or byte offset.

pub mod folded;
pub mod pprof;
pub mod speedscope;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::profile::{Frame, FrameId, FrameKind, Meta, Profile, ProfileBuilder, TargetKind};
use crate::record::source::module_name;

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

/// The largest weight one stack may carry: beyond it a count is taken for a corrupt file
/// rather than a profile (a million years of samples at 10 kHz).
pub const MAX_WEIGHT: u64 = 1 << 48;

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
    if text_start.starts_with(b"{") {
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
        profile.meta.target = TargetKind::Imported;
        if profile.meta.command.is_empty() {
            profile.meta.command = vec![name.to_owned()];
        }
    }
    Ok(profile)
}

/// Reads one file, detecting its format unless `format` is given.
pub fn read(
    path: &Path,
    format: Option<InputFormat>,
    opts: &ImportOptions,
) -> Result<Profile, ImportError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| ImportError::new(&name, Position::Whole, format!("cannot read: {e}")))?;
    let format = match format.or_else(|| detect(&bytes)) {
        Some(f) => f,
        None => {
            return Err(ImportError::new(
                &name,
                Position::Whole,
                "the file is empty",
            ))
        }
    };
    parse(&bytes, &name, format, opts)
}

/// A frame named the way other tools name Python frames. Recognized, in order:
/// - `function (file:line)`, py-spy's and port-advisor's own label;
/// - `file:function:line`, Austin's and `profiling.sampling`'s;
/// - anything else: a function name alone.
///
/// A name with no file is taken as native code when it looks like a C symbol in a library
/// (`PyEval_EvalFrameDefault`, `do_work (libfoo.so)`); otherwise as Python code.
pub fn frame_from_label(label: &str) -> Frame {
    let label = label.trim();
    if let Some(frame) = paren_label(label) {
        return frame;
    }
    if let Some(frame) = colon_label(label) {
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
fn paren_label(label: &str) -> Option<Frame> {
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
    Some(python_or_native(name, file, line, native))
}

/// `file:function:line`.
fn colon_label(label: &str) -> Option<Frame> {
    let (rest, line) = label.rsplit_once(':')?;
    let line: u32 = line.parse().ok()?;
    let (file, name) = rest.rsplit_once(':')?;
    if file.is_empty() || name.is_empty() {
        return None;
    }
    Some(python_or_native(name, file, Some(line), false))
}

fn python_or_native(name: &str, file: &str, line: Option<u32>, native: bool) -> Frame {
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
    let module = module_name(Path::new(file), &[]);
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
/// the result as its period holds. Memory grows with the unique stacks, not the samples.
#[derive(Debug, Default)]
pub struct Merge {
    builder: ProfileBuilder,
    inputs: Vec<Input>,
}

/// What [`Merge`] keeps of each input.
#[derive(Debug, Clone)]
struct Input {
    name: String,
    rate_hz: u32,
    samples: u64,
    wall_seconds: f64,
    stacks: Vec<(u32, Vec<FrameId>, bool, bool, u64)>,
}

impl Merge {
    /// Adds one profile. Its stacks are kept in the merged frame table at once; weights are
    /// scaled in [`Merge::finish`], when the highest rate is known.
    pub fn add(&mut self, name: &str, profile: Profile) {
        let frames: Vec<FrameId> = profile
            .frames
            .into_iter()
            .map(|f| self.builder.intern_frame(f))
            .collect();
        let threads: Vec<u32> = profile
            .threads
            .iter()
            .map(|t| self.builder.intern_thread(t.pid, t.tid, t.name.as_deref()))
            .collect();
        let stacks = profile
            .stacks
            .into_iter()
            .map(|s| {
                (
                    threads.get(s.thread as usize).copied().unwrap_or(0),
                    s.frames
                        .iter()
                        .filter_map(|&f| frames.get(f as usize).copied())
                        .collect(),
                    s.idle,
                    s.gil,
                    s.weight,
                )
            })
            .collect();
        self.inputs.push(Input {
            name: name.to_owned(),
            rate_hz: profile.meta.sampling.rate_hz.max(1),
            samples: profile.meta.samples,
            wall_seconds: profile.meta.wall_seconds,
            stacks,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// The merged profile.
    pub fn finish(mut self) -> Profile {
        let rate = self.inputs.iter().map(|i| i.rate_hz).max().unwrap_or(100);
        let mut samples = 0u64;
        let mut wall = 0.0f64;
        let names: Vec<String> = self.inputs.iter().map(|i| i.name.clone()).collect();
        for input in std::mem::take(&mut self.inputs) {
            let scale = rate as f64 / input.rate_hz as f64;
            let scaled = |w: u64| ((w as f64 * scale).round() as u64).clamp(1, MAX_WEIGHT);
            samples = samples.saturating_add(scaled(input.samples.max(1)));
            wall = wall.max(input.wall_seconds);
            for (thread, frames, idle, gil, weight) in input.stacks {
                self.builder
                    .add_weighted(thread, frames, idle, gil, scaled(weight));
            }
        }
        let mut meta = Meta {
            command: names,
            target: TargetKind::Imported,
            ..Meta::default()
        };
        meta.sampling.rate_hz = rate;
        meta.samples = samples;
        meta.ticks = samples;
        meta.wall_seconds = if wall > 0.0 {
            wall
        } else {
            samples as f64 / rate as f64
        };
        self.builder.to_profile(meta)
    }
}

/// Frames interned by label, for parsers of formats that name frames by strings.
#[derive(Debug, Default)]
pub struct LabelFrames {
    ids: HashMap<String, FrameId>,
}

impl LabelFrames {
    pub fn intern(&mut self, builder: &mut ProfileBuilder, label: &str) -> FrameId {
        if let Some(&id) = self.ids.get(label) {
            return id;
        }
        let id = builder.intern_frame(frame_from_label(label));
        self.ids.insert(label.to_owned(), id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(detect(b"   \n"), None);
    }
}
