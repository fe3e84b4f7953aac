//! pprof's `profile.proto` (<https://github.com/google/pprof/blob/main/proto/profile.proto>),
//! gzipped or not: what Grafana Pyroscope, Parca and `go tool pprof` read and write.
//!
//! The messages are declared by hand in [`crate::pprof_proto`] from the published schema, so
//! no `protoc` runs at build time; `report::pprof` writes with the same structs.
//!
//! Which value becomes the weight of a sample, in order:
//! 1. a sample type named `samples` or `count`: its values are sample counts;
//! 2. else a type named `cpu` or `wall` whose unit is a time (`nanoseconds`, `microseconds`,
//!    `milliseconds`, `seconds`), else the first type with a time unit: its values are times,
//!    divided by the sampling period and rounded (at least 1 when not 0);
//! 3. else the profile is refused: allocation and lock profiles are not time.
//!
//! The sampling rate is `1e9 / period` when `period_type`'s unit is a time (pprof's CPU
//! profiles say `cpu`/`nanoseconds`), else [`ImportOptions::default_rate_hz`].
//!
//! Each `Line` of a location is a frame; a location's lines are innermost first (the inlined
//! callee, then its caller) and a sample's locations leaf first, so both are reversed into the
//! model's outermost-first stacks. Labels `thread id`/`thread_id`, `thread name`/`thread_name`
//! and `pid` name the threads. Inlining and repeated location ids let a few bytes of a sample
//! stand for millions of frames: a stack is read from its leaf and stops at
//! [`MAX_STACK_FRAMES`](super::MAX_STACK_FRAMES), keeping the innermost.
//!
//! The top-level fields are walked by hand, in two passes, rather than decoded as one message:
//! the first decodes the tables (sample types, mappings, locations, functions, strings), the
//! second decodes the samples one at a time and folds each into the profile at once. Memory
//! grows with the unique stacks, not with the samples, and an error can say at which byte it
//! is. Nothing is allocated from a count the file claims.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use prost::Message;

use super::{FrameBudget, ImportError, ImportOptions, Limits, Position, MAX_WEIGHT};
use crate::pprof_proto as proto;
use crate::profile::{Frame, FrameId, FrameKind, Meta, Profile, ProfileBuilder, NO_FRAME};
use crate::python::paths::module_name;
use crate::text::printable;

/// The largest profile accepted once unzipped: beyond it the input is taken for a zip bomb.
pub const MAX_UNZIPPED: u64 = 2 << 30;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `bytes` start like a protobuf message of pprof's `Profile`: the first field is one
/// of its tables, and the first few fields (up to 8) each have a number and wire type the
/// schema gives them, and fit in the input.
pub fn looks_like_protobuf(bytes: &[u8]) -> bool {
    let mut fields = Fields::new(bytes).take(8);
    // Encoders write fields in number order, and a profile has at least one of its tables
    // (sample types, samples, mappings, locations, functions, strings).
    match fields.next() {
        Some(Ok(f)) if matches!((f.number, &f.value), (1..=6, Wire::Bytes(_))) => {}
        _ => return false,
    }
    fields.all(|f| f.is_ok_and(|f| fits_schema(&f)))
}

/// Whether a top-level field has a number `Profile` declares, with its wire type.
fn fits_schema(field: &Field) -> bool {
    match (field.number, &field.value) {
        (1..=6 | 11 | 16, Wire::Bytes(_)) => true,
        (7..=10 | 12 | 14, Wire::Varint(_)) => true,
        // `comment` may be packed or not; 15 is `doc_url` (a string) in today's schema and
        // was an int64 in an earlier draft.
        (13 | 15, Wire::Varint(_) | Wire::Bytes(_)) => true,
        _ => false,
    }
}

pub fn parse(bytes: &[u8], name: &str, opts: &ImportOptions) -> Result<Profile, ImportError> {
    parse_limited(bytes, name, opts, MAX_UNZIPPED, Limits::default())
}

/// [`parse`], refusing inputs that unzip to more than `limit` bytes, and holding the stacks to
/// `limits`.
fn parse_limited(
    bytes: &[u8],
    name: &str,
    opts: &ImportOptions,
    limit: u64,
    limits: Limits,
) -> Result<Profile, ImportError> {
    let gzipped = bytes.starts_with(&GZIP_MAGIC);
    let src = Source { name, gzipped };
    let unzipped;
    let data = if gzipped {
        unzipped = gunzip(bytes, &src, limit)?;
        &unzipped[..]
    } else {
        bytes
    };
    if data.is_empty() {
        return Err(src.whole(if gzipped {
            "the file unzips to nothing: not a pprof profile"
        } else {
            "the file is empty"
        }));
    }
    let tables = Tables::read(data, &src)?;
    Reader::new(tables, &src, opts, limits)?.read_samples(data)
}

/// Where an error is: the file's name, and whether byte offsets are of the unzipped data.
struct Source<'a> {
    name: &'a str,
    gzipped: bool,
}

impl Source<'_> {
    fn whole(&self, message: impl Into<String>) -> ImportError {
        ImportError::new(self.name, Position::Whole, message)
    }

    fn at(&self, offset: usize, message: impl Into<String>) -> ImportError {
        if self.gzipped {
            // An offset in the file would mean nothing in compressed bytes.
            let message = format!(
                "{} (at byte {offset} of the unzipped profile)",
                message.into()
            );
            ImportError::new(self.name, Position::Whole, message)
        } else {
            ImportError::new(self.name, Position::Offset(offset), message)
        }
    }
}

