//! The browser's sign-in: `POST /api/session {token}` checks a user's (or the admin's) token
//! and answers with a session cookie; the token itself is kept nowhere, not even hashed.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page
//! sends it) and `Secure` when the page was served over TLS. On top of that, a request that
//! changes state and is signed in by the cookie must come from this origin (`Origin`), so a
//! cookie never acts for another site. Sessions are kept in the store (`crate::sessions`), so
//! every worker on one database knows them, and signing out ends one on all of them.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::server::AppState;
use crate::server::error::{ApiError, ErrorCode};
use crate::server::routes::Body;
use crate::sessions::LIFETIME;
pub use crate::sessions::Principal;

/// The cookie's name.
pub const COOKIE: &str = "techpack_session";

/// The session id of the request's cookie, if it has one.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then_some(value)
        })
}

/// Whether the request's `Origin` is this server (as the browser reached it, by `Host`).
fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => {
            origin.strip_prefix("http://") == Some(host)
                || origin.strip_prefix("https://") == Some(host)
        }
        _ => false,
    }
}

fn cross_origin() -> ApiError {
    ApiError::of(
        ErrorCode::CrossOrigin,
        "a request that changes something and is signed in by the session cookie must come from this server's own pages",
    )
}

/// Who the request's session cookie signed in (`None`: no cookie). A cookie whose session
/// is over is 401; a cookie on a request that changes state from another origin is 403.
pub fn principal_of(parts: &Parts, state: &AppState) -> Result<Option<Principal>, ApiError> {
    let Some(id) = cookie(&parts.headers) else {
        return Ok(None);
    };
    let principal = state
        .sessions
        .principal(id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::of(
                ErrorCode::Unauthorized,
                "the session has ended; sign in again",
            )
        })?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !same_origin(&parts.headers) {
        return Err(cross_origin());
    }
    Ok(Some(principal))
}

fn set_cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .expect("a session cookie is a valid header")
}

/// Whether the browser reached us over TLS (directly, or through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    let says = |name: &str, prefix: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(prefix))
    };
    says("origin", "https://") || says("x-forwarded-proto", "https")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// A user's token or the admin token.
    token: String,
}

/// Who a session signed in: a user by name, or the admin.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    user: Option<String>,
    admin: bool,
}

fn whoami(principal: &Principal) -> Json<WhoAmI> {
    Json(match principal {
        Principal::User(name) => WhoAmI {
            user: Some(name.clone()),
            admin: false,
        },
        Principal::Admin => WhoAmI {
            user: None,
            admin: true,
        },
    })
}

/// Sign in with a user's token or the admin token
///
/// Sets an `HttpOnly`, `SameSite=Strict` session cookie.
#[utoipa::path(post, path = "/api/session", tag = "console", security(()), request_body = SignIn,
    responses(
        (status = 200, description = "signed in; the cookie is set", body = WhoAmI),
        (status = 401, description = "not a valid token (`unauthorized`)"),
        (status = 403, description = "asked from a page of another origin (`cross_origin`)")))]
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<SignIn>,
) -> Result<Response, ApiError> {
    // A page of another site must not sign the browser in (login CSRF); programs send no
    // `Origin` at all.
    if headers.contains_key(header::ORIGIN) && !same_origin(&headers) {
        return Err(cross_origin());
    }
    let token = body.token.trim();
    let is_admin = state
        .admin_token
        .as_ref()
        .is_some_and(|admin| crate::users::constant_time_eq(admin.as_bytes(), token.as_bytes()));
    let principal = if is_admin {
        Principal::Admin
    } else {
        let user = state
            .users
            .authenticate(token)
            .map_err(ApiError::internal)?;
        let user = user.ok_or_else(|| {
            ApiError::of(
                ErrorCode::Unauthorized,
                "this token is not valid: use a token from `techpack users create` or the admin token",
            )
        })?;
        Principal::User(user.name)
    };
    let id = state
        .sessions
        .start(principal.clone())
        .map_err(ApiError::internal)?;
    let cookie = set_cookie(&id, LIFETIME.as_secs(), over_tls(&headers));
    Ok((
        StatusCode::OK,
        [(header::SET_COOKIE, cookie)],
        whoami(&principal),
    )
        .into_response())
}

/// Who the session cookie signed in
#[utoipa::path(get, path = "/api/session", tag = "console", security(("session" = [])),
    responses(
        (status = 200, description = "who is signed in", body = WhoAmI),
        (status = 401, description = "not signed in (`unauthorized`)")))]
pub async fn show(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    match principal_of(&parts, &state)? {
        Some(principal) => Ok(whoami(&principal).into_response()),
        None => Err(ApiError::of(ErrorCode::Unauthorized, "not signed in")),
    }
}

/// Sign out: ends the session and clears its cookie
///
/// 204 even when there was none, so signing out twice is fine.
#[utoipa::path(delete, path = "/api/session", tag = "console", security(()),
    responses(
        (status = 204, description = "signed out; the cookie is cleared"),
        (status = 403, description = "asked from a page of another origin (`cross_origin`)")))]
pub async fn sign_out(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    if let Some(id) = cookie(&parts.headers) {
        if !same_origin(&parts.headers) {
            return Err(cross_origin());
        }
        state.sessions.end(id).map_err(ApiError::internal)?;
    }
    let cookie = set_cookie("", 0, over_tls(&parts.headers));
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "a=1; techpack_session=abc; b=2")]);
        assert_eq!(cookie(&map), Some("abc"));
        assert_eq!(cookie(&headers(&[("cookie", "techpack_session=")])), None);
        assert_eq!(
            cookie(&headers(&[("cookie", "xtechpack_session=abc")])),
            None
        );
    }

    #[test]
    fn only_this_servers_origin_is_the_same_origin() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!same_origin(&headers(&[host])));
    }
}
