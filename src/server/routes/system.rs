//! Health, metrics, the OpenAPI document, and the 404 for unknown paths.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::server::AppState;
use crate::server::error::{ApiError, ErrorCode};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn openapi() -> Json<Value> {
    Json(crate::server::openapi::document())
}

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let text = tokio::task::spawn_blocking(move || crate::server::metrics::render(&state))
        .await
        .map_err(ApiError::internal)??;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

pub async fn not_found() -> ApiError {
    ApiError::of(
        ErrorCode::NotFound,
        "no such endpoint; see /api/openapi.json",
    )
}
