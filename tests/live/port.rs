//! The estimate against the real thing: `fixtures/ports/spectral_port` is the Rust port of
//! the loop the advice picks in `fixtures/programs/advice/spectral.py`. This test builds it
//! with maturin, times the program with and without it, and checks that the speedup range
//! the advice gave contains the speedup measured.
//!
//! The port corpus (`fixtures/ports/ports.toml`: ports of the real-program corpus's
//! candidates) is checked here for what matters in a test: that a port computes what the
//! Python computes, for two of them; `benches/ports.py` builds and times them all.
//!
//! Needs the pinned maturin that `.ci/setup` installs into `target/tools-venv`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{self, bin, exclusive, fixture, python_or_skip, repo};
use port_advisor::advise::{Advice, Verdict};

fn run(cmd: &mut Command, what: &str) {
    common::run_ok(cmd, what);
}

/// A virtualenv of `python` with the port installed.
fn venv_with_port(python: &Path) -> PathBuf {
    let ports = repo().join("target/ports");
    let venv = ports.join("venv");
    {
        // Installing pip into the virtualenv keeps a core busy for seconds.
        let _heavy = common::heavy_work();
        run(
            Command::new(python)
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            "python -m venv",
        );
    }
    common::maturin_install(
        &repo().join("fixtures/ports/spectral_port/Cargo.toml"),
        &venv,
        &ports,
    );
    venv.join("bin/python")
}