/// Deflate's best ratio: no stream unzips to more than about this many times its size.
const DEFLATE_MAX_RATIO: u64 = 1032;

/// The gzip stream unzipped, or an error if it is broken or larger than `limit`.
fn gunzip(bytes: &[u8], src: &Source, limit: u64) -> Result<Vec<u8>, ImportError> {
    let too_large = |size: String| {
        src.whole(format!(
            "the file unzips to {size}, more than the {} a profile may have: refused as a \
             likely zip bomb",
            bytes_in_words(limit)
        ))
    };
    // The trailer states the size of the last member (modulo 4 GiB): a cheap first check,
    // before any work, when the size is one the stream could really have. A size no stream of
    // this length could unzip to is no trailer but the end of a cut-short file, which the
    // unzipping below reports as such. Either way the stream is counted as it unzips.
    if let Some(trailer) = bytes.len().checked_sub(4).filter(|_| bytes.len() >= 18) {
        let mut size = [0u8; 4];
        size.copy_from_slice(&bytes[trailer..]);
        let claimed = u64::from(u32::from_le_bytes(size));
        let possible = (bytes.len() as u64).saturating_mul(DEFLATE_MAX_RATIO);
        if claimed > limit && claimed <= possible {
            return Err(too_large(format!(
                "{claimed} bytes by its own account (or it is cut short)"
            )));
        }
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| {
            src.whole(format!(
                "the gzip data is broken ({e}), after {} unzipped bytes: a cut-short or \
                 corrupt file",
                out.len()
            ))
        })?;
    if out.len() as u64 > limit {
        return Err(too_large("more".to_owned()));
    }
    Ok(out)
}

/// `2 GiB`, `512 KiB`, `100 bytes`.
fn bytes_in_words(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// One field of a protobuf message as the wire has it.
struct Field<'a> {
    /// Offset of the field's key.
    offset: usize,
    number: u64,
    value: Wire<'a>,
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A fixed-width value (wire types 1 and 5), which `profile.proto` never uses.
    Fixed,
}

/// The fields of a message, each checked to fit in it; iteration ends after an error.
struct Fields<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Fields<'a> {
        Fields { data, at: 0 }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.data.get(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len())?;
        self.at = end;
        Some(())
    }

    fn field(&mut self) -> Result<Field<'a>, (usize, String)> {
        let offset = self.at;
        let cut = |what: &str| (offset, format!("the data ends inside {what}: cut short"));
        let key = self
            .varint()
            .ok_or_else(|| cut("a field key, or the key is malformed"))?;
        let number = key >> 3;
        if number == 0 {
            return Err((offset, "field number 0 does not exist in protobuf".into()));
        }
        let value = match key & 7 {
            0 => Wire::Varint(
                self.varint()
                    .ok_or_else(|| cut(&format!("field {number}, or its number is malformed")))?,
            ),
            1 => {
                self.skip(8)
                    .ok_or_else(|| cut(&format!("field {number}")))?;
                Wire::Fixed
            }
            2 => {
                let len = self
                    .varint()
                    .ok_or_else(|| cut(&format!("the length of field {number}")))?;
                let start = self.at;
                let remaining = self.data.len() - start;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= remaining)
                    .ok_or_else(|| {
                        (
                            offset,
                            format!(
                                "field {number} says it holds {len} bytes, but only {remaining} \
                             remain: the file is cut short or not protobuf"
                            ),
                        )
                    })?;
                self.at = start + len;
                Wire::Bytes(&self.data[start..start + len])
            }
            5 => {
                self.skip(4)
                    .ok_or_else(|| cut(&format!("field {number}")))?;
                Wire::Fixed
            }
            wire => {
                return Err((
                    offset,
                    format!("field {number} has wire type {wire}, which profile.proto never uses"),
                ))
            }
        };
        Ok(Field {
            offset,
            number,
            value,
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, (usize, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.data.len() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            self.at = self.data.len();
        }
        Some(field)
    }
}

/// Everything of the profile but its samples, decoded in the first pass.
#[derive(Default)]
struct Tables {
    sample_types: Vec<proto::ValueType>,
    period_type: Option<proto::ValueType>,
    period: i64,
    time_nanos: i64,
    duration_nanos: i64,
    /// With the offset of each, for errors.
    mappings: Vec<(usize, proto::Mapping)>,
    locations: Vec<(usize, proto::Location)>,
    functions: Vec<(usize, proto::Function)>,
    strings: Vec<String>,
}

/// The names of the top-level fields that hold messages, for errors.
fn field_name(number: u64) -> &'static str {
    match number {
        1 => "sample_type",
        2 => "sample",
        3 => "mapping",
        4 => "location",
        5 => "function",
        6 => "string_table",
        9 => "time_nanos",
        10 => "duration_nanos",
        11 => "period_type",
        12 => "period",
        _ => "field",
    }
}

