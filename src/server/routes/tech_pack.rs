//! The seed's endpoints: each runs one tech-pack step through the engine and its hooks.
//! Bodies are camelCase; the snake_case names are still accepted for one release.
//!
//! Each endpoint runs a step of a workflow ([`Priced`]): the step's `uses:` is what runs and
//! its `credits:` what it costs, read from the live workflow of that name in the workflows
//! folder, or from the copy shipped with the binary when the folder has none. The OpenAPI
//! summaries say the same price ([`PRICED`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use techpack_engine::JsonText;

use super::Body;
use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::single_step::{StepCall, run_step};
use crate::server::views::AnswerFields;

type Answer = Result<(StatusCode, Json<AnswerFields>), ApiError>;

/// The step an endpoint runs: step `step` of workflow `workflow`.
pub struct Priced {
    pub workflow: &'static str,
    pub step: &'static str,
}

const DETECT: Priced = Priced::of("tech-pack-v2", "detect");
const BASE_VIEWS: Priced = Priced::of("tech-pack-v2", "base_views");
const CLOSE_UPS: Priced = Priced::of("tech-pack-v2", "close_ups");
const SKETCHES: Priced = Priced::of("tech-pack-v2", "sketches");
const EDIT: Priced = Priced::of("edit", "edit");
const REGENERATE: Priced = Priced::of("regenerate", "regenerate");

/// Each endpoint's operation id (its handler's name) with its step, for the OpenAPI
/// summaries.
pub const PRICED: &[(&str, Priced)] = &[
    ("detect_category", DETECT),
    ("analyze_base_views", BASE_VIEWS),
    ("generate_close_ups", CLOSE_UPS),
    ("generate_sketches", SKETCHES),
    ("edit", EDIT),
    ("regenerate", REGENERATE),
];

/// The workflows shipped with the binary, for a workflows folder that lacks one.
const SHIPPED: &[(&str, &str)] = &[
    (
        "tech-pack-v2",
        include_str!("../../../workflows/tech-pack-v2.yaml"),
    ),
    ("edit", include_str!("../../../workflows/edit.yaml")),
    (
        "regenerate",
        include_str!("../../../workflows/regenerate.yaml"),
    ),
];

/// A step of a shipped workflow: its kind and price, read from the YAML once per process
/// (only those two fields; the shipped files are validated with the rest of `workflows/` by
/// `techpack validate` and the tests).
fn shipped_step(workflow: &str, step: &str) -> Option<StepCall> {
    /// (workflow, step id, kind, credits)
    type Steps = Vec<(&'static str, String, String, u64)>;
    static STEPS: std::sync::LazyLock<Steps> = std::sync::LazyLock::new(|| {
        let mut steps = Steps::new();
        for (name, text) in SHIPPED {
            let Ok(parsed) = serde_yaml::from_str::<Value>(text) else {
                continue;
            };
            let Some(map) = parsed["steps"].as_object() else {
                continue;
            };
            for (id, step) in map {
                if let Some(uses) = step["uses"].as_str() {
                    let credits = step["credits"].as_u64().unwrap_or(0);
                    steps.push((*name, id.clone(), uses.to_string(), credits));
                }
            }
        }
        steps
    });
    let (_, _, uses, credits) = STEPS
        .iter()
        .find(|(name, id, ..)| *name == workflow && id == step)?;
    Some(StepCall {
        uses: uses.clone(),
        credits: *credits,
    })
}

impl Priced {
    const fn of(workflow: &'static str, step: &'static str) -> Priced {
        Priced { workflow, step }
    }

    /// The step's kind and price: from the live workflow, else from the shipped one.
    pub fn step(&self, state: &AppState) -> Result<StepCall, ApiError> {
        if let Some(workflow) = state.workflows.get(self.workflow) {
            let step = workflow
                .steps
                .iter()
                .find(|step| step.id == self.step)
                .ok_or_else(|| self.missing())?;
            return Ok(StepCall {
                uses: step.uses.clone(),
                credits: step.credits,
            });
        }
        shipped_step(self.workflow, self.step).ok_or_else(|| self.missing())
    }

    /// What the step costs now.
    pub fn price(&self, state: &AppState) -> Result<u64, ApiError> {
        self.step(state).map(|call| call.credits)
    }

    fn missing(&self) -> ApiError {
        ApiError::internal(format!(
            "workflow `{}` has no step `{}` for its endpoint",
            self.workflow, self.step
        ))
    }
}

async fn call(state: &AppState, user: &str, priced: &Priced, config: Value) -> Answer {
    let step = priced.step(state)?;
    let (status, body) = run_step(state, user, step, config).await?;
    Ok((status, Json(body)))
}

/// What a tech-pack endpoint answers: its step's output, every key camelCase but inside the
/// tech-pack document (`techPack`, `analyses`, `analysis`, `callouts`, `oldValue`,
/// `newValue`, `result`), with the run and what it cost.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // the answer is the step's output with these added (`single_step`)
pub struct StepAnswer {
    /// The one-step run that did it (`GET /api/runs/{id}`).
    run_id: String,
    credits_used: u64,
    credits_refunded: u64,
    /// The output came from the cache; its credits were refunded.
    cached: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Detect {
    #[serde(alias = "product_id")]
    product_id: String,
    #[serde(default, alias = "revision_ids")]
    revision_ids: Vec<String>,
}

/// Detect the product's category
#[utoipa::path(post, path = "/api/tech-pack-v2/category/detect", tag = "tech pack", request_body = Detect,
    responses(
        (status = 200, description = "category, subcategory, confidence", body = StepAnswer)))]
