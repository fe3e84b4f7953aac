//! Profiles written by the real tools, imported: py-spy's collapsed stacks (`--format raw`)
//! and speedscope files, and Austin's collapsed stacks with times.
//!
//! The committed files in `fixtures/imported/` (how each was made is in its README) are read
//! without running anything. The live test installs the pinned tools
//! (`.ci/import-tools.txt`) into `target/import-tools-venv`, records
//! `fixtures/programs/advice/log_report.py` with each, and checks that `report` and `merge`
//! find its hot function `similarity` (about 45% of the run) in every file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::{self, bin, exclusive, fixture, repo};
use port_advisor::advise::{Advice, Verdict};
use port_advisor::profile::{FrameKind, Profile};
use port_advisor::record::import::{self, ImportOptions, InputFormat};
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

/// `port-advisor report FILE --format json`, parsed.
/// The advice on `file`, recorded of this repository's fixture on this machine: the sources it
/// names are ours to read (`--trust`), which tells a `main()` run once from a port boundary.
fn advice_of(file: &Path) -> Advice {
    let out = bin()
        .args([
            "report",
            "--format",
            "json",
            "--trust",
            "--input-rate",
            "200",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "report {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the advice model")
}

/// `similarity` is a `port` candidate with a share of the run in `shares`, and the advice
/// says that an imported profile has no call counts. A merge with py-spy's collapsed stacks,
/// which name files short, has it twice (`log_report.py` and its full path): the shares add.
fn finds_similarity(advice: &Advice, what: &str, shares: std::ops::Range<f64>) {
    let found: Vec<_> = advice
        .candidates
        .iter()
        .filter(|c| c.function.name == "similarity")
        .collect();
    let names: Vec<&str> = advice
        .candidates
        .iter()
        .map(|c| c.function.name.as_str())
        .collect();
    assert!(
        !found.is_empty(),
        "{what}: no candidate `similarity` among {names:?}"
    );
    assert_eq!(
        found[0].verdict,
        Verdict::Port,
        "{what}: {}",
        found[0].summary
    );
    let share: f64 = found.iter().map(|c| c.time_share).sum();
    assert!(
        shares.contains(&share),
        "{what}: similarity has {share} of the run, expected {shares:?}"
    );
    assert!(!advice.probe.available, "{what}");
    assert!(
        advice.unknowns.iter().any(
            |u| u.contains("Call counts") && u.contains("imported from another tool's profile")
        ),
        "{what}: {:?}",
        advice.unknowns
    );
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

/// The pinned tools, installed once per test run (and again only when the pins change).
struct Tools {
    py_spy: PathBuf,
    /// Austin, or why it cannot run here.
    austin: Result<PathBuf, String>,
}

fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(install_tools)
}

/// Mirrors `.ci/setup`: a virtualenv of the pinned requirements, reinstalled when the
/// requirements file differs from the copy stamped into it.
fn install_tools() -> Tools {
    let requirements = repo().join(".ci/import-tools.txt");
    let venv = repo().join("target/import-tools-venv");
    let stamp = venv.join(".requirements");
    let wanted = std::fs::read(&requirements).unwrap();
    if std::fs::read(&stamp).ok().as_deref() != Some(wanted.as_slice()) {
        eprintln!(
            "installing {} into {}",
            requirements.display(),
            venv.display()
        );
        tool_ok(
            assert_cmd::Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            120,
            "python3 -m venv",
        );
        tool_ok(
            assert_cmd::Command::new(venv.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&requirements),
            600,
            "pip install -r .ci/import-tools.txt (needs the package index)",
        );
        std::fs::copy(&requirements, &stamp).unwrap();
    }
    let austin = venv.join("bin/austin");
    let austin = match assert_cmd::Command::new(&austin).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(austin),
        Ok(out) => Err(format!(
            "`austin --version` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run {}: {e}", austin.display())),
    };
    Tools {
        py_spy: venv.join("bin/py-spy"),
        austin,
    }
}

/// Runs a tool to success within `seconds`, or fails the test with its output.
fn tool_ok(cmd: &mut assert_cmd::Command, seconds: u64, what: &str) {
    let out = cmd
        .timeout(Duration::from_secs(seconds))
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The interpreter the live runs profile: a pyenv CPython both tools support.
fn target_python() -> PathBuf {
    ["3.12", "3.11", "3.13"]
        .iter()
        .find_map(|v| common::python(v))
        .unwrap_or_else(|| PathBuf::from("python3"))
}

#[test]
fn real_tools_record_log_report_and_the_advice_finds_similarity() {
    let tools = tools();
    let python = target_python();
    let script = fixture("advice/log_report.py");
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("log_report.txt");
    let speedscope = dir.path().join("log_report.speedscope.json");
    let austin = dir.path().join("log_report.austin");
    {
        let _one_at_a_time = exclusive();
        for (format, out) in [("raw", &raw), ("speedscope", &speedscope)] {
            tool_ok(
                assert_cmd::Command::new(&tools.py_spy)
                    .args(["record", "--format", format, "--rate", "200", "-o"])
                    .arg(out)
                    .arg("--")
                    .arg(&python)
                    .arg(&script),
                120,
                &format!("py-spy record --format {format}"),
            );
        }
        match &tools.austin {
            // Austin gives up on a program whose runtime it cannot find within `-t` (100 ms
            // by default), which a loaded machine can exceed while Python starts.
            // Austin 3.7.0 also fails to find the runtime of about one start in eight on an
            // idle machine ("not a Python process"): it gets three tries.
            Ok(bin) => {
                let attempt = || {
                    assert_cmd::Command::new(bin)
                        .args(["-t", "10s", "-i", "500", "-o"])
                        .arg(&austin)
                        .arg(&python)
                        .arg(&script)
                        .timeout(Duration::from_secs(120))
                        .output()
                        .is_ok_and(|o| o.status.success())
                };
                if !(attempt() || attempt()) {
                    tool_ok(
                        assert_cmd::Command::new(bin)
                            .args(["-t", "10s", "-i", "500", "-o"])
                            .arg(&austin)
                            .arg(&python)
                            .arg(&script),
                        120,
                        "austin -i 500 (third try)",
                    );
                }
            }
            Err(why) => eprintln!("skipping the live Austin recording: {why}"),
        }
    }
    let mut recorded = vec![
        (&raw, InputFormat::Folded),
        (&speedscope, InputFormat::Speedscope),
    ];
    if tools.austin.is_ok() {
        recorded.push((&austin, InputFormat::Folded));
    }
    for (file, format) in &recorded {
        let bytes = std::fs::read(file).unwrap();
        assert_eq!(import::detect(&bytes), Some(*format), "{}", file.display());
        finds_similarity(&advice_of(file), &file.display().to_string(), 0.25..0.7);
    }

    let fleet = dir.path().join("fleet.json");
    let out = bin()
        // The recordings are this user's own: their sources name the functions (--trust).
        .args(["merge", "--quiet", "--trust", "--input-rate", "200", "-o"])
        .arg(&fleet)
        .args(recorded.iter().map(|(f, _)| f))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = Profile::load(&fleet).unwrap();
    assert_eq!(merged.meta.command.len(), recorded.len());
    finds_similarity(&advice_of(&fleet), "the merged recordings", 0.25..0.7);
}