impl Tables {
    fn read(data: &[u8], src: &Source) -> Result<Tables, ImportError> {
        let mut t = Tables::default();
        for field in Fields::new(data) {
            let field = field.map_err(|(at, e)| src.at(at, format!("not a pprof profile: {e}")))?;
            let (offset, number) = (field.offset, field.number);
            let wrong_type = || {
                src.at(
                    offset,
                    format!(
                        "not a pprof profile: field {number} ({}) has the wrong wire type",
                        field_name(number)
                    ),
                )
            };
            match (number, field.value) {
                (1, Wire::Bytes(b)) => t.sample_types.push(decode(b, offset, number, src)?),
                (3, Wire::Bytes(b)) => t.mappings.push((offset, decode(b, offset, number, src)?)),
                (4, Wire::Bytes(b)) => t.locations.push((offset, decode(b, offset, number, src)?)),
                (5, Wire::Bytes(b)) => t.functions.push((offset, decode(b, offset, number, src)?)),
                // Kept even when not UTF-8: a name is worth more than an error.
                (6, Wire::Bytes(b)) => t.strings.push(String::from_utf8_lossy(b).into_owned()),
                (9, Wire::Varint(v)) => t.time_nanos = v as i64,
                (10, Wire::Varint(v)) => t.duration_nanos = v as i64,
                (11, Wire::Bytes(b)) => t.period_type = Some(decode(b, offset, number, src)?),
                (12, Wire::Varint(v)) => t.period = v as i64,
                // Samples are read in the second pass.
                (2, Wire::Bytes(_)) => {}
                (1..=6 | 9..=12, _) => return Err(wrong_type()),
                // drop_frames, keep_frames, comments, the default type, later additions.
                _ => {}
            }
        }
        if t.sample_types.is_empty() {
            return Err(src.whole(
                "not a pprof profile: it declares no sample types (pprof's `sample_type`)",
            ));
        }
        if t.strings.first().is_some_and(|s| !s.is_empty()) {
            return Err(src.whole(
                "not a pprof profile: its string table does not start with the empty string",
            ));
        }
        Ok(t)
    }
}

fn decode<M: Message + Default>(
    bytes: &[u8],
    offset: usize,
    number: u64,
    src: &Source,
) -> Result<M, ImportError> {
    M::decode(bytes).map_err(|e| {
        src.at(
            offset,
            format!("not a pprof profile: {} {e}", field_name(number)),
        )
    })
}

/// How a sample's value becomes a weight.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    /// The value counts samples.
    Count,
    /// The value is a time: nanoseconds per unit, and per sample.
    Time { unit_ns: f64, period_ns: f64 },
}

/// Nanoseconds in one `unit`, when it is a time.
fn nanoseconds_per(unit: &str) -> Option<f64> {
    match unit {
        "nanoseconds" | "nanosecond" | "ns" => Some(1.0),
        "microseconds" | "microsecond" | "us" => Some(1e3),
        "milliseconds" | "millisecond" | "ms" => Some(1e6),
        "seconds" | "second" | "s" => Some(1e9),
        _ => None,
    }
}

/// A location resolved into frames, outermost first, interned when a sample first uses it.
struct Place {
    frames: Vec<Frame>,
    ids: Option<Vec<FrameId>>,
}

/// The second pass: samples into stacks.
struct Reader<'a> {
    src: &'a Source<'a>,
    strings: Vec<String>,
    /// Which value of each sample is the weight, and how.
    value: usize,
    measure: Measure,
    rate_hz: u32,
    sample_types: usize,
    time_nanos: i64,
    duration_nanos: i64,
    places: HashMap<u64, Place>,
    builder: ProfileBuilder,
    limits: Limits,
    /// The frames of every sample's stack spelled out so far.
    budget: FrameBudget,
}

impl<'a> Reader<'a> {
    fn new(
        t: Tables,
        src: &'a Source<'a>,
        opts: &ImportOptions,
        limits: Limits,
    ) -> Result<Reader<'a>, ImportError> {
        let string = |index: i64, owner: &dyn Fn() -> String| -> Result<&str, ImportError> {
            usize::try_from(index)
                .ok()
                .and_then(|i| t.strings.get(i))
                .map(String::as_str)
                .ok_or_else(|| {
                    src.whole(format!(
                        "{} names string {index}, but the string table has {} entries",
                        owner(),
                        t.strings.len()
                    ))
                })
        };

