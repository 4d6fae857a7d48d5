//! The caller's own credits (balance and ledger history), AI operation log and webhook
//! secret.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use techpack_engine::credits::Ledger;

use super::Params;
use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::views::{AiOperationView, LedgerEntryView};

/// The caller's credits.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Credits<'a> {
    user: String,
    /// What the caller can spend now.
    balance: u64,
    /// Held for steps that are running.
    reserved: u64,
    spent: u64,
    granted: u64,
    /// Every ledger entry, oldest first.
    history: Vec<LedgerEntryView<'a>>,
}

/// Balance and ledger history
#[utoipa::path(get, path = "/api/me/credits", tag = "me",
    responses((status = 200, description = "the caller's credits", body = Credits)))]
pub async fn credits(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ledger = Ledger::new(state.engine.store().as_ref());
    let balance = ledger.balance(&user.name)?;
    let entries = ledger.entries(&user.name)?;
    Ok(Json(serde_json::json!(Credits {
        user: user.name,
        balance: balance.available,
        reserved: balance.pending,
        spent: balance.posted,
        granted: balance.granted,
        history: entries.iter().map(LedgerEntryView::from).collect(),
    })))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookSecret {
    /// `whsec_…`: keep it; it is not shown again.
    secret: String,
}

/// Create or rotate the caller's webhook secret
///
/// A new secret for the caller's completion callbacks, replacing the previous one
/// (callbacks sent from now on are signed with it). Answered this once; the server keeps it
/// only to sign.
#[utoipa::path(post, path = "/api/me/webhook-secret", tag = "me",
    responses((status = 201, description = "the new secret", body = WebhookSecret)))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<(StatusCode, Json<WebhookSecret>), ApiError> {
    let users = state.users.clone();
    let secret = tokio::task::spawn_blocking(move || users.rotate_webhook_secret(&user.name))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(WebhookSecret { secret })))
}

/// `GET /api/logs?run=ID`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Only the operations of this run (one of the caller's).
    run: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Operations<'a> {
    operations: Vec<AiOperationView<'a>>,
}

/// The caller's AI operation log (of one run with `?run=ID`; an unknown parameter is a 400)
#[utoipa::path(get, path = "/api/logs", tag = "me", params(LogsQuery),
    responses(
        (status = 200, description = "every provider call of the caller's runs", body = Operations),
        (status = 404, description = "no such run of the caller's (`not_found`)")))]
pub async fn logs(
    State(state): State<AppState>,
    Caller(user): Caller,
    Params(query): Params<LogsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(run) = &query.run {
        // Another user's run is an unknown one.
        super::runs::owned_report(&state, &user.name, run)?;
    }
    let operations = state
        .services
        .catalog
        .ai_log
        .list(query.run.as_deref(), Some(&user.name))?;
    Ok(Json(serde_json::json!(Operations {
        operations: operations.iter().map(AiOperationView::from).collect(),
    })))
}
