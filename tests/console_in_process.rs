//! The console's shell and assets, asked of the HTTP API in-process: `app(state)` called with
//! tower's `oneshot`, no socket and no child process (what is asserted is the router's
//! answers, not a process's). The same store and engine as `techpack serve` opens.

use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use techpack::args::DataDir;
use techpack::server::callbacks::CallbackPolicy;
use techpack::server::{ApiOptions, AppState, app};
use techpack::wiring::{EngineOptions, open_engine};
use tower::ServiceExt;

/// An API over a fresh data directory, with an empty workflows folder.
fn state(dir: &tempfile::TempDir) -> AppState {
    let workflows = dir.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    let opened = open_engine(
        &DataDir::at(dir.path().join("data")),
        EngineOptions::default(),
    )
    .unwrap();
    AppState::new(
        opened,
        ApiOptions {
            workflows_dir: workflows,
            admin_token: None,
            max_body: 1 << 20,
            request_timeout: Duration::from_secs(30),
            callbacks: CallbackPolicy::new(Vec::new(), false),
        },
    )
}

/// `GET path`: the status, the headers and the body as text.
async fn get(state: &AppState, path: &str) -> (StatusCode, HeaderMap, String) {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The asset URLs the HTML shell names.
fn shell_assets(shell: &str) -> Vec<String> {
    shell
        .split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_page_path_answers_the_uncached_shell_with_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    for path in [
        "/",
        "/signin",
        "/runs",
        "/runs/run_123",
        "/workflows/three-steps",
        "/workflows/x/edit",
        "/products/p1",
        "/credits",
        "/logs",
    ] {
        let (status, headers, shell) = get(&state, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
        assert_eq!(headers[CACHE_CONTROL], "no-store", "{path}");
        let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        let script_src = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert_eq!(script_src.trim(), "script-src 'self'", "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(shell.contains("<main id=\"main\""), "{path}");
    }
    // The API keeps answering JSON, with nosniff too.
    let (status, headers, _) = get(&state, "/api/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn assets_are_named_by_their_hash_cached_for_a_year_and_small() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(&dir);
    let (_, _, shell) = get(&state, "/runs").await;
    let assets = shell_assets(&shell);
    assert_eq!(assets.len(), 2, "{assets:?}");
    let version = assets[0].split('/').nth(2).unwrap().to_string();
    assert_eq!(version.len(), 16);
    // What a first load fetches: the shell, the stylesheet, the entry module and what it
    // imports, and the sign-in page.
    let mut first_load = shell.len();
    for file in ["app.css", "app.js", "api.js", "dom.js", "pages/signin.js"] {
        let (status, headers, body) = get(&state, &format!("/assets/{version}/{file}")).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert_eq!(
            headers[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let kind = headers[CONTENT_TYPE].to_str().unwrap();
        assert!(
            kind.starts_with(if file.ends_with(".css") {
                "text/css"
            } else {
                "text/javascript"
            }),
            "{file}: {kind}"
        );
        assert!(!body.contains("innerHTML"), "{file} parses HTML");
        first_load += body.len();
    }
    println!("console first load: {first_load} bytes uncompressed");
    assert!(first_load <= 200 * 1024, "first load is {first_load} bytes");
    // Another build's assets, or a path outside them, are not served.
    for path in [
        "/assets/0123456789abcdef/app.js".to_string(),
        format!("/assets/{version}/nope.js"),
        format!("/assets/{version}/../Cargo.toml"),
    ] {
        let (status, _, body) = get(&state, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
}
