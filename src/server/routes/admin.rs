//! Admin endpoints (admin token, or the admin's console session): list and create users,
//! grant credits.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use techpack_engine::credits::{CreditError, Ledger};

use super::Body;
use crate::server::AppState;
use crate::server::auth::Admin;
use crate::server::error::{ApiError, ErrorCode};
use crate::users::UserError;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 64 letters, digits, `-`, `_` or `.`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    name: String,
    /// Credits granted at once.
    #[serde(default)]
    credits: u64,
}

/// A new user and its token (shown this once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct NewUserAnswer {
    name: String,
    token: String,
    balance: u64,
}

/// A user as the admin sees it: never its token (only its hash is stored).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRow {
    name: String,
    /// Unix milliseconds.
    created_at: u64,
    /// What the user can spend now.
    balance: u64,
    /// Credits held by steps under way.
    reserved: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// By name.
    users: Vec<UserRow>,
}

/// Every user, with its balance (admin token)
#[utoipa::path(get, path = "/api/admin/users", tag = "admin",
    responses(
        (status = 200, description = "every user, by name", body = UserList),
        (status = 401, description = "not the admin (`unauthorized`)")))]
pub async fn list_users(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<UserList>, ApiError> {
    let users = tokio::task::spawn_blocking(move || {
        let ledger = Ledger::new(state.engine.store().as_ref());
        let mut rows = Vec::new();
        for user in state.users.all().map_err(ApiError::internal)? {
            let balance = ledger.balance(&user.name)?;
            rows.push(UserRow {
                name: user.name,
                created_at: user.created_at,
                balance: balance.available,
                reserved: balance.pending,
            });
        }
        Ok::<_, ApiError>(rows)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(UserList { users }))
}

/// Create a user (admin token)
#[utoipa::path(post, path = "/api/admin/users", tag = "admin", request_body = NewUser,
    responses(
        (status = 201, description = "the user, with its token", body = NewUserAnswer),
        (status = 400, description = "not a valid user name (`invalid_input`)"),
        (status = 409, description = "a user with this name exists (`user_exists`)")))]
pub async fn create_user(
    State(state): State<AppState>,
    _: Admin,
    Body(body): Body<NewUser>,
) -> Result<(StatusCode, Json<NewUserAnswer>), ApiError> {
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
        Json(NewUserAnswer {
            name: user.name,
            token,
            balance: body.credits,
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Grant {
    amount: u64,
    /// Makes the grant idempotent (e.g. the payment id).
    #[serde(alias = "operation_id")]
    operation_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Granted {
    name: String,
    /// What the user can spend now.
    balance: u64,
}

/// Grant credits (admin token)
#[utoipa::path(post, path = "/api/admin/users/{name}/credits", tag = "admin",
    params(("name" = String, Path, description = "the user's name")),
    request_body = Grant,
    responses(
        (status = 200, description = "the user's balance after the grant", body = Granted),
        (status = 400, description = "a bad amount (`invalid_input`)"),
        (status = 404, description = "no such user (`not_found`)"),
        (status = 409, description = "this `operationId` was used for another grant (`operation_reused`)")))]
pub async fn grant(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
    Body(body): Body<Grant>,
) -> Result<Json<Granted>, ApiError> {
    state.users.get(&name).map_err(|e| match e {
        UserError::NotFound(_) => ApiError::not_found("user", &name),
        other => ApiError::internal(other),
    })?;
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
    Ok(Json(Granted {
        name,
        balance: balance.available,
    }))
}
