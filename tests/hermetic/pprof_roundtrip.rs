//! pprof in and out, checked against an implementation that is not ours: `protoc` (Debian's
//! `protobuf-compiler`, installed by `bash .ci/setup`) decodes what the exporter writes, raw
//! and against `fixtures/pprof/profile.proto`, and encodes the hand-written
//! `fixtures/pprof/two_threads.textproto` for the importer. Without protoc these tests fail.
//!
//! `fixtures/pprof/two_threads.pb.gz` is that text fixture encoded, made with:
//!
//! ```text
//! protoc --encode=perftools.profiles.Profile fixtures/pprof/profile.proto \
//!     < fixtures/pprof/two_threads.textproto | gzip -9n > fixtures/pprof/two_threads.pb.gz
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use port_advisor::analyze::{analyze, AnalyzeOptions};
use port_advisor::import::{self, parse, read, ImportOptions, InputFormat};
use port_advisor::profile::{FrameKind, Meta, Profile, ProfileBuilder, Sampling};
use port_advisor::report::folded::FoldOptions;
use port_advisor::report::pprof;

use crate::common;
use crate::common::profiles::{native_frame, python_frame};

const SCHEMA: &str = "fixtures/pprof/profile.proto";
const TEXT_FIXTURE: &str = "fixtures/pprof/two_threads.textproto";
const BINARY_FIXTURE: &str = "fixtures/pprof/two_threads.pb.gz";
const RECORDED: &str = "fixtures/recorded/log_report.profile.json";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// protoc's output for `input` on its standard input.
fn protoc(args: &[&str], input: &[u8]) -> Vec<u8> {
    let child = Command::new("protoc")
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("protoc is missing: run `bash .ci/setup` (it installs protobuf-compiler)")
        }
        Err(e) => panic!("cannot run protoc: {e}"),
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread, so that protoc never waits on a full stdout pipe meanwhile.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "protoc {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn recorded() -> Profile {
    Profile::load(&root().join(RECORDED)).unwrap()
}

fn export(profile: &Profile) -> Vec<u8> {
    let mut out = Vec::new();
    pprof::write(profile, &FoldOptions::default(), &mut out).unwrap();
    out
}

/// The text fixture encoded by protoc, optionally edited first.
fn encoded_fixture(edit: impl Fn(String) -> String) -> Vec<u8> {
    let text = std::fs::read_to_string(root().join(TEXT_FIXTURE)).unwrap();
    protoc(
        &["--encode=perftools.profiles.Profile", SCHEMA],
        edit(text).as_bytes(),
    )
}

/// Per function (name and file): inclusive and self weight, busy samples only.
fn weights(profile: &Profile) -> BTreeMap<(String, String), (u64, u64)> {
    analyze(profile, &AnalyzeOptions::default())
        .functions
        .into_iter()
        .map(|f| ((f.name, f.file), (f.inclusive_weight, f.self_weight)))
        .collect()
}

fn inclusive_by_name(profile: &Profile) -> BTreeMap<String, u64> {
    weights(profile)
        .into_iter()
        .map(|((name, _), (inclusive, _))| (name, inclusive))
        .collect()
}

/// What the text fixture says, as the importer must read it.
fn check_two_threads(p: &Profile) {
    assert_eq!(p.meta.sampling.rate_hz, 250, "from the 4 ms period");
    assert_eq!(p.meta.samples, 13);
    assert!((p.meta.wall_seconds - 0.052).abs() < 1e-9);
    let expected: BTreeMap<String, u64> = [
        ("<module>", 13),
        ("main", 9),
        ("LogReport.parse_line", 7),
        ("worker", 4),
        ("JSONDecoder.raw_decode", 4),
        ("scanstring_unicode", 3),
    ]
    .into_iter()
    .map(|(n, w)| (n.to_owned(), w))
    .collect();
    assert_eq!(inclusive_by_name(p), expected);

    let parse_line = p
        .frames
        .iter()
        .find(|f| f.display_name() == "LogReport.parse_line")
        .unwrap();
    assert_eq!(
        (
            parse_line.name.as_str(),
            parse_line.file.as_str(),
            parse_line.first_line,
            parse_line.line
        ),
        ("parse_line", "/srv/app/report.py", Some(12), Some(15))
    );
    assert_eq!(parse_line.kind, FrameKind::Python);
    let native = p
        .frames
        .iter()
        .find(|f| f.name == "scanstring_unicode")
        .unwrap();
    assert_eq!(native.kind, FrameKind::Native);
    assert_eq!(
        native.module.as_deref(),
        Some("_json.cpython-311-x86_64-linux-gnu.so")
    );

    let mut threads: Vec<(u32, u64, Option<&str>)> = p
        .threads
        .iter()
        .map(|t| (t.pid, t.tid, t.name.as_deref()))
        .collect();
    threads.sort();
    assert_eq!(
        threads,
        [
            (4242, 1001, Some("MainThread")),
            (4242, 1002, Some("worker-1"))
        ]
    );
}

