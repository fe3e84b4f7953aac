//! The HTML report in a real browser: a real program is profiled, and its `report.html` is
//! opened in headless Chromium (through chromedriver) and used the way a person would: sort
//! the table, open a row's evidence, search the flame graph, point at a frame. Any console
//! error fails the test; screenshots are kept under `target/browser-artifacts/`.

use std::path::Path;
use std::time::Duration;

use crate::browser::{self, Browser};
use crate::common::{self, bin, python, repo, Run};
use port_advisor::advise::{Advice, Verdict};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// The search colour inferno paints matching frames with.
const SEARCH_FILL: &str = "rgb(230,0,230)";

fn python3() -> std::path::PathBuf {
    python("3.11").unwrap_or_else(|| "python3".into())
}

fn assert_no_console_errors(browser: &Browser, when: &str) {
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors {when}: {errors:#?}");
}

/// Opens a report page and waits until the page and its flame graph are built.
fn open_report(browser: &Browser, page: &Path) {
    browser.open(page);
    browser.wait_for(
        "document.body.dataset.ready === 'true' && document.body.dataset.flame === 'ready'",
        WAIT,
    );
    assert_no_console_errors(browser, "while loading");
}

/// The candidates' indexes (into the advice) in the table's current row order.
fn row_order(browser: &Browser) -> Vec<usize> {
    let v = browser.eval(
        "return [...document.querySelectorAll('#candidates tbody.candidate')]
                .map(b => Number(b.dataset.index));",
    );
    serde_json::from_value(v).unwrap()
}

#[test]
fn the_report_page_sorts_expands_searches_and_points() {
    let run = common::profile(&python3(), &["--rate", "200"], "advice/log_report.py", &[]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let advice: Advice = run.advice();
    assert!(
        advice.candidates.len() >= 3,
        "log_report.py should give several candidates:\n{}",
        run.stdout()
    );
    let port = advice
        .candidates
        .iter()
        .position(|c| c.verdict == Verdict::Port)
        .unwrap_or_else(|| panic!("no port candidate:\n{}", run.stdout()));
    let port_name = advice.candidates[port].function.name.clone();

    let browser = Browser::start();
    open_report(&browser, &run.folder().join("report.html"));
    let ranks: Vec<usize> = (0..advice.candidates.len()).collect();
    assert_eq!(row_order(&browser), ranks, "rows start in rank order");

    // Sorting: by time, largest first, then smallest first; by name; back to rank.
    let times = |order: &[usize]| -> Vec<f64> {
        order
            .iter()
            .map(|&i| advice.candidates[i].time_share)
            .collect()
    };
    browser.click("#candidates th button[data-key='time']");
    let by_time = row_order(&browser);
    let t = times(&by_time);
    assert!(t.windows(2).all(|w| w[0] >= w[1]), "time descending: {t:?}");
    assert_eq!(
        browser.eval("return document.querySelector(\"#candidates th:has(button[data-key='time'])\").getAttribute('aria-sort')"),
        Value::from("descending")
    );
    browser.click("#candidates th button[data-key='time']");
    let t = times(&row_order(&browser));
    assert!(t.windows(2).all(|w| w[0] <= w[1]), "time ascending: {t:?}");
    browser.click("#candidates th button[data-key='function']");
    let names: Vec<String> = row_order(&browser)
        .iter()
        .map(|&i| advice.candidates[i].function.dotted().to_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "by name");
    browser.click("#candidates th button[data-key='rank']");
    assert_eq!(row_order(&browser), ranks, "back to rank order");

    // A row expands to its evidence, with the stub command for a port.
    let details = format!("document.getElementById('details-{port}')");
    assert_eq!(
        browser.eval(&format!("return {details}.hidden")),
        Value::Bool(true)
    );
    browser.click(&format!("#candidate-{port} button.expand"));
    browser.wait_for(&format!("!{details}.hidden"), WAIT);
    let text = browser.eval(&format!("return {details}.innerText"));
    let text = text.as_str().unwrap();
    for needed in [
        "Boundaries considered",
        "How the numbers were reached",
        "port-advisor stub",
        &format!("--function {}", advice.candidates[port].function.spec()),
    ] {
        assert!(text.contains(needed), "`{needed}` missing from:\n{text}");
    }
    assert_eq!(
        browser.eval(&format!(
            "return document.querySelector('#candidate-{port} button.expand').getAttribute('aria-expanded')"
        )),
        Value::from("true")
    );
    browser.screenshot(&browser::artifact("report-expanded.png"));

    // The flame graph: the boundary stands out in the port colour.
    browser.enter_frame("#flame-frame");
    let boundary = browser.eval(
        "var g = document.querySelector('#frames g.pa-port');
         return g ? [g.querySelector('title').textContent, g.querySelector('rect').getAttribute('fill')] : null;",
    );
    assert_eq!(
        boundary[1],
        Value::from("rgb(217,72,15)"),
        "boundary frame: {boundary}"
    );
    assert!(
        browser.eval("return document.querySelectorAll('#frames g.pa-native').length > 0")
            == Value::Bool(true),
        "json and re time should be painted native"
    );
    browser.leave_frame();

    // Search highlights the function's frames, and only matching ones.
    browser.type_into("#flame-search", &port_name);
    browser.wait_for(
        "Number(document.getElementById('flame-matched').dataset.frames) > 0",
        WAIT,
    );
    browser.enter_frame("#flame-frame");
    let hits = browser.eval(&format!(
        "return [...document.querySelectorAll('#frames g')]
                .filter(g => g.querySelector('rect').getAttribute('fill') === '{SEARCH_FILL}')
                .map(g => g.querySelector('title').textContent);"
    ));
    let hits: Vec<String> = serde_json::from_value(hits).unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter().all(|h| h.contains(&port_name)),
        "only {port_name} frames highlighted: {hits:?}"
    );

    // Pointing at the boundary's frame shows its function's numbers in the page.
    browser.eval(
        "var g = document.querySelector('#frames g.pa-port');
         g.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})); return 1;",
    );
    browser.leave_frame();
    browser.wait_for(
        "document.getElementById('flame-hover').textContent.includes('candidate #')",
        WAIT,
    );
    let hover = browser.eval("return document.getElementById('flame-hover').textContent");
    assert!(
        hover.as_str().unwrap().contains("with callees"),
        "hover panel: {hover}"
    );
    browser.eval("document.getElementById('flame').scrollIntoView(); return 1;");
    browser.screenshot(&browser::artifact("report-flame-search.png"));

    // The source view shades the candidate's lines by time.
    let shaded = browser.eval(&format!(
        "return document.querySelectorAll('#source-{port} tr.hot').length"
    ));
    assert!(shaded.as_u64().unwrap() >= 1, "no shaded line");
    assert_no_console_errors(&browser, "after using the page");
}

