//! Live tests of the advice: real programs with a known right answer, profiled for real, and
//! the verdict and boundary read from the `report.json` the run wrote.
//!
//! They run on CPython 3.12, where the probe counts calls from the first one
//! (`sys.monitoring`), and on 3.11, where it wraps the hot functions once the sampler names
//! them; each fixture's docstring says why its verdict is right.

mod common;

use common::{profile, python, Run};
use port_advisor::advise::{Advice, Candidate, Reason, Verdict};

fn advise(version: &str, script: &str) -> Option<(Run, Advice)> {
    let Some(py) = python(version) else {
        eprintln!("skipping Python {version}: not installed");
        return None;
    };
    let run = profile(&py, &["--rate", "200"], &format!("advice/{script}"), &[]);
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
fn pickle_and_native_text_work_are_left_alone() {
    for script in ["pickle_heavy.py", "pair_native.py"] {
        let Some((_, a)) = advise("3.12", script) else {
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
fn time_spread_over_tiny_methods_is_left_alone() {
    let Some((_, a)) = advise("3.12", "tiny_methods.py") else {
        return;
    };
    assert!(ports(&a).is_empty(), "no port:\n{}", describe(&a));
    assert!(
        a.candidates.iter().any(|c| c.reason == Reason::SpreadThin),
        "spread thin:\n{}",
        describe(&a)
    );
}

#[test]
fn a_generator_pipeline_is_interpreter_machinery() {
    let Some((_, a)) = advise("3.12", "generator_bound.py") else {
        return;
    };
    assert!(ports(&a).is_empty(), "no port:\n{}", describe(&a));
    let machinery = a
        .candidates
        .iter()
        .find(|c| c.reason == Reason::InterpreterMachinery)
        .unwrap_or_else(|| panic!("generator machinery:\n{}", describe(&a)));
    for stage in ["parse", "filter_valid", "enrich"] {
        assert!(
            machinery.hot_functions.iter().any(|f| f == stage),
            "{stage} in {:?}",
            machinery.hot_functions
        );
    }
}

#[test]
fn converting_a_big_list_per_call_eats_the_gain() {
    let Some((_, a)) = advise("3.12", "big_list.py") else {
        return;
    };
    let mean = a
        .candidates
        .iter()
        .find(|c| c.hot_functions.iter().any(|f| f == "recent_mean"))
        .unwrap_or_else(|| panic!("recent_mean reported:\n{}", describe(&a)));
    assert_eq!(
        (mean.verdict, mean.reason),
        (Verdict::LeaveIt, Reason::ConversionCost),
        "\n{}",
        describe(&a)
    );
    let option = mean
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
    std::fs::write(
        rules.path().join("scoring.toml"),
        "[factors]\nnumeric = [1.0, 1.01]\nmixed = [1.0, 1.01]\n",
    )
    .unwrap();
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
    let a: Advice = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        ports(&a).is_empty(),
        "with Rust no faster than Python nothing pays:\n{}",
        describe(&a)
    );
}
