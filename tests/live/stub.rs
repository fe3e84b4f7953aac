//! The whole stub workflow on a real run: profile a program, generate the crate, build it with
//! maturin into a fresh virtualenv, see the parity test say "not ported yet", write the Rust
//! body, rebuild, and see parity pass and the benchmark print a speedup.
//!
//! Needs the pinned maturin that `.ci/setup` installs into `target/tools-venv`, and pip access
//! to the package index for pytest (pinned in `.ci/requirements.txt`).

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{self, exclusive, fixture, heavy_work, python_or_skip, repo};

/// The port-advisor binary under test, as a plain command.
fn port_advisor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_port-advisor"))
}

fn run(cmd: &mut Command, what: &str) -> Output {
    common::run_ok(cmd, what)
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Builds the crate and installs it into the virtualenv.
fn build_and_install(crate_dir: &Path, venv: &Path) {
    common::maturin_install(
        &crate_dir.join("Cargo.toml"),
        venv,
        &repo().join("target/stubs"),
    );
}

#[test]
fn a_generated_crate_builds_reports_not_ported_then_passes_parity_once_written() {
    let maturin = repo().join("target/tools-venv/bin/maturin");
    assert!(
        maturin.exists(),
        "{} is missing: run `bash .ci/setup` first",
        maturin.display()
    );
    let Some(base) = python_or_skip("3.11") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let venv = work.path().join("venv");
    {
        let _heavy = heavy_work();
        run(
            Command::new(&base).args(["-m", "venv"]).arg(&venv),
            "python -m venv",
        );
        let pins = std::fs::read_to_string(repo().join(".ci/requirements.txt")).unwrap();
        let pytest = pins
            .lines()
            .find(|l| l.starts_with("pytest=="))
            .expect("pytest is pinned");
        run(
            Command::new(venv.join("bin/python")).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                pytest,
            ]),
            "pip install pytest",
        );
    }

    // Profile the program with the virtualenv's Python, so the probe records real calls.
    let runs = work.path().join("run");
    {
        let _one = exclusive();
        run(
            port_advisor()
                .current_dir(repo())
                .args(["profile", "--quiet", "--python"])
                .arg(venv.join("bin/python"))
                .arg("-o")
                .arg(&runs)
                .arg(fixture("float_list.py")),
            "port-advisor profile",
        );
    }
    let crate_dir = work.path().join("fl_rs");
    let out = run(
        port_advisor()
            .arg("stub")
            .arg(&runs)
            .args([
                "--function",
                "float_list:weighted_mean",
                "--name",
                "fl_rs",
                "-o",
            ])
            .arg(&crate_dir),
        "port-advisor stub",
    );
    assert!(text(&out).contains("recorded call"), "{}", text(&out));
    let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap();
    assert!(lib.contains("values: Vec<f64>"), "{lib}");
    assert!(lib.contains("// Python original"), "{lib}");

    // Before a line of Rust: it builds, imports, and parity says "not ported yet".
    build_and_install(&crate_dir, &venv);
    let pytest = |extra: &[&str]| {
        let _heavy = heavy_work();
        Command::new(venv.join("bin/python"))
            .args(["-m", "pytest", "-rs", "-q"])
            .args(extra)
            .arg("tests")
            .current_dir(&crate_dir)
            .output()
            .unwrap()
    };
    let before = pytest(&[]);
    assert!(before.status.success(), "{}", text(&before));
    assert!(
        text(&before).contains("not ported yet"),
        "{}",
        text(&before)
    );

    // Write the body where the placeholder is, rebuild: parity passes, the bench times it.
    let start = lib
        .find("let _ = (&values, &weights);")
        .expect("the placeholder");
    // The function's closing brace, inside the `#[pymodule] mod`.
    let end = lib[start..]
        .find("\n    }\n")
        .expect("the end of the function")
        + start
        + 1;
    let body = "let mut total = 0.0;\n    let mut weight_sum = 0.0;\n    \
                for (v, w) in values.iter().zip(&weights) {\n        \
                total += v * w;\n        weight_sum += w;\n    }\n    \
                Ok(total / weight_sum)\n";
    let ported = format!("{}{body}{}", &lib[..start], &lib[end..]);
    std::fs::write(crate_dir.join("src/lib.rs"), ported).unwrap();
    build_and_install(&crate_dir, &venv);
    let after = pytest(&[]);
    assert!(after.status.success(), "{}", text(&after));
    assert!(!text(&after).contains("not ported yet"), "{}", text(&after));
    assert!(text(&after).contains("passed"), "{}", text(&after));
    let bench = {
        let _one = exclusive();
        run(
            Command::new(venv.join("bin/python"))
                .arg("bench.py")
                .current_dir(&crate_dir),
            "bench.py",
        )
    };
    let line = text(&bench)
        .lines()
        .find(|l| l.starts_with("weighted_mean"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{}", text(&bench)));
    let speedup: f64 = line
        .split_whitespace()
        .find_map(|w| w.strip_suffix('x').and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("a speedup in: {line}"));
    assert!(speedup > 1.0, "{line}");
}

#[test]
fn bad_stub_requests_are_refused_with_the_fix_and_nothing_written() {
    let Some(py) = python_or_skip("3.12") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // The program is copied, so that its source can then go missing.
    let program = work.path().join("float_list.py");
    std::fs::copy(fixture("float_list.py"), &program).unwrap();
    let runs = work.path().join("run");
    {
        let _one = exclusive();
        run(
            port_advisor()
                .args(["profile", "--quiet", "--python"])
                .arg(&py)
                .arg("-o")
                .arg(&runs)
                .arg(&program)
                .arg("0.3"),
            "port-advisor profile",
        );
    }
    let stub = |args: &[&str]| {
        let out = port_advisor()
            .arg("stub")
            .arg(&runs)
            .args(args)
            .current_dir(work.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        (out.status.code(), stderr)
    };

    let (code, err) = stub(&["--function", "float_list:weighted_men", "-o", "a"]);
    assert_eq!(code, Some(common::USAGE), "{err}");
    assert!(
        err.contains("float_list:weighted_mean"),
        "close matches: {err}"
    );
    assert!(!work.path().join("a").exists());

    let (code, err) = stub(&[
        "--function",
        "float_list:weighted_mean",
        "--name",
        "Bad-Name",
    ]);
    assert_eq!(code, Some(common::USAGE), "{err}");
    assert!(err.contains("not a valid crate name"), "{err}");

    std::fs::create_dir(work.path().join("taken")).unwrap();
    std::fs::write(work.path().join("taken/keep.txt"), "mine").unwrap();
    let (code, err) = stub(&["--function", "float_list:weighted_mean", "-o", "taken"]);
    assert_eq!(code, Some(common::OUTPUT), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(work.path().join("taken/keep.txt")).unwrap(),
        "mine"
    );

    std::fs::remove_file(&program).unwrap();
    let (code, err) = stub(&["--function", "float_list:weighted_mean", "-o", "b"]);
    assert_eq!(code, Some(common::USAGE), "{err}");
    assert!(err.contains("source of weighted_mean"), "{err}");
    assert!(!work.path().join("b").exists());
}

/// Every kind of signature the generator handles (scalars, lists, nested lists, str and bytes,
/// dicts, Optional, defaults, numpy arrays, *args and **kwargs, a method on a class) compiles
/// against the pinned pyo3 and numpy crates.
#[test]
fn crates_for_every_kind_of_signature_compile() {
    let source = fixture("../stubs/kinds.py");
    let code = std::fs::read_to_string(&source).unwrap();
    let files = port_advisor::stub::crate_from_source("kinds_rs", "kinds", &source, &code).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (file, contents) in &files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    let Some(python) = common::first_python_or_skip(&["3.12", "3.11"]) else {
        return;
    };
    let out = {
        let _heavy = heavy_work();
        Command::new("cargo")
            .args(["check", "--quiet", "--manifest-path"])
            .arg(dir.path().join("Cargo.toml"))
            .env("PYO3_PYTHON", python)
            .env("CARGO_TARGET_DIR", repo().join("target/stubs"))
            .output()
            .unwrap()
    };
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{}",
        text(&out)
    );
}

/// A function that works in place (an n-body `advance` changes its bodies and returns None),
/// in a package that imports a sibling relatively: its stub crate imports the original by
/// module name from a folder named relative to the crate, so crate and program can move
/// together; and a port that does nothing fails parity, since the arguments after the call
/// are compared, each side with its own copy. The port is stood in for by a Python module of
/// the crate's name (the build itself is the test above).
#[test]
fn a_port_that_does_nothing_to_an_in_place_function_fails_parity_wherever_the_crate_goes() {
    let python = repo().join("target/tools-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash .ci/setup` first",
        python.display()
    );
    let work = tempfile::tempdir().unwrap();
    let before = work.path().join("before");
    let program = before.join("prog/nbody");
    std::fs::create_dir_all(&program).unwrap();
    for file in ["__init__.py", "consts.py", "sim.py"] {
        std::fs::copy(fixture("in_place/nbody").join(file), program.join(file)).unwrap();
    }
    let runs = before.join("run");
    {
        let _one = exclusive();
        run(
            port_advisor()
                .current_dir(before.join("prog"))
                .args(["profile", "--quiet", "--python"])
                .arg(&python)
                .arg("-o")
                .arg(&runs)
                .args(["-m", "nbody.sim"]),
            "port-advisor profile",
        );
    }
    let out = run(
        port_advisor()
            .arg("stub")
            .arg(&runs)
            .args([
                "--function",
                "nbody.sim:advance",
                "--name",
                "nbody_rs",
                "-o",
            ])
            .arg(before.join("crate")),
        "port-advisor stub",
    );
    assert!(text(&out).contains("3 recorded calls"), "{}", text(&out));
    let here = before.display().to_string();
    for file in [
        "tests/test_parity.py",
        "bench.py",
        "src/lib.rs",
        "README.md",
    ] {
        let generated = std::fs::read_to_string(before.join("crate").join(file)).unwrap();
        assert!(
            !generated.contains(&here),
            "{file} names a path of this machine"
        );
        assert!(!generated.contains("spec_from_file_location"), "{file}");
    }
    let parity = std::fs::read_to_string(before.join("crate/tests/test_parity.py")).unwrap();
    assert!(parity.contains("SOURCE_ROOTS = [\"../prog\"]"), "{parity}");

    // Program and crate move together: the crate still finds the original.
    let after = work.path().join("elsewhere/after");
    std::fs::create_dir_all(after.parent().unwrap()).unwrap();
    std::fs::rename(&before, &after).unwrap();
    let port = work.path().join("port");
    std::fs::create_dir(&port).unwrap();
    let pytest = || {
        let _heavy = heavy_work();
        Command::new(&python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
            .current_dir(after.join("crate"))
            .env("PYTHONPATH", &port)
            .output()
            .unwrap()
    };
    std::fs::write(
        port.join("nbody_rs.py"),
        "def advance(bodies, dt):\n    return None\n",
    )
    .unwrap();
    let nothing = pytest();
    assert!(!nothing.status.success(), "{}", text(&nothing));
    assert!(
        text(&nothing).contains("argument `bodies` after the call"),
        "{}",
        text(&nothing)
    );
    assert!(text(&nothing).contains("3 failed"), "{}", text(&nothing));

    // A port that changes the bodies as the original does passes.
    let sim = std::fs::read_to_string(fixture("in_place/nbody/sim.py")).unwrap();
    let advance = &sim[sim.find("def advance").unwrap()..sim.find("def main").unwrap()];
    std::fs::write(
        port.join("nbody_rs.py"),
        format!("SOFTENING = 0.01\n\n\n{advance}"),
    )
    .unwrap();
    let ported = pytest();
    assert!(ported.status.success(), "{}", text(&ported));
    assert!(text(&ported).contains("3 passed"), "{}", text(&ported));
}
