//! Live tests of how a recording starts and stops: attaching, modules, arbitrary commands,
//! Ctrl-C and SIGTERM, and rendering a saved profile again.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, bin, fixture, repo};
use port_advisor::profile::{Profile, TargetKind};

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z"))
        .unwrap_or(false)
}

#[test]
fn attach_with_duration_leaves_the_target_running() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    // The spinning target holds a core: no other live run may share the machine with it.
    let _one = common::exclusive();
    let mut target = Command::new(&py)
        .arg(fixture("numeric_loop.py"))
        .arg("30")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["profile", "--quiet", "--duration", "1.5", "--pid"])
        .arg(target.id().to_string())
        .arg("-o")
        .arg(dir.path())
        .output()
        .unwrap();
    let still_running = alive(target.id());
    target.kill().unwrap();
    target.wait().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(still_running, "the attached process must be left running");
    let p = Profile::load(&dir.path().join("profile.json")).unwrap();
    assert_eq!(p.meta.target, TargetKind::Attached);
    assert!(p.meta.samples >= 100, "{} samples", p.meta.samples);
    assert!(p.meta.python_version.is_some());
    let a = port_advisor::analyze::analyze(&p, &Default::default());
    assert!(common::inclusive(&a, "mandelbrot_row") > 85.0);
    // No probe when attached: the advice says what it therefore does not know.
    let advice = common::read_report(&dir.path().join("report.json"));
    assert!(!advice.probe.available);
    assert!(
        advice
            .unknowns
            .iter()
            .any(|u| u.contains("Call counts and argument data are unknown")
                && u.contains("--pid")),
        "{:?}",
        advice.unknowns
    );
    assert!(advice.candidates.iter().all(|c| c.calls.is_none()));
}

#[test]
fn module_and_command_forms_launch_python() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = {
        let _one = common::exclusive();
        bin()
            .current_dir(repo().join("fixtures/programs"))
            .args(["profile", "--quiet", "--python"])
            .arg(&py)
            .arg("-o")
            .arg(dir.path().join("m"))
            .args(["-m", "numeric_loop", "1"])
            .output()
            .unwrap()
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = Profile::load(&dir.path().join("m/profile.json")).unwrap();
    assert_eq!(&p.meta.command[1..], ["-m", "numeric_loop", "1"]);
    let a = port_advisor::analyze::analyze(&p, &Default::default());
    assert!(common::inclusive(&a, "mandelbrot_row") > 85.0);

    let out = {
        let _one = common::exclusive();
        bin()
            .current_dir(repo())
            .args(["profile", "--quiet", "-o"])
            .arg(dir.path().join("c"))
            .arg("--")
            .arg(&py)
            .arg("fixtures/programs/numeric_loop.py")
            .arg("1")
            .output()
            .unwrap()
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = Profile::load(&dir.path().join("c/profile.json")).unwrap();
    let a = port_advisor::analyze::analyze(&p, &Default::default());
    assert!(common::inclusive(&a, "mandelbrot_row") > 85.0);
}

/// Sends `signal` to port-advisor after a second of recording a long program; `None` when
/// this machine has no interpreter for it.
fn interrupt(signal: nix::sys::signal::Signal) -> Option<(Option<i32>, Profile, String)> {
    let py = common::any_python_or_skip()?;
    let dir = tempfile::tempdir().unwrap();
    let _one = common::exclusive();
    let child = Command::new(assert_cmd::cargo::cargo_bin("port-advisor"))
        .args(["profile", "--quiet", "--python"])
        .arg(&py)
        .arg("-o")
        .arg(dir.path())
        .arg(fixture("numeric_loop.py"))
        .arg("60")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped promptly"
    );
    let p = Profile::load(&dir.path().join("profile.json")).unwrap();
    Some((
        out.status.code(),
        p,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn sigint_keeps_the_profile_and_stops_the_program() {
    let Some((code, p, err)) = interrupt(nix::sys::signal::Signal::SIGINT) else {
        return;
    };
    assert_eq!(code, Some(130), "{err}");
    assert!(p.meta.interrupted);
    assert!(p.meta.samples >= 50, "{} samples", p.meta.samples);
    assert!(!alive(p.meta.pid), "the program was stopped");
    assert!(err.contains("interrupted"), "{err}");
}

#[test]
fn sigterm_keeps_the_profile_and_stops_the_program() {
    let Some((code, p, err)) = interrupt(nix::sys::signal::Signal::SIGTERM) else {
        return;
    };
    assert_eq!(code, Some(143), "{err}");
    assert!(p.meta.interrupted);
    assert!(p.meta.samples >= 50);
    assert!(!alive(p.meta.pid), "the program was stopped");
}

#[test]
fn flamegraph_renders_a_saved_run_again() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let run = common::profile(&py, &[], "recursive.py", &["0.5"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let folded = bin()
        .arg("flamegraph")
        .arg(run.folder())
        .args(["--format", "folded", "-o", "-"])
        .output()
        .unwrap();
    assert!(folded.status.success());
    let text = String::from_utf8(folded.stdout).unwrap();
    let fib_line = text
        .lines()
        .find(|l| l.contains("fib (recursive.py:6)"))
        .expect("fib in folded output");
    assert!(
        fib_line.starts_with("<module> (recursive.py:1);main (recursive.py:12)"),
        "{fib_line}"
    );
    let total: u64 = text
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        total,
        run.profile().total_weight(false),
        "every busy sample is in the output"
    );

    let svg_path = run.dir.path().join("again.svg");
    let out = bin()
        .arg("flamegraph")
        .arg(run.folder().join("profile.json"))
        .arg("-o")
        .arg(&svg_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("fib (recursive.py:6)"));
}

#[test]
fn an_active_virtualenv_is_respected() {
    let Some(py) = common::any_python_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let made = {
        let _heavy = common::heavy_work();
        Command::new(&py)
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv)
            .status()
            .unwrap()
    };
    assert!(made.success());
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = {
        let _one = common::exclusive();
        bin()
            .env("VIRTUAL_ENV", &venv)
            .env("PATH", path)
            .args(["profile", "--quiet", "-o"])
            .arg(dir.path().join("run"))
            .arg(fixture("numeric_loop.py"))
            .arg("0.3")
            .output()
            .unwrap()
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = Profile::load(&dir.path().join("run/profile.json")).unwrap();
    let exe = p.meta.python_executable.unwrap();
    assert!(exe.starts_with(&venv.display().to_string()), "{exe}");
}

#[test]
fn the_runner_leaves_no_trace_in_the_program() {
    for (v, py) in common::pythons() {
        let _one = common::exclusive();
        let direct = Command::new(&py)
            .current_dir(repo())
            .args(["fixtures/programs/introspect.py", "--flag", "x y"])
            .output()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let profiled = bin()
            .current_dir(repo())
            .args(["profile", "--quiet", "--python"])
            .arg(&py)
            .arg("-o")
            .arg(dir.path())
            .args(["fixtures/programs/introspect.py", "--flag", "x y"])
            .output()
            .unwrap();
        assert_eq!(
            profiled.status.code(),
            Some(0),
            "{v}: {}",
            String::from_utf8_lossy(&profiled.stderr)
        );
        let summary_start = String::from_utf8_lossy(&profiled.stdout)
            .find("Recorded ")
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&direct.stdout),
            String::from_utf8_lossy(&profiled.stdout)[..summary_start],
            "{v}"
        );
    }
}
