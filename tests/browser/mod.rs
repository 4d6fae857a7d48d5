//! Debian's Chromium driven over WebDriver (chromedriver), for the console's browser tests.
//!
//! WebDriver is a handful of JSON requests; this speaks them with the blocking `reqwest`
//! client the other end-to-end tests already use, rather than adding an async WebDriver crate
//! and its dependency tree. Without Chromium the tests print a loud notice and pass, unless
//! `TECHPACK_REQUIRE_BROWSER=1` (CI), where a missing browser fails them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Chromium and its driver, if installed; otherwise `None` after a loud notice (or a panic
/// when the browser is required).
pub fn available(test: &str) -> Option<(PathBuf, PathBuf)> {
    let browser = find_program(&["chromium", "chromium-browser"]);
    let driver = find_program(&["chromedriver"]);
    match (browser, driver) {
        (Some(browser), Some(driver)) => Some((browser, driver)),
        _ => {
            if std::env::var("TECHPACK_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!(
                    "{test}: chromium and chromedriver are required (TECHPACK_REQUIRE_BROWSER=1): apt-get install chromium chromium-driver"
                );
            }
            eprintln!(
                "\n=== SKIPPED {test}: chromium or chromedriver not found (apt-get install chromium chromium-driver); set TECHPACK_REQUIRE_BROWSER=1 to make this a failure ===\n"
            );
            None
        }
    }
}

/// A headless Chromium session: the driver process, the browser it started and the session.
pub struct Browser {
    driver: Child,
    base: String,
    client: Client,
    session: String,
    /// Kept until the browser is gone: its profile.
    _profile: tempfile::TempDir,
}

/// A found element.
#[derive(Clone)]
pub struct Element(String);

impl Browser {
    pub fn start(browser: &Path, driver: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let started = Instant::now();
        while client
            .get(format!("{base}/status"))
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .is_none_or(|status| status["value"]["ready"] != true)
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let answer: Value = client
            .post(format!("{base}/session"))
            .json(&json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": browser, "args": args },
                "goog:loggingPrefs": { "browser": "ALL" },
            } } }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_string();
        Browser {
            driver,
            base,
            client,
            session,
            _profile: profile,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.client.request(method.parse().unwrap(), url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().unwrap().json().unwrap();
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!(
                "WebDriver {method} {path}: {error}: {}",
                answer["value"]["message"]
            );
        }
        answer["value"].clone()
    }

    pub fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page: its result.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Waits until `script` returns something truthy (what a person would wait to see);
    /// returns it. Panics after `timeout` with `what`.
    pub fn wait(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.run(script, json!([]));
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            if started.elapsed() > timeout {
                self.screenshot(&format!("timeout-{}", what.replace(' ', "-")));
                panic!(
                    "waited {timeout:?} for {what}; the page says: {}",
                    self.text("main")
                );
            }
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    /// Waits for an element matching `css` and returns it.
    pub fn find(&self, css: &str) -> Element {
        self.wait(
            &format!("`{css}`"),
            Duration::from_secs(15),
            &format!("return document.querySelector({}) !== null", json!(css)),
        );
        let found = self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        Element(
            found[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("no element in {found}"))
                .to_string(),
        )
    }

    /// The visible text of the first element matching `css` ("" if there is none).
    pub fn text(&self, css: &str) -> String {
        self.run(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    pub fn click(&self, element: &Element) {
        self.call(
            "POST",
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        );
    }

    /// Types `text` into the element, as keys.
    pub fn type_into(&self, element: &Element, text: &str) {
        self.call(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        );
    }

    pub fn clear(&self, element: &Element) {
        self.call(
            "POST",
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        );
    }

    /// What the page logged as errors since the last call (CSP violations, failed loads,
    /// uncaught exceptions), from Chromium's console.
    pub fn console_errors(&self) -> Vec<String> {
        let entries = self.call("POST", "/se/log", Some(json!({ "type": "browser" })));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Saves a PNG of the window as `target/screenshots/{name}.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap_or_default();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .client
            .delete(format!("{}/session/{}", self.base, self.session))
            .send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
