//! `GET /api/runs`: the caller's runs, newest first, filtered, a page at a time (a store
//! query, never a read of every run), each with what it cost.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use techpack_engine::credits::{EntryKind, Ledger};
use techpack_engine::store::RunQuery;
use techpack_engine::{RunRecord, RunStatus};

use super::Params;
use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;

/// `?status=&workflow=&q=&limit=&before=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only runs in this status (`pending`, `queued`, `running`, `succeeded`, `failed`,
    /// `cancelled`).
    #[param(value_type = Option<String>)]
    status: Option<RunStatus>,
    /// Only runs of this workflow (by name).
    workflow: Option<String>,
    /// Only runs whose id contains this text.
    q: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The next page: the `next` of the page before (only runs older than that one).
    before: Option<String>,
}

/// Credits a run moved: charged (posted), returned (voided or expired) and still held.
#[derive(Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunCredits {
    charged: u64,
    refunded: u64,
    reserved: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunRow<'a> {
    id: &'a str,
    workflow_name: &'a str,
    workflow_version: &'a str,
    status: &'static str,
    created_at: u64,
    started_at: Option<u64>,
    finished_at: Option<u64>,
    error: Option<&'a str>,
    parent_run_id: Option<&'a str>,
    credits: RunCredits,
    /// The product the run is about and the uploaded photo to show for it (the front one
    /// when there is one), read from its `images` input.
    photo: Option<Photo>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Photo {
    product_id: String,
    revision_id: String,
    image_hash: String,
}

/// Credits by run, from the caller's ledger.
pub fn credits_by_run(
    state: &AppState,
    user: &str,
) -> Result<HashMap<String, RunCredits>, ApiError> {
    let ledger = Ledger::new(state.engine.store().as_ref());
    let mut by_run: HashMap<String, RunCredits> = HashMap::new();
    for entry in ledger.entries(user)? {
        let Some(run) = entry.run_id else { continue };
        let credits = by_run.entry(run).or_default();
        match entry.kind {
            EntryKind::Reserve => credits.reserved += entry.amount,
            EntryKind::Post => {
                credits.charged += entry.amount;
                credits.reserved = credits.reserved.saturating_sub(entry.amount);
            }
            EntryKind::Void | EntryKind::Expire => {
                credits.refunded += entry.amount;
                credits.reserved = credits.reserved.saturating_sub(entry.amount);
            }
            EntryKind::Grant | EntryKind::Renew => {}
        }
    }
    Ok(by_run)
}

/// The first uploaded photo of a run's inputs, the front one first.
fn photo_of(state: &AppState, run: &RunRecord) -> Option<Photo> {
    let photos: Vec<&Value> = run
        .inputs
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter(|photo| photo.get("revisionId").is_some())
        .collect();
    let chosen = photos
        .iter()
        .find(|photo| photo.get("view").and_then(Value::as_str) == Some("front"))
        .or(photos.first())?;
    let revision_id = chosen.get("revisionId")?.as_str()?;
    let revision = state.services.catalog.revision_by_id(revision_id).ok()?;
    Some(Photo {
        product_id: revision.product_id,
        revision_id: revision.id,
        image_hash: revision.image_hash,
    })
}

/// A page of the caller's runs, newest first, filtered, with what each cost.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunsPage<'a> {
    runs: Vec<RunRow<'a>>,
    /// Pass as `before` for the next page; absent on the last page.
    next: Option<String>,
}

/// The caller's runs, newest first, a page at a time, each with the credits it moved
#[utoipa::path(get, path = "/api/runs", tag = "runs", params(RunsQuery),
    responses(
        (status = 200, description = "a page of runs", body = RunsPage),
        (status = 400, description = "an unknown status or parameter (`invalid_input`)")))]
pub async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
    Params(query): Params<RunsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let body = tokio::task::spawn_blocking(move || {
        // One more than the page, to know whether another follows.
        let mut runs = state.engine.store().runs_page(&RunQuery {
            owner: Some(user.name.clone()),
            status: query.status,
            workflow: query.workflow,
            id_contains: query
                .q
                .map(|q| q.trim().to_string())
                .filter(|q| !q.is_empty()),
            before: query.before,
            limit: limit + 1,
        })?;
        let next = (runs.len() > limit).then(|| {
            runs.truncate(limit);
            runs[limit - 1].id.clone()
        });
        let mut credits = if runs.is_empty() {
            HashMap::new()
        } else {
            credits_by_run(&state, &user.name)?
        };
        let rows: Vec<RunRow> = runs
            .iter()
            .map(|run| RunRow {
                id: &run.id,
                workflow_name: &run.workflow_name,
                workflow_version: &run.workflow_version,
                status: run.status.as_str(),
                created_at: run.created_at,
                started_at: run.started_at,
                finished_at: run.finished_at,
                error: run.error.as_deref(),
                parent_run_id: run.parent_run_id.as_deref(),
                credits: credits.remove(&run.id).unwrap_or_default(),
                photo: photo_of(&state, run),
            })
            .collect();
        Ok::<_, ApiError>(json!(RunsPage { runs: rows, next }))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(body))
}