        let mut types: Vec<(&str, &str)> = Vec::new();
        for (i, vt) in t.sample_types.iter().enumerate() {
            let owner = || format!("sample type {i}");
            types.push((string(vt.r#type, &owner)?, string(vt.unit, &owner)?));
        }
        let period_ns = match &t.period_type {
            Some(pt) if t.period > 0 => {
                let unit = string(pt.unit, &|| "the period type".to_owned())?;
                nanoseconds_per(unit).map(|ns| t.period as f64 * ns)
            }
            _ => None,
        };
        let rate_hz = match period_ns {
            Some(ns) => (1e9 / ns).round().clamp(1.0, 1e6) as u32,
            None => opts.default_rate_hz.max(1),
        };
        let timed = |(_, (_, unit)): &(usize, &(&str, &str))| nanoseconds_per(unit).is_some();
        let (value, measure) = if let Some(i) = types
            .iter()
            .position(|(ty, _)| matches!(*ty, "samples" | "count"))
        {
            (i, Measure::Count)
        } else if let Some((i, (_, unit))) = types
            .iter()
            .enumerate()
            .filter(timed)
            .find(|(_, (ty, _))| matches!(*ty, "cpu" | "wall"))
            .or_else(|| types.iter().enumerate().find(timed))
        {
            let unit_ns = nanoseconds_per(unit).unwrap_or(1.0);
            let period_ns = period_ns.unwrap_or(1e9 / f64::from(rate_hz));
            (i, Measure::Time { unit_ns, period_ns })
        } else {
            let found: Vec<String> = types
                .iter()
                .map(|(t, u)| printable(&format!("{t}/{u}")).into_owned())
                .collect();
            return Err(src.whole(format!(
                "no sample type counts samples or time (found {}): port-advisor reads CPU and \
                 wall-clock profiles, not allocation or lock profiles",
                found.join(", ")
            )));
        };

        let mut modules: HashMap<u64, (String, String)> = HashMap::new();
        for (offset, m) in &t.mappings {
            let file = string(m.filename, &|| format!("mapping {}", m.id))?;
            let base = file.rsplit('/').next().unwrap_or(file);
            if modules
                .insert(m.id, (file.to_owned(), base.to_owned()))
                .is_some()
            {
                return Err(src.at(*offset, format!("two mappings have the id {}", m.id)));
            }
        }
        let mut functions: HashMap<u64, &proto::Function> = HashMap::new();
        for (offset, f) in &t.functions {
            if functions.insert(f.id, f).is_some() {
                return Err(src.at(*offset, format!("two functions have the id {}", f.id)));
            }
        }
        let mut places: HashMap<u64, Place> = HashMap::new();
        for (offset, loc) in &t.locations {
            let at = |m: String| src.at(*offset, m);
            let mapping = match loc.mapping_id {
                0 => None,
                id => Some(modules.get(&id).ok_or_else(|| {
                    at(format!(
                        "location {} names mapping {id}, which the profile does not define",
                        loc.id
                    ))
                })?),
            };
            let mut frames = Vec::new();
            for line in loc.line.iter().rev() {
                let f = functions.get(&line.function_id).ok_or_else(|| {
                    at(format!(
                        "location {} names function {}, which the profile does not define",
                        loc.id, line.function_id
                    ))
                })?;
                let owner = || format!("function {}", f.id);
                let names = FunctionNames {
                    name: string(f.name, &owner)?,
                    system_name: string(f.system_name, &owner)?,
                    file: string(f.filename, &owner)?,
                };
                if let Some(frame) = frame_of(&names, f.start_line, line.line, mapping) {
                    frames.push(frame);
                }
            }
            if loc.line.is_empty() {
                frames.push(address_frame(loc.address, mapping));
            }
            let place = Place { frames, ids: None };
            if places.insert(loc.id, place).is_some() {
                return Err(at(format!("two locations have the id {}", loc.id)));
            }
        }

        Ok(Reader {
            src,
            value,
            measure,
            rate_hz,
            sample_types: types.len(),
            time_nanos: t.time_nanos,
            duration_nanos: t.duration_nanos,
            places,
            builder: ProfileBuilder::default(),
            strings: t.strings,
            limits,
            budget: FrameBudget::new(limits),
        })
    }

    fn string(&self, index: i64) -> Option<&str> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.strings.get(i))
            .map(String::as_str)
    }

    fn read_samples(mut self, data: &[u8]) -> Result<Profile, ImportError> {
        let src = self.src;
        let mut total = 0u64;
        let mut index = 0usize;
        let mut sample = proto::Sample::default();
        for field in Fields::new(data) {
            // The first pass walked the same fields without error.
            let Ok(Field {
                offset,
                number: 2,
                value: Wire::Bytes(bytes),
            }) = field
            else {
                continue;
            };
            // One sample decoded after another into the same vectors.
            sample.clear();
            sample
                .merge(bytes)
                .map_err(|e| src.at(offset, format!("not a pprof profile: sample {index}: {e}")))?;
            let weight = self
                .weight(&sample)
                .map_err(|e| src.at(offset, format!("sample {index}: {e}")))?;
            let thread = self
                .thread(&sample)
                .map_err(|e| src.at(offset, format!("sample {index}: {e}")))?;
            let (stack, cut) = self
                .stack(&sample)
                .map_err(|e| src.at(offset, format!("sample {index}: {e}")))?;
            // Samples of no weight count: reading them is work all the same.
            self.budget
                .spend(stack.len())
                .map_err(|e| src.at(offset, format!("sample {index}: {e}")))?;
            index += 1;
            if weight == 0 {
                continue;
            }
            if cut {
                self.builder.add_error(self.limits.cut_note());
            }
            total = total.saturating_add(weight);
            self.builder
                .add_weighted(thread, stack, false, true, weight);
        }
        if total == 0 {
            return Err(src.whole("the profile holds no samples"));
        }
        let rate_hz = self.rate_hz;
        let mut meta = Meta {
            samples: total,
            ticks: total,
            wall_seconds: if self.duration_nanos > 0 {
                self.duration_nanos as f64 / 1e9
            } else {
                total as f64 / f64::from(rate_hz)
            },
            ..Meta::default()
        };
        if self.time_nanos > 0 {
            meta.started_at = chrono::DateTime::from_timestamp_nanos(self.time_nanos).to_rfc3339();
        }
        meta.sampling.rate_hz = rate_hz;
        Ok(self.builder.to_profile(meta))
    }

    fn weight(&self, sample: &proto::Sample) -> Result<u64, String> {
        let value = *sample.value.get(self.value).ok_or_else(|| {
            format!(
                "it has {} values, but the profile declares {} sample types",
                sample.value.len(),
                self.sample_types
            )
        })?;
        let value = u64::try_from(value).map_err(|_| format!("the value {value} is negative"))?;
        let weight = match self.measure {
            Measure::Count => value,
            Measure::Time { unit_ns, period_ns } if value > 0 => {
                let periods = (value as f64 * unit_ns / period_ns).round();
                if periods > MAX_WEIGHT as f64 {
                    u64::MAX
                } else {
                    (periods as u64).max(1)
                }
            }
            Measure::Time { .. } => 0,
        };
        if weight > MAX_WEIGHT {
            return Err(format!(
                "the value {value} is too large to be a number of samples"
            ));
        }
        Ok(weight)
    }

