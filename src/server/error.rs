//! API errors: a status and `{ "error": { "code", "message" } }` a user can read. Details go
//! to the log, never secrets or stack traces to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use techpack_engine::EngineError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds the client should wait before trying again (`Retry-After`), for 503s.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 503 `busy`: the memory budget for image work stayed full; retry after `busy`'s delay.
    pub fn busy(busy: &techpack_steps::work_budget::Busy) -> Self {
        ApiError {
            retry_after: Some(busy.retry_after_secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", busy.to_string())
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} with id `{id}`"),
        )
    }

    /// A 404 whose message says more than "no such id".
    pub fn not_found_because(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <token>` with a valid token",
        )
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, code = self.code, message = %self.message, "request failed");
        }
        let mut response = (
            self.status,
            Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Invalid(diagnostics) => ApiError::bad_request(diagnostics.to_string()),
            EngineError::RunNotFound(id) => ApiError::not_found("run", &id),
            EngineError::RunFinished { .. } | EngineError::RunActive(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            e if techpack_engine::credits::is_insufficient_credits(&e) => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_credits",
                e.to_string(),
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<techpack_steps::storage::StorageError> for ApiError {
    fn from(error: techpack_steps::storage::StorageError) -> Self {
        use techpack_steps::storage::StorageError as E;
        match error {
            E::ProductNotFound(_)
            | E::RevisionNotFound { .. }
            | E::PhotoNotFound(_)
            | E::AnalysisNotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}
