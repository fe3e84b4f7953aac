//! A real headless Chromium for tests of the HTML report. `Browser::start()` spawns
//! `chromedriver` on a free localhost port and opens a WebDriver session through `fantoccini`,
//! whose async client runs on a private current-thread tokio runtime behind blocking methods, so
//! a test reads top to bottom. Every method panics with what it was doing, which is what a test
//! wants. Console errors come over WebDriver BiDi (`log.entryAdded`, `network.fetchError`) on a
//! listener thread: chromedriver's classic browser log (`POST /se/log`) misses everything logged
//! inside a `blob:` iframe, which Chromium runs as an out-of-process frame. JS dialogs are left
//! open (`unhandledPromptBehavior: ignore`) so `alert_open` can see one a hostile input raised.
//! A browser holds `common::heavy_work` while it is open. Included by `tests/live/main.rs` as
//! its module `browser`.
#![allow(dead_code)]

use std::cell::Cell;
use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

const FIX: &str =
    "install them with `apt-get install chromium chromium-driver` (or run `bash .ci/setup`)";
const WINDOW: (u32, u32) = (1400, 1000);
/// Prefix of the `console.debug` line `console_errors` logs to know the listener has caught up.
const FLUSH: &str = "port-advisor-harness-flush:";

pub struct Browser {
    runtime: tokio::runtime::Runtime,
    /// `None` only while `Drop` closes the session.
    client: Option<Client>,
    heard: Arc<Mutex<Heard>>,
    flushes: Cell<u64>,
    driver: Child,
    _profile: tempfile::TempDir,
    /// Chromium loads the CPU: no program whose time is measured runs beside it. Declared
    /// last, so it is let go only once `Drop` has closed the browser.
    _heavy: std::sync::RwLockReadGuard<'static, ()>,
}

/// What the BiDi listener thread has heard since `console_errors` last took it.
#[derive(Default)]
struct Heard {
    errors: Vec<String>,
    flushed: u64,
}

