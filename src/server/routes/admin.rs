//! Admin endpoints (admin token): create users, grant credits.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use techpack_engine::credits::{CreditError, Ledger};

use super::Body;
use crate::server::AppState;
use crate::server::auth::Admin;
use crate::server::error::{ApiError, ErrorCode};
use crate::users::UserError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    #[serde(default)]
    credits: u64,
}

pub async fn create_user(
    State(state): State<AppState>,
    _: Admin,
    Body(body): Body<NewUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (user, token) = state.users.create(&body.name).map_err(|e| match e {
        UserError::Exists(_) => ApiError::of(ErrorCode::UserExists, e.to_string()),
        UserError::BadName(_) => ApiError::bad_request(e.to_string()),
        other => ApiError::internal(other),
    })?;
    let ledger = Ledger::new(state.engine.store().as_ref());
    if body.credits > 0 {
        ledger.grant(
            &user.name,
            body.credits,
            &format!("create-user:{}", user.id),
        )?;
    }
    // The token is shown once: the user is on disk before it is.
    state.engine.durable().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": user.name, "token": token, "balance": body.credits })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Grant {
    amount: u64,
    /// Makes the grant idempotent (e.g. the payment id).
    #[serde(alias = "operation_id")]
    operation_id: String,
}

pub async fn grant(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
    Body(body): Body<Grant>,
) -> Result<Json<Value>, ApiError> {
    state
        .users
        .get(&name)
        .map_err(|_| ApiError::not_found("user", &name))?;
    let ledger = Ledger::new(state.engine.store().as_ref());
    let balance = ledger
        .grant(&name, body.amount, &body.operation_id)
        .map_err(|e| match CreditError::of(&e) {
            Some(CreditError::CreditOperationReused { .. }) => {
                ApiError::of(ErrorCode::OperationReused, e.to_string())
            }
            Some(CreditError::InvalidCreditRequest { .. }) => ApiError::bad_request(e.to_string()),
            _ => e.into(),
        })?;
    Ok(Json(json!({ "name": name, "balance": balance.available })))
}
