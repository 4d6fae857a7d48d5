//! Who is calling: a user by bearer token, or the admin by the admin token; in a browser,
//! either of them by the session cookie the console's sign-in gave (see `console::session`).
//! A bearer header, when present, decides alone.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use super::console::session::{Principal, principal_of};
use super::error::{ApiError, ErrorCode};
use crate::users::{User, UserError};

/// The token of `Authorization: Bearer <token>`. The scheme is case-insensitive and any
/// amount of whitespace may follow it (RFC 7235).
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim_start();
    let (scheme, token) = value.split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An authenticated user.
pub struct Caller(pub User);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer(parts) {
            // A store that cannot answer is a 500, not a bad token.
            return match state.users.authenticate(token) {
                Ok(Some(user)) => Ok(Caller(user)),
                Ok(None) => Err(ApiError::unauthorized()),
                Err(error) => Err(ApiError::internal(error)),
            };
        }
        match principal_of(parts, state)? {
            // A user removed since signing in is signed out.
            Some(Principal::User(name)) => match state.users.get(&name) {
                Ok(user) => Ok(Caller(user)),
                Err(UserError::NotFound(_)) => Err(ApiError::unauthorized()),
                Err(error) => Err(ApiError::internal(error)),
            },
            Some(Principal::Admin) => Err(ApiError::of(
                ErrorCode::Unauthorized,
                "signed in as the admin: this needs a user's token",
            )),
            None => Err(ApiError::unauthorized()),
        }
    }
}

/// The operator, by the admin token (`TECHPACK_ADMIN_TOKEN`).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = bearer(parts) else {
            return match principal_of(parts, state)? {
                Some(Principal::Admin) => Ok(Admin),
                _ => Err(ApiError::unauthorized()),
            };
        };
        match &state.admin_token {
            Some(expected)
                if crate::users::constant_time_eq(expected.as_bytes(), token.as_bytes()) =>
            {
                Ok(Admin)
            }
            _ => Err(ApiError::unauthorized()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_of(header: &str) -> Option<String> {
        let request = axum::http::Request::builder()
            .header(axum::http::header::AUTHORIZATION, header)
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        bearer(&parts).map(str::to_string)
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_whitespace_after_it_is_free() {
        for header in [
            "Bearer tp_1",
            "bearer tp_1",
            "BEARER tp_1",
            "Bearer   tp_1",
            "bEaReR\t tp_1 ",
        ] {
            assert_eq!(token_of(header).as_deref(), Some("tp_1"), "{header:?}");
        }
        for header in ["Basic tp_1", "Bearer", "Bearer   ", "Bearertp_1", "tp_1"] {
            assert_eq!(token_of(header), None, "{header:?}");
        }
    }
}
