//! Health, metrics, the OpenAPI document, and the 404 for unknown paths.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::Value;

use crate::server::AppState;
use crate::server::error::{ApiError, ErrorCode};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` while the server answers.
    status: &'static str,
}

/// Liveness
#[utoipa::path(get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, description = "the server answers", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// This document
#[utoipa::path(get, path = "/api/openapi.json", tag = "system", security(()),
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object)))]
pub async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(crate::server::openapi::document(&state))
}

/// Prometheus metrics
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses((status = 200, description = "the Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4")))]
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
