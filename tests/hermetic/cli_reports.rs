//! The report commands on a recorded profile (`fixtures/recorded/log_report.profile.json`, a
//! real run of `fixtures/programs/advice/log_report.py`): fast checks of what each format
//! writes, without sampling anything. The page itself is used in a browser by
//! `tests/live/html.rs`.

use std::path::{Path, PathBuf};

use crate::common::{self, bin, repo};
use serde_json::Value;

fn recorded() -> PathBuf {
    repo().join("fixtures/recorded/log_report.profile.json")
}

/// A run folder holding a copy of the recorded profile.
fn run_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::copy(recorded(), run.join("profile.json")).unwrap();
    (dir, run)
}

fn stdout_of(args: &[&str], extra: &[&Path]) -> String {
    let out = bin().args(args).args(extra).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The JSON data block of a report page.
fn page_data(html: &str) -> Value {
    let start = html
        .find("<script type=\"application/json\" id=\"pa-data\">")
        .expect("a data block");
    let body = &html[start..];
    let open = body.find('>').unwrap() + 1;
    let close = body.find("</script>").unwrap();
    serde_json::from_str(&body[open..close]).expect("the data block is JSON")
}

#[test]
fn the_html_report_holds_the_same_advice_as_the_json_one() {
    let html = stdout_of(&["report", "--format", "html"], &[&recorded()]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    let data = page_data(&html);
    let svg = data["flame_svg"].as_str().unwrap();
    for text in [html.as_str(), svg] {
        for load in ["src=\"http", "href=\"http", "url(http", "@import", "<link"] {
            assert!(
                !text.contains(load),
                "nothing may load from the network: {load}"
            );
        }
    }
    let json: Value =
        serde_json::from_str(&stdout_of(&["report", "--format", "json"], &[&recorded()])).unwrap();
    assert_eq!(data["advice"]["candidates"], json["candidates"]);
    assert!(svg.contains("<svg"));
    // Every candidate from a readable source file gets a source view whose lines add up to
    // no more than the candidate's time.
    let candidates = json["candidates"].as_array().unwrap();
    for (c, source) in candidates.iter().zip(data["sources"].as_array().unwrap()) {
        if source.is_null() {
            continue;
        }
        let total: f64 = source["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["time"].as_f64().unwrap())
            .sum();
        assert!(
            total > 0.0,
            "{}: no time on any line",
            c["function"]["name"]
        );
    }
}

#[test]
fn view_writes_the_page_from_the_profile_and_prints_its_path() {
    let (_dir, run) = run_folder();
    let page = run.join("report.html");
    let printed = stdout_of(&["view", "--print-path"], &[&run]);
    assert_eq!(
        Path::new(printed.trim()),
        page.canonicalize().unwrap(),
        "the page's path"
    );
    // A page already in the folder may have come with it: it is never opened as it is.
    std::fs::write(&page, "<!-- not written by port-advisor -->").unwrap();
    stdout_of(&["view", "--print-path"], &[&run]);
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(
        !text.contains("not written by port-advisor") && text.contains("<html"),
        "the page is written again from the profile"
    );
}

#[test]
fn view_opens_the_page_with_the_browser_named_in_browser() {
    let (dir, run) = run_folder();
    let seen = dir.path().join("opened");
    let browser = dir.path().join("browser.sh");
    // Written aside and renamed, so that the file the test waits for is never seen empty.
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{0}.part' && mv '{0}.part' '{0}'\n",
            seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = bin()
        .env("BROWSER", &browser)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .arg("view")
        .arg(&run)
        .output()
        .unwrap();
    assert!(out.status.success());
    // The browser is started, not waited for.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let opened = std::fs::read_to_string(&seen).expect("the browser was started");
    assert_eq!(
        Path::new(&opened),
        run.join("report.html").canonicalize().unwrap()
    );
}

#[test]
fn speedscope_export_is_one_profile_of_seconds() {
    let text = stdout_of(
        &["flamegraph", "--format", "speedscope", "-o", "-"],
        &[&recorded()],
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["$schema"],
        "https://www.speedscope.app/file-format-schema.json"
    );
    let frames = v["shared"]["frames"].as_array().unwrap();
    let profile = &v["profiles"][0];
    assert_eq!(profile["type"], "sampled");
    assert_eq!(profile["unit"], "seconds");
    let samples = profile["samples"].as_array().unwrap();
    let weights = profile["weights"].as_array().unwrap();
    assert_eq!(samples.len(), weights.len());
    assert!(samples
        .iter()
        .flat_map(|s| s.as_array().unwrap())
        .all(|i| (i.as_u64().unwrap() as usize) < frames.len()));
    assert!(frames
        .iter()
        .any(|f| f["name"].as_str().unwrap().starts_with("similarity")));
    let total: f64 = weights.iter().map(|w| w.as_f64().unwrap()).sum();
    assert!((total - profile["endValue"].as_f64().unwrap()).abs() < 1e-6);
}

#[test]
fn a_run_compared_with_itself_changed_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("same.svg");
    let text = stdout_of(
        &["diff", "--format", "json", "-o"],
        &[&svg, &recorded(), &recorded()],
    );
    let c: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(c["speedup"], 1.0);
    let functions = c["functions"].as_array().unwrap();
    assert!(!functions.is_empty());
    assert!(
        functions.iter().all(|f| f["speedup"] == 1.0),
        "{functions:?}"
    );
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.contains("similarity") && svg.trim_end().ends_with("</svg>"));

    let again = dir.path().join("again.svg");
    let table = stdout_of(&["diff", "-o"], &[&again, &recorded(), &recorded()]);
    assert!(table.contains("1.00x faster"), "{table}");
}

#[test]
fn malformed_inputs_of_every_format_name_the_file_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let pprof = std::fs::read(repo().join("fixtures/pprof/two_threads.pb.gz")).unwrap();
    let speedscope = stdout_of(
        &["flamegraph", "--format", "speedscope", "-o", "-"],
        &[&recorded()],
    );
    let recorded_json = std::fs::read_to_string(recorded()).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.txt", Vec::new(), "empty"),
        ("blank.folded", b"\n  \n".to_vec(), "empty"),
        (
            "count.folded",
            b"main;work 3\nmain;work 3x\n".to_vec(),
            ":2: ",
        ),
        (
            "huge.folded",
            b"main;work 99999999999999999\n".to_vec(),
            ":1: ",
        ),
        (
            "garbage.bin",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "garbage.bin",
        ),
        ("cut.pb.gz", pprof[..pprof.len() / 2].to_vec(), "cut.pb.gz"),
        (
            "cut.speedscope.json",
            speedscope.as_bytes()[..speedscope.len() / 2].to_vec(),
            "cut.speedscope.json:",
        ),
        (
            "index.json",
            recorded_json
                .replacen("\"frames\":[0", "\"frames\":[999999", 1)
                .into_bytes(),
            "frame 999999",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let out = bin().arg("report").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(common::USAGE), "{name}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{name}: one line: {stderr}"
        );
        assert!(
            stderr.starts_with(&format!("port-advisor: error: {}", path.display())),
            "{name}: names the file: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{name}: `{expected}` in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

/// Inputs the fuzzer (fuzz/, benches/fuzz.sh) found to break a later stage: each is now read
/// or refused with one line, never a panic.
#[test]
fn fuzz_regressions_are_read_or_refused_without_a_panic() {
    let dir = repo().join("fuzz/regressions/pipeline");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        seen += 1;
        let out = bin()
            .args(["report", "--format", "html"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0) | Some(common::USAGE)),
            "{}: {stderr}",
            path.display()
        );
        assert!(!stderr.contains("panicked"), "{}: {stderr}", path.display());
    }
    assert!(seen > 0, "no regression inputs in {}", dir.display());
}

/// Names in a received profile are data: `fixtures/hostile/escapes.folded` names functions
/// and files with escape sequences (a window title, a screen clear, hidden text), a C1 CSI
/// (U+009B) and a bidi override (U+202E). The table, the Markdown and the comparison show
/// them written out, and no terminal control reaches stdout.
#[test]
fn control_characters_in_names_never_reach_the_terminal() {
    let hostile = repo().join("fixtures/hostile/escapes.folded");
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("diff.svg");
    let outputs = [
        stdout_of(&["report"], &[&hostile]),
        stdout_of(&["report", "--format", "markdown"], &[&hostile]),
        stdout_of(&["diff", "-o"], &[&svg, &hostile, &hostile]),
    ];
    for out in outputs {
        assert!(!out.contains('\x1b'), "a raw ESC: {out}");
        assert!(!out.contains('\x07'), "a raw BEL: {out}");
        assert!(!out.contains('\u{9b}'), "a raw CSI: {out}");
        assert!(!out.contains('\u{202e}'), "a raw bidi override: {out}");
        assert!(
            out.contains("render\\x1b[2J\\x1b[H"),
            "names written out: {out}"
        );
    }
}
