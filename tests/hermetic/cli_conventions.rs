//! What a py-spy user and a CI script expect of the command line, without sampling anything:
//! py-spy's flags and formats, `--color`, `-q` and `-v` on every command, and exit codes of
//! port-advisor's own that keep clear of the statuses programs use. A real `profile -o
//! out.svg` run is in `tests/live/profile.rs`.

use std::path::PathBuf;

use port_advisor::cli::{profile_outputs, Cli, Command, Export, ProfileFormat};
use port_advisor::record::Reads;

use crate::common::{self, bin, repo};

fn recorded() -> PathBuf {
    repo().join("fixtures/recorded/spectral.profile.json")
}

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_args(std::iter::once("port-advisor").chain(args.iter().copied()))
}

#[test]
fn pys_spys_two_read_flags_choose_the_reads_and_exclude_each_other() {
    let reads = |flags: &[&str]| {
        let args: Vec<&str> = ["profile"]
            .iter()
            .chain(flags)
            .chain(&["app.py"])
            .copied()
            .collect();
        let Command::Profile(args) = parse(&args).expect("parses").command else {
            panic!("a profile command")
        };
        args.into_plan().unwrap().record.reads
    };
    assert_eq!(reads(&[]), Reads::Paused);
    assert_eq!(reads(&["--blocking"]), Reads::Blocking);
    assert_eq!(reads(&["--nonblocking"]), Reads::Nonblocking);
    // A stop of a process it did not start shows to the process's parent (a shell's job).
    let Command::Profile(args) = parse(&["profile", "--pid", "4242"]).unwrap().command else {
        panic!("a profile command")
    };
    assert_eq!(args.into_plan().unwrap().record.reads, Reads::Nonblocking);
    let err = parse(&["profile", "--nonblocking", "--blocking", "app.py"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    let help = bin().args(["profile", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--blocking"), "{help}");
    assert!(help.contains("--nonblocking"), "{help}");
}

/// `profile .venv/bin/python app.py` is py-spy's `record -- python app.py`: the script runs
/// under that interpreter as with --python (so the probe runs and its packages can be read);
/// interpreter options, another program or an explicit --python keep it a command.
#[test]
fn an_interpreter_then_a_script_runs_the_script_under_that_interpreter() {
    use port_advisor::record::{Launch, Target};
    let plan = |args: &[&str]| {
        let Command::Profile(p) = parse(args).expect("parses").command else {
            panic!("a profile command")
        };
        p.into_plan().unwrap()
    };
    for (python, script) in [
        (".venv/bin/python", "app.py"),
        ("python3.12", "tools/app.py"),
        ("/usr/bin/python3.13t", "app.py"),
    ] {
        let p = plan(&["profile", "--", python, script, "--size", "3"]);
        let Target::Launch(Launch::Script { path, args }) = &p.target else {
            panic!("{python} {script}: {:?}", p.target)
        };
        assert_eq!(path, &PathBuf::from(script));
        assert_eq!(args, &["--size", "3"]);
        assert_eq!(p.python.explicit, Some(PathBuf::from(python)));
    }
    for args in [
        &["profile", "--", "python", "-X", "dev", "app.py"][..],
        &["profile", "--", "gunicorn", "app.py"],
        &["profile", "--", "python3-config", "app.py"],
        &[
            "profile",
            "--python",
            "/opt/py/bin/python3",
            "--",
            "python",
            "app.py",
        ],
    ] {
        let p = plan(args);
        assert!(
            matches!(p.target, Target::Launch(Launch::Command { .. })),
            "{args:?}: {:?}",
            p.target
        );
    }
}

#[test]
fn an_output_named_like_a_file_is_written_in_its_format_beside_the_run_folder() {
    let out = |o: Option<&str>, f: Option<ProfileFormat>| profile_outputs(o.map(PathBuf::from), f);
    let export = |p: &str, format| Export {
        format,
        path: Some(PathBuf::from(p)),
    };
    assert_eq!(
        out(Some("out.svg"), None),
        (
            Some(PathBuf::from("out.port-advisor")),
            Some(export("out.svg", ProfileFormat::Flamegraph))
        )
    );
    assert_eq!(
        out(Some("res/app.speedscope.json"), None),
        (
            Some(PathBuf::from("res/app.port-advisor")),
            Some(export("res/app.speedscope.json", ProfileFormat::Speedscope))
        )
    );
    assert_eq!(
        out(Some("stacks.txt"), None).1,
        Some(export("stacks.txt", ProfileFormat::Raw))
    );
    assert_eq!(
        out(Some("p.json"), None).1,
        Some(export("p.json", ProfileFormat::Speedscope))
    );
    // --format wins over the ending, as in py-spy.
    assert_eq!(
        out(Some("out.json"), Some(ProfileFormat::Raw)).1,
        Some(export("out.json", ProfileFormat::Raw))
    );
    // A folder stays a folder; --format alone adds a file inside the run folder.
    assert_eq!(
        out(Some("runs/today"), None),
        (Some("runs/today".into()), None)
    );
    assert_eq!(
        out(None, Some(ProfileFormat::Speedscope)),
        (
            None,
            Some(Export {
                format: ProfileFormat::Speedscope,
                path: None
            })
        )
    );
    let existing = tempfile::Builder::new().suffix(".svg").tempdir().unwrap();
    let existing = existing.path().to_str().unwrap();
    assert_eq!(out(Some(existing), None), (Some(existing.into()), None));
    // py-spy's names are taken by `flamegraph --format` too.
    for f in ["flamegraph", "raw", "speedscope"] {
        parse(&["profile", "--format", f, "app.py"]).unwrap();
        parse(&["flamegraph", "run", "--format", f]).unwrap();
    }
}

#[test]
fn every_command_takes_color_quiet_and_verbose_before_or_after_its_name() {
    let commands: [&[&str]; 8] = [
        &["profile", "app.py"],
        &["report", "run"],
        &["flamegraph", "run"],
        &["stub", "run"],
        &["view", "run"],
        &["diff", "a", "b"],
        &["merge", "a", "-o", "m.json"],
        &["completions", "bash"],
    ];
    for args in commands {
        let (name, rest) = args.split_first().unwrap();
        for flags in [&["--color", "never", "-q"][..], &["--color=always", "-v"]] {
            let after: Vec<&str> = std::iter::once(*name)
                .chain(flags.iter().copied())
                .chain(rest.iter().copied())
                .collect();
            let before: Vec<&str> = flags.iter().copied().chain(args.iter().copied()).collect();
            for line in [after, before] {
                let cli = parse(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
                assert_eq!(cli.global.quiet, flags.contains(&"-q"), "{line:?}");
                assert_eq!(cli.global.verbose, flags.contains(&"-v"), "{line:?}");
            }
        }
    }
    assert!(
        parse(&["report", "run", "-q", "-v"]).is_err(),
        "one or the other"
    );
    assert!(parse(&["report", "run", "--color", "sometimes"]).is_err());
    // After the script, they are the script's own.
    let cli = parse(&["profile", "app.py", "-q", "--color", "never"]).unwrap();
    assert!(!cli.global.quiet);
}

#[test]
fn color_follows_the_flag_then_no_color_then_the_terminal() {
    let table = |flags: &[&str], env: &[(&str, &str)]| {
        let mut cmd = bin();
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        cmd.envs(env.iter().copied());
        let out = cmd
            .arg("report")
            .arg(recorded())
            .args(flags)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let has_color = |s: &str| s.contains("\x1b[");
    // Not a terminal: plain, unless asked.
    assert!(!has_color(&table(&[], &[])));
    assert!(has_color(&table(&["--color", "always"], &[])));
    assert!(has_color(&table(&["--color=always"], &[("NO_COLOR", "1")])));
    assert!(!has_color(&table(
        &["--color", "never"],
        &[("CLICOLOR_FORCE", "1")]
    )));
    assert!(has_color(&table(&[], &[("CLICOLOR_FORCE", "1")])));
    assert!(!has_color(&table(
        &[],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    )));
    // The verdict is what is painted; the text is the same without it.
    let painted = table(&["--color", "always"], &[]);
    let plain = table(&["--color", "never"], &[]);
    let stripped = painted
        .split('\x1b')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once('m').map_or(part, |p| p.1)
            }
        })
        .collect::<String>();
    assert_eq!(stripped, plain);
    // JSON never gets colour.
    assert!(!has_color(&table(
        &["--format", "json", "--color", "always"],
        &[]
    )));
}

#[test]
fn verbose_says_what_was_read_and_how_long_each_step_took_and_quiet_says_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("flame.svg");
    let run = |flags: &[&str]| {
        let out = bin()
            .arg("flamegraph")
            .arg(recorded())
            .arg("-o")
            .arg(&svg)
            .args(flags)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    };
    assert_eq!(run(&[]).trim_end(), format!("Wrote {}", svg.display()));
    assert_eq!(run(&["-q"]), "");
    let verbose = run(&["-v"]);
    assert!(verbose.contains("reading "), "{verbose}");
    let out = bin()
        .arg("report")
        .arg(recorded())
        .arg("-v")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rules: the built-in ones"), "{stderr}");
    assert!(stderr.contains("advice: "), "{stderr}");
}

#[test]
fn usage_errors_exit_with_port_advisors_own_code_not_the_2_programs_use() {
    let code = |args: &[&str]| {
        let out = bin().args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for args in [
        &["profile", "--no-such-flag", "app.py"][..],
        &["report"],
        &["no-such-command"],
        &["report", "run", "--top", "many"],
    ] {
        let (status, err) = code(args);
        assert_eq!(status, Some(common::USAGE), "{args:?}: {err}");
    }
    assert_eq!(code(&["--help"]).0, Some(0));
    assert_eq!(code(&["report", "--help"]).0, Some(0));
    assert_eq!(code(&["--version"]).0, Some(0));
    // A usage error found after parsing: the same code.
    let (status, err) = code(&["report", "/no/such/profile.json"]);
    assert_eq!(status, Some(common::USAGE), "{err}");
    assert!(err.starts_with("port-advisor: error: "), "{err}");
}

#[test]
fn the_exit_code_table_is_documented_as_the_code_has_it() {
    use port_advisor::error::ExitStatus;
    let doc = std::fs::read_to_string(repo().join("docs/exit-codes.md")).unwrap();
    for (status, name) in [
        (ExitStatus::Internal, "internal"),
        (ExitStatus::Usage, "usage"),
        (ExitStatus::Unsupported, "not a Python"),
        (ExitStatus::Attach, "attach"),
        (ExitStatus::Output, "output"),
        (ExitStatus::FailOn, "--fail-on"),
    ] {
        let row = format!("| {} |", status.code());
        let line = doc
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("docs/exit-codes.md has no row `{row}`"));
        assert!(
            line.to_lowercase().contains(&name.to_lowercase()),
            "{line} should say {name}"
        );
    }
}
