//! Profiles written by the real tools, imported: py-spy's collapsed stacks (`--format raw`)
//! and speedscope files, and Austin's collapsed stacks with times.
//!
//! The committed files in `fixtures/imported/` (how each was made is in its README) are read
//! without running anything, and `report` and `merge` find their hot function `similarity`.
//! `tests/live/import_tools.rs` records new files with the pinned tools.

use std::path::PathBuf;

use crate::common::imported::{advice_of, finds_similarity};
use crate::common::{bin, repo};
use port_advisor::import::{self, ImportOptions, InputFormat};
use port_advisor::profile::{FrameKind, Profile};
use port_advisor::report::folded::NO_FRAME;

/// The rate the fixtures and the live runs were recorded at.
const RATE_HZ: u32 = 200;

fn imported(name: &str) -> PathBuf {
    repo().join("fixtures/imported").join(name)
}

/// A fixture parsed in the format its content says, as `report` would judge it.
fn parse_fixture(name: &str, expected: InputFormat) -> Profile {
    let path = imported(name);
    let bytes = std::fs::read(&path).unwrap();
    let format = import::detect(&bytes).expect("a format");
    assert_eq!(format, expected, "{name} is judged {}", format.name());
    let opts = ImportOptions {
        default_rate_hz: RATE_HZ,
    };
    import::parse(&bytes, name, format, &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// The stacks of one function anywhere on them, in samples.
fn samples_under(p: &Profile, name: &str) -> u64 {
    p.stacks
        .iter()
        .filter(|s| s.frames.iter().any(|&f| p.frames[f as usize].name == name))
        .map(|s| s.weight)
        .sum()
}

#[test]
fn py_spy_raw_has_short_paths_sampled_lines_and_no_rate() {
    let p = parse_fixture("log_report.py-spy.txt", InputFormat::Folded);
    // py-spy's own count; the rate is what the import was told.
    assert_eq!(p.meta.samples, 340);
    assert_eq!(p.meta.sampling.rate_hz, RATE_HZ);
    assert!((p.meta.wall_seconds - 1.7).abs() < 1e-9);
    // A round that saw no Python frame is a line of just ` 1`.
    assert_eq!(samples_under(&p, NO_FRAME), 1);
    for f in p.frames.iter().filter(|f| f.name != NO_FRAME) {
        assert_eq!(f.kind, FrameKind::Python, "{f:?}");
        assert!(f.line.is_some_and(|l| l > 0), "{f:?}");
        // Shortened: the script by its name, the standard library below its folder.
        assert!(!f.file.starts_with('/'), "{f:?}");
        assert!(
            f.file.ends_with(".py") || f.file.starts_with("<frozen "),
            "{f:?}"
        );
    }
    let similarity: Vec<u32> = p
        .frames
        .iter()
        .filter(|f| f.name == "similarity")
        .filter_map(|f| f.line)
        .collect();
    assert!(
        similarity.iter().all(|l| (44..=57).contains(l)),
        "{similarity:?}"
    );
    assert!(similarity.len() > 1, "several sampled lines");
    let share = samples_under(&p, "similarity") as f64 / p.meta.samples as f64;
    assert!((0.6..0.98).contains(&share), "similarity {share}");
    // Python 3.12's qualified names, split into name and qualified name.
    let decode = p.frames.iter().find(|f| f.name == "decode").unwrap();
    assert_eq!(decode.qualname.as_deref(), Some("JSONDecoder.decode"));
    assert_eq!(decode.file, "json/decoder.py");
}

#[test]
fn py_spy_speedscope_reads_its_rate_back_exactly() {
    let p = parse_fixture("log_report.py-spy.speedscope.json", InputFormat::Speedscope);
    // One sample per round at 0.005 s each: 200 Hz, py-spy's own count.
    assert_eq!(p.meta.sampling.rate_hz, RATE_HZ);
    assert_eq!(p.meta.samples, 312);
    assert!((p.meta.wall_seconds - 1.56).abs() < 1e-6);
    assert_eq!(p.threads.len(), 1);
    assert_eq!(p.threads[0].tid, 7649);
    for f in p.frames.iter().filter(|f| f.name != NO_FRAME) {
        assert_eq!(f.kind, FrameKind::Python, "{f:?}");
        assert!(f.line.is_some_and(|l| l > 0), "{f:?}");
        assert!(
            f.file.starts_with('/') || f.file.starts_with("<frozen "),
            "full paths: {f:?}"
        );
    }
    let script = p.frames.iter().find(|f| f.name == "similarity").unwrap();
    assert!(script
        .file
        .ends_with("fixtures/programs/advice/log_report.py"));
    let share = samples_under(&p, "similarity") as f64 / p.meta.samples as f64;
    assert!((0.6..0.98).contains(&share), "similarity {share}");
}

#[test]
fn austin_times_become_samples_at_its_interval() {
    let p = parse_fixture("log_report.austin", InputFormat::Folded);
    assert_eq!(p.meta.sampling.rate_hz, 200, "# interval: 5000 (us)");
    let text = std::fs::read_to_string(imported("log_report.austin")).unwrap();
    let micros: u64 = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    // The counts are microseconds since the previous sample: about one interval each.
    let expected = micros as f64 / 5000.0;
    let samples = p.meta.samples as f64;
    assert!(
        (samples - expected).abs() <= 0.15 * expected,
        "{samples} samples for {micros} us"
    );
    assert_eq!(p.threads[0].pid, 7670);
    for f in p.frames.iter().filter(|f| f.name != NO_FRAME) {
        assert!(f.line.is_some(), "{f:?}");
        assert!(
            f.file.starts_with('/') || f.file.starts_with("<frozen "),
            "full paths: {f:?}"
        );
    }
    let share = samples_under(&p, "similarity") as f64 / p.meta.samples as f64;
    assert!((0.6..0.98).contains(&share), "similarity {share}");
}

#[test]
fn the_advice_on_each_fixture_finds_similarity() {
    for name in [
        "log_report.py-spy.txt",
        "log_report.py-spy.speedscope.json",
        "log_report.austin",
    ] {
        finds_similarity(&advice_of(&imported(name)), name, 0.6..0.98);
    }
}

#[test]
fn the_fixtures_merge_weighed_by_their_rates() {
    let names = [
        "log_report.py-spy.txt",
        "log_report.py-spy.speedscope.json",
        "log_report.austin",
    ];
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    let out = bin()
        // The recordings are this user's own: their sources name the functions (--trust).
        .args(["merge", "--quiet", "--trust", "--input-rate", "200", "-o"])
        .arg(&fleet)
        .args(names.map(imported))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = Profile::load(&fleet).unwrap();
    // All three at 200 Hz: the samples simply add up.
    let expected: u64 = [
        parse_fixture(names[0], InputFormat::Folded),
        parse_fixture(names[1], InputFormat::Speedscope),
        parse_fixture(names[2], InputFormat::Folded),
    ]
    .iter()
    .map(|p| p.meta.samples)
    .sum();
    assert_eq!(merged.meta.sampling.rate_hz, RATE_HZ);
    assert_eq!(merged.meta.samples, expected);
    // py-spy's collapsed stacks name the script `log_report.py`, the others by its full path:
    // in the merge those are two files, and the short one's `similarity` may go under another
    // boundary. The full path's alone is over half the run.
    finds_similarity(&advice_of(&fleet), "the merged fixtures", 0.45..0.98);
}
