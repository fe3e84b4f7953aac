//! Proves the headless-browser harness the HTML report tests stand on: each test loads a small
//! page written to a temp dir into real Chromium and checks that the harness sees what happened
//! (load-time exceptions, `console.error` inside a blob: iframe, dialogs, messages between
//! frames), so a report test that passes because the harness is blind cannot go unnoticed.

use std::path::PathBuf;
use std::time::Duration;

use crate::browser::{self, Browser};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn page(dir: &tempfile::TempDir, name: &str, html: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, html).unwrap();
    path
}

#[test]
fn reports_an_exception_thrown_while_loading() {
    let dir = tempfile::tempdir().unwrap();
    let path = page(
        &dir,
        "throws.html",
        r#"<!doctype html><title>throws</title>
           <script>throw new Error("harness-load-boom");</script>
           <p>after</p>"#,
    );
    let browser = Browser::start();
    browser.open(&path);

    let errors = browser.console_errors();
    assert!(
        errors.iter().any(|e| e.contains("harness-load-boom")),
        "{errors:?}"
    );
    assert_eq!(browser.console_errors(), Vec::<String>::new(), "drained");
}

#[test]
fn a_clean_page_can_be_driven_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = page(
        &dir,
        "clean.html",
        r#"<!doctype html><title>clean</title>
           <input id="name">
           <button id="go" onclick="out.textContent = 'hello ' + document.querySelector('#name').value">go</button>
           <div id="out"></div>"#,
    );
    let browser = Browser::start();
    browser.open(&path);

    browser.type_into("#name", "world");
    browser.click("#go");
    browser.wait_for("out.textContent === 'hello world'", WAIT);
    assert_eq!(browser.eval("return document.title"), json!("clean"));
    assert_eq!(
        browser.eval("return new Promise(done => setTimeout(() => done(6 * 7), 50))"),
        json!(42),
        "a returned Promise is awaited"
    );
    assert_eq!(browser.console_errors(), Vec::<String>::new());
    assert_eq!(browser.alert_open(), None);
}

#[test]
fn sees_an_open_alert() {
    let dir = tempfile::tempdir().unwrap();
    let path = page(
        &dir,
        "alert.html",
        r#"<!doctype html><title>alert</title>
           <script>alert("harness-alert"); document.title = "after";</script>"#,
    );
    let browser = Browser::start();
    browser.open(&path);

    assert_eq!(browser.alert_open().as_deref(), Some("harness-alert"));
    browser.dismiss_alert();
    assert_eq!(browser.alert_open(), None);
    browser.wait_for("document.title === 'after'", WAIT);
}

#[test]
fn enters_a_blob_svg_iframe_and_hears_its_console_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = page(
        &dir,
        "svg.html",
        r##"<!doctype html><title>svg</title><body>
        <script>
          const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="120">
            <rect width="300" height="120" fill="steelblue"/>
            <script>
              console.error("harness-iframe-error");
              document.documentElement.setAttribute("data-ran", "yes");
            <\/script></svg>`;
          const frame = document.createElement("iframe");
          frame.id = "art";
          frame.onload = () => document.body.dataset.frameLoaded = "yes";
          frame.src = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
          document.body.appendChild(frame);
        </script>"##,
    );
    let browser = Browser::start();
    browser.open(&path);
    browser.wait_for("document.body.dataset.frameLoaded === 'yes'", WAIT);

    browser.enter_frame("#art");
    assert_eq!(
        browser.eval("return document.documentElement.getAttribute('data-ran')"),
        json!("yes")
    );
    browser.leave_frame();
    assert_eq!(browser.eval("return document.title"), json!("svg"));

    let errors = browser.console_errors();
    assert!(
        errors.iter().any(|e| e.contains("harness-iframe-error")),
        "{errors:?}"
    );

    let shot = browser::artifact("harness.png");
    let _ = std::fs::remove_file(&shot);
    browser.screenshot(&shot);
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", shot.display());
}

#[test]
fn a_file_page_talks_to_a_blob_iframe_by_post_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = page(
        &dir,
        "messages.html",
        r#"<!doctype html><title>messages</title><body>
        <script>
          const child = `<!doctype html><script>
            addEventListener("message", e => e.source.postMessage("pong:" + e.data, "*"));
            parent.postMessage("ready", "*");
          <\/script>`;
          window.replies = [];
          const frame = document.createElement("iframe");
          addEventListener("message", e => {
            if (e.data === "ready") frame.contentWindow.postMessage("ping", "*");
            else replies.push(e.data);
          });
          frame.src = URL.createObjectURL(new Blob([child], { type: "text/html" }));
          document.body.appendChild(frame);
        </script>"#,
    );
    let browser = Browser::start();
    browser.open(&path);

    browser.wait_for("replies.includes('pong:ping')", WAIT);
    assert_eq!(browser.console_errors(), Vec::<String>::new());
}
