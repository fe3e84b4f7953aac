//! Bad input: each case gets one clear line naming the fix, its documented exit code, and
//! leaves no files behind.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{self, assert_one_line, bin, fixture, refusal, unprivileged_setup, AS_NOBODY};

/// Runs `port-advisor ARGS` in a fresh empty folder; returns (code, stderr, folder).
fn run_in_empty_dir(args: &[&str]) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = bin().current_dir(dir.path()).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    )
}

fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn missing_script_names_the_path_tried() {
    let (code, err, dir) = run_in_empty_dir(&["profile", "no_such_script.py"]);
    assert_eq!(code, Some(common::USAGE), "{err}");
    assert_one_line(&err);
    assert!(err.contains("script not found: no_such_script.py"), "{err}");
    assert!(
        err.contains(&dir.path().join("no_such_script.py").display().to_string()),
        "{err}"
    );
    assert_empty(dir.path());
}

#[test]
fn syntax_error_is_reported_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("broken.py");
    std::fs::write(&script, "print('ran')\ndef f(:\n    pass\n").unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["profile", "broken.py"])
        .output()
        .unwrap();
    let err = refusal(&out, common::USAGE, "");
    assert!(
        err.contains("syntax error in ") && err.contains("broken.py line 2"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "the script must not have run");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the script remains");
}

#[test]
fn a_directory_is_not_a_script() {
    let (code, err, _dir) = run_in_empty_dir(&["profile", "/tmp/"]);
    assert_eq!(code, Some(common::USAGE), "{err}");
    assert_one_line(&err);
    assert!(err.contains("is a directory"), "{err}");
}

#[test]
fn nothing_to_profile_teaches_the_forms() {
    let (code, err, dir) = run_in_empty_dir(&["profile"]);
    assert_eq!(code, Some(common::USAGE), "{err}");
    assert!(err.contains("--pid PID"), "{err}");
    assert_empty(dir.path());
}

#[test]
fn missing_pid_exits_4() {
    let (code, err, dir) = run_in_empty_dir(&["profile", "--pid", "999999999"]);
    assert_eq!(code, Some(common::ATTACH), "{err}");
    assert_one_line(&err);
    assert!(err.contains("no process with pid 999999999"), "{err}");
    assert_empty(dir.path());
}

#[test]
fn a_process_that_is_not_python_exits_3() {
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = sleeper.id().to_string();
    let (code, err, dir) = run_in_empty_dir(&["profile", "--pid", &pid, "--duration", "1"]);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert_eq!(code, Some(common::UNSUPPORTED), "{err}");
    assert_one_line(&err);
    assert!(err.contains("not a Python program"), "{err}");
    assert_empty(dir.path());
}

#[test]
fn unwritable_output_fails_before_the_program_runs() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let marker = dir.path().join("ran");
    let script = dir.path().join("touch.py");
    std::fs::write(
        &script,
        format!("open({:?}, 'w').close()\n", marker.display().to_string()),
    )
    .unwrap();
    for target in [
        blocker.join("run"),
        blocker.clone(),
        "/proc/no/such/place".into(),
    ] {
        let out = bin()
            .current_dir(dir.path())
            .arg("profile")
            .arg("-o")
            .arg(&target)
            .arg(&script)
            .output()
            .unwrap();
        let err = refusal(&out, common::OUTPUT, &target.display().to_string());
        assert!(err.contains("-o DIR"), "{err}");
        assert!(
            !marker.exists(),
            "the program must not run when output cannot be written"
        );
    }
}

/// Runs `profile --python INTERPRETER` on a script in a fresh folder that leaves a marker
/// there if any of it runs.
fn profile_with(interpreter: &Path) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("marks.py");
    std::fs::write(&script, "open('ran', 'w').write('yes')\n").unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["profile", "--quiet", "--python"])
        .arg(interpreter)
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success() || !dir.path().join("ran").exists(),
        "a refused run must not run the program"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn assert_refused(code: Option<i32>, err: &str, says: &str) {
    assert_eq!(code, Some(common::UNSUPPORTED), "{err}");
    let last = err.trim_end().lines().last().unwrap_or("");
    assert!(last.starts_with("port-advisor: error: "), "{err}");
    assert!(last.contains(says), "{err}");
    assert!(last.contains("--python PATH"), "names the fix: {err}");
}

#[test]
fn a_program_that_is_not_python_is_refused_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    // An executable that takes `-c CODE` and is not Python.
    let not_python = common::executable(
        dir.path(),
        "not-python",
        "#!/bin/sh\necho \"$@\" > /dev/null\n",
    );
    let (code, err, _) = profile_with(Path::new("/bin/true"));
    assert_refused(code, &err, "/bin/true is not a Python interpreter");
    let (code, err, _) = profile_with(&not_python);
    assert_refused(
        code,
        &err,
        "is a launcher script, and it did not start a Python",
    );
}

