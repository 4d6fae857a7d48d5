//! The real `techpack serve` on 127.0.0.1:0 for end-to-end tests, with a real HTTP client.
#![allow(dead_code)] // each test file uses its own part of it

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, multipart};
use serde_json::{Value, json};

pub mod cli;

pub const ADMIN: &str = "admin-secret-for-tests";

pub struct Server {
    pub child: Child,
    pub base: String,
    pub client: Client,
    /// The data folder it was started on, for tests that look at what it stored or check
    /// that no answer names it.
    pub data: PathBuf,
    /// Everything the server wrote to stderr, collected by a thread when started with
    /// `Options::capture_stderr` (else stderr goes nowhere).
    stderr: Option<JoinHandle<String>>,
}

/// What a test changes about how the server starts; `Server::start` takes the defaults.
#[derive(Default)]
pub struct Options<'a> {
    /// More `serve` arguments.
    pub args: &'a [&'a str],
    /// More environment variables for the server (`RUST_LOG`, say).
    pub envs: &'a [(&'a str, &'a str)],
    /// Variables the server must not inherit from the test's environment, beyond the
    /// providers' (which it never inherits), so that its defaults hold.
    pub env_remove: &'a [&'a str],
    /// Keep what the server writes to stderr, for `terminate_with_stderr`.
    pub capture_stderr: bool,
}

impl Server {
    pub fn start(data: &Path, workflows: &Path, extra: &[&str]) -> Server {
        Server::start_with(
            data,
            workflows,
            Options {
                args: extra,
                ..Options::default()
            },
        )
    }

    pub fn start_with(data: &Path, workflows: &Path, options: Options) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_techpack"));
        command
            .args(["serve", "--addr", "127.0.0.1:0", "--shutdown-grace", "5s"])
            .arg("--data-dir")
            .arg(data)
            .arg("--workflows-dir")
            .arg(workflows)
            .args(options.args)
            .env("TECHPACK_ADMIN_TOKEN", ADMIN)
            .envs(options.envs.iter().copied())
            .env_remove("TECHPACK_VISION_PROVIDER")
            .env_remove("TECHPACK_IMAGE_PROVIDER")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if options.capture_stderr {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        for name in options.env_remove {
            command.env_remove(name);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            })
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server {
            child,
            base,
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            data: data.to_path_buf(),
            stderr,
        }
    }

    /// `host:port`, for raw connections.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A JSON request; the answer's status and body (as JSON, or as a string if it is not).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.answer(request)
    }

    /// `GET path` as the user of `token`, the response as it came (a file, headers).
    #[allow(dead_code)] // not every test binary downloads files
    pub fn get_as(&self, token: &str, path: &str) -> reqwest::blocking::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .unwrap()
    }

    /// A request to build further (headers, other bodies) and then `answer`.
    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        self.client.request(method.parse().unwrap(), self.url(path))
    }

    /// Sends `request`: the answer's status and body (as JSON, or as a string if it is not).
    pub fn answer(&self, request: RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().unwrap();
        let status = response.status();
        let text = response.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A new user with `credits`; its token.
    pub fn user(&self, name: &str, credits: u64) -> String {
        let (status, body) = self.send(
            "POST",
            "/api/admin/users",
            Some(ADMIN),
            Some(json!({ "name": name, "credits": credits })),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// The token's credit balance.
    pub fn balance(&self, token: &str) -> u64 {
        let (status, body) = self.send("GET", "/api/me/credits", Some(token), None);
        assert_eq!(status, StatusCode::OK, "{body}");
        body["balance"].as_u64().unwrap()
    }

    /// A new product of the token's user, without photos: its id.
    pub fn product(&self, token: &str) -> String {
        let (status, product) = self.send(
            "POST",
            "/api/products",
            Some(token),
            Some(json!({ "name": "tote" })),
        );
        assert_eq!(status, StatusCode::CREATED, "{product}");
        product["id"].as_str().unwrap().to_string()
    }

    /// A new product of the token's user with the sample photo as its front view: the
    /// product's id and the photo's revision id.
    pub fn product_with_photo(&self, token: &str) -> (String, String) {
        let (id, revision) = self.product_with_upload(token);
        (id, revision["revisionId"].as_str().unwrap().to_string())
    }

    /// Like `product_with_photo`, with the whole answer to the upload (the revision).
    pub fn product_with_upload(&self, token: &str) -> (String, Value) {
        let id = self.product(token);
        let (status, revision) = self.upload(
            token,
            &id,
            std::fs::read("workflows/samples/sample-product.png").unwrap(),
            "front",
        );
        assert_eq!(status, StatusCode::CREATED, "{revision}");
        (id, revision)
    }

    pub fn upload(
        &self,
        token: &str,
        product: &str,
        bytes: Vec<u8>,
        view: &str,
    ) -> (StatusCode, Value) {
        let form = multipart::Form::new()
            .part(
                "image",
                multipart::Part::bytes(bytes).file_name("photo.png"),
            )
            .text("view", view.to_string());
        let response = self
            .client
            .post(self.url(&format!("/api/products/{product}/images")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .unwrap();
        let status = response.status();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// Polls a run until `done` holds for its record (60 s at most).
    /// Starts a run of `workflow` with no inputs; its id and the status the trigger answered
    /// (asserting the trigger was accepted).
    pub fn trigger(&self, token: &str, workflow: &str) -> (String, String) {
        let (status, body) = self.send(
            "POST",
            &format!("/api/workflows/{workflow}/runs"),
            Some(token),
            Some(serde_json::json!({ "inputs": {} })),
        );
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        (
            body["runId"].as_str().unwrap().to_string(),
            body["status"].as_str().unwrap().to_string(),
        )
    }

    pub fn wait_for(&self, token: &str, run: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.send("GET", &format!("/api/runs/{run}"), Some(token), None);
            assert_eq!(status, StatusCode::OK, "{body}");
            if done(&body) {
                return body;
            }
            assert!(Instant::now() < deadline, "run never got there: {body}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls a run until it has finished.
    pub fn wait_finished(&self, token: &str, run: &str) -> Value {
        self.wait_for(token, run, |body| {
            matches!(
                body["run"]["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })
    }

    /// Stops the server with SIGKILL, as a crash would, and waits for it.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Stops the server with SIGTERM (a graceful shutdown) and waits for it: how it exited.
    pub fn terminate(mut self) -> ExitStatus {
        self.sigterm()
    }

    /// Like `terminate`, with all the server wrote to stderr (it must have been started with
    /// `Options::capture_stderr`).
    pub fn terminate_with_stderr(mut self) -> (ExitStatus, String) {
        let status = self.sigterm();
        let stderr = self
            .stderr
            .take()
            .expect("started without Options::capture_stderr")
            .join()
            .unwrap();
        (status, stderr)
    }

    fn sigterm(&mut self) -> ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temp dir with `data/` and a `workflows/` folder holding copies of `files` (paths under
/// the repo's `workflows/`).
pub fn dirs(files: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let workflows = dir.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    for file in files {
        std::fs::copy(
            Path::new("workflows").join(file),
            workflows.join(Path::new(file).file_name().unwrap()),
        )
        .unwrap();
    }
    (dir, data, workflows)
}

/// Every file under `dir` with its bytes, to show a folder was left untouched.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The node of `step` in a run view (`GET /api/runs/{id}`).
pub fn node<'a>(body: &'a Value, step: &str) -> &'a Value {
    body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["stepId"] == step)
        .unwrap_or_else(|| panic!("no node {step} in {body}"))
}