/// The best of five CPU times (user and system) of the program, with or without the port. Not
/// wall time: on a shared 2-core machine another job's burst lengthens the 2.6 s Python run far
/// more often than the 0.04 s ported one, and a CI run read 87x where a quiet machine reads 66x.
/// The program is single-threaded, so its CPU time is its wall time on an idle core.
fn cpu_time(python: &Path, ported: bool) -> Duration {
    (0..5)
        .map(|_| {
            // A Python parent runs the program and reads its child's resource usage.
            let mut cmd = Command::new(python);
            cmd.arg("-c")
                .arg(
                    "import resource, subprocess, sys\n\
                     subprocess.run([sys.executable, sys.argv[1]], check=True, \
                     stdout=subprocess.DEVNULL)\n\
                     r = resource.getrusage(resource.RUSAGE_CHILDREN)\n\
                     print(r.ru_utime + r.ru_stime)",
                )
                .arg(fixture("advice/spectral.py"));
            if ported {
                cmd.env("SPECTRAL_PORT", "1");
            }
            let out = cmd.output().expect("python starts");
            assert!(
                out.status.success(),
                "spectral.py: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let seconds: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
            Duration::from_secs_f64(seconds)
        })
        .min()
        .unwrap()
}

/// `port-advisor profile` of spectral.py into `folder`, with or without the port.
fn record(python: &Path, folder: &Path, rate: &str, ported: bool) {
    let mut cmd = bin();
    cmd.current_dir(repo())
        .args(["profile", "--quiet", "--rate", rate, "--python"])
        .arg(python)
        .arg("-o")
        .arg(folder)
        .arg(fixture("advice/spectral.py"));
    if ported {
        cmd.env("SPECTRAL_PORT", "1");
    }
    let out = {
        let _one_at_a_time = exclusive();
        cmd.output().unwrap()
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_estimated_range_contains_the_measured_speedup_of_a_real_port() {
    let Some(base) = python_or_skip("3.11") else {
        return;
    };
    let python = venv_with_port(&base);
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("run");
    record(&python, &folder, "200", false);
    let advice: Advice = common::read_report(&folder.join("report.json"));
    let port = &advice.candidates[0];
    assert_eq!(
        (port.verdict, port.function.name.as_str()),
        (Verdict::Port, "times_ata_u"),
        "{}",
        port.summary
    );
    let range = port.speedup.expect("a port has a range");

    let (before, after) = {
        let _one_at_a_time = exclusive();
        (cpu_time(&python, false), cpu_time(&python, true))
    };
    let measured = before.as_secs_f64() / after.as_secs_f64();
    eprintln!(
        "spectral.py: {:.3} CPU s in Python, {:.3} with the port: {measured:.1}x; estimated \
         {:.1}x-{:.1}x",
        before.as_secs_f64(),
        after.as_secs_f64(),
        range[0],
        range[1]
    );
    assert!(
        range[0] <= measured && measured <= range[1],
        "measured {measured:.1}x is outside the estimate {:.1}x-{:.1}x",
        range[0],
        range[1]
    );

    // `diff` on the two runs: the ported loop is gone from the second, the whole program is
    // faster, and the differential flame graph is written beside the second run.
    let ported = dir.path().join("ported");
    record(&python, &ported, "1000", true);
    let diff = bin()
        .args(["diff", "--format", "json"])
        .arg(&folder)
        .arg(&ported)
        .assert()
        .success();
    let c: port_advisor::compare::Comparison =
        serde_json::from_slice(&diff.get_output().stdout).unwrap();
    assert!(
        c.speedup > 3.0,
        "whole program {:.2}x: {:.3} s -> {:.3} s",
        c.speedup,
        c.before.wall_seconds,
        c.after.wall_seconds
    );
    let loop_ = c
        .functions
        .iter()
        .find(|f| f.name == "spectral.times_ata_u")
        .expect("times_ata_u in the comparison");
    assert!(
        loop_.after_seconds < 0.05 * loop_.before_seconds,
        "the ported loop should be gone: {loop_:?}"
    );
    let estimated = c.estimated.expect("the advice on the first run");
    assert!(
        (estimated[0] - range[0]).abs() < 1e-6 && (estimated[1] - range[1]).abs() < 1e-6,
        "the advice on the first run: {estimated:?} against {range:?}"
    );
    let svg = std::fs::read_to_string(ported.join("diff.svg")).unwrap();
    assert!(svg.contains("times_ata_u") && svg.contains("</svg>"));
}

/// One entry of `fixtures/ports/ports.toml`, the port corpus.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusPort {
    program: String,
    /// A fixture program of the repository instead of a corpus program.
    fixture: Option<String>,
    function: String,
    kind: String,
    #[serde(default)]
    test: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PortCorpus {
    port: Vec<CorpusPort>,
}

/// What `use_port.py --check` prints for a corpus program, with its function ported or not:
/// the program's output and a checksum of what the function returned.
fn checked_output(python: &Path, port: &CorpusPort, unported: bool) -> String {
    let script = repo()
        .join("fixtures/ports")
        .join(format!("{}_port", port.program))
        .join("use_port.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .arg("--check")
        .current_dir(repo().join("fixtures/corpus").join(&port.program))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONHASHSEED", "0");
    if unported {
        cmd.arg("--unported");
    }
    let out = {
        // Nothing here is timed, but the runs keep a core busy.
        let _heavy = common::heavy_work();
        common::run_ok(&mut cmd, &format!("{} --check", script.display()))
    };
    String::from_utf8(out.stdout).unwrap()
}

/// The port corpus (`fixtures/ports/ports.toml`) names real ports of corpus programs; the ones
/// it marks `test = true` (a representative two, so that the suite stays short; the bench
/// `benches/ports.py` builds them all) are built and must compute what the Python computes.
#[test]
fn ports_of_corpus_programs_compute_what_the_python_computes() {
    let text = std::fs::read_to_string(repo().join("fixtures/ports/ports.toml")).unwrap();
    let corpus: PortCorpus = toml::from_str(&text).expect("ports.toml parses");
    for port in &corpus.port {
        if let Some(fixture) = &port.fixture {
            let source = std::fs::read_to_string(repo().join(fixture))
                .unwrap_or_else(|e| panic!("{}: no fixture {fixture}: {e}", port.program));
            let (_, name) = port.function.split_once(':').unwrap();
            assert!(
                source.contains(&format!("def {name}(")),
                "{fixture} has no function {name}"
            );
            continue;
        }
        let answer = std::fs::read_to_string(
            repo()
                .join("fixtures/corpus")
                .join(&port.program)
                .join("answer.toml"),
        )
        .unwrap_or_else(|e| panic!("{}: no corpus program: {e}", port.program));
        assert!(
            answer.contains(&format!("\"{}\"", port.function)),
            "{} ports {}, which is not one of its answer's boundaries",
            port.program,
            port.function
        );
        assert!(!port.kind.is_empty(), "{}: a kind", port.program);
    }
    let tested: Vec<&CorpusPort> = corpus.port.iter().filter(|p| p.test).collect();
    assert_eq!(tested.len(), 2, "two ports are built by this test");

    let Some(base) = python_or_skip("3.11") else {
        return;
    };
    let place = repo().join("target/ports-corpus");
    let venv = place.join("venv");
    {
        let _heavy = common::heavy_work();
        run(
            Command::new(&base)
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            "python -m venv",
        );
    }
    for port in &tested {
        common::maturin_install(
            &repo()
                .join("fixtures/ports")
                .join(format!("{}_port", port.program))
                .join("Cargo.toml"),
            &venv,
            &place,
        );
    }
    let python = venv.join("bin/python");
    for port in &tested {
        let ported = checked_output(&python, port, false);
        let unported = checked_output(&python, port, true);
        assert!(
            ported.contains("checksum ") && !ported.contains("over 0 calls"),
            "{}: the port was not called:\n{ported}",
            port.program
        );
        if let Some((line, (got, want))) = ported
            .lines()
            .zip(unported.lines())
            .enumerate()
            .find(|(_, (got, want))| got != want)
        {
            panic!(
                "{}: the port's results differ from the Python's at line {}:\n  port:   \
                 {got}\n  python: {want}",
                port.program,
                line + 1
            );
        }
        assert_eq!(
            ported.lines().count(),
            unported.lines().count(),
            "{}: the port's run printed a different number of lines",
            port.program
        );
    }
}
