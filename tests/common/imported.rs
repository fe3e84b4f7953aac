//! The advice on other tools' profiles of `fixtures/programs/advice/log_report.py`: the committed
//! files (`tests/hermetic/import_tools.rs`) and fresh recordings by the pinned tools
//! (`tests/live/import_tools.rs`) are judged alike.

use std::path::Path;

use port_advisor::advise::{Advice, Verdict};

use super::bin;

/// `port-advisor report FILE --format json`, parsed: the advice on `file`, recorded of this
/// repository's fixture on this machine. The sources it names are ours to read (`--trust`),
/// which tells a `main()` run once from a port boundary.
pub fn advice_of(file: &Path) -> Advice {
    let out = bin()
        .args([
            "report",
            "--format",
            "json",
            "--trust",
            "--input-rate",
            "200",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "report {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the advice model")
}

/// `similarity` is a `port` candidate with a share of the run in `shares`, and the advice
/// says that an imported profile has no call counts. py-spy's collapsed stacks name files
/// short (`log_report.py`); merged with a full path's recording the two are one function, and
/// the shares of any candidates of that name add.
pub fn finds_similarity(advice: &Advice, what: &str, shares: std::ops::Range<f64>) {
    let found: Vec<_> = advice
        .candidates
        .iter()
        .filter(|c| c.function.name == "similarity")
        .collect();
    let names: Vec<&str> = advice
        .candidates
        .iter()
        .map(|c| c.function.name.as_str())
        .collect();
    assert!(
        !found.is_empty(),
        "{what}: no candidate `similarity` among {names:?}"
    );
    assert_eq!(
        found[0].verdict,
        Verdict::Port,
        "{what}: {}",
        found[0].summary
    );
    let share: f64 = found.iter().map(|c| c.time_share).sum();
    assert!(
        shares.contains(&share),
        "{what}: similarity has {share} of the run, expected {shares:?}"
    );
    assert!(!advice.probe.available, "{what}");
    assert!(
        advice.unknowns.iter().any(
            |u| u.contains("Call counts") && u.contains("imported from another tool's profile")
        ),
        "{what}: {:?}",
        advice.unknowns
    );
}
