//! Collapsed stacks: one `frame;frame;frame count` line per stack, outermost frame first.
//!
//! Read as each tool writes them:
//! - py-spy `--format raw`: `function (file:line)` frames, after optional
//!   `process PID:"command"` and `thread (0xTID)` frames;
//! - Austin: `P<pid>;T<tid>;file:function:line` frames, `# interval: N` (microseconds) and
//!   `# mode:` in its header, and times in microseconds as the counts;
//! - `python -m profiling.sampling --collapsed`: `tid:<tid>;file:function:line` frames;
//! - port-advisor's own and inferno/FlameGraph's: any names, optionally `process N` and
//!   `thread NAME (0xTID)` first.
//!
//! A line is read whole, up to [`MAX_LINE_BYTES`]; of its frames, only the innermost
//! [`MAX_STACK_FRAMES`](super::MAX_STACK_FRAMES) are looked at and kept.

use std::io::{BufRead, Read};

use super::labels::LabelHash;
use super::{
    FrameBudget, ImportError, ImportOptions, LabelFrames, LabelHasher, Limits, Position, MAX_WEIGHT,
};
use crate::profile::{FrameId, Meta, Profile, ProfileBuilder, ThreadId, NO_FRAME};
use crate::text::printable;

/// The longest line read: 64 MiB, 16 KiB for each of the most frames a stack keeps, where
/// py-spy's labels take under 200 bytes. A longer line is refused rather than held whole in
/// memory: collapsed stacks are the format of the largest files, read line by line so that
/// their size does not matter.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// What a header (`# key: value` lines, as Austin writes them) says.
#[derive(Debug, Default)]
struct Header {
    /// Microseconds between samples, when the counts are times.
    interval_us: Option<u64>,
    /// `wall`, `cpu`, `memory`, ...
    mode: Option<String>,
    python: Option<String>,
}

pub fn parse(bytes: &[u8], name: &str, opts: &ImportOptions) -> Result<Profile, ImportError> {
    read(bytes, name, opts)
}

/// Reads collapsed stacks line by line from `input`, holding only the unique stacks.
pub fn read(input: impl BufRead, name: &str, opts: &ImportOptions) -> Result<Profile, ImportError> {
    let limits = Limits {
        file_frames: super::MAX_FOLDED_FILE_FRAMES,
        ..Limits::default()
    };
    read_within(input, name, opts, limits, MAX_LINE_BYTES)
}