/// Top-level lines of protoc's text output, and the blocks named `name` (their inner lines).
fn blocks<'a>(text: &'a str, name: &str) -> Vec<Vec<&'a str>> {
    let open = format!("{name} {{");
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        match &mut current {
            None if line == open => current = Some(Vec::new()),
            Some(_) if line == "}" => out.push(current.take().unwrap()),
            Some(inner) => inner.push(line.trim()),
            None => {}
        }
    }
    out
}

/// The numbers of `field: N` lines.
fn numbers(lines: &[&str], field: &str) -> Vec<i64> {
    let prefix = format!("{field}: ");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn protoc_decodes_the_export_raw() {
    let profile = recorded();
    let raw = gunzip(&export(&profile));
    let text = String::from_utf8(protoc(&["--decode_raw"], &raw)).unwrap();
    let top: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' ') && *l != "}")
        .collect();
    assert_eq!(top[..2], ["1 {", "1 {"], "two sample types first");
    let busy_stacks = profile.stacks.iter().filter(|s| !s.idle).count();
    assert_eq!(top.iter().filter(|l| **l == "2 {").count(), busy_stacks);
    assert_eq!(
        top.iter().find(|l| l.starts_with("6: ")),
        Some(&"6: \"\""),
        "the string table starts with the empty string"
    );
    for known in ["FrozenImporter.exec_module", "_find_and_load", "<module>"] {
        assert!(
            top.contains(&format!("6: \"{known}\"").as_str()),
            "{known} is not in the string table"
        );
    }
    assert!(top.contains(&"12: 5000000"), "the period at 200 Hz");
    assert!(top.contains(&"11 {"), "a period type");
    // Functions (5) and locations (4) are there, and no mapping: the profile has no native
    // frames.
    assert!(top.contains(&"4 {") && top.contains(&"5 {"));
    assert!(!top.contains(&"3 {"));
}

#[test]
fn protoc_decodes_the_export_with_the_schema() {
    let profile = recorded();
    let raw = gunzip(&export(&profile));
    let text = String::from_utf8(protoc(
        &["--decode=perftools.profiles.Profile", SCHEMA],
        &raw,
    ))
    .unwrap();
    let strings: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("string_table: \""))
        .map(|s| s.strip_suffix('"').unwrap())
        .collect();
    assert_eq!(strings[0], "");
    let string = |i: i64| strings[i as usize];

    let types: Vec<(&str, &str)> = blocks(&text, "sample_type")
        .iter()
        .map(|b| (string(numbers(b, "type")[0]), string(numbers(b, "unit")[0])))
        .collect();
    assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
    let top_numbers: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(numbers(&top_numbers, "period"), [5_000_000]);
    assert_eq!(numbers(&top_numbers, "duration_nanos"), [2_237_880_030]);

    let samples = blocks(&text, "sample");
    let mut total = 0;
    for sample in &samples {
        let values = numbers(sample, "value");
        assert_eq!(values.len(), 2, "{sample:?}");
        assert_eq!(values[1], values[0] * 5_000_000);
        assert!(!numbers(sample, "location_id").is_empty());
        total += values[0];
    }
    assert_eq!(total as u64, profile.total_weight(false));

    // Every function the profile's busy stacks show is named, as the model names it.
    let names: Vec<&str> = blocks(&text, "function")
        .iter()
        .map(|f| string(numbers(f, "name")[0]))
        .collect();
    for stack in profile.stacks.iter().filter(|s| !s.idle) {
        for &f in &stack.frames {
            let name = profile.frames[f as usize].display_name();
            assert!(names.contains(&name), "{name} is not a function");
        }
    }
    assert!(names.contains(&"FrozenImporter.exec_module"));
}

#[test]
fn protoc_encoded_text_is_read_gzipped_or_not() {
    let raw = encoded_fixture(|t| t);
    let opts = ImportOptions::default();
    let plain = parse(&raw, "two_threads.pb", InputFormat::Pprof, &opts).unwrap();
    check_two_threads(&plain);
    let gz = gzip(&raw);
    assert_eq!(import::detect(&gz), Some(InputFormat::Pprof));
    assert_eq!(import::detect(&raw), Some(InputFormat::Pprof));
    let zipped = parse(&gz, "two_threads.pb.gz", InputFormat::Pprof, &opts).unwrap();
    check_two_threads(&zipped);

    // The committed binary is this very encoding.
    let committed = std::fs::read(root().join(BINARY_FIXTURE)).unwrap();
    assert_eq!(
        gunzip(&committed),
        raw,
        "{BINARY_FIXTURE} is stale: remake it with the command in this file's header"
    );
}

