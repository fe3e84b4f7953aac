//! pprof's `profile.proto`, gzipped: what Grafana Pyroscope, Parca and `go tool pprof` read.
//!
//! - Sample types `samples`/`count` and a time in nanoseconds, each sample's time being its
//!   count times the period (`1e9 / rate_hz`). The time is `cpu` when idle samples are left
//!   out (what remains is time the threads ran, as py-spy counts by default and as Pyroscope
//!   names on-CPU profiles) and `wall` when they are kept (every moment of every thread).
//!   `period_type` is the same time. pprof shows the last type by default: the time.
//! - One `Function` per function (`name` the qualified name, `system_name` the plain one,
//!   `filename`, `start_line`), one `Location` per function and sampled line with a single
//!   `Line` (the model has no inlined frames), one `Mapping` per native library, so that
//!   reading the file back tells native frames from Python ones.
//! - Threads are sample labels `thread id` (a number), `thread name` and `pid`, so
//!   [`FoldOptions::threads`] changes nothing here (`go tool pprof -tagroot` puts them at the
//!   root). A stack without frames is one `(no Python frame)` location, as in the flame graph.
//!
//! Samples are written in the profile's order as they are built, and every table numbers its
//! entries in order of first use: the same profile gives the same bytes, and memory grows with
//! the functions and locations, not with the stacks.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use super::folded::{FoldOptions, NO_FRAME};
use crate::pprof_proto as proto;
use crate::profile::{Frame, FrameKind, Profile, ThreadInfo};

/// The rate assumed for a profile that does not say its own (py-spy's default).
const DEFAULT_RATE_HZ: u32 = 100;

/// Encoded samples are handed to the compressor in pieces of about this size.
const CHUNK: usize = 1 << 20;

pub fn write(profile: &Profile, opts: &FoldOptions, w: &mut dyn Write) -> Result<()> {
    // Go's runtime/pprof compresses at the fastest level too: at a million stacks the default
    // level takes ten times as long for a file a few percent smaller.
    let mut gz = GzEncoder::new(w, Compression::fast());
    encode(profile, opts, &mut gz).context("cannot write the pprof profile")?;
    gz.finish().context("cannot write the pprof profile")?;
    Ok(())
}