impl Browser {
    pub fn start() -> Browser {
        let heavy = crate::common::heavy_work();
        let driver_bin = on_path(&["chromedriver"])
            .unwrap_or_else(|| panic!("browser tests need chromedriver, not found on PATH: {FIX}"));
        let chromium = on_path(&["chromium", "chromium-browser", "google-chrome"])
            .unwrap_or_else(|| panic!("browser tests need chromium, not found on PATH: {FIX}"));

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cannot build a tokio runtime");
        // chromedriver now and then drops the first session request while Chromium starts
        // on a loaded machine ("SendRequest"): a fresh chromedriver gets two more tries.
        let mut attempt = 0;
        let (driver, client, profile) = loop {
            attempt += 1;
            let profile = tempfile::tempdir().expect("no temp dir for the Chromium profile");
            let mut driver = start_driver(&driver_bin);
            let session = runtime.block_on(
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities(&chromium, profile.path()))
                    .connect(&format!("http://127.0.0.1:{}", driver.1)),
            );
            match session {
                Ok(client) => break (driver.0, client, profile),
                Err(e) => {
                    let _ = driver.0.kill();
                    let _ = driver.0.wait();
                    if attempt == 3 {
                        panic!("chromedriver could not start {}: {e}", chromium.display());
                    }
                }
            }
        };
        let mut browser = Browser {
            runtime,
            client: Some(client),
            heard: Arc::default(),
            flushes: Cell::new(0),
            driver,
            _profile: profile,
            _heavy: heavy,
        };
        // Only now, so a failure here still ends chromedriver and Chromium through `Drop`.
        let bidi = browser
            .client()
            .capabilities()
            .and_then(|c| c.get("webSocketUrl"))
            .and_then(Value::as_str)
            .expect("chromedriver gave no BiDi webSocketUrl")
            .to_owned();
        browser.heard = listen(&bidi);
        browser
    }

    /// Navigates to a local file and waits until it has finished loading. A dialog raised
    /// while loading ends the wait early; see `alert_open`.
    pub fn open(&self, path: &Path) {
        let path = path
            .canonicalize()
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let url = url::Url::from_file_path(&path).expect("canonical paths are absolute");
        if let Err(e) = self.runtime.block_on(self.client().goto(url.as_str())) {
            if !e.is_unexpected_alert_open() {
                panic!("browser: navigating to {url}: {e}");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.try_eval("return document.readyState") {
                Ok(state) if state == "complete" => return,
                Err(e) if e.is_unexpected_alert_open() => return,
                Err(e) => panic!("browser: waiting for {url} to load: {e}"),
                Ok(_) if Instant::now() > deadline => panic!("{url} did not finish loading"),
                Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Runs `js` as a function body in the current frame and returns what it `return`s. A
    /// returned Promise is awaited, so asynchronous checks need no callback style.
    pub fn eval(&self, js: &str) -> Value {
        self.try_eval(js)
            .unwrap_or_else(|e| panic!("browser: script failed: {e}\n  script: {js}"))
    }

    /// Polls the JS expression `js_condition` in the current frame until it is truthy.
    pub fn wait_for(&self, js_condition: &str, timeout: Duration) {
        let script = format!("return !!({js_condition});");
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            match self.try_eval(&script) {
                Ok(Value::Bool(true)) => return,
                Err(e) if e.is_unexpected_alert_open() => {
                    panic!("browser: a JS dialog opened while waiting for `{js_condition}`")
                }
                // Often just "not defined yet": keep polling, and report it on timeout.
                Err(e) => last_error = Some(e),
                Ok(_) => {}
            }
            if Instant::now() > deadline {
                let why = last_error.map(|e| format!(" (last error: {e})"));
                let why = why.unwrap_or_default();
                panic!("browser: `{js_condition}` still not true after {timeout:?}{why}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self, css: &str) {
        let client = self.client();
        self.run(format!("clicking `{css}`"), async {
            client.find(Locator::Css(css)).await?.click().await
        });
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let client = self.client();
        self.run(format!("typing into `{css}`"), async {
            client.find(Locator::Css(css)).await?.send_keys(text).await
        });
    }

    /// Makes the iframe matching `css` the frame later calls act on, until `leave_frame`.
    pub fn enter_frame(&self, css: &str) {
        let client = self.client();
        self.run(format!("entering frame `{css}`"), async {
            client.find(Locator::Css(css)).await?.enter_frame().await
        });
    }

    pub fn leave_frame(&self) {
        self.run("leaving the frame", self.client().enter_parent_frame());
    }

    /// Errors since the last call, from every frame: uncaught exceptions, `console.error`,
    /// and resources that failed to load.
    pub fn console_errors(&self) -> Vec<String> {
        // Events reach the listener thread a moment after they happen; a marker logged now
        // and heard back means everything logged before it has arrived. An open dialog
        // blocks the marker, and then what has arrived is all there is.
        let marker = self.flushes.get() + 1;
        self.flushes.set(marker);
        if self
            .try_eval(&format!("console.debug('{FLUSH}{marker}')"))
            .is_ok()
        {
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.heard.lock().unwrap().flushed < marker {
                if Instant::now() > deadline {
                    panic!("browser: the BiDi log listener stopped hearing the browser");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        std::mem::take(&mut self.heard.lock().unwrap().errors)
    }

    /// The text of the open alert, confirm or prompt dialog, if one is open. Leaves it open.
    pub fn alert_open(&self) -> Option<String> {
        match self.runtime.block_on(self.client().get_alert_text()) {
            Ok(text) => Some(text),
            Err(e) if e.is_no_such_alert() => None,
            Err(e) => panic!("browser: asking for an open dialog: {e}"),
        }
    }

    pub fn dismiss_alert(&self) {
        self.run("dismissing the dialog", self.client().dismiss_alert());
    }

    /// Saves a PNG of the viewport, creating parent directories.
    pub fn screenshot(&self, path: &Path) {
        let png = self.run("taking a screenshot", self.client().screenshot());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the session is open until drop")
    }

    fn try_eval(&self, js: &str) -> Result<Value, CmdError> {
        self.runtime.block_on(self.client().execute(js, Vec::new()))
    }

    fn run<T>(
        &self,
        what: impl std::fmt::Display,
        step: impl Future<Output = Result<T, CmdError>>,
    ) -> T {
        self.runtime
            .block_on(step)
            .unwrap_or_else(|e| panic!("browser: {what}: {e}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Deleting the session makes chromedriver quit Chromium; bounded so a wedged driver
            // cannot hang a test that is already failing.
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where tests keep screenshots and other evidence: `target/browser-artifacts/<name>`.
pub fn artifact(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is target/tmp")
        .join("browser-artifacts")
        .join(name)
}

/// Subscribes to the session's BiDi log and network errors for all frames, and keeps hearing
/// them on a thread that ends when chromedriver closes the socket.
fn listen(url: &str) -> Arc<Mutex<Heard>> {
    use tungstenite::Message;

    let (mut socket, _) = tungstenite::connect(url)
        .unwrap_or_else(|e| panic!("browser: connecting to BiDi at {url}: {e}"));
    let subscribe = json!({
        "id": 1,
        "method": "session.subscribe",
        "params": { "events": ["log.entryAdded", "network.fetchError"] },
    });
    socket
        .send(Message::text(subscribe.to_string()))
        .expect("browser: sending the BiDi subscription");
    let heard = Arc::new(Mutex::new(Heard::default()));
    // Wait for the subscription to hold, so nothing the first page does goes unheard.
    loop {
        let reply = read_json(&mut socket).expect("browser: BiDi closed while subscribing");
        if reply["id"] == 1 {
            assert_eq!(
                reply["type"], "success",
                "browser: BiDi subscription: {reply}"
            );
            break;
        }
        hear(&heard, &reply);
    }
    let shared = Arc::clone(&heard);
    std::thread::spawn(move || {
        while let Some(event) = read_json(&mut socket) {
            hear(&shared, &event);
        }
    });
    heard
}

fn read_json(
    socket: &mut tungstenite::WebSocket<impl std::io::Read + std::io::Write>,
) -> Option<Value> {
    loop {
        match socket.read().ok()? {
            tungstenite::Message::Text(text) => return serde_json::from_str(&text).ok(),
            tungstenite::Message::Close(_) => return None,
            _ => {}
        }
    }
}

fn hear(heard: &Mutex<Heard>, event: &Value) {
    let params = &event["params"];
    let mut heard = heard.lock().unwrap();
    match event["method"].as_str() {
        Some("log.entryAdded") => {
            let text = params["text"].as_str().unwrap_or_default();
            if let Some(marker) = text.strip_prefix(FLUSH) {
                heard.flushed = heard.flushed.max(marker.parse().unwrap_or(0));
            } else if params["level"] == "error" {
                let frame = &params["stackTrace"]["callFrames"][0];
                // BiDi counts lines from 0.
                let line = frame["lineNumber"].as_u64().map_or(0, |n| n + 1);
                let url = frame["url"].as_str().unwrap_or_default();
                heard.errors.push(format!("{url}:{line}: {text}"));
            }
        }
        Some("network.fetchError") => heard.errors.push(format!(
            "{}: failed to load: {}",
            params["request"]["url"].as_str().unwrap_or_default(),
            params["errorText"].as_str().unwrap_or_default(),
        )),
        _ => {}
    }
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Starts chromedriver on a free localhost port and waits until it listens.
fn start_driver(driver_bin: &std::path::Path) -> (Child, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free localhost port for chromedriver")
        .port();
    let mut driver = Command::new(driver_bin)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", driver_bin.display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = driver.try_wait() {
            panic!("chromedriver exited at start ({status}): {FIX}");
        }
        if Instant::now() > deadline {
            let _ = driver.kill();
            panic!("chromedriver did not listen on port {port} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (driver, port)
}

/// The session's capabilities: headless Chromium with a fresh profile, BiDi for the console.
fn capabilities(
    chromium: &std::path::Path,
    profile: &std::path::Path,
) -> serde_json::Map<String, Value> {
    let capabilities = json!({
        "browserName": "chrome",
        "webSocketUrl": true,
        // The default would dismiss a dialog on the next command and hide a hostile
        // input's `alert()` from `alert_open`.
        "unhandledPromptBehavior": "ignore",
        "timeouts": { "pageLoad": 30_000, "script": 30_000 },
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                format!("--user-data-dir={}", profile.display()),
                format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            ],
        },
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!("a json! object")
    };
    capabilities
}
