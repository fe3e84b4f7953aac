//! Live tests of the advice: real programs with a known right answer, profiled for real, and
//! the verdict and boundary read from the `report.json` the run wrote.
//!
//! They run on CPython 3.12, where the probe counts calls from the first one
//! (`sys.monitoring`), and on 3.11, where it wraps the hot functions once the sampler names
//! them; each fixture's docstring says why its verdict is right.

use crate::common::{self, profile, python_or_skip, Run};
use port_advisor::advise::{Advice, Candidate, Exclusion, Reason, Verdict};

fn advise(version: &str, script: &str) -> Option<(Run, Advice)> {
    advise_any(version, &format!("advice/{script}"))
}

/// Profiles any fixture program (a path under fixtures/programs) and reads its advice.
fn advise_any(version: &str, script: &str) -> Option<(Run, Advice)> {
    let py = python_or_skip(version)?;
    let run = profile(&py, &["--rate", "200"], script, &[]);
    assert_eq!(run.code(), Some(0), "{script}: {}", run.stderr());
    let advice = run.advice();
    Some((run, advice))
}

fn describe(a: &Advice) -> String {
    a.candidates
        .iter()
        .map(|c| {
            format!(
                "{}. {:?} {:?} {}: {}",
                c.rank, c.verdict, c.reason, c.function.name, c.summary
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ports(a: &Advice) -> Vec<&Candidate> {
    a.candidates
        .iter()
        .filter(|c| c.verdict == Verdict::Port)
        .collect()
}

#[test]
fn spectral_norm_ports_the_loop_not_its_body() {
    for v in ["3.11", "3.12"] {
        let Some((_, a)) = advise(v, "spectral.py") else {
            continue;
        };
        let first = &a.candidates[0];
        assert_eq!(first.verdict, Verdict::Port, "{v}:\n{}", describe(&a));
        assert_ne!(
            first.function.name, "a",
            "{v}: the leaf is not the boundary"
        );
        assert!(
            [
                "times_ata_u",
                "spectral_norm",
                "times_u",
                "times_transposed_u"
            ]
            .contains(&first.function.name.as_str()),
            "{v}: a loop is the boundary:\n{}",
            describe(&a)
        );
        let leaf = first
            .alternatives
            .iter()
            .find(|o| o.function.name == "a")
            .expect("the leaf was considered");
        let chosen = first.speedup.expect("a port has an estimate");
        assert!(
            leaf.speedup[1] < chosen[0],
            "{v}: porting the leaf ({:?}) gains less than porting the loop ({chosen:?})",
            leaf.speedup
        );
        assert!(
            chosen[0] >= 5.0,
            "{v}: the loop port is a big win: {chosen:?}"
        );
    }
}

#[test]
fn pickle_json_regex_and_native_text_work_are_left_alone() {
    for script in [
        "advice/pickle_heavy.py",
        "advice/pair_native.py",
        "json_heavy.py",
        "regex_heavy.py",
    ] {
        let Some((_, a)) = advise_any("3.12", script) else {
            return;
        };
        assert!(
            ports(&a).iter().all(|c| c.time_share < 0.2),
            "{script}: nothing big to port:\n{}",
            describe(&a)
        );
        let native = a
            .candidates
            .iter()
            .find(|c| c.reason == Reason::AlreadyNative)
            .unwrap_or_else(|| panic!("{script}: an already-native verdict:\n{}", describe(&a)));
        assert_eq!(native.verdict, Verdict::LeaveIt);
        assert!(native.native_share >= 0.8, "{script}: {}", native.summary);
    }
}

#[test]
fn the_pure_python_twin_is_ported() {
    let Some((_, a)) = advise("3.12", "pair_pure.py") else {
        return;
    };
    let first = &a.candidates[0];
    assert_eq!(
        (first.verdict, first.function.name.as_str()),
        (Verdict::Port, "count_words"),
        "\n{}",
        describe(&a)
    );
    let data = first
        .data
        .iter()
        .find(|d| d.name == "text")
        .expect("the argument was observed");
    assert_eq!(data.type_name, "str");
}

#[test]
fn time_spread_over_tiny_methods_ports_the_engine_not_a_method() {
    let Some((_, a)) = advise("3.12", "tiny_methods.py") else {
        return;
    };
    let first = &a.candidates[0];
    assert_eq!(
        (first.verdict, first.function.name.as_str()),
        (Verdict::Port, "simulate"),
        "\n{}",
        describe(&a)
    );
    assert_eq!(first.code_kind, "object engine", "\n{}", describe(&a));
    let chosen = first.alternatives.iter().find(|o| o.chosen).unwrap();
    let size = chosen.size.as_ref().expect("sized");
    assert!(size.classes.len() >= 3, "{size:?}");
    // No single method is worth it on its own.
    assert_eq!(ports(&a).len(), 1, "\n{}", describe(&a));
}

#[test]
fn a_generator_pipeline_is_ported_whole_not_stage_by_stage() {
    let Some((_, a)) = advise("3.12", "generator_bound.py") else {
        return;
    };
    // main(count) takes its data as an argument and drives the whole pipeline: one
    // crossing. Each stage alone is a generator, a crossing per item.
    let first = &a.candidates[0];
    assert_eq!(
        (first.verdict, first.function.name.as_str()),
        (Verdict::Port, "main"),
        "\n{}",
        describe(&a)
    );
    for stage in ["parse", "filter_valid", "enrich"] {
        let option = first.alternatives.iter().find(|o| o.function.name == stage);
        if let Some(o) = option {
            assert_eq!(o.exclusion, Some(Exclusion::Generator), "{stage}: {o:?}");
        }
    }
}

#[test]
fn converting_a_big_list_per_call_eats_the_gain_so_the_loop_is_ported() {
    let Some((_, a)) = advise("3.12", "big_list.py") else {
        return;
    };
    let first = &a.candidates[0];
    assert_eq!(
        (first.verdict, first.function.name.as_str()),
        (Verdict::Port, "main"),
        "\n{}",
        describe(&a)
    );
    assert!(
        first.hot_functions.iter().any(|f| f == "recent_mean"),
        "{:?}",
        first.hot_functions
    );
    let option = first
        .alternatives
        .iter()
        .find(|o| o.function.name == "recent_mean")
        .expect("considered");
    let list = option
        .data
        .iter()
        .find(|d| d.type_name == "list[float]")
        .expect("the list argument was observed");
    assert!(list.mean_size >= 10_000.0, "{list:?}");
    assert!(option.speedup[1] < 1.05, "{:?}", option.speedup);
}

#[test]
fn report_rereads_a_run_with_other_rules() {
    let Some((run, _)) = advise("3.12", "spectral.py") else {
        return;
    };
    let rules = tempfile::tempdir().unwrap();
    // Every class of operations, and every kind of code, no faster in Rust.
    let mut scoring = String::from("[factors]\nnumeric = [1.0, 1.01]\nmixed = [1.0, 1.01]\n");
    scoring.push_str("[operations]\n");
    for op in port_advisor::python::ops::ALL {
        scoring.push_str(&format!("{}.gain = [1.0, 1.01]\n", op.key()));
    }
    scoring.push_str("attribute.gain_moved = [1.0, 1.01]\n");
    std::fs::write(rules.path().join("scoring.toml"), scoring).unwrap();
    let out = common::bin()
        .arg("report")
        .arg(run.folder())
        .args(["--format", "json", "--rules"])
        .arg(rules.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::assert_valid_report(
        &String::from_utf8_lossy(&out.stdout),
        "report --format json",
    );
    let a: Advice = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        ports(&a).is_empty(),
        "with Rust no faster than Python nothing pays:\n{}",
        describe(&a)
    );
}

#[test]
fn a_hand_written_edit_distance_points_to_a_library() {
    let Some((run, a)) = advise("3.12", "edit_distance.py") else {
        return;
    };
    let first = &a.candidates[0];
    assert_eq!(
        (first.verdict, first.function.name.as_str()),
        (Verdict::UseLibrary, "levenshtein"),
        "\n{}",
        describe(&a)
    );
    assert!(first.summary.contains("rapidfuzz"), "{}", first.summary);
    // The terminal table and report.md say the same.
    assert!(run.stdout().contains("use library"), "{}", run.stdout());
    let md = std::fs::read_to_string(run.folder().join("report.md")).unwrap();
    assert!(md.contains("use library `"), "{md}");
}

#[test]
fn tests_and_history_of_a_candidate_are_found_in_its_project() {
    let Some(py) = python_or_skip("3.12") else {
        return;
    };
    // A small project: the program, a test that calls the hot function, one commit.
    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    std::fs::copy(
        common::fixture("advice/pair_pure.py"),
        root.join("pair_pure.py"),
    )
    .unwrap();
    std::fs::create_dir(root.join("tests")).unwrap();
    std::fs::write(
        root.join("tests/test_words.py"),
        "from pair_pure import count_words\n\n\ndef test_counts():\n    \
         assert count_words(\"a b a\")[\"a\"] == 2\n",
    )
    .unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.email=dev@example.com", "-c", "user.name=Dev"])
            .args(args)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);

    let out = {
        let _one = common::exclusive();
        common::bin()
            .current_dir(root)
            .args(["profile", "--quiet", "--rate", "200", "--python"])
            .arg(&py)
            .args(["-o", "run", "pair_pure.py", "0.5"])
            .output()
            .unwrap()
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: Advice = common::read_report(&root.join("run/report.json"));
    let port = a
        .candidates
        .iter()
        .find(|c| c.function.name == "count_words")
        .unwrap_or_else(|| panic!("count_words:\n{}", describe(&a)));
    let tests = port
        .readiness
        .iter()
        .find(|n| n.signal == "tests")
        .expect("a tests note");
    assert_eq!(tests.effect, 1.0, "{}", tests.note);
    assert!(tests.note.contains("test_words.py"), "{}", tests.note);
    let history = port
        .readiness
        .iter()
        .find(|n| n.signal == "history")
        .expect("a history note");
    assert!(
        history.note.starts_with("1 commit by 1 author"),
        "{}",
        history.note
    );
}

/// An event loop resuming generators that the code above it made: a port of the loop alone
/// would resume them in Python at every event, so it keeps their time interpreted; the day's
/// function, which makes them, is the boundary.
#[test]
fn an_event_loop_resuming_the_callers_generators_is_not_the_boundary() {
    for v in ["3.11", "3.12"] {
        let Some((_, a)) = advise(v, "event_loop.py") else {
            continue;
        };
        let first = &a.candidates[0];
        assert_eq!(
            (first.verdict, first.function.name.as_str()),
            (Verdict::Port, "simulate_day"),
            "{v}:\n{}",
            describe(&a)
        );
        let run = first
            .alternatives
            .iter()
            .find(|o| o.function.name == "Loop.run")
            .unwrap_or_else(|| panic!("{v}: Loop.run was weighed:\n{}", describe(&a)));
        assert_eq!(
            run.exclusion,
            Some(Exclusion::Callback),
            "{v}: {:?}",
            run.excluded
        );
        assert!(
            run.excluded
                .as_deref()
                .is_some_and(|e| e.contains("customer")),
            "{v}: {:?}",
            run.excluded
        );
    }
}
