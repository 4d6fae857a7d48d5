//! The web console served by `techpack serve`: one HTML shell for every page path (so a deep
//! link such as `/runs/{id}` works on reload), the embedded ES modules and stylesheet, the
//! browser's sign-in session, and the security headers every answer carries.
//!
//! # Layout
//! - `assets`: the files under `assets/`, embedded in the binary, served under a path named by
//!   the hash of all of them (so they can be cached for a year).
//! - `session`: `POST/GET/DELETE /api/session`: a token in, an `HttpOnly` cookie out.
//! - `headers`: `Content-Security-Policy`, `nosniff`, `frame-ancestors 'none'` on every answer.
//!
//! The pages are plain ES modules run by the browser as they are: no bundler, no Node
//! toolchain, nothing fetched from outside. They use only the public HTTP API.

pub mod assets;
pub mod headers;
pub mod session;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;

/// The page paths the console answers with its shell; the page itself is chosen in the
/// browser from the path.
const PAGES: &[&str] = &[
    "/",
    "/signin",
    "/runs",
    "/runs/{id}",
    "/workflows",
    "/workflows/{name}",
    "/workflows/{name}/edit",
    "/products",
    "/products/{id}",
    "/credits",
    "/logs",
    "/users",
];

pub fn routes() -> Router<AppState> {
    let mut router = Router::new().route("/assets/{version}/{*file}", get(asset));
    for page in PAGES {
        router = router.route(page, get(shell));
    }
    router
}

/// The HTML shell: never cached, so a new binary's assets are picked up at the next load.
async fn shell() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        assets::shell(),
    )
        .into_response()
}

/// An embedded asset of this build; another build's (an old hash) is a 404, never a stale
/// file served under a new name.
async fn asset(Path((version, file)): Path<(String, String)>) -> Result<Response, ApiError> {
    let bundle = assets::bundle();
    let found = (version == bundle.version)
        .then(|| bundle.file(&file))
        .flatten()
        .ok_or_else(|| ApiError::not_found_because("no such console asset"))?;
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(found.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        found.body,
    )
        .into_response())
}
