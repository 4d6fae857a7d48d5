//! The caller's own credits (balance and ledger history) and AI operation log.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use techpack_engine::credits::Ledger;

use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;

pub async fn credits(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    let ledger = Ledger::new(state.engine.store().as_ref());
    let balance = ledger.balance(&user.name)?;
    let entries = ledger.entries(&user.name)?;
    Ok(Json(json!({
        "user": user.name,
        "balance": balance.available,
        "reserved": balance.pending,
        "spent": balance.posted,
        "granted": balance.granted,
        "history": entries,
    })))
}

pub async fn logs(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    let operations = state.services.catalog.ai_log.list(None, Some(&user.name))?;
    Ok(Json(json!({ "operations": operations })))
}