/// [`read`], holding the file to `limits` and lines to `max_line` bytes.
///
/// Two threads share the work: this one reads and splits the lines into batches and hashes
/// their frames' labels, another looks up their frames and adds their stacks (see
/// `LabelFrames`), each batch while the next is read.
fn read_within(
    input: impl BufRead,
    name: &str,
    opts: &ImportOptions,
    limits: Limits,
    max_line: usize,
) -> Result<Profile, ImportError> {
    let cut_note = limits.cut_note();
    let cut_note = cut_note.as_str();
    let (to_add, batches) = std::sync::mpsc::sync_channel::<Batch>(1);
    let (to_reuse, spare) = std::sync::mpsc::sync_channel::<Batch>(2);
    let adder = Adder::default();
    let hasher = adder.frames.hasher().clone();
    let hasher = &hasher;
    let (read, added) = std::thread::scope(|scope| {
        let adder = std::thread::Builder::new()
            .name("import-frames".into())
            .spawn_scoped(scope, move || {
                let mut adder = adder;
                for mut batch in batches {
                    adder.add(&mut batch, cut_note)?;
                    // Kept for the reader when it has room for it (it may be done).
                    let _ = to_reuse.try_send(batch);
                }
                Ok::<_, &'static str>(adder.builder)
            });
        match adder {
            Ok(adder) => {
                let read = read_lines(input, name, limits, max_line, hasher, &mut |batch| {
                    let empty = spare.try_recv().unwrap_or_default();
                    to_add.send(std::mem::replace(batch, empty)).is_ok()
                });
                drop((to_add, spare));
                let added = adder
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (read, added)
            }
            // No second thread: read and add on this one.
            Err(_) => {
                let mut adder = Adder::default();
                let hasher = adder.frames.hasher().clone();
                let mut failed = Ok(());
                let read = read_lines(input, name, limits, max_line, &hasher, &mut |batch| {
                    failed = adder.add(batch, cut_note);
                    failed.is_ok()
                });
                (read, failed.map(|()| adder.builder))
            }
        }
    });
    let (header, lines) = read?;
    let builder = added.map_err(|e| ImportError::new(name, Position::Line(lines), e))?;
    let any = lines > 0;
    if !any {
        return Err(ImportError::new(
            name,
            Position::Whole,
            "no stack with a count: not collapsed stacks",
        ));
    }
    // Austin writes times: its counts are microseconds, samples every `interval`.
    let (rate_hz, per_sample) = match header.interval_us {
        Some(us) if us > 0 && header.mode.as_deref() != Some("memory") => {
            ((1_000_000 / us).clamp(1, 1_000_000) as u32, us)
        }
        _ => (opts.default_rate_hz.max(1), 1),
    };
    let mut profile = builder.into_profile(Meta {
        python_version: header.python,
        ..Meta::default()
    });
    let mut samples = 0u64;
    for stack in &mut profile.stacks {
        stack.weight = (stack.weight.saturating_add(per_sample / 2) / per_sample).max(1);
        samples = samples.saturating_add(stack.weight);
    }
    let meta = &mut profile.meta;
    meta.samples = samples;
    meta.ticks = samples;
    meta.wall_seconds = samples as f64 / rate_hz as f64;
    meta.sampling.rate_hz = rate_hz;
    Ok(profile)
}

