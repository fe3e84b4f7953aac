//! report.json as a contract: its JSON Schema, generated from the Rust types it is written
//! from, is committed (`docs/report.schema.json`) and current; every report the hermetic suite
//! writes validates against it (the live suite validates every report.json its runs write, in
//! `common::Run::advice` and `common::read_report`); every field is documented in
//! `docs/report-json.md`; and report.json names the port-advisor version that wrote it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::common::{self, bin, repo};

fn committed_schema_path() -> PathBuf {
    repo().join("docs/report.schema.json")
}

#[test]
fn the_committed_schema_is_the_one_the_types_generate() {
    let generated =
        serde_json::to_string_pretty(&port_advisor::report::advice::json_schema()).unwrap() + "\n";
    let path = committed_schema_path();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is not what the Rust types generate: a field of report.json changed. Check \
         docs/report-json.md's compatibility policy (does `schema` change?), document the \
         field there, then write the schema again with `UPDATE_SCHEMA=1 cargo test --test \
         hermetic report_schema` and commit it",
        path.display()
    );
}

/// Every input the hermetic suite reports on: the recorded runs, and other tools' profiles.
fn inputs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["fixtures/recorded", "fixtures/imported"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_file() && !name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_report_of_the_recorded_and_imported_fixtures_validates() {
    let mut checked = 0;
    for path in inputs() {
        let out = bin()
            .args(["report", "--format", "json", "--trust"])
            .arg(&path)
            .output()
            .unwrap();
        if !out.status.success() {
            // An input that is refused writes no report (cli_reports checks the refusals).
            continue;
        }
        let text = String::from_utf8(out.stdout).unwrap();
        common::assert_valid_report(&text, &path.display().to_string());
        let report: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            report["port_advisor_version"],
            env!("CARGO_PKG_VERSION"),
            "{}",
            path.display()
        );
        assert_eq!(report["schema"], port_advisor::advise::ADVICE_SCHEMA);
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} reports checked");
}

#[test]
fn a_report_that_breaks_the_contract_fails_validation() {
    let out = bin()
        .args(["report", "--format", "json"])
        .arg(repo().join("fixtures/recorded/spectral.profile.json"))
        .output()
        .unwrap();
    let mut report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["candidates"][0]["verdict"] = Value::from("rewrite it in Rust");
    let broken = serde_json::to_string(&report).unwrap();
    let caught = std::panic::catch_unwind(|| common::assert_valid_report(&broken, "broken"));
    assert!(caught.is_err(), "an unknown verdict must not validate");
}

/// Every property name the schema has.
fn properties(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            for v in map.values() {
                properties(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| properties(v, out)),
        _ => {}
    }
}

#[test]
fn every_field_is_documented() {
    let schema = port_advisor::report::advice::json_schema();
    let mut names = BTreeSet::new();
    properties(&schema, &mut names);
    let doc = std::fs::read_to_string(repo().join("docs/report-json.md")).unwrap();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/report-json.md does not document: {missing:?}"
    );
    assert!(
        doc.contains("## Compatibility"),
        "a stated policy for `schema`"
    );
}

#[test]
fn profile_json_names_the_version_that_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let merged = dir.path().join("merged.json");
    let out = bin()
        .args(["merge", "--trust", "-q"])
        .arg(repo().join("fixtures/recorded/spectral.profile.json"))
        .arg("-o")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profile: Value = serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    assert_eq!(profile["port_advisor_version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_ci_job_gets_a_step_summary_and_fails_on_a_port_above_its_threshold() {
    let recorded = repo().join("fixtures/recorded/spectral.profile.json");
    let report = |args: &[&str]| {
        let out = bin()
            .arg("report")
            .arg(&recorded)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, summary, _) = report(&["--format", "github"]);
    assert_eq!(code, Some(0));
    assert!(summary.starts_with("### port-advisor: `"), "{summary}");
    assert!(summary.contains("**1 port candidate**"), "{summary}");
    assert!(
        summary.contains("| 1 | port | `spectral.times_ata_u` |"),
        "{summary}"
    );
    assert!(!summary.contains('\x1b'));

    // Any port candidate fails; the report is still written first.
    let (code, json, err) = report(&["--format", "json", "--fail-on", "port"]);
    assert_eq!(code, Some(common::FAIL_ON), "{err}");
    common::assert_valid_report(&json, "report --fail-on port");
    assert!(err.contains("spectral.times_ata_u"), "{err}");
    // Above its threshold only: the low end of its range (3.0x here) must reach it.
    let (code, _, err) = report(&["--fail-on", "port", "--fail-threshold", "2.5x"]);
    assert_eq!(code, Some(common::FAIL_ON), "{err}");
    let (code, _, err) = report(&["--fail-on", "port", "--fail-threshold", "50"]);
    assert_eq!(code, Some(0), "{err}");
    // A program with nothing to port passes.
    let (code, _, err) = bin()
        .arg("report")
        .arg(repo().join("fixtures/recorded/pair_native.profile.json"))
        .args(["--fail-on", "port"])
        .output()
        .map(|o| {
            (
                o.status.code(),
                (),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    // A threshold without --fail-on, or below 1x, is a usage error.
    assert_eq!(report(&["--fail-threshold", "2"]).0, Some(common::USAGE));
    assert_eq!(
        report(&["--fail-on", "port", "--fail-threshold", "0.5"]).0,
        Some(common::USAGE)
    );
}
