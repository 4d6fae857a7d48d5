//! The real `techpack serve` on 127.0.0.1:0 for end-to-end tests, with a real HTTP client.
#![allow(dead_code)] // each test file uses its own part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::{Client, multipart};
use serde_json::{Value, json};

pub const ADMIN: &str = "admin-secret-for-tests";

pub struct Server {
    pub child: Child,
    pub base: String,
    pub client: Client,
}

impl Server {
    pub fn start(data: &Path, workflows: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_techpack"))
            .args(["serve", "--addr", "127.0.0.1:0", "--shutdown-grace", "5s"])
            .arg("--data-dir")
            .arg(data)
            .arg("--workflows-dir")
            .arg(workflows)
            .args(extra)
            .env("TECHPACK_ADMIN_TOKEN", ADMIN)
            .env_remove("TECHPACK_VISION_PROVIDER")
            .env_remove("TECHPACK_IMAGE_PROVIDER")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
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
        }
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
        let mut request = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
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

    /// A new product of the token's user with the sample photo as its front view: the
    /// product's id and the photo's revision id.
    pub fn product_with_photo(&self, token: &str) -> (String, String) {
        let (status, product) = self.send(
            "POST",
            "/api/products",
            Some(token),
            Some(json!({ "name": "tote" })),
        );
        assert_eq!(status, StatusCode::CREATED, "{product}");
        let id = product["id"].as_str().unwrap().to_string();
        let (status, revision) = self.upload(
            token,
            &id,
            std::fs::read("workflows/samples/sample-product.png").unwrap(),
            "front",
        );
        assert_eq!(status, StatusCode::CREATED, "{revision}");
        (id, revision["revisionId"].as_str().unwrap().to_string())
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

    /// Polls a run until `done` holds for its record (30 s at most).
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