#[test]
fn the_committed_binary_is_read_by_content() {
    let p = read(
        &root().join(BINARY_FIXTURE),
        None,
        &ImportOptions::default(),
    )
    .unwrap();
    check_two_threads(&p);
}

#[test]
fn the_binary_reports_on_a_pprof_file() {
    let out = assert_cmd::Command::cargo_bin("port-advisor")
        .unwrap()
        .current_dir(root())
        .args(["report", BINARY_FIXTURE, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(json.contains("LogReport.parse_line"), "{json}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cut.pb.gz");
    let committed = std::fs::read(root().join(BINARY_FIXTURE)).unwrap();
    std::fs::write(&bad, &committed[..committed.len() / 2]).unwrap();
    let out = assert_cmd::Command::cargo_bin("port-advisor")
        .unwrap()
        .arg("report")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(common::USAGE));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("{}: the gzip data is broken", bad.display())),
        "{stderr}"
    );
}

#[test]
fn a_recorded_profile_survives_the_round_trip() {
    let original = recorded();
    let bytes = export(&original);
    let back = parse(
        &bytes,
        "log_report.pb.gz",
        InputFormat::Pprof,
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(back.meta.sampling.rate_hz, original.meta.sampling.rate_hz);
    assert_eq!(back.meta.samples, original.total_weight(false));
    assert!((back.meta.wall_seconds - original.meta.wall_seconds).abs() < 1e-6);
    assert_eq!(back.total_weight(false), original.total_weight(false));
    let (before, after) = (weights(&original), weights(&back));
    assert!(before.len() > 20, "{}", before.len());
    assert_eq!(after, before);
    // And again: the export of the import is the same file.
    assert_eq!(
        weights(
            &parse(
                &export(&back),
                "again",
                InputFormat::Pprof,
                &ImportOptions::default()
            )
            .unwrap()
        ),
        before
    );
}

/// Two threads at 200 Hz: `work` at two lines, once in libpython, a wait (idle) and a sample
/// without frames.
fn two_threads() -> Profile {
    let m_py =
        |qualname, first_line, line| python_frame("/app/m.py", "m", qualname, first_line, line);
    let mut b = ProfileBuilder::default();
    let main = b.intern_thread(7, 0x10, Some("MainThread"));
    let worker = b.intern_thread(7, 0x20, None);
    let m = b.intern_frame(m_py(("<module>", "<module>"), 1, 30));
    let work_a = b.intern_frame(m_py(("work", "Job.work"), 5, 6));
    let work_b = b.intern_frame(m_py(("work", "Job.work"), 5, 8));
    let wait = b.intern_frame(m_py(("wait", "wait"), 20, 21));
    let native = b.intern_frame(native_frame(
        "PyList_Append",
        "Objects/listobject.c",
        Some(320),
        "libpython3.12.so",
    ));
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

#[test]
fn a_built_profile_reads_back_as_the_same_stacks() {
    let profile = two_threads();
    let bytes = export(&profile);
    let format = import::detect(&bytes).unwrap();
    assert_eq!(format, InputFormat::Pprof);
    let back = parse(&bytes, "out.pb.gz", format, &ImportOptions::default()).unwrap();
    assert_eq!(back.meta.sampling.rate_hz, 200);
    assert_eq!(back.meta.samples, 11);
    assert_eq!(back.meta.wall_seconds, 0.08);
    assert_eq!(back.meta.started_at, "2026-11-24T16:45:00.500+00:00");
    let stacks = |p: &Profile| {
        let mut out: Vec<(Vec<String>, u64, u64)> = p
            .stacks
            .iter()
            .filter(|s| !s.idle)
            .map(|s| {
                let frames = s
                    .frames
                    .iter()
                    .map(|&f| {
                        let f = &p.frames[f as usize];
                        format!("{} {:?} {:?}", f.display_name(), f.line, f.kind)
                    })
                    .collect();
                (frames, p.threads[s.thread as usize].tid, s.weight)
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(stacks(&back), stacks(&profile));
    let native = back
        .frames
        .iter()
        .find(|f| f.kind == FrameKind::Native)
        .unwrap();
    assert_eq!(native.module.as_deref(), Some("libpython3.12.so"));
    assert_eq!(back.threads.len(), 2);
}

/// A small fast generator, so that the "random" inputs are the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Reads `bytes` as pprof; an error must name the file first.
fn check_error(bytes: &[u8], name: &str) -> Option<String> {
    match parse(bytes, name, InputFormat::Pprof, &ImportOptions::default()) {
        Ok(_) => None,
        Err(e) => {
            let text = e.to_string();
            assert!(text.starts_with(name), "{text}");
            assert!(!text.contains('\n'), "{text}");
            Some(text)
        }
    }
}

fn error_of(bytes: &[u8], name: &str) -> String {
    check_error(bytes, name).unwrap_or_else(|| panic!("{name} was read without error"))
}

#[test]
fn cut_short_inputs_are_errors() {
    let gz = export(&recorded());
    let e = error_of(&gz[..gz.len() / 2], "cut.pb.gz");
    assert!(e.contains("gzip data is broken"), "{e}");
    let e = error_of(&gz[..gz.len() - 1], "cut.pb.gz");
    assert!(e.contains("gzip"), "{e}");

    let raw = encoded_fixture(|t| t);
    let e = error_of(&raw[..raw.len() - 1], "cut.pb");
    assert!(e.contains("cut short"), "{e}");
    // Every prefix either reads (fields cut off whole) or is an error naming the file.
    for n in 0..raw.len() {
        check_error(&raw[..n], "prefix.pb");
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let raw = encoded_fixture(|t| t);
    let gz = gzip(&raw);
    for round in 0..2000 {
        let len = rng.below(300);
        let mut bytes = match round % 4 {
            0 => rng.bytes(len),
            1 => [&[0x1f, 0x8b][..], &rng.bytes(len)].concat(),
            // A valid profile with a few bytes changed: the fields mostly still parse.
            2 => raw.clone(),
            _ => [&[0x0a][..], &rng.bytes(len)].concat(),
        };
        if round % 4 == 2 {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
        }
        check_error(&bytes, "random.pb");
    }
    // Changed bytes in the gzip stream: caught by its checksum or length.
    for _ in 0..100 {
        let mut bytes = gz.clone();
        let at = 10 + rng.below(bytes.len() - 10);
        bytes[at] ^= 1 << rng.below(8);
        check_error(&bytes, "random.pb.gz");
    }
}

#[test]
fn zip_bombs_are_refused_fast() {
    // 16 MiB of zeros unzip, and are not protobuf.
    let zeros = gzip(&vec![0u8; 16 << 20]);
    let e = error_of(&zeros, "zeros.pb.gz");
    assert!(e.contains("not a pprof profile"), "{e}");
    // A 4 MiB stream that says it unzips to nearly 4 GiB (as a real bomb could) is refused
    // before it is unzipped.
    let mut bomb = vec![0u8; 4 << 20];
    bomb[..10].copy_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let n = bomb.len();
    bomb[n - 4..].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let e = error_of(&bomb, "bomb.pb.gz");
    assert!(e.contains("4294967280 bytes by its own account"), "{e}");
    assert!(e.contains("zip bomb"), "{e}");
}

#[test]
fn dangling_references_are_errors() {
    let missing_location =
        encoded_fixture(|t| t.replacen("location_id: [3, 2, 1]", "location_id: [3, 2, 99]", 1));
    let e = error_of(&missing_location, "dangling.pb");
    assert!(e.contains("sample 0: it names location 99"), "{e}");
    assert!(e.starts_with("dangling.pb at byte "), "{e}");

    let bad_string = encoded_fixture(|t| {
        t.replacen("function { id: 3 name: 8 ", "function { id: 3 name: 80 ", 1)
    });
    let e = error_of(&gzip(&bad_string), "strings.pb.gz");
    assert!(
        e.contains("function 3 names string 80, but the string table has 22 entries"),
        "{e}"
    );

    let missing_function = encoded_fixture(|t| t.replacen("function_id: 6", "function_id: 7", 1));
    let e = error_of(&missing_function, "functions.pb");
    assert!(e.contains("location 6 names function 7"), "{e}");

    let negative =
        encoded_fixture(|t| t.replacen("value: [2, 8000000]", "value: [-2, 8000000]", 1));
    let e = error_of(&negative, "negative.pb");
    assert!(e.contains("sample 1: the value -2 is negative"), "{e}");
}

#[test]
fn read_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.pb");
    std::fs::write(&path, [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap();
    let e = read(&path, Some(InputFormat::Pprof), &ImportOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{} at byte 0: ", path.display())),
        "{e}"
    );
}
