//! The real-program corpus (`fixtures/corpus/`, run by `benches/corpus.py`): its judging of a
//! report against an answer, checked on synthetic reports, and its fast subset (the programs
//! whose `answer.toml` says `ci = true`) run for real, every one of which must be right.

use std::process::{Command, Output};

use crate::common::{exclusive, first_python_or_skip, repo};

/// `python benches/corpus.py ARGS` with an interpreter that has tomllib (3.11 or later).
fn corpus(args: &[&str]) -> Option<Output> {
    let python = first_python_or_skip(&["3.11", "3.12", "3.13"])?;
    let output = Command::new(python)
        .current_dir(repo())
        .arg(repo().join("benches/corpus.py"))
        .args(args)
        .output()
        .expect("benches/corpus.py starts");
    Some(output)
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn the_corpus_runner_judges_synthetic_reports_by_the_rules() {
    let Some(out) = corpus(&["--self-test"]) else {
        return;
    };
    assert!(out.status.success(), "--self-test failed:\n{}", text(&out));
    assert!(
        text(&out).contains("checks passed"),
        "--self-test said nothing:\n{}",
        text(&out)
    );
}

#[test]
fn the_ci_programs_of_the_corpus_get_the_right_advice() {
    let bin = env!("CARGO_BIN_EXE_port-advisor");
    // Every program is a measured run: nothing else may load the machine meanwhile.
    let _alone = exclusive();
    let Some(out) = corpus(&["--ci", "--require-right", "--bin", bin]) else {
        return;
    };
    assert!(
        out.status.success(),
        "benches/corpus.py --ci --require-right exited with {} (1: a program wrong or not \
         finished; 2: no program marked `ci = true` in fixtures/corpus, or a setup error):\n{}",
        out.status,
        text(&out)
    );
}
