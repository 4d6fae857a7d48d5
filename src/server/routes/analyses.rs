//! `GET /api/products/{id}/analyses`: a product's tech packs (analyses), each with the edits
//! made to it, so a client can edit the newest one (`POST /api/tech-pack-v2/edit`) and show
//! what changed.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::Value;
use techpack_steps::storage::{AnalysisRecord, EditRecord};

use super::products::owned;
use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Analyses {
    /// Oldest first; the last is the one the product's page and exports show.
    analyses: Vec<AnalysisView>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisView {
    /// For `GET /api/products/{id}/tech-pack?analysis=` and `POST /api/tech-pack-v2/edit`.
    id: String,
    revision_ids: Vec<String>,
    provider: String,
    model: String,
    created_at: u64,
    updated_at: u64,
    /// Its edits, oldest first.
    edits: Vec<EditView>,
}

/// One edit of one field: what it was and what it became.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditView {
    /// The field, as a JSON pointer into the tech pack (`/bill_of_materials/0/material/value`).
    path: String,
    #[schema(value_type = Object)]
    old_value: Value,
    #[schema(value_type = Object)]
    new_value: Value,
    /// The instruction a vision model applied, when the value was not given.
    instruction: Option<String>,
    /// `given` for a value a person typed, else the provider that made it.
    provider: String,
    /// Unix milliseconds.
    at: u64,
}

impl From<EditRecord> for EditView {
    fn from(edit: EditRecord) -> Self {
        EditView {
            path: edit.path,
            old_value: edit.old_value,
            new_value: edit.new_value,
            instruction: edit.instruction,
            provider: edit.provider,
            at: edit.at,
        }
    }
}

impl From<AnalysisRecord> for AnalysisView {
    fn from(analysis: AnalysisRecord) -> Self {
        AnalysisView {
            id: analysis.id,
            revision_ids: analysis.revision_ids,
            provider: analysis.provider,
            model: analysis.model,
            created_at: analysis.created_at,
            updated_at: analysis.updated_at,
            edits: analysis.history.into_iter().map(EditView::from).collect(),
        }
    }
}

/// A product's tech packs, each with its edits
#[utoipa::path(get, path = "/api/products/{id}/analyses", tag = "tech pack",
    params(("id" = String, Path, description = "the product's id")),
    responses(
        (status = 200, description = "the product's analyses, oldest first", body = Analyses),
        (status = 404, description = "no such product of the caller's (`not_found`)")))]
pub async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Analyses>, ApiError> {
    let analyses = tokio::task::spawn_blocking(move || {
        owned(&state, &user.name, &id)?;
        Ok::<_, ApiError>(state.services.catalog.analyses_of(&id)?)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(Analyses {
        analyses: analyses.into_iter().map(AnalysisView::from).collect(),
    }))
}
