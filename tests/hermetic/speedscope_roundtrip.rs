//! speedscope out and back in: what the exporter (`report::speedscope`) writes, the importer
//! (`import::speedscope`) reads as the same stacks, threads, processes and timing, and no
//! cut-short copy of it makes the importer panic. The two stay apart in the crate; this is
//! where they meet.

use std::collections::HashSet;

use port_advisor::import::speedscope::parse;
use port_advisor::import::{ImportError, ImportOptions};
use port_advisor::profile::{FrameKind, Meta, Profile, ProfileBuilder, Sampling, NO_FRAME};
use port_advisor::report::folded::FoldOptions;
use port_advisor::report::speedscope;

use crate::common::profiles::{named_stacks, native_frame, python_frame};

fn read(text: &str) -> Result<Profile, ImportError> {
    parse(text.as_bytes(), "in.json", &ImportOptions::default())
}

fn calc(qualname: (&str, &str), first_line: u32, line: u32) -> port_advisor::profile::Frame {
    python_frame("/app/calc.py", "calc", qualname, first_line, line)
}

/// A small recording at 100 Hz: two threads, a method, a line sampled twice, a native frame
/// and a sample with no Python frame.
fn recorded() -> Profile {
    let mut b = ProfileBuilder::default();
    let main = b.intern_thread(7, 0x10, Some("MainThread"));
    let worker = b.intern_thread(7, 0x20, None);
    let m = b.intern_frame(calc(("<module>", "<module>"), 1, 30));
    let term_a = b.intern_frame(calc(("term", "Parser.term"), 12, 13));
    let term_b = b.intern_frame(calc(("term", "Parser.term"), 12, 15));
    let native = b.intern_frame(native_frame(
        "PyList_Append",
        "libpython3.12.so",
        None,
        "libpython3.12.so",
    ));
    for (thread, frames, n) in [
        (main, vec![m, term_a], 3),
        (main, vec![m, term_b], 2),
        (main, vec![m, term_a, native], 4),
        (main, vec![], 1),
        (worker, vec![m], 6),
    ] {
        b.add_weighted(thread, frames, false, false, n);
    }
    b.to_profile(Meta {
        command: vec!["python".into(), "calc.py".into()],
        sampling: Sampling {
            rate_hz: 100,
            ..Sampling::default()
        },
        ..Meta::default()
    })
}

fn export(profile: &Profile, threads: bool) -> String {
    let mut out = Vec::new();
    let opts = FoldOptions {
        include_idle: false,
        threads,
    };
    speedscope::write(profile, &opts, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn our_own_export_reads_back() {
    let p = read(&export(&recorded(), false)).unwrap();
    assert_eq!(p.meta.sampling.rate_hz, 100);
    assert_eq!(p.meta.samples, 16);
    assert_eq!(
        named_stacks(&p),
        [
            (vec![NO_FRAME.into()], 1),
            (vec!["<module>".into()], 6),
            (vec!["<module>".into(), "Parser.term".into()], 5),
            (
                vec![
                    "<module>".into(),
                    "Parser.term".into(),
                    "PyList_Append".into()
                ],
                4
            ),
        ]
    );
    let term = p.frames.iter().find(|f| f.name == "term").unwrap();
    assert_eq!(
        (term.file.as_str(), term.first_line, term.line, term.kind),
        ("/app/calc.py", Some(12), None, FrameKind::Python)
    );
    assert_eq!(term.module.as_deref(), Some("calc"));
    let native = p.frames.iter().find(|f| f.name == "PyList_Append").unwrap();
    assert_eq!(
        (native.kind, native.module.as_deref()),
        (FrameKind::Native, Some("libpython3.12.so"))
    );
    assert!((p.meta.wall_seconds - 0.16).abs() < 1e-9);
}

#[test]
fn our_threads_and_processes_read_back() {
    let mut profile = recorded();
    let p = read(&export(&profile, true)).unwrap();
    let mut threads: Vec<(u32, u64, Option<&str>)> = p
        .threads
        .iter()
        .map(|t| (t.pid, t.tid, t.name.as_deref()))
        .collect();
    threads.sort();
    assert_eq!(threads, [(0, 0x10, Some("MainThread")), (0, 0x20, None)]);
    assert_eq!(p.meta.ticks, 10);

    profile.threads[1].pid = 8;
    let p = read(&export(&profile, false)).unwrap();
    let pids: HashSet<u32> = p.threads.iter().map(|t| t.pid).collect();
    assert_eq!(pids, HashSet::from([7, 8]));
    assert!(p.frames.iter().all(|f| !f.name.starts_with("process ")));
    assert_eq!(p.meta.samples, 16);
}

#[test]
fn no_cut_short_export_panics() {
    let whole = export(&recorded(), true);
    for n in (0..whole.len()).step_by(7) {
        let _ = parse(&whole.as_bytes()[..n], "fuzz", &ImportOptions::default());
    }
}
