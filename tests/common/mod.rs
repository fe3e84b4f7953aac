//! What both test binaries (`tests/hermetic/`, `tests/live/`) share: finding interpreters,
//! running the real binary against real Python processes, and reading the profiles it writes.
#![allow(dead_code)]

pub mod imported;
pub mod profiles;

use std::path::{Path, PathBuf};
use std::process::Output;

use port_advisor::analyze::{analyze, Analysis, AnalyzeOptions};
use port_advisor::profile::Profile;

/// port-advisor's own exit codes (docs/exit-codes.md), as `status.code()` gives them.
pub const USAGE: i32 = port_advisor::error::codes::USAGE as i32;
pub const UNSUPPORTED: i32 = port_advisor::error::codes::UNSUPPORTED as i32;
pub const ATTACH: i32 = port_advisor::error::codes::ATTACH as i32;
pub const OUTPUT: i32 = port_advisor::error::codes::OUTPUT as i32;
pub const FAIL_ON: i32 = port_advisor::error::codes::FAIL_ON as i32;

/// The committed JSON Schema of report.json (`docs/report.schema.json`), compiled once.
fn report_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = repo().join("docs/report.schema.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("a valid JSON Schema")
    })
}

/// The advice in a report.json file, validated against the committed schema first.
pub fn read_report(path: &Path) -> port_advisor::advise::Advice {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_valid_report(&text, &path.display().to_string());
    serde_json::from_str(&text).expect("report.json parses as the advice model")
}

/// Fails the test unless `text` (a report.json, or `report --format json`'s output) validates
/// against the committed schema; `what` names it in the failure.
pub fn assert_valid_report(text: &str, what: &str) {
    let report: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"));
    let errors: Vec<String> = report_validator()
        .iter_errors(&report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not validate against docs/report.schema.json:\n{}",
        errors.join("\n")
    );
}

/// The CPython versions the live tests run against.
/// 3.14 and 3.15 are Debian unstable's builds, which `.ci/setup` installs beside pyenv's.
pub const VERSIONS: [&str; 8] = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15"];

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures/programs").join(name)
}

/// Says that the calling test skips what it cannot run here, and why. Written to the test
/// binary's own stderr, past the harness's capture of what tests print, so that a skip shows in
/// every run and not only in a failing one's output.
pub fn skip(why: impl std::fmt::Display) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(std::io::stderr(), "skipped in {test}: {why}");
}

/// The interpreter for a `major.minor` version from pyenv, if this machine has it.
pub fn python(version: &str) -> Option<PathBuf> {
    let root = pyenv_root()?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(version).is_some_and(|rest| {
                rest.starts_with('.') && rest[1..].chars().all(|c| c.is_ascii_digit())
            })
        })
        .map(|e| e.path().join("bin").join(format!("python{version}")))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

/// Where pyenv keeps its interpreters: `$PYENV_ROOT`, else `~/.pyenv`.
fn pyenv_root() -> Option<PathBuf> {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")))
}

/// Why a test needing pyenv's CPython `versions` skips them.
fn missing(versions: &str) -> String {
    let root = pyenv_root().map_or_else(|| "~/.pyenv".into(), |r| r.display().to_string());
    format!("CPython {versions} not installed through pyenv (in {root}/versions)")
}

/// The interpreter for `version`, or `None` once the calling test is said to be skipped for
/// want of it.
pub fn python_or_skip(version: &str) -> Option<PathBuf> {
    first_python_or_skip(&[version])
}

/// The interpreter for the first of `versions` this machine has, or `None` once the calling
/// test is said to be skipped for want of all of them.
pub fn first_python_or_skip(versions: &[&str]) -> Option<PathBuf> {
    let found = versions.iter().find_map(|v| python(v));
    if found.is_none() {
        skip(missing(&versions.join(" or ")));
    }
    found
}

/// CPython 3.11 (what most live tests were written against), else the newest supported one
/// this machine has; `None` once the calling test is said to be skipped for want of any.
pub fn any_python_or_skip() -> Option<PathBuf> {
    let found = python("3.11").or_else(|| VERSIONS.iter().rev().find_map(|v| python(v)));
    if found.is_none() {
        skip(missing("3.8-3.15"));
    }
    found
}

/// Every supported interpreter on this machine; the missing ones are said to be skipped.
pub fn pythons() -> Vec<(&'static str, PathBuf)> {
    pythons_of(&VERSIONS)
}

/// The interpreters of `versions` this machine has; the missing ones are said to be skipped.
pub fn pythons_of(versions: &[&'static str]) -> Vec<(&'static str, PathBuf)> {
    let (found, missed): (Vec<_>, Vec<_>) = versions
        .iter()
        .map(|v| (*v, python(v)))
        .partition(|(_, p)| p.is_some());
    if !missed.is_empty() {
        let names: Vec<&str> = missed.iter().map(|(v, _)| *v).collect();
        skip(missing(&names.join(", ")));
    }
    found
        .into_iter()
        .filter_map(|(v, p)| Some((v, p?)))
        .collect()
}

/// Who may use the machine while a live test runs: a program whose time is measured alone
/// ([`exclusive`]), work that only loads the CPU side by side ([`heavy_work`]). The live tests
/// are one binary whose tests run in parallel, so this is all that keeps a build or a browser
/// of one test from skewing the shares another measures.
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Live tests hold this while a profiled program runs, or any Python program that keeps a
/// core busy: on a 2-core machine, programs that compete for the CPU get preempted
/// preferentially at system calls, which skews the very wall-time shares the tests check.
pub fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

/// Held by live work that loads the CPU but measures nothing: a crate built with maturin or
/// cargo, a headless browser, a package install. Such work runs side by side, never while a
/// test holds [`exclusive`]. A test holding this must not ask for `exclusive`: it would wait
/// for itself.
pub fn heavy_work() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

pub fn bin() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("port-advisor").expect("binary built");
    cmd.timeout(std::time::Duration::from_secs(120));
    cmd
}

