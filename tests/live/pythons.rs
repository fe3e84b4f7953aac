//! Every Python: sampling and reports on every CPython pyenv has here (2.7 and 3.6 to 3.13),
//! the probe where it runs (3.8+), and a launcher script followed to the Python it starts.
//! Interpreters port-advisor cannot read are refused before the program runs, in one line with
//! exit code 3: `tests/hermetic/cli_errors.rs`.

use crate::common::{self, bin, exclusive, fixture, inclusive, profile};

/// Every CPython the issue names; each one this machine lacks is said, not silently skipped.
const ALL: [&str; 9] = [
    "2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13",
];

fn probed(v: &str) -> bool {
    !matches!(v, "2.7" | "3.6" | "3.7")
}

#[test]
fn every_cpython_is_sampled_and_reported() {
    for (v, py) in common::pythons_of(&ALL) {
        let run = profile(&py, &[], "every_python.py", &["1.2"]);
        assert_eq!(run.code(), Some(0), "{v}: {}", run.stderr());
        let p = run.profile();
        assert!(
            p.meta
                .python_version
                .as_deref()
                .is_some_and(|s| s.starts_with(&format!("{v}."))),
            "{v}: recorded as {:?}",
            p.meta.python_version
        );
        assert!(p.meta.samples >= 60, "{v}: {} samples", p.meta.samples);
        let share = inclusive(&run.analysis(), "checksum");
        assert!(share > 70.0, "{v}: checksum {share:.1}% inclusive");
        assert!(
            run.stdout().contains("every_python.checksum"),
            "{v}: the summary names it\n{}",
            run.stdout()
        );
        // The probe counts calls on 3.8+, and says why not on older ones.
        let probe = p.probe.as_ref();
        if probed(v) {
            let probe = probe.unwrap_or_else(|| panic!("{v}: probe results"));
            let f = probe
                .functions
                .iter()
                .find(|f| f.name == "checksum")
                .unwrap_or_else(|| panic!("{v}: checksum probed: {:?}", probe.unavailable));
            assert!(f.calls > 0, "{v}: checksum calls counted");
        } else {
            assert!(
                probe.is_none_or(|pr| pr.functions.is_empty()),
                "{v}: no probe below 3.8"
            );
        }
        // Every report reads the run again.
        for format in ["table", "json", "markdown", "html"] {
            let out = bin()
                .args(["report", "--format", format])
                .arg(run.folder())
                .output()
                .unwrap();
            assert!(
                out.status.success() && String::from_utf8_lossy(&out.stdout).contains("checksum"),
                "{v}: report --format {format}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A wrapper that starts Python as its child instead of becoming it: sampling the wrapper's
/// shell would read nothing, so the interpreter it runs is sampled. (A launcher that starts no
/// Python is refused: `tests/hermetic/cli_errors.rs`.)
#[test]
fn a_launcher_that_starts_python_is_followed_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(py) = common::first_python_or_skip(&["3.11", "3.12"]) else {
        return;
    };
    let wrapper = common::executable(
        dir.path(),
        "python-wrapper",
        &format!("#!/bin/sh\n{} \"$@\"\n", py.display()),
    );
    let run = {
        let out = tempfile::tempdir().unwrap();
        let status = {
            let _one = exclusive();
            bin()
                .args(["profile", "--quiet", "--python"])
                .arg(&wrapper)
                .arg("-o")
                .arg(out.path().join("run"))
                .arg(fixture("every_python.py"))
                .arg("1")
                .output()
                .unwrap()
        };
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        port_advisor::profile::Profile::load(&out.path().join("run/profile.json")).unwrap()
    };
    assert!(run.meta.samples >= 50, "{} samples", run.meta.samples);
    assert_eq!(
        run.meta.python_executable.as_deref(),
        Some(py.to_str().unwrap()),
        "the interpreter behind the wrapper is recorded"
    );
}
