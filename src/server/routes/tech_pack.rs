//! The seed's endpoints: each runs one tech-pack step through the engine and its hooks.
//! Bodies are camelCase; the snake_case names are still accepted for one release.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Body;
use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::single_step::{StepCall, run_step};

type Answer = Result<(StatusCode, Json<Value>), ApiError>;

async fn call(
    state: &AppState,
    user: &str,
    uses: &'static str,
    credits: u64,
    config: Value,
) -> Answer {
    let (status, body) = run_step(state, user, StepCall { uses, credits }, config).await?;
    Ok((status, Json(body)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Detect {
    #[serde(alias = "product_id")]
    product_id: String,
    #[serde(default, alias = "revision_ids")]
    revision_ids: Vec<String>,
}

pub async fn detect_category(
    State(state): State<AppState>,
    Caller(user): Caller,
    Body(body): Body<Detect>,
) -> Answer {
    super::products::owned(&state, &user.name, &body.product_id)?;
    call(
        &state,
        &user.name,
        "techpack/detect-category",
        0,
        json!({ "product_id": body.product_id, "revision_ids": body.revision_ids }),
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BaseViews {
    #[serde(alias = "product_id")]
    product_id: String,
    #[serde(default, alias = "revision_ids")]
    revision_ids: Vec<String>,
    category: Option<String>,
    #[serde(alias = "style_id")]
    style_id: Option<String>,
    #[serde(alias = "width_mm")]
    width_mm: Option<f64>,
    #[serde(alias = "height_mm")]
    height_mm: Option<f64>,
    #[serde(alias = "depth_mm")]
    depth_mm: Option<f64>,
    /// The designer's spec sheet, inline (never a file name: see `techpack::spec`).
    spec: Option<Value>,
}

pub async fn analyze_base_views(
    State(state): State<AppState>,
    Caller(user): Caller,
    Body(body): Body<BaseViews>,
) -> Answer {
    super::products::owned(&state, &user.name, &body.product_id)?;
    let config = json!({
        "product_id": body.product_id,
        "revision_ids": body.revision_ids,
        "category": body.category,
        "style_id": body.style_id,
        "width_mm": body.width_mm,
        "height_mm": body.height_mm,
        "depth_mm": body.depth_mm,
        "spec": body.spec,
    });
    let (status, Json(mut answer)) =
        call(&state, &user.name, "techpack/analyze-base-views", 3, config).await?;
    // The seed's shape: the per-view analyses at the top.
    answer["analyses"] = answer["techPack"]["views"].clone();
    Ok((status, Json(answer)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CloseUps {
    #[serde(alias = "product_id")]
    product_id: String,
    #[serde(alias = "analysis_id")]
    analysis_id: String,
    count: Option<usize>,
}

pub async fn generate_close_ups(
    State(state): State<AppState>,
    Caller(user): Caller,
    Body(body): Body<CloseUps>,
) -> Answer {
    super::products::owned(&state, &user.name, &body.product_id)?;
    let mut config = json!({ "product_id": body.product_id, "analysis_id": body.analysis_id });
    if let Some(count) = body.count {
        config["count"] = json!(count);
    }
    call(&state, &user.name, "techpack/generate-close-ups", 3, config).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sketches {
    #[serde(alias = "product_id")]
    product_id: String,
    #[serde(alias = "analysis_id")]
    analysis_id: String,
    views: Option<Vec<String>>,
}

pub async fn generate_sketches(
    State(state): State<AppState>,
    Caller(user): Caller,
    Body(body): Body<Sketches>,
) -> Answer {
    super::products::owned(&state, &user.name, &body.product_id)?;
    let mut config = json!({ "product_id": body.product_id, "analysis_id": body.analysis_id });
    if let Some(views) = body.views {
        config["views"] = json!(views);
    }
    call(&state, &user.name, "techpack/generate-sketches", 3, config).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Edit {
    #[serde(alias = "analysis_id")]
    analysis_id: String,
    path: String,
    value: Option<Value>,
    instruction: Option<String>,
    /// `set` (the default), `add` a row to a list, `remove` a row.
    op: Option<String>,
}

pub async fn edit(
    State(state): State<AppState>,
    Caller(user): Caller,
    Body(body): Body<Edit>,
) -> Answer {
    let analysis = state.services.catalog.analysis(&body.analysis_id)?;
    super::products::owned(&state, &user.name, &analysis.product_id)
        .map_err(|_| ApiError::not_found("analysis", &body.analysis_id))?;
    let mut config = json!({ "analysis_id": body.analysis_id, "path": body.path, "value": body.value, "instruction": body.instruction });
    if let Some(op) = body.op {
        config["op"] = json!(op);
    }
    call(&state, &user.name, "techpack/edit", 1, config).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Regenerate {
    #[serde(alias = "product_id")]
    product_id: String,
    #[serde(alias = "revision_id")]
    revision_id: Option<String>,
    view: Option<String>,
    #[serde(alias = "analysis_id")]
    analysis_id: Option<String>,
    prompt: Option<String>,
}

pub async fn regenerate(
    State(state): State<AppState>,
    Caller(user): Caller,
    Body(body): Body<Regenerate>,
) -> Answer {
    super::products::owned(&state, &user.name, &body.product_id)?;
    let config = json!({
        "product_id": body.product_id,
        "revision_id": body.revision_id,
        "view": body.view,
        "analysis_id": body.analysis_id,
        "prompt": body.prompt,
    });
    call(&state, &user.name, "techpack/regenerate", 1, config).await
}