    fn thread(&mut self, sample: &proto::Sample) -> Result<u32, String> {
        let mut pid = 0u32;
        let mut tid = 0u64;
        let mut name: Option<String> = None;
        for label in &sample.label {
            let key = self.string(label.key).ok_or_else(|| {
                format!(
                    "a label names string {}, but the string table has {} entries",
                    label.key,
                    self.strings.len()
                )
            })?;
            let text = self.string(label.str).ok_or_else(|| {
                format!(
                    "the label `{key}` names string {}, but the string table has {} entries",
                    label.str,
                    self.strings.len()
                )
            })?;
            // Ids as numbers (their bits, as written) or as decimal or hex strings.
            let number = || match label.num {
                0 => parse_id(text),
                n => Some(n as u64),
            };
            match key {
                "thread id" | "thread_id" | "tid" => tid = number().unwrap_or(0),
                "pid" | "process_id" => {
                    pid = number().and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
                }
                "thread name" | "thread_name" if !text.is_empty() => name = Some(text.to_owned()),
                _ => {}
            }
        }
        Ok(self.builder.intern_thread(pid, tid, name.as_deref()))
    }

    /// The frames of a sample, outermost first: its innermost ones, as many as the limit
    /// keeps, and whether there were more. Read from the leaf (the first location, the first
    /// line of each), so a stack's cost is the limit, not what its locations add up to; the
    /// locations past the limit are only checked to exist.
    fn stack(&mut self, sample: &proto::Sample) -> Result<(Vec<FrameId>, bool), String> {
        let keep = self.limits.stack_frames;
        // Leaf first until reversed at the end.
        let mut stack: Vec<FrameId> = Vec::new();
        let mut cut = false;
        for &id in &sample.location_id {
            let place = self.places.get_mut(&id).ok_or_else(|| {
                format!("it names location {id}, which the profile does not define")
            })?;
            let room = keep - stack.len();
            if room < place.frames.len() {
                cut = true;
            }
            if room == 0 {
                continue;
            }
            let builder = &mut self.builder;
            let ids = place.ids.get_or_insert_with(|| {
                place
                    .frames
                    .iter()
                    .map(|f| builder.intern_frame(f.clone()))
                    .collect()
            });
            stack.extend(ids.iter().rev().take(room));
        }
        stack.reverse();
        Ok((stack, cut))
    }
}

/// A decimal or `0x` hexadecimal id written as a string.
fn parse_id(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A function's strings, looked up.
struct FunctionNames<'a> {
    name: &'a str,
    system_name: &'a str,
    file: &'a str,
}

/// The frame of one line of a location, `None` for the no-frame pseudo function that
/// port-advisor's own export writes for samples without frames. A frame is Python code when
/// its file ends `.py` or is `<frozen ...>`-like, or when it has neither file nor mapping and
/// no C-API name; anything else is native, in the mapping's library.
fn frame_of(
    f: &FunctionNames,
    start_line: i64,
    line: i64,
    mapping: Option<&(String, String)>,
) -> Option<Frame> {
    let display = if f.name.is_empty() {
        f.system_name
    } else {
        f.name
    };
    if display == NO_FRAME && f.file.is_empty() {
        return None;
    }
    let display = if display.is_empty() {
        "(unnamed function)"
    } else {
        display
    };
    let line = u32::try_from(line).ok().filter(|&l| l > 0);
    let first_line = u32::try_from(start_line).ok().filter(|&l| l > 0);
    let python = f.file.ends_with(".py")
        || f.file.starts_with('<')
        || (f.file.is_empty()
            && mapping.is_none()
            && !display.starts_with("Py")
            && !display.starts_with("_Py"));
    if python {
        let name = if f.system_name.is_empty() {
            display.rsplit('.').next().unwrap_or(display)
        } else {
            f.system_name
        };
        return Some(Frame {
            name: name.to_owned(),
            qualname: (display != name).then(|| display.to_owned()),
            file: f.file.to_owned(),
            first_line,
            line,
            module: (!f.file.is_empty()).then(|| module_name(Path::new(f.file), &[])),
            kind: FrameKind::Python,
            code: None,
        });
    }
    Some(Frame {
        name: display.to_owned(),
        qualname: None,
        file: f.file.to_owned(),
        first_line,
        line,
        module: mapping
            .map(|(_, base)| base)
            .filter(|b| !b.is_empty())
            .cloned(),
        kind: FrameKind::Native,
        code: None,
    })
}