/// Reads the lines of `input` into batches, handing each to `full` when it is full and at the
/// end (`full` answers false when the stacks cannot be added). Returns the header and the
/// number of lines read, 0 when none held a stack.
fn read_lines(
    mut input: impl BufRead,
    name: &str,
    limits: Limits,
    max_line: usize,
    hasher: &LabelHasher,
    full: &mut dyn FnMut(&mut Batch) -> bool,
) -> Result<(Header, usize), ImportError> {
    let mut budget = FrameBudget::new(limits);
    let mut batch = Batch::default();
    let mut header = Header::default();
    let mut stacks = 0;
    let mut raw: Vec<u8> = Vec::new();
    // The frames of the line being read, as places in it: kept from line to line.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut line_no = 0;
    loop {
        raw.clear();
        let n = input
            .by_ref()
            .take(max_line as u64 + 1)
            .read_until(b'\n', &mut raw)
            .map_err(|e| {
                ImportError::new(
                    name,
                    Position::Line(line_no + 1),
                    format!("cannot read: {e}"),
                )
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if raw.last() == Some(&b'\n') {
            raw.pop();
        } else if raw.len() > max_line {
            return Err(ImportError::new(
                name,
                Position::Line(line_no),
                format!(
                    "the line is longer than {}, the most port-advisor reads of one stack: not \
                     collapsed stacks, or a stack no tool writes",
                    if max_line >= 1 << 20 {
                        format!("{} MiB", max_line >> 20)
                    } else {
                        format!("{max_line} bytes")
                    }
                ),
            ));
        }
        // Checked whole first (the common case, and several times faster), mended when not.
        let line = match std::str::from_utf8(&raw) {
            Ok(line) => std::borrow::Cow::Borrowed(line),
            Err(_) => String::from_utf8_lossy(&raw),
        };
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(meta) = line.strip_prefix('#') {
            read_header(meta, &mut header);
            continue;
        }
        let at = Position::Line(line_no);
        let Some((stack, count)) = line.rsplit_once([' ', '\t']) else {
            return Err(ImportError::new(
                name,
                at,
                "expected `frame;frame;... COUNT`, found no count",
            ));
        };
        let count: u64 = count.trim().parse().map_err(|_| {
            ImportError::new(
                name,
                at,
                format!(
                    "the count `{}` is not a whole number",
                    printable(&count.chars().take(40).collect::<String>())
                ),
            )
        })?;
        if count > MAX_WEIGHT {
            return Err(ImportError::new(
                name,
                at,
                format!("the count {count} is too large to be a number of samples"),
            ));
        }
        if count == 0 {
            continue;
        }
        let stack = stack.trim_end();
        let (thread, cut) = thread_of(stack, &limits, &mut spans);
        budget
            .spend(spans.len().max(1))
            .map_err(|e| ImportError::new(name, at, e))?;
        if cut {
            batch.cut += 1;
        }
        stacks += 1;
        batch.push(stack, &spans, thread, count, hasher);
        if batch.text.len() >= BATCH_BYTES && !full(&mut batch) {
            // The frames could not be added: the error is the adder's.
            return Ok((header, line_no));
        }
    }
    if (!batch.lines.is_empty() || batch.cut > 0) && !full(&mut batch) {
        return Ok((header, line_no));
    }
    Ok((header, if stacks > 0 { line_no } else { 0 }))
}

/// The text of the lines a batch holds before their frames are looked up: their lookups are
/// faster together (see `LabelFrames`), and the larger the batch, the closer together.
const BATCH_BYTES: usize = 8 << 20;

/// Lines read whose frames are not yet looked up.
#[derive(Default)]
struct Batch {
    /// The lines' stacks, one after the other.
    text: String,
    /// Each frame's label, as a place in `text`.
    spans: Vec<(u32, u32)>,
    /// Each frame's label's fingerprint, hashed as read: the cache still holds it.
    hashes: Vec<LabelHash>,
    /// Each line's thread, count of frames and count of samples.
    lines: Vec<(Thread, u32, u64)>,
    /// Lines whose outermost frames were cut.
    cut: usize,
}

/// A line's process and thread, as its first frames name them (0 and 0 when they do not).
#[derive(Default, Clone, PartialEq)]
struct Thread {
    pid: u32,
    tid: u64,
    name: Option<Box<str>>,
}

impl Batch {
    fn push(
        &mut self,
        stack: &str,
        spans: &[(usize, usize)],
        thread: Thread,
        count: u64,
        hasher: &LabelHasher,
    ) {
        let base = self.text.len() as u32;
        if spans.is_empty() {
            self.text.push_str(NO_FRAME);
            self.spans.push((base, NO_FRAME.len() as u32));
            self.hashes.push(hasher.hash(NO_FRAME));
        } else {
            self.text.push_str(stack);
            self.spans.extend(
                spans
                    .iter()
                    .map(|&(at, len)| (base + at as u32, len as u32)),
            );
            self.hashes.extend(
                spans
                    .iter()
                    .map(|&(at, len)| hasher.hash(&stack[at..at + len])),
            );
        }
        self.lines.push((thread, spans.len().max(1) as u32, count));
    }
}

/// What batches become: the profile's frames and stacks.
#[derive(Default)]
struct Adder {
    builder: ProfileBuilder,
    frames: LabelFrames,
    /// The frames of the batch being added.
    ids: Vec<FrameId>,
}

impl Adder {
    /// Looks up the batch's frames, adds its stacks and empties it.
    fn add(&mut self, batch: &mut Batch, cut_note: &str) -> Result<(), &'static str> {
        let builder = &mut self.builder;
        self.frames.intern_hashed(
            builder,
            &batch.text,
            &batch.spans,
            &batch.hashes,
            &mut self.ids,
        )?;
        let mut at = 0;
        let mut last: Option<(&Thread, ThreadId)> = None;
        for (thread, n, count) in &batch.lines {
            let id = match last {
                Some((t, id)) if t == thread => id,
                _ => builder.intern_thread(thread.pid, thread.tid, thread.name.as_deref()),
            };
            last = Some((thread, id));
            let n = *n as usize;
            builder.add_frames(id, &self.ids[at..at + n], false, true, *count);
            at += n;
        }
        for _ in 0..batch.cut {
            builder.add_error(cut_note.to_owned());
        }
        batch.text.clear();
        batch.spans.clear();
        batch.hashes.clear();
        batch.lines.clear();
        batch.cut = 0;
        Ok(())
    }
}

fn read_header(line: &str, header: &mut Header) {
    let Some((key, value)) = line.split_once(':') else {
        return;
    };
    let value = value.trim();
    match key.trim() {
        "interval" => header.interval_us = value.parse().ok(),
        "mode" => header.mode = Some(value.to_owned()),
        "python" => header.python = Some(value.to_owned()),
        _ => {}
    }
}

/// The thread a stack belongs to; its frames without the process and thread
/// frames the tools put first and without empty ones, only the innermost `limits` keeps (read
/// from the end of the line, so a line of a million frames costs no million-entry list), into
/// `spans` as (start, length) in `stack`, outermost first; and whether that cut the stack.
fn thread_of(stack: &str, limits: &Limits, spans: &mut Vec<(usize, usize)>) -> (Thread, bool) {
    let mut pid: u32 = 0;
    let mut tid: u64 = 0;
    let mut thread_name: Option<String> = None;
    let mut rest = stack;
    for _ in 0..2 {
        // Most lines start with a frame, not a process or thread: told by their first byte.
        if !matches!(rest.as_bytes().first(), Some(b'p' | b'P' | b't' | b'T')) {
            break;
        }
        let (part, after) = match memchr::memchr(b';', rest.as_bytes()) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            // Empty, at the end of the line: where the frames are is measured from the line.
            None => (rest, &rest[rest.len()..]),
        };
        if let Some(p) = process_id(part) {
            pid = p;
        } else if let Some((t, name)) = thread_id(part) {
            tid = t;
            thread_name = name;
        } else {
            break;
        }
        rest = after;
    }
    let base = stack.as_ptr() as usize;
    spans.clear();
    let offset = rest.as_ptr() as usize - base;
    let mut end = rest.len();
    let labels = memchr::memrchr_iter(b';', rest.as_bytes())
        .map(|at| at + 1)
        .chain(std::iter::once(0))
        .map(|start| {
            let label = (offset + start, end - start);
            end = start.saturating_sub(1);
            label
        });
    spans.extend(
        labels
            .filter(|&(_, len)| len > 0)
            .take(limits.stack_frames.saturating_add(1)),
    );
    let cut = spans.len() > limits.stack_frames;
    spans.truncate(limits.stack_frames);
    spans.reverse();
    let thread = Thread {
        pid,
        tid,
        name: thread_name.map(String::into_boxed_str),
    };
    (thread, cut)
}