#[test]
fn a_launcher_that_starts_no_python_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broken = common::executable(
        dir.path(),
        "python-shim",
        "#!/bin/sh\necho 'pyenv: python3.99: command not found' >&2\nexit 127\n",
    );
    let (code, err, _) = profile_with(&broken);
    assert_refused(
        code,
        &err,
        "exit status 127: pyenv: python3.99: command not found",
    );
}

#[test]
fn bad_duration_is_a_usage_error() {
    let (code, err, _dir) = run_in_empty_dir(&[
        "profile",
        "--duration",
        "-3",
        fixture("numeric_loop.py").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(common::USAGE), "{err}");
    assert!(err.contains("--duration"), "{err}");
}

#[test]
fn flamegraph_of_a_missing_or_foreign_profile() {
    let (code, err, _dir) = run_in_empty_dir(&["flamegraph", "nothing.json"]);
    assert_eq!(code, Some(common::USAGE), "{err}");
    assert!(err.contains("profile not found: nothing.json"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("future.json");
    std::fs::write(&p, r#"{"schema": 7, "meta": {}}"#).unwrap();
    let out = bin().arg("flamegraph").arg(&p).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(common::USAGE), "{err}");
    assert!(err.contains("schema 7"), "{err}");
}

#[test]
fn an_unreadable_script_and_a_file_for_a_folder_are_refused_before_anything_runs() {
    let Some((py, dir)) = unprivileged_setup() else {
        return;
    };
    let script = dir.path().join("secret.py");
    std::fs::write(&script, "open('ran', 'w').write('yes')\n").unwrap();
    Command::new("chmod")
        .arg("000")
        .arg(&script)
        .status()
        .unwrap();
    let out = Command::new("setpriv")
        .args(AS_NOBODY)
        .arg(assert_cmd::cargo::cargo_bin("port-advisor"))
        .args(["profile", "--python"])
        .arg(&py)
        .arg(&script)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = refusal(&out, common::USAGE, "");
    assert!(
        err.contains("cannot read script") && err.contains("Permission denied"),
        "{err}"
    );
    assert!(!dir.path().join("ran").exists());

    // A file where the run folder should be, and a file in the middle of its path.
    let file = dir.path().join("taken");
    std::fs::write(&file, "").unwrap();
    for out_dir in [file.clone(), file.join("run")] {
        let out = bin()
            .args(["profile", "-o"])
            .arg(&out_dir)
            .arg(fixture("numeric_loop.py"))
            .output()
            .unwrap();
        let err = refusal(&out, common::OUTPUT, &out_dir.display().to_string());
        assert!(err.contains("-o DIR"), "{err}");
    }
}

#[test]
fn an_unknown_rules_key_names_the_file_and_key_before_anything_runs() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("scoring.toml"),
        "[thresholds]\nmin_gian = 0.1\n",
    )
    .unwrap();
    let script = fixture("numeric_loop.py");
    let (code, stderr, dir) = run_in_empty_dir(&[
        "profile",
        "--rules",
        rules.path().to_str().unwrap(),
        script.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(common::USAGE), "{stderr}");
    assert_one_line(&stderr);
    assert!(stderr.contains("scoring.toml"), "{stderr}");
    assert!(stderr.contains("thresholds.min_gian"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert_empty(dir.path());

    std::fs::remove_file(rules.path().join("scoring.toml")).unwrap();
    // A report with an analogue that names no replacement, then with an operators matcher
    // that is neither of the two kinds of work inside operators.
    let analogue = "what = \"x\"\nwhy = \"y\"\nexample = \"z\"\n";
    for (rule, says) in [
        ("names = [\"frobnicate\"]\n", &["`use`", "crate"][..]),
        (
            "operators = \"floats\"\nuse = \"numpy\"\n",
            &["`arithmetic` or `sequences`"][..],
        ),
    ] {
        std::fs::write(
            rules.path().join("mine.toml"),
            format!("[[analogue]]\n{rule}{analogue}"),
        )
        .unwrap();
        let (code, stderr, _dir) = run_in_empty_dir(&[
            "report",
            "--rules",
            rules.path().to_str().unwrap(),
            "nowhere.json",
        ]);
        assert_eq!(code, Some(common::USAGE), "{stderr}");
        assert_one_line(&stderr);
        assert!(stderr.contains("mine.toml"), "{stderr}");
        assert!(says.iter().any(|s| stderr.contains(s)), "{stderr}");
    }
}

/// A run folder from elsewhere, built to run code and read files if port-advisor acted on
/// what it names: a git repository whose config runs a program to check signatures, a pickled
/// example that runs a command, frames in `/proc/self/environ` and `/dev/zero`, and a shipped
/// report.html. `report`, `view` and `stub` run nothing, read nothing outside, and end.
#[test]
fn a_received_run_folder_is_read_as_data_only() {
    use port_advisor::profile::{
        Example, Frame, FrameKind, Meta, ProbeResults, ProbedFunction, ProfileBuilder,
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let marker = dir.path().join("pwned-by-git");
    std::fs::write(
        run.join("app.py"),
        "def f(n):\n    return sum(range(n))\n\n\ndef main():\n    f(10)\n",
    )
    .unwrap();
    // The repository: a commit with a signature header, and config that names a program to
    // check it with.
    let gpg = dir.path().join("gpg");
    std::fs::write(&gpg, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&gpg, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(&run)
            .args(args)
            .env("GIT_AUTHOR_NAME", "a")
            .env("GIT_AUTHOR_EMAIL", "a@example.com")
            .env("GIT_COMMITTER_NAME", "a")
            .env("GIT_COMMITTER_EMAIL", "a@example.com")
            .stdin(Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q"]);
    git(&["config", "log.showSignature", "true"]);
    git(&["config", "gpg.program", &gpg.display().to_string()]);
    git(&["add", "app.py"]);
    let tree = git(&["write-tree"]);
    let commit = format!(
        "tree {tree}\nauthor a <a@example.com> 1700000000 +0000\ncommitter a <a@example.com> \
         1700000000 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAd\n \
         -----END PGP SIGNATURE-----\n\nsigned\n"
    );
    let object = {
        let mut child = Command::new("git")
            .current_dir(&run)
            .args(["hash-object", "-t", "commit", "-w", "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(commit.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["update-ref", "HEAD", &object]);
    // The control: plain git in this repository runs the program.
    git(&["log", "--format=%H", "-L", "1,2:app.py"]);
    assert!(
        marker.exists(),
        "the hostile repository fires under plain git"
    );
    std::fs::remove_file(&marker).unwrap();

    // The profile: relative paths and no working folder, so that sources would resolve in
    // the run folder; frames in files no profile should make port-advisor read.
    let mut b = ProfileBuilder::default();
    let frame = |name: &str, file: &str, line: u32| Frame {
        name: name.into(),
        qualname: Some(name.into()),
        file: file.into(),
        first_line: Some(1),
        line: Some(line),
        module: Some("app".into()),
        kind: FrameKind::Python,
        code: None,
    };
    let module = b.intern_frame(frame("<module>", "app.py", 9));
    let main = b.intern_frame(frame("main", "app.py", 6));
    let f = b.intern_frame(frame("f", "app.py", 2));
    let environ = b.intern_frame(frame("environ", "/proc/self/environ", 1));
    let zero = b.intern_frame(frame("zero", "/dev/zero", 1));
    let thread = b.intern_thread(1, 1, Some("MainThread"));
    b.add_sample(thread, vec![module, main, f], false, true, false, 600);
    b.add_sample(thread, vec![module, environ], false, true, false, 200);
    b.add_sample(thread, vec![module, zero], false, true, false, 200);
    let mut profile = b.into_profile(Meta {
        command: vec!["python".into(), "app.py".into()],
        ticks: 1000,
        samples: 1000,
        wall_seconds: 10.0,
        ..Meta::default()
    });
    profile.meta.sampling.rate_hz = 100;
    profile.probe = Some(ProbeResults {
        method: "sys.monitoring".into(),
        functions: vec![ProbedFunction {
            file: "app.py".into(),
            name: "f".into(),
            qualname: "f".into(),
            first_line: 1,
            calls: 5,
            calls_exact: true,
            candidate: true,
            examples: vec![Example {
                // `os.system("touch pwned-by-pickle")`, pickled.
                args: Some("Y29zCnN5c3RlbQooUyd0b3VjaCBwd25lZC1ieS1waWNrbGUnCnRSLg==".into()),
                result: None,
            }],
            ..ProbedFunction::default()
        }],
        ..ProbeResults::default()
    });
    profile.save(&run.join("profile.json")).unwrap();
    std::fs::write(run.join("report.html"), "<!-- shipped with the folder -->").unwrap();

    let secret = "port-advisor-test-secret-4f1c";
    let pa = |args: &[&str]| {
        bin()
            .current_dir(&run)
            .env("PA_TEST_SECRET", secret)
            .env_remove("BROWSER")
            .timeout(std::time::Duration::from_secs(60))
            .args(args)
            .output()
            .unwrap()
    };
    for args in [
        &["report", "."][..],
        &["report", "--format", "markdown", "."],
        &["report", "--format", "json", "."],
        &["report", "--format", "html", "."],
        &["view", "--print-path", "."],
    ] {
        let out = pa(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains(secret), "{args:?} read /proc/self/environ");
        assert!(
            text.contains("not recorded here") || args.len() == 2 || args[0] == "view",
            "{args:?} says why sources were not read: {text}"
        );
    }
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        !page.contains("shipped with the folder"),
        "view wrote the page again"
    );
    assert!(!page.contains(secret));
    let err = refusal(
        &pa(&["stub", ".", "--function", "app:f"]),
        common::USAGE,
        "stub",
    );
    assert!(err.contains("--trust"), "{err}");
    assert!(!run.join("app_rs").exists());
    assert!(!marker.exists(), "git ran the repository's program");
    assert!(!run.join("pwned-by-pickle").exists(), "a pickle was loaded");
}