/// The profile as an uncompressed `Profile` message, fields in the schema's order.
fn encode(profile: &Profile, opts: &FoldOptions, out: &mut dyn Write) -> Result<()> {
    let rate = match profile.meta.sampling.rate_hz {
        0 => DEFAULT_RATE_HZ,
        r => r,
    };
    let period = (1e9 / f64::from(rate)).round() as i64;
    let mut t = Tables::default();
    let time = if opts.include_idle { "wall" } else { "cpu" };
    let count_type = proto::ValueType {
        r#type: t.string("samples"),
        unit: t.string("count"),
    };
    let time_type = proto::ValueType {
        r#type: t.string(time),
        unit: t.string("nanoseconds"),
    };

    let mut buf: Vec<u8> = Vec::new();
    message_field(&mut buf, 1, &count_type)?;
    message_field(&mut buf, 1, &time_type)?;
    let labels: Vec<Vec<proto::Label>> = profile
        .threads
        .iter()
        .map(|th| t.thread_labels(th))
        .collect();
    let mut location_of_frame: Vec<Option<u64>> = vec![None; profile.frames.len()];
    for stack in &profile.stacks {
        if stack.idle && !opts.include_idle {
            continue;
        }
        // pprof lists the leaf first.
        let mut location_id = Vec::with_capacity(stack.frames.len().max(1));
        for &f in stack.frames.iter().rev() {
            let cached = &mut location_of_frame[f as usize];
            let id = match *cached {
                Some(id) => id,
                None => *cached.insert(t.location(&profile.frames[f as usize])),
            };
            location_id.push(id);
        }
        if stack.frames.is_empty() {
            location_id.push(t.no_frame_location());
        }
        let count = i64::try_from(stack.weight).unwrap_or(i64::MAX);
        let sample = proto::Sample {
            location_id,
            value: vec![count, count.saturating_mul(period)],
            label: labels
                .get(stack.thread as usize)
                .cloned()
                .unwrap_or_default(),
        };
        message_field(&mut buf, 2, &sample)?;
        if buf.len() >= CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;

    let meta = &profile.meta;
    let comment = match meta.command.join(" ") {
        c if c.is_empty() => format!("port-advisor {}", env!("CARGO_PKG_VERSION")),
        c => format!("port-advisor {}: {c}", env!("CARGO_PKG_VERSION")),
    };
    let comment = vec![t.string(&comment)];
    let time_nanos = chrono::DateTime::parse_from_rfc3339(&meta.started_at)
        .ok()
        .and_then(|d| d.timestamp_nanos_opt())
        .unwrap_or(0);
    let duration_nanos = if meta.wall_seconds.is_finite() && meta.wall_seconds > 0.0 {
        (meta.wall_seconds * 1e9).round() as i64
    } else {
        0
    };
    let rest = proto::Profile {
        mapping: t.mappings,
        location: t.locations,
        function: t.functions,
        string_table: t.strings,
        time_nanos,
        duration_nanos,
        period_type: Some(time_type),
        period,
        comment,
        ..proto::Profile::default()
    };
    out.write_all(&rest.encode_to_vec())?;
    Ok(())
}

/// A length-delimited field holding `message`.
fn message_field(buf: &mut Vec<u8>, number: u32, message: &impl Message) -> Result<()> {
    put_varint(buf, u64::from(number) << 3 | 2);
    message.encode_length_delimited(buf)?;
    Ok(())
}

fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push(value as u8 | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// The interned tables of the profile message, each numbered in order of first use.
#[derive(Default)]
struct Tables {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    functions: Vec<proto::Function>,
    /// By name, system name, file and start line.
    function_ids: HashMap<(i64, i64, i64, i64), u64>,
    locations: Vec<proto::Location>,
    /// By function, line and mapping.
    location_ids: HashMap<(u64, i64, u64), u64>,
    mappings: Vec<proto::Mapping>,
    mapping_ids: HashMap<i64, u64>,
}

impl Tables {
    fn string(&mut self, s: &str) -> i64 {
        if self.strings.is_empty() {
            // Entry 0 is the empty string, by the schema's rule.
            self.strings.push(String::new());
            self.string_ids.insert(String::new(), 0);
        }
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as i64;
        self.strings.push(s.to_owned());
        self.string_ids.insert(s.to_owned(), id);
        id
    }

    fn function(&mut self, name: &str, system_name: &str, file: &str, start_line: i64) -> u64 {
        let key = (
            self.string(name),
            self.string(system_name),
            self.string(file),
            start_line,
        );
        if let Some(&id) = self.function_ids.get(&key) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        self.functions.push(proto::Function {
            id,
            name: key.0,
            system_name: key.1,
            filename: key.2,
            start_line,
        });
        self.function_ids.insert(key, id);
        id
    }

    fn mapping(&mut self, library: &str) -> u64 {
        let filename = self.string(library);
        if let Some(&id) = self.mapping_ids.get(&filename) {
            return id;
        }
        let id = self.mappings.len() as u64 + 1;
        self.mappings.push(proto::Mapping {
            id,
            filename,
            // Symbolized already: pprof must not try to look addresses up.
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            ..proto::Mapping::default()
        });
        self.mapping_ids.insert(filename, id);
        id
    }

    fn location_of(&mut self, function_id: u64, line: i64, mapping_id: u64) -> u64 {
        let key = (function_id, line, mapping_id);
        if let Some(&id) = self.location_ids.get(&key) {
            return id;
        }
        let id = self.locations.len() as u64 + 1;
        self.locations.push(proto::Location {
            id,
            mapping_id,
            line: vec![proto::Line {
                function_id,
                line,
                column: 0,
            }],
            ..proto::Location::default()
        });
        self.location_ids.insert(key, id);
        id
    }

    fn location(&mut self, frame: &Frame) -> u64 {
        let function = self.function(
            frame.display_name(),
            &frame.name,
            &frame.file,
            frame.first_line.map_or(0, i64::from),
        );
        let mapping = match frame.kind {
            FrameKind::Python => 0,
            // Every native frame has a mapping, named or not, so that it reads back as native.
            FrameKind::Native => self.mapping(frame.module.as_deref().unwrap_or(&frame.file)),
        };
        self.location_of(function, frame.line.map_or(0, i64::from), mapping)
    }

    fn no_frame_location(&mut self) -> u64 {
        let function = self.function(NO_FRAME, NO_FRAME, "", 0);
        self.location_of(function, 0, 0)
    }

    fn thread_labels(&mut self, thread: &ThreadInfo) -> Vec<proto::Label> {
        let mut labels = Vec::new();
        if thread.tid != 0 {
            labels.push(proto::Label {
                key: self.string("thread id"),
                // Thread ids fit in 63 bits in practice; the bits are kept either way.
                num: thread.tid as i64,
                ..proto::Label::default()
            });
        }
        if let Some(name) = &thread.name {
            labels.push(proto::Label {
                key: self.string("thread name"),
                str: self.string(name),
                ..proto::Label::default()
            });
        }
        if thread.pid != 0 {
            labels.push(proto::Label {
                key: self.string("pid"),
                num: i64::from(thread.pid),
                ..proto::Label::default()
            });
        }
        labels
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::profile::{Meta, ProfileBuilder, Sampling};

    fn python(name: &str, qualname: &str, first_line: u32, line: u32) -> Frame {
        Frame {
            name: name.into(),
            qualname: Some(qualname.into()),
            file: "/app/m.py".into(),
            first_line: Some(first_line),
            line: Some(line),
            module: Some("m".into()),
            kind: FrameKind::Python,
            code: None,
        }
    }

    /// Two threads at 200 Hz: `work` at two lines, once in libpython, a wait (idle) and a
    /// sample without frames.
    fn two_threads() -> Profile {
        let mut b = ProfileBuilder::default();
        let main = b.intern_thread(7, 0x10, Some("MainThread"));
        let worker = b.intern_thread(7, 0x20, None);
        let m = b.intern_frame(python("<module>", "<module>", 1, 30));
        let work_a = b.intern_frame(python("work", "Job.work", 5, 6));
        let work_b = b.intern_frame(python("work", "Job.work", 5, 8));
        let wait = b.intern_frame(python("wait", "wait", 20, 21));
        let native = b.intern_frame(Frame {
            name: "PyList_Append".into(),
            qualname: None,
            file: "Objects/listobject.c".into(),
            first_line: None,
            line: Some(320),
            module: Some("libpython3.12.so".into()),
            kind: FrameKind::Native,
            code: None,
        });
        for (thread, frames, idle, n) in [
            (main, vec![m, work_a], false, 3),
            (main, vec![m, work_b], false, 2),
            (main, vec![m, work_a, native], false, 1),
            (main, vec![m, wait], true, 5),
            (main, vec![], false, 1),
            (worker, vec![m, work_a], false, 4),
        ] {
            b.add_weighted(thread, frames, idle, false, n);
        }
        b.to_profile(Meta {
            command: vec!["python".into(), "app.py".into()],
            started_at: "2026-11-24T16:45:00.5+00:00".into(),
            wall_seconds: 0.08,
            sampling: Sampling {
                rate_hz: 200,
                ..Sampling::default()
            },
            ..Meta::default()
        })
    }

    fn export(profile: &Profile, include_idle: bool) -> Vec<u8> {
        let opts = FoldOptions {
            include_idle,
            threads: false,
        };
        let mut out = Vec::new();
        write(profile, &opts, &mut out).unwrap();
        out
    }

    fn decoded(gz: &[u8]) -> proto::Profile {
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut bytes)
            .unwrap();
        proto::Profile::decode(&bytes[..]).unwrap()
    }

    fn string(p: &proto::Profile, i: i64) -> &str {
        &p.string_table[i as usize]
    }

    #[test]
    fn writes_the_tables_pprof_expects() {
        let p = decoded(&export(&two_threads(), false));
        assert_eq!(p.string_table[0], "");
        let types: Vec<(&str, &str)> = p
            .sample_type
            .iter()
            .map(|t| (string(&p, t.r#type), string(&p, t.unit)))
            .collect();
        assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
        let period_type = p.period_type.as_ref().unwrap();
        assert_eq!(string(&p, period_type.r#type), "cpu");
        assert_eq!(p.period, 5_000_000);
        assert_eq!(p.duration_nanos, 80_000_000);
        assert_eq!(p.time_nanos, 1_795_538_700_500_000_000);
        assert!(string(&p, p.comment[0]).ends_with(": python app.py"));

        // Idle samples are left out; each value pair is (count, count * period).
        assert_eq!(p.sample.len(), 5);
        let total: i64 = p.sample.iter().map(|s| s.value[0]).sum();
        assert_eq!(total, 11);
        assert!(p
            .sample
            .iter()
            .all(|s| s.value[1] == s.value[0] * 5_000_000));

        // `work` at two lines: one function, two locations; ids from 1, one line each.
        let work: Vec<&proto::Function> = p
            .function
            .iter()
            .filter(|f| string(&p, f.name) == "Job.work")
            .collect();
        assert_eq!(work.len(), 1);
        assert_eq!(
            (
                string(&p, work[0].system_name),
                string(&p, work[0].filename)
            ),
            ("work", "/app/m.py")
        );
        assert_eq!(work[0].start_line, 5);
        assert!(p.location.iter().all(|l| l.line.len() == 1 && l.id > 0));
        let work_lines: Vec<i64> = p
            .location
            .iter()
            .filter(|l| l.line[0].function_id == work[0].id)
            .map(|l| l.line[0].line)
            .collect();
        assert_eq!(work_lines, [6, 8]);

        // Only the native frame has a mapping: its library.
        assert_eq!(p.mapping.len(), 1);
        assert_eq!(string(&p, p.mapping[0].filename), "libpython3.12.so");
        let mapped: Vec<&proto::Location> =
            p.location.iter().filter(|l| l.mapping_id != 0).collect();
        assert_eq!(mapped.len(), 1);

        // Leaf first; threads as labels.
        let first = &p.sample[0];
        let leaf = &p.location[first.location_id[0] as usize - 1];
        assert_eq!(leaf.line[0].function_id, work[0].id);
        let labels: Vec<(&str, &str, i64)> = first
            .label
            .iter()
            .map(|l| (string(&p, l.key), string(&p, l.str), l.num))
            .collect();
        assert_eq!(
            labels,
            [
                ("thread id", "", 0x10),
                ("thread name", "MainThread", 0),
                ("pid", "", 7)
            ]
        );
    }

    #[test]
    fn idle_samples_make_it_wall_time() {
        let p = decoded(&export(&two_threads(), true));
        assert_eq!(string(&p, p.sample_type[1].r#type), "wall");
        let total: i64 = p.sample.iter().map(|s| s.value[0]).sum();
        assert_eq!(total, 16);
    }

    #[test]
    fn the_same_profile_gives_the_same_bytes() {
        let profile = two_threads();
        assert_eq!(export(&profile, false), export(&profile, false));
    }
}
