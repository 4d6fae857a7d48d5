//! The caller's own credits (balance and ledger history), AI operation log and webhook
//! secret.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use techpack_engine::credits::Ledger;

use super::Params;
use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::views::{AiOperationView, LedgerEntryView};

pub async fn credits(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    let ledger = Ledger::new(state.engine.store().as_ref());
    let balance = ledger.balance(&user.name)?;
    let entries = ledger.entries(&user.name)?;
    let history: Vec<LedgerEntryView> = entries.iter().map(LedgerEntryView::from).collect();
    Ok(Json(json!({
        "user": user.name,
        "balance": balance.available,
        "reserved": balance.pending,
        "spent": balance.posted,
        "granted": balance.granted,
        "history": history,
    })))
}

/// `POST /api/me/webhook-secret`: a new secret for the caller's completion callbacks,
/// replacing the previous one (callbacks sent from now on are signed with it). Answered this
/// once; the server keeps it only to sign.
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let users = state.users.clone();
    let secret = tokio::task::spawn_blocking(move || users.rotate_webhook_secret(&user.name))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(json!({ "secret": secret }))))
}

/// `GET /api/logs?run=ID`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Only the operations of this run (one of the caller's).
    run: Option<String>,
}

pub async fn logs(
    State(state): State<AppState>,
    Caller(user): Caller,
    Params(query): Params<LogsQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(run) = &query.run {
        // Another user's run is an unknown one.
        super::runs::owned_report(&state, &user.name, run)?;
    }
    let operations = state
        .services
        .catalog
        .ai_log
        .list(query.run.as_deref(), Some(&user.name))?;
    let operations: Vec<AiOperationView> = operations.iter().map(AiOperationView::from).collect();
    Ok(Json(json!({ "operations": operations })))
}
