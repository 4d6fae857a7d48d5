//! Who is calling: a user by bearer token, or the admin by the admin token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::users::User;

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// An authenticated user.
pub struct Caller(pub User);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        state
            .users
            .authenticate(token)
            .map(Caller)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The operator, by the admin token (`TECHPACK_ADMIN_TOKEN`).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
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