/// `process 123:"python app.py"`, `process 123` (py-spy, port-advisor) or `P123` (Austin).
fn process_id(part: &str) -> Option<u32> {
    if let Some(rest) = part.strip_prefix("process ") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return digits.parse().ok();
    }
    let rest = part.strip_prefix('P')?;
    rest.parse().ok()
}

/// `thread (0x7f..)`, `thread NAME (0x7f..)`, `thread 0x7f..` (py-spy, port-advisor),
/// `T7ffb..` or `T0:1234` (Austin), `tid:1234` (`profiling.sampling`).
fn thread_id(part: &str) -> Option<(u64, Option<String>)> {
    if let Some(rest) = part.strip_prefix("tid:") {
        return rest.parse().ok().map(|t| (t, None));
    }
    if let Some(rest) = part.strip_prefix("thread ") {
        let (name, hex) = match rest.rsplit_once(" (") {
            Some((name, hex)) => (Some(name.to_owned()), hex.trim_end_matches(')')),
            None => (None, rest.trim_start_matches('(').trim_end_matches(')')),
        };
        let hex = hex.trim_start_matches("0x").trim_start_matches("0X");
        return u64::from_str_radix(hex, 16).ok().map(|t| (t, name));
    }
    let rest = part.strip_prefix('T')?;
    let tid = rest.rsplit(':').next()?;
    u64::from_str_radix(tid, 16).ok().map(|t| (t, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::MAX_STACK_FRAMES;
    use crate::profile::FrameKind;

    fn read(text: &str) -> Result<Profile, ImportError> {
        parse(text.as_bytes(), "in.folded", &ImportOptions::default())
    }

    fn names(p: &Profile, stack: usize) -> Vec<String> {
        p.stacks[stack]
            .frames
            .iter()
            .map(|&f| p.frames[f as usize].display_name().to_owned())
            .collect()
    }

    #[test]
    fn a_file_of_many_batches_reads_as_its_lines_do_and_fails_at_the_line_past_them() {
        // Lines enough for several batches, threads and labels repeating across them.
        let mut text = String::new();
        let mut expected: std::collections::BTreeMap<(u64, Vec<String>), u64> = Default::default();
        let mut lines = 0;
        while text.len() < 2 * BATCH_BYTES + 1000 {
            let (i, t, count) = (lines % 5000, lines % 3, 1 + lines as u64 % 7);
            let leaf = format!("f{} (m{}.py:{})", i % 700, i % 11, i);
            text.push_str(&format!(
                "thread T{t} (0x{t:x});main (app.py:1);{leaf} {count}\n"
            ));
            let name = format!("f{}", i % 700);
            *expected
                .entry((t as u64, vec!["main".to_owned(), name]))
                .or_default() += count;
            lines += 1;
        }
        let whole = read(&text).unwrap();
        let mut got: std::collections::BTreeMap<(u64, Vec<String>), u64> = Default::default();
        for (i, s) in whole.stacks.iter().enumerate() {
            let tid = whole.threads[s.thread as usize].tid;
            *got.entry((tid, names(&whole, i))).or_default() += s.weight;
        }
        assert_eq!(got, expected);
        assert_eq!(whole.threads.len(), 3);

        text.push_str("main;f not-a-count\n");
        let e = read(&text).unwrap_err();
        assert!(e.to_string().contains(&format!(":{}:", lines + 1)), "{e}");
    }

    #[test]
    fn py_spy_raw_lines_with_process_and_thread() {
        let p = read(
            "process 41:\"python app.py\";thread (0x7F10);<module> (app.py:9);main (app.py:5) 3\n\
             process 41:\"python app.py\";thread (0x7F10);<module> (app.py:9);main (app.py:6) 2\n",
        )
        .unwrap();
        assert_eq!(p.meta.samples, 5);
        assert_eq!(p.meta.sampling.rate_hz, 100);
        assert_eq!((p.threads[0].pid, p.threads[0].tid), (41, 0x7f10));
        assert_eq!(names(&p, 0), ["<module>", "main"]);
        assert_eq!(p.frames[p.stacks[1].frames[1] as usize].line, Some(6));
    }

    #[test]
    fn austin_times_become_samples_at_its_interval() {
        let p = read(
            "# austin: 3.6.0\n# interval: 100\n# mode: wall\n\n\
             P7;T7ffb0:12;/srv/app.py:<module>:1;/srv/app.py:work:20 1000\n\
             P7;T7ffb0:12;/srv/app.py:<module>:1;/usr/lib/python3.11/json/decoder.py:decode:337 250\n\
             # duration: 1250\n",
        )
        .unwrap();
        assert_eq!(p.meta.sampling.rate_hz, 10_000);
        assert_eq!(p.stacks[0].weight, 10);
        // 250 µs at 100 µs per sample: 2.5 samples, rounded.
        assert_eq!(p.stacks[1].weight, 3);
        let decode = &p.frames[p.stacks[1].frames[1] as usize];
        assert_eq!(decode.module.as_deref(), Some("json.decoder"));
        assert_eq!(p.threads[0].pid, 7);
    }

    #[test]
    fn profiling_sampling_collapsed_lines() {
        let p = read("tid:140001;app.py:main:4;app.py:fib:10 7\n").unwrap();
        assert_eq!(p.threads[0].tid, 140001);
        assert_eq!(names(&p, 0), ["main", "fib"]);
    }

    #[test]
    fn plain_names_and_an_empty_stack() {
        let p = read("main;a;b 4\nthread 0x1 9\n").unwrap();
        assert_eq!(names(&p, 0), ["main", "a", "b"]);
        assert_eq!(names(&p, 1), [NO_FRAME]);
        assert_eq!(p.frames[0].kind, FrameKind::Python);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let e = read("a;b 3\na;b x\n").unwrap_err();
        assert_eq!(e.position, Position::Line(2));
        assert!(e.to_string().starts_with("in.folded:2: "), "{e}");
        let e = read("a;b\n").unwrap_err();
        assert_eq!(e.position, Position::Line(1));
        let e = read("a;b 999999999999999999999\n").unwrap_err();
        assert!(e.message.contains("whole number"), "{e}");
        let e = read("a;b 9999999999999999\n").unwrap_err();
        assert!(e.message.contains("too large"), "{e}");
        let e = read("# only a header\n").unwrap_err();
        assert_eq!(e.position, Position::Whole);
    }

    #[test]
    fn a_line_of_a_million_frames_keeps_its_innermost() {
        let mut line = String::from("process 7;thread (0x10)");
        for i in 0..1_000_000 {
            line.push_str(&format!(";f{i}"));
        }
        line.push_str(" 3\nmain;work 2\n");
        let started = std::time::Instant::now();
        let p = read(&line).unwrap();
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
        let deep = &p.stacks[0];
        assert_eq!(deep.frames.len(), MAX_STACK_FRAMES);
        let leaf =
            |s: &crate::profile::Stack| p.frames[*s.frames.last().unwrap() as usize].name.clone();
        assert_eq!(leaf(deep), "f999999");
        assert_eq!(p.frames[deep.frames[0] as usize].name, "f995904");
        assert_eq!((p.threads[0].pid, p.threads[0].tid), (7, 0x10));
        assert!(
            p.frames.len() < MAX_STACK_FRAMES + 10,
            "only kept frames are interned"
        );
        assert_eq!(names(&p, 1), ["main", "work"]);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert_eq!(p.errors[0].count, 1);
        assert!(
            p.errors[0].message.contains("deeper than 4096 frames"),
            "{:?}",
            p.errors
        );
    }

    fn read_limited(text: &str, limits: Limits, max_line: usize) -> Result<Profile, ImportError> {
        read_within(
            text.as_bytes(),
            "in.folded",
            &ImportOptions::default(),
            limits,
            max_line,
        )
    }

    #[test]
    fn a_file_of_too_many_frames_or_too_long_a_line_is_refused() {
        let limits = Limits {
            stack_frames: 3,
            file_frames: 10,
        };
        let p = read_limited("a;b;c;d 1\ne;f;g 1\nh;i;j 1\nk 1\n", limits, 100).unwrap();
        assert_eq!(names(&p, 0), ["b", "c", "d"]);
        assert_eq!(p.errors[0].count, 1);
        // Repeated stacks count too: the limit is on what the file makes the reader do.
        let e =
            read_limited("a;b 1\na;b 1\na;b 1\na;b 1\na;b 1\na;b 1\n", limits, 100).unwrap_err();
        assert_eq!(e.position, Position::Line(6));
        assert!(
            e.to_string()
                .starts_with("in.folded:6: the stacks so far hold more than 10 frames"),
            "{e}"
        );

        let e = read_limited("a;b 1\nabcdefghijklmnop;q 1\n", limits, 16).unwrap_err();
        assert_eq!(e.position, Position::Line(2));
        assert!(e.message.contains("longer than 16 bytes"), "{e}");
        // A line of exactly the limit, newline aside, is read.
        read_limited("abcdefghijklmn 1\n", limits, 16).unwrap();
        read_limited("abcdefghijklmn 1", limits, 16).unwrap();
    }

    #[test]
    fn names_that_are_not_utf8_are_kept_lossy() {
        let p = parse(b"ma\xffin;f\xfe 2\n", "x", &ImportOptions::default()).unwrap();
        assert_eq!(names(&p, 0), ["ma\u{fffd}in", "f\u{fffd}"]);
    }
}
