//! The endpoints, one file per group.

pub mod admin;
pub mod analyses;
pub mod exports;
pub mod me;
pub mod node_logs;
pub mod products;
pub mod run_list;
pub mod runs;
pub mod system;
pub mod tech_pack;
pub mod workflows;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query};
use axum::http::request::Parts;

use super::error::{ApiError, ErrorCode};

/// A JSON body whose rejection is our 400 with serde's message (which names the field).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::bad_request(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::bad_request(format!(
                "the body is not valid JSON: {}",
                e.body_text()
            ))),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::bad_request(
                "send the body as JSON with `Content-Type: application/json`",
            )),
            // Over the body limit (413), or the body could not be read.
            Err(other) => Err(ApiError::new(
                other.status(),
                ErrorCode::for_status(other.status()),
                other.body_text(),
            )),
        }
    }
}

/// A query string whose rejection (an unknown or malformed parameter) is our 400 with
/// serde's message.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Params(value))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}