/// The frame of a location without symbols: its address, in its library.
fn address_frame(address: u64, mapping: Option<&(String, String)>) -> Frame {
    Frame {
        name: format!("{address:#x}"),
        qualname: None,
        file: mapping.map(|(file, _)| file.clone()).unwrap_or_default(),
        first_line: None,
        line: None,
        module: mapping
            .map(|(_, base)| base)
            .filter(|b| !b.is_empty())
            .cloned(),
        kind: FrameKind::Native,
        code: None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::proto::{Function, Label, Line, Location, Mapping, Sample, ValueType};
    use super::*;
    use crate::import::MAX_STACK_FRAMES;

    /// A string table being filled.
    struct Strings(Vec<String>);

    impl Strings {
        fn new() -> Strings {
            Strings(vec![String::new()])
        }

        fn id(&mut self, s: &str) -> i64 {
            match self.0.iter().position(|x| x == s) {
                Some(i) => i as i64,
                None => {
                    self.0.push(s.to_owned());
                    self.0.len() as i64 - 1
                }
            }
        }
    }

    fn function(s: &mut Strings, id: u64, name: &str, system: &str, file: &str) -> Function {
        Function {
            id,
            name: s.id(name),
            system_name: s.id(system),
            filename: s.id(file),
            start_line: 10 * id as i64,
        }
    }

    fn line(function_id: u64, line: i64) -> Line {
        Line {
            function_id,
            line,
            column: 0,
        }
    }

    fn num(s: &mut Strings, key: &str, num: i64) -> Label {
        Label {
            key: s.id(key),
            num,
            ..Label::default()
        }
    }

    fn text(s: &mut Strings, key: &str, value: &str) -> Label {
        Label {
            key: s.id(key),
            str: s.id(value),
            ..Label::default()
        }
    }

    /// Two threads of process 7 at 100 Hz: the main thread in `Parser.term`, inlined into
    /// `Parser.parse` (one location, two lines), once down in libpython; a worker in
    /// `<module>`.
    fn two_threads() -> proto::Profile {
        let mut s = Strings::new();
        let samples = ValueType {
            r#type: s.id("samples"),
            unit: s.id("count"),
        };
        let cpu = ValueType {
            r#type: s.id("cpu"),
            unit: s.id("nanoseconds"),
        };
        let function = vec![
            function(&mut s, 1, "<module>", "<module>", "/app/main.py"),
            function(&mut s, 2, "Parser.parse", "parse", "/app/parse.py"),
            function(&mut s, 3, "Parser.term", "term", "/app/parse.py"),
            function(&mut s, 4, "PyList_Append", "", "Objects/listobject.c"),
        ];
        let mapping = vec![Mapping {
            id: 1,
            filename: s.id("/usr/lib/libpython3.12.so.1.0"),
            has_functions: true,
            ..Mapping::default()
        }];
        let location = vec![
            Location {
                id: 1,
                line: vec![line(1, 5)],
                ..Location::default()
            },
            Location {
                id: 2,
                // The inlined callee first, its caller last.
                line: vec![line(3, 33), line(2, 12)],
                ..Location::default()
            },
            Location {
                id: 3,
                mapping_id: 1,
                address: 0x7f00_1234,
                line: vec![line(4, 0)],
                ..Location::default()
            },
        ];
        let main = vec![
            num(&mut s, "thread id", 0x10),
            text(&mut s, "thread name", "MainThread"),
            num(&mut s, "pid", 7),
        ];
        let worker = vec![text(&mut s, "thread_id", "0x20"), num(&mut s, "pid", 7)];
        let sample = |ids: &[u64], n: i64, label: &[Label]| Sample {
            location_id: ids.to_vec(),
            value: vec![n, n * 10_000_000],
            label: label.to_vec(),
        };
        proto::Profile {
            sample_type: vec![samples, cpu.clone()],
            sample: vec![
                sample(&[2, 1], 3, &main),
                sample(&[3, 2, 1], 1, &main),
                sample(&[1], 2, &worker),
                sample(&[1], 0, &worker),
            ],
            mapping,
            location,
            function,
            string_table: s.0,
            time_nanos: 1_700_000_000_000_000_000,
            duration_nanos: 1_500_000_000,
            period_type: Some(cpu),
            period: 10_000_000,
            ..proto::Profile::default()
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    fn read(bytes: &[u8]) -> Result<Profile, ImportError> {
        parse(bytes, "in.pprof", &ImportOptions::default())
    }

    fn names(p: &Profile, stack: usize) -> Vec<&str> {
        p.stacks[stack]
            .frames
            .iter()
            .map(|&f| p.frames[f as usize].display_name())
            .collect()
    }

    /// The error of `bytes`, checked to name the file.
    fn error(bytes: &[u8]) -> ImportError {
        let e = read(bytes).unwrap_err();
        assert!(e.to_string().starts_with("in.pprof"), "{e}");
        e
    }

    #[test]
    fn a_gzipped_profile_with_threads_inlining_and_native_code() {
        let bytes = gzip(&two_threads().encode_to_vec());
        let p = read(&bytes).unwrap();
        assert_eq!(p.meta.sampling.rate_hz, 100);
        assert_eq!(p.meta.samples, 6);
        assert_eq!(p.meta.wall_seconds, 1.5);
        assert!(
            p.meta.started_at.starts_with("2023-11-14T22:13:20"),
            "{}",
            p.meta.started_at
        );
        assert_eq!(p.meta.python_version, None);
        assert_eq!(p.stacks.len(), 3, "the sample of weight 0 is left out");

        assert_eq!(names(&p, 0), ["<module>", "Parser.parse", "Parser.term"]);
        let lines: Vec<Option<u32>> = p.stacks[0]
            .frames
            .iter()
            .map(|&f| p.frames[f as usize].line)
            .collect();
        assert_eq!(lines, [Some(5), Some(12), Some(33)]);
        let term = &p.frames[p.stacks[0].frames[2] as usize];
        assert_eq!(
            (term.name.as_str(), term.first_line, term.kind),
            ("term", Some(30), FrameKind::Python)
        );
        assert_eq!(term.module.as_deref(), Some("parse"));
        assert_eq!(p.stacks[0].weight, 3);

        assert_eq!(names(&p, 1)[3], "PyList_Append");
        let native = &p.frames[p.stacks[1].frames[3] as usize];
        assert_eq!(native.kind, FrameKind::Native);
        assert_eq!(native.module.as_deref(), Some("libpython3.12.so.1.0"));
        assert_eq!(native.file, "Objects/listobject.c");

        let main = &p.threads[p.stacks[0].thread as usize];
        assert_eq!(
            (main.pid, main.tid, main.name.as_deref()),
            (7, 0x10, Some("MainThread"))
        );
        let worker = &p.threads[p.stacks[2].thread as usize];
        assert_eq!(
            (worker.pid, worker.tid, worker.name.as_deref()),
            (7, 0x20, None)
        );
        assert_eq!(names(&p, 2), ["<module>"]);
        assert_eq!(p.stacks[2].weight, 2);

        // The same bytes, not gzipped.
        assert_eq!(read(&two_threads().encode_to_vec()).unwrap(), p);
    }

    #[test]
    fn times_become_samples_at_the_period() {
        let mut profile = two_threads();
        profile.sample_type.remove(0);
        profile.period = 5_000_000;
        for s in &mut profile.sample {
            s.value.remove(0);
        }
        let p = read(&profile.encode_to_vec()).unwrap();
        assert_eq!(p.meta.sampling.rate_hz, 200);
        // 30 ms at 5 ms a sample.
        assert_eq!(p.stacks[0].weight, 6);

        // Without a period, the default rate says what a sample is worth.
        profile.period = 0;
        profile.period_type = None;
        let opts = ImportOptions {
            default_rate_hz: 50,
        };
        let p = parse(&profile.encode_to_vec(), "x", &opts).unwrap();
        assert_eq!(p.meta.sampling.rate_hz, 50);
        assert_eq!(p.stacks[0].weight, 2, "30 ms at 20 ms a sample, rounded");
        assert_eq!(p.stacks[1].weight, 1, "10 ms is at least one sample");
    }

    #[test]
    fn a_profile_of_neither_samples_nor_time_is_refused() {
        let mut profile = two_threads();
        let bytes = profile.string_table.len() as i64;
        profile.string_table.push("alloc_space".into());
        profile.string_table.push("bytes".into());
        profile.sample_type = vec![ValueType {
            r#type: bytes,
            unit: bytes + 1,
        }];
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("alloc_space/bytes"), "{e}");
    }

    #[test]
    fn broken_inputs_name_the_file_and_where() {
        let bytes = two_threads().encode_to_vec();
        let e = error(&bytes[..bytes.len() - 3]);
        assert!(matches!(e.position, Position::Offset(_)), "{e:?}");
        assert!(e.message.contains("cut short"), "{e}");

        let gz = gzip(&bytes);
        let e = error(&gz[..gz.len() / 2]);
        assert!(e.message.contains("gzip data is broken"), "{e}");

        let e = error(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
        assert!(e.message.starts_with("not a pprof profile"), "{e}");
        let e = error(b"\x0a\x05\x08\x01");
        assert!(e.message.contains("cut short"), "{e}");
        let e = error(b"");
        assert_eq!(e.to_string(), "in.pprof: the file is empty");
        let e = error(&gzip(b""));
        assert!(e.message.contains("unzips to nothing"), "{e}");
    }

    #[test]
    fn bad_references_are_errors() {
        let mut profile = two_threads();
        profile.function[2].name = 999;
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("names string 999"), "{e}");

        let mut profile = two_threads();
        profile.sample[1].location_id[0] = 42;
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("sample 1: it names location 42"), "{e}");

        let mut profile = two_threads();
        profile.location[1].line[0].function_id = 9;
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("names function 9"), "{e}");

        let mut profile = two_threads();
        profile.location[2].mapping_id = 5;
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("names mapping 5"), "{e}");

        let mut profile = two_threads();
        profile.sample[0].label[1].str = -1;
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("names string -1"), "{e}");

        let mut profile = two_threads();
        profile.location.push(profile.location[0].clone());
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("two locations have the id 1"), "{e}");

        let mut profile = two_threads();
        profile.string_table[0] = "x".into();
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("empty string"), "{e}");
    }

    #[test]
    fn bad_values_are_errors() {
        let mut profile = two_threads();
        profile.sample[2].value[0] = -2;
        let e = error(&profile.encode_to_vec());
        assert!(
            e.message.contains("sample 2: the value -2 is negative"),
            "{e}"
        );

        let mut profile = two_threads();
        profile.sample[0].value[0] = MAX_WEIGHT as i64 + 1;
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("too large"), "{e}");

        let mut profile = two_threads();
        profile.sample[0].value.clear();
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("0 values"), "{e}");

        let mut profile = two_threads();
        profile.sample.clear();
        let e = error(&profile.encode_to_vec());
        assert!(e.message.contains("no samples"), "{e}");
    }

    /// A few kilobytes that stand for millions of frames: a location of `lines` inlined lines
    /// (all of function `deep`), named `repeats` times by each sample, under a leaf `hot`.
    fn inlined_bomb(lines: i64, repeats: usize, samples: i64) -> proto::Profile {
        let mut s = Strings::new();
        let count = ValueType {
            r#type: s.id("samples"),
            unit: s.id("count"),
        };
        let function = vec![
            function(&mut s, 1, "deep", "deep", "/app/deep.py"),
            function(&mut s, 2, "hot", "hot", "/app/deep.py"),
        ];
        let location = vec![
            Location {
                id: 1,
                line: (1..=lines).map(|l| line(1, l)).collect(),
                ..Location::default()
            },
            Location {
                id: 2,
                line: vec![line(2, 7)],
                ..Location::default()
            },
        ];
        let mut location_id = vec![2];
        location_id.extend(std::iter::repeat_n(1, repeats));
        proto::Profile {
            sample_type: vec![count],
            sample: (1..=samples)
                .map(|n| Sample {
                    location_id: location_id.clone(),
                    value: vec![n],
                    label: Vec::new(),
                })
                .collect(),
            location,
            function,
            string_table: s.0,
            ..proto::Profile::default()
        }
    }

    #[test]
    fn inlined_lines_named_again_and_again_keep_the_innermost_frames() {
        let bytes = inlined_bomb(500, 1000, 8).encode_to_vec();
        assert!(bytes.len() < 16 << 10, "{} bytes", bytes.len());
        let started = std::time::Instant::now();
        let p = read(&bytes).unwrap();
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
        assert_eq!(p.stacks.len(), 1, "eight samples of one stack");
        let stack = &p.stacks[0];
        assert_eq!(stack.frames.len(), MAX_STACK_FRAMES);
        assert_eq!(stack.weight, 36);
        let leaf = &p.frames[*stack.frames.last().unwrap() as usize];
        assert_eq!((leaf.name.as_str(), leaf.line), ("hot", Some(7)));
        // Below the leaf, the location's lines from the innermost (its first line) out.
        let lines: Vec<Option<u32>> = stack.frames[MAX_STACK_FRAMES - 4..MAX_STACK_FRAMES - 1]
            .iter()
            .map(|&f| p.frames[f as usize].line)
            .collect();
        assert_eq!(lines, [Some(3), Some(2), Some(1)]);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert_eq!(p.errors[0].count, 8, "each sample cut is counted");
        assert!(p.errors[0].message.contains("4096"), "{:?}", p.errors);

        // A stack at the limit is not cut.
        let p = read(&inlined_bomb(4095, 1, 1).encode_to_vec()).unwrap();
        assert_eq!(p.stacks[0].frames.len(), MAX_STACK_FRAMES);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        // A location past the limit must still exist.
        let mut bomb = inlined_bomb(500, 1000, 1);
        bomb.sample[0].location_id.push(9);
        let e = error(&bomb.encode_to_vec());
        assert!(e.message.contains("sample 0: it names location 9"), "{e}");
    }

    #[test]
    fn a_file_whose_stacks_spell_out_too_many_frames_is_refused() {
        let limits = Limits {
            stack_frames: MAX_STACK_FRAMES,
            file_frames: 3 * MAX_STACK_FRAMES as u64,
        };
        let bytes = inlined_bomb(500, 1000, 8).encode_to_vec();
        let opts = ImportOptions::default();
        let e = parse_limited(&bytes, "in.pprof", &opts, MAX_UNZIPPED, limits).unwrap_err();
        assert!(matches!(e.position, Position::Offset(_)), "{e:?}");
        assert!(
            e.to_string()
                .contains(": sample 3: the stacks so far hold more than 12,288 frames in all"),
            "{e}"
        );
        // The real limit, reached with 100 KB: 12,208 samples of a location of 4,096 lines.
        let bytes = inlined_bomb(4095, 1, 12_208).encode_to_vec();
        assert!(bytes.len() < 200 << 10, "{} bytes", bytes.len());
        let started = std::time::Instant::now();
        let e = error(&gzip(&bytes));
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
        assert_eq!(e.position, Position::Whole);
        assert!(e.message.contains("sample 12207: "), "{e}");
        assert!(e.message.contains("more than 50,000,000 frames"), "{e}");
    }

    /// A gzip stream of `len` bytes whose trailer says it unzips to `size` bytes.
    fn claims(len: usize, size: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        bytes[..10].copy_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        bytes[len - 4..].copy_from_slice(&size.to_le_bytes());
        bytes
    }

    #[test]
    fn zip_bombs_are_refused() {
        let zeros = gzip(&vec![0u8; 1 << 20]);
        let e = parse_limited(
            &zeros,
            "big.pb.gz",
            &ImportOptions::default(),
            1 << 19,
            Limits::default(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("big.pb.gz: "), "{e}");
        assert!(e.message.contains("more than the 512 KiB"), "{e}");
        assert!(e.message.contains("zip bomb"), "{e}");

        // A trailer claiming 4 GiB is refused before anything is unzipped, when the stream is
        // long enough to hold that much.
        let e = error(&claims(4 << 20, u32::MAX - 15));
        assert!(e.message.contains("4294967280 bytes"), "{e}");
        assert!(e.message.contains("zip bomb"), "{e}");
        // A short stream cannot: its last bytes are no size, the file is cut short.
        let mut cut = gzip(&two_threads().encode_to_vec());
        let n = cut.len();
        cut[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = error(&cut);
        assert!(e.message.contains("gzip data is broken"), "{e}");

        // Under the limit, zeros are not protobuf (field number 0).
        let e = error(&zeros);
        assert!(e.message.contains("field number 0"), "{e}");
    }

    #[test]
    fn protobuf_is_told_from_text() {
        assert!(looks_like_protobuf(&two_threads().encode_to_vec()));
        assert!(!looks_like_protobuf(b"main;a;b 3\n"));
        assert!(!looks_like_protobuf(b"\nmain;a;b 3\n"));
        assert!(!looks_like_protobuf(b"2 apples\n"));
        assert!(!looks_like_protobuf(b"\x0a\x10short"));
        assert!(!looks_like_protobuf(b""));
        assert!(!looks_like_protobuf(b"hhhhhhhhhhhhhhhhhhhhhhh"));
        assert!(!looks_like_protobuf(b"P7;T7ffb0:12;app.py:main:4 10\n"));
    }
}