/// A finished `port-advisor profile` run.
pub struct Run {
    pub output: Output,
    pub dir: tempfile::TempDir,
}

impl Run {
    pub fn folder(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn profile(&self) -> Profile {
        Profile::load(&self.folder().join("profile.json")).unwrap_or_else(|e| {
            panic!(
                "no profile: {e:#}\nstderr: {}",
                String::from_utf8_lossy(&self.output.stderr)
            )
        })
    }

    /// The advice the run wrote (`report.json`).
    pub fn advice(&self) -> port_advisor::advise::Advice {
        let text = std::fs::read_to_string(self.folder().join("report.json")).unwrap_or_else(|e| {
            panic!(
                "no report.json: {e}\nstderr: {}",
                String::from_utf8_lossy(&self.output.stderr)
            )
        });
        assert_valid_report(&text, "report.json");
        serde_json::from_str(&text).expect("report.json parses as the advice model")
    }

    pub fn analysis(&self) -> Analysis {
        analyze(&self.profile(), &AnalyzeOptions::default())
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }
}

/// Runs `port-advisor profile --python PY FLAGS... SCRIPT ARGS...` into a fresh run folder.
pub fn profile(python: &Path, flags: &[&str], script: &str, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.current_dir(repo())
        .arg("profile")
        .arg("--quiet")
        .arg("--python")
        .arg(python)
        .arg("-o")
        .arg(dir.path().join("run"))
        .args(flags)
        .arg(fixture(script))
        .args(args);
    let output = {
        let _one_at_a_time = exclusive();
        cmd.output().unwrap()
    };
    Run { output, dir }
}

/// Share (0-100) of a function's inclusive time, by qualified name.
pub fn inclusive(a: &Analysis, name: &str) -> f64 {
    a.functions
        .iter()
        .filter(|f| f.name == name)
        .map(|f| 100.0 * a.share(f.inclusive_weight))
        .fold(0.0, f64::max)
}

/// Share (0-100) of a function's self time, by qualified name.
pub fn self_share(a: &Analysis, name: &str) -> f64 {
    a.functions
        .iter()
        .filter(|f| f.name == name)
        .map(|f| 100.0 * a.share(f.self_weight))
        .sum()
}

/// Runs a command to success, or fails the test with its output.
pub fn run_ok(cmd: &mut std::process::Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An executable file `name` in `dir` holding `body` (a `#!` script).
pub fn executable(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The error a refused command printed: one line, with exit status `code`. `what` names the
/// case in a failure's message.
pub fn refusal(out: &Output, code: i32, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    assert_one_line(&err);
    err
}

pub fn assert_one_line(stderr: &str) {
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(stderr.starts_with("port-advisor: error: "), "{stderr}");
}

/// `setpriv` arguments that run a command as the unprivileged user `nobody`.
pub const AS_NOBODY: [&str; 4] = [
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
];

/// A Python every user can run (pyenv's live under /root).
pub fn shared_python() -> Option<PathBuf> {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A Python `nobody` can run and a folder `nobody` can write, when this test can become
/// `nobody` (root and setpriv); `None`, said, when it cannot.
pub fn unprivileged_setup() -> Option<(PathBuf, tempfile::TempDir)> {
    if !nix::unistd::Uid::effective().is_root()
        || std::process::Command::new("setpriv").output().is_err()
    {
        skip("needs root and setpriv to become an unprivileged user");
        return None;
    }
    let Some(py) = shared_python() else {
        skip("no Python outside /root for an unprivileged user");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    std::process::Command::new("chmod")
        .arg("777")
        .arg(dir.path())
        .status()
        .unwrap();
    Some((py, dir))
}

/// Builds the PyO3 crate at `manifest` with the pinned maturin (from `.ci/setup`) for the
/// virtualenv `venv`, and installs the wheel there. Cargo builds into `target_dir`.
pub fn maturin_install(manifest: &Path, venv: &Path, target_dir: &Path) {
    let _heavy = heavy_work();
    let maturin = repo().join("target/tools-venv/bin/maturin");
    assert!(
        maturin.exists(),
        "{} is missing: run `bash .ci/setup` first (it installs the pinned maturin)",
        maturin.display()
    );
    let wheels = target_dir.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    run_ok(
        std::process::Command::new(&maturin)
            .args(["build", "--release", "--quiet", "-m"])
            .arg(manifest)
            .arg("-i")
            .arg(venv.join("bin/python"))
            .arg("-o")
            .arg(&wheels)
            .env("CARGO_TARGET_DIR", target_dir.join("cargo")),
        "maturin build",
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("maturin wrote a wheel");
    run_ok(
        std::process::Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--force-reinstall",
                "--no-deps",
            ])
            .arg(&wheel),
        "pip install the wheel",
    );
}