pub async fn detect_category(
    State(state): State<AppState>,
    Caller(user): Caller,
    Body(body): Body<Detect>,
) -> Answer {
    super::products::owned(&state, &user.name, &body.product_id)?;
    call(
        &state,
        &user.name,
        &DETECT,
        json!({ "product_id": body.product_id, "revision_ids": body.revision_ids }),
    )
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
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
    #[schema(value_type = Option<Object>)]
    spec: Option<Value>,
}

/// Analyze up to 5 views into a tech pack
#[utoipa::path(post, path = "/api/tech-pack-v2/base-views/analyze", tag = "tech pack", request_body = BaseViews,
    responses(
        (status = 200, description = "analyses, analysisId, techPack", body = StepAnswer)))]
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
    let (status, Json(mut answer)) = call(&state, &user.name, &BASE_VIEWS, config).await?;
    // The seed's shape: the per-view analyses at the top (read from the tech pack's text,
    // which is not otherwise parsed).
    #[derive(Deserialize)]
    struct Views<'a> {
        #[serde(borrow)]
        views: Option<&'a RawValue>,
    }
    let views = match answer.get("techPack") {
        Some(tech_pack) => serde_json::from_str::<Views>(tech_pack.get())
            .map_err(ApiError::internal)?
            .views
            .map(JsonText::from),
        None => None,
    };
    answer.insert(
        "analyses".into(),
        views.unwrap_or_else(|| JsonText::from_value(&Value::Null)),
    );
    Ok((status, Json(answer)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CloseUps {
    #[serde(alias = "product_id")]
    product_id: String,
    #[serde(alias = "analysis_id")]
    analysis_id: String,
    #[schema(minimum = 6, maximum = 10)]
    count: Option<usize>,
}

/// Generate 6-10 close-ups
#[utoipa::path(post, path = "/api/tech-pack-v2/close-ups/generate", tag = "tech pack", request_body = CloseUps,
    responses(
        (status = 200, description = "closeUps", body = StepAnswer)))]
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
    call(&state, &user.name, &CLOSE_UPS, config).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sketches {
    #[serde(alias = "product_id")]
    product_id: String,
    #[serde(alias = "analysis_id")]
    analysis_id: String,
    views: Option<Vec<String>>,
}

/// Technical flats with callouts
#[utoipa::path(post, path = "/api/tech-pack-v2/sketches/generate", tag = "tech pack", request_body = Sketches,
    responses(
        (status = 200, description = "sketches, skipped", body = StepAnswer)))]
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
    call(&state, &user.name, &SKETCHES, config).await
}

#[derive(Deserialize, utoipa::ToSchema)]
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

/// Edit one analysis field
#[utoipa::path(post, path = "/api/tech-pack-v2/edit", tag = "tech pack", request_body = Edit,
    responses(
        (status = 200, description = "oldValue, newValue", body = StepAnswer)))]
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
    call(&state, &user.name, &EDIT, config).await
}

#[derive(Deserialize, utoipa::ToSchema)]
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

/// Regenerate one view as a new revision
#[utoipa::path(post, path = "/api/tech-pack-v2/regenerate", tag = "tech pack", request_body = Regenerate,
    responses(
        (status = 200, description = "revision, analysis", body = StepAnswer)))]
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
    call(&state, &user.name, &REGENERATE, config).await
}
