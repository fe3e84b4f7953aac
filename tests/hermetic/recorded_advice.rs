//! The advice on real recordings of the programs in `fixtures/programs/advice/`, kept as
//! snapshots of `port-advisor report --format table`, `markdown` and `json`: any change in
//! what the advice says about one of them fails here, without sampling anything, and is
//! reviewed as a snapshot diff. The live tests (`tests/live/advice.rs`) check the same verdicts
//! on fresh runs, whose numbers move with the machine.
//!
//! `fixtures/recorded/<name>.profile.json` is a run of `fixtures/programs/advice/<name>.py`
//! (see `fixtures/recorded/README.md`; `fixtures/recorded/<name>.py` when the program changed
//! since). The report reads it as the machine that recorded it
//! would (`--trust`): the program's source tells code kinds and blockers, and its project is
//! searched for tests and git history. So that the report is the same on every clone and
//! machine, the program is copied into a fresh folder outside any git repository, at the place
//! the recording's working folder had it; the recording is moved there, and the report's
//! mentions of that folder are written back as the recorded one. The standard library's files
//! are only named by these reports, never read, so the interpreter that recorded them need not
//! be installed.

use std::path::Path;

use port_advisor::profile::Profile;

use crate::common::{bin, repo};

#[test]
fn big_list() {
    advice_in_every_format("big_list");
}

#[test]
fn edit_distance() {
    advice_in_every_format("edit_distance");
}

#[test]
fn generator_bound() {
    advice_in_every_format("generator_bound");
}

#[test]
fn log_report() {
    advice_in_every_format("log_report");
}

#[test]
fn pair_native() {
    advice_in_every_format("pair_native");
}

#[test]
fn pair_pure() {
    advice_in_every_format("pair_pure");
}

#[test]
fn pickle_heavy() {
    advice_in_every_format("pickle_heavy");
}

#[test]
fn spectral() {
    advice_in_every_format("spectral");
}

#[test]
fn tiny_methods() {
    advice_in_every_format("tiny_methods");
}

/// Checks the advice on the recording of `fixtures/programs/advice/{name}.py` against its
/// snapshots, one per text format.
fn advice_in_every_format(name: &str) {
    let place = tempfile::tempdir().unwrap();
    let root = place.path().canonicalize().unwrap();
    let mut profile =
        Profile::load(&repo().join(format!("fixtures/recorded/{name}.profile.json"))).unwrap();
    let recorded_root = move_recording(&mut profile, &root);
    let program = format!("fixtures/programs/advice/{name}.py");
    std::fs::create_dir_all(root.join(&program).parent().unwrap()).unwrap();
    // The program as it was recorded, when it has changed since: the recording's line numbers
    // are those of that text.
    let as_recorded = repo().join(format!("fixtures/recorded/{name}.py"));
    let source = if as_recorded.exists() {
        as_recorded
    } else {
        repo().join(&program)
    };
    std::fs::copy(source, root.join(&program)).unwrap();
    let run = root.join("run");
    std::fs::create_dir(&run).unwrap();
    profile.save(&run.join("profile.json")).unwrap();

    for format in ["table", "markdown", "json"] {
        let out = bin()
            .current_dir(&root)
            .args(["report", "--trust", "--format", format])
            .arg(&run)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name} --format {format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = String::from_utf8(out.stdout)
            .unwrap()
            .replace(&root.display().to_string(), &recorded_root)
            // The release that wrote it changes with every release, not with the advice.
            .replace(
                &format!(
                    "\"port_advisor_version\": \"{}\"",
                    env!("CARGO_PKG_VERSION")
                ),
                "\"port_advisor_version\": \"[version]\"",
            );
        if format == "json" {
            crate::common::assert_valid_report(&report, name);
        }
        insta::with_settings!({
            description => format!(
                "port-advisor report --trust --format {format}, on \
                 fixtures/recorded/{name}.profile.json (recorded in {recorded_root})"
            ),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("{name}.{format}"), report);
        });
    }
}

/// Moves a recording's working folder to `to`, with the frames and probe results of the files
/// under it; returns the folder it was recorded in.
fn move_recording(profile: &mut Profile, to: &Path) -> String {
    let to = to.display().to_string();
    let from = profile
        .meta
        .cwd
        .replace(to.clone())
        .expect("a recording names its working folder");
    let moved = |file: &mut String| {
        if let Some(rest) = file.strip_prefix(&from).filter(|r| r.starts_with('/')) {
            *file = format!("{to}{rest}");
        }
    };
    profile.frames.iter_mut().for_each(|f| moved(&mut f.file));
    if let Some(probe) = &mut profile.probe {
        probe.functions.iter_mut().for_each(|f| moved(&mut f.file));
    }
    from
}