/// A program whose function, file and folder names are made to break out of the page: none
/// of it may run, all of it must read as text.
#[test]
fn names_from_the_profile_never_run_as_code_in_the_page() {
    const PAYLOAD: &str = "</script><script>window.__pwned=1;alert('name')</script>\
                           <img src=x onerror=\"window.__pwned=2;alert(2)\">";
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("dir \"q\" 'a' <b>é</b> \u{fffd}");
    std::fs::create_dir_all(&folder).unwrap();
    let script = folder.join("q\"'<img src=x onerror=alert(1)>.py");
    std::fs::write(
        &script,
        format!(
            r#"
PAYLOAD = {PAYLOAD:?}

def work(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s

work.__code__ = work.__code__.replace(co_name=PAYLOAD, co_qualname=PAYLOAD)

def main():
    t = 0
    for _ in range(25):
        t += work(100000)
    print(t)

main()
"#
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let output = {
        let _one_at_a_time = common::exclusive();
        bin()
            .current_dir(repo())
            .args(["profile", "--quiet", "--rate", "200", "--python"])
            .arg(python3())
            .arg("-o")
            .arg(&out)
            .arg(&script)
            .output()
            .unwrap()
    };
    let run = Run { output, dir };
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let advice = run.advice();
    assert!(
        advice
            .candidates
            .iter()
            .any(|c| c.function.name.contains(PAYLOAD)),
        "the hostile function should be a candidate:\n{}",
        run.stdout()
    );

    let browser = Browser::start();
    browser.open(&run.folder().join("report.html"));
    assert_eq!(browser.alert_open(), None, "a dialog opened");
    browser.wait_for(
        "document.body.dataset.ready === 'true' && document.body.dataset.flame === 'ready'",
        WAIT,
    );
    // Open everything, so that every place a name is shown is built.
    browser.eval(
        "document.querySelectorAll('button.expand').forEach(b => b.click());
         document.querySelectorAll('details').forEach(d => d.open = true); return 1;",
    );
    browser.type_into("#flame-search", "script");
    browser.wait_for(
        "Number(document.getElementById('flame-matched').dataset.frames) > 0",
        WAIT,
    );
    assert_eq!(browser.alert_open(), None, "a dialog opened");
    assert_eq!(
        browser.eval("return typeof window.__pwned"),
        Value::from("undefined")
    );
    assert_eq!(
        browser.eval("return document.querySelectorAll('#app img, #app script').length"),
        Value::from(0),
        "markup from the profile became elements"
    );
    let text = browser.eval("return document.body.innerText");
    let text = text.as_str().unwrap();
    assert!(text.contains(PAYLOAD), "the name should read as text");
    assert!(
        text.contains("<b>é</b> \u{fffd}"),
        "the folder should read as text"
    );
    let title = browser.eval("return document.title");
    assert!(title
        .as_str()
        .unwrap()
        .contains("<img src=x onerror=alert(1)>"));

    browser.enter_frame("#flame-frame");
    assert_eq!(
        browser.eval("return typeof window.__pwned"),
        Value::from("undefined")
    );
    assert_eq!(
        browser.eval("return document.querySelectorAll('#frames img, #frames script').length"),
        Value::from(0)
    );
    let titles = browser.eval(
        "return [...document.querySelectorAll('#frames title')].map(t => t.textContent).join('\\n')",
    );
    // Folded stacks separate frames with `;`, so a flame graph shows it as `:`.
    assert!(titles
        .as_str()
        .unwrap()
        .contains(&PAYLOAD.replace(';', ":")));
    browser.leave_frame();
    assert_eq!(browser.alert_open(), None, "a dialog opened");
    assert_no_console_errors(&browser, "with hostile names");
    browser.screenshot(&browser::artifact("report-hostile.png"));
}
