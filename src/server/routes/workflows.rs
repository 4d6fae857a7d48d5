//! A workflow in detail (typed inputs, steps and their needs, price), a run's pinned
//! workflow, and the editor's endpoints: validate a text as you type, save it (admin).

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use techpack_engine::credits::credits_required;
use techpack_engine::{Diagnostics, Workflow};

use super::Body;
use crate::server::AppState;
use crate::server::auth::{Admin, Caller};
use crate::server::error::{ApiError, ErrorCode, public_diagnostics};

/// What a form and a DAG need of a workflow.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDetail<'a> {
    name: &'a str,
    version: &'a str,
    description: Option<&'a str>,
    sha256: &'a str,
    /// The most a run can cost: the sum of the steps' `credits:`.
    price: u64,
    inputs: Vec<InputView<'a>>,
    steps: Vec<StepView<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InputView<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: &'static str,
    required: bool,
    default: Option<&'a Value>,
    description: Option<&'a str>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepView<'a> {
    id: &'a str,
    name: Option<&'a str>,
    uses: &'a str,
    needs: Vec<&'a str>,
    credits: u64,
    when: Option<&'a str>,
}

impl<'a> From<&'a Workflow> for WorkflowDetail<'a> {
    fn from(workflow: &'a Workflow) -> Self {
        WorkflowDetail {
            name: &workflow.name,
            version: &workflow.version,
            description: workflow.description.as_deref(),
            sha256: &workflow.sha256,
            price: credits_required(workflow),
            inputs: workflow
                .inputs
                .iter()
                .map(|input| InputView {
                    name: &input.name,
                    ty: input.ty.name(),
                    required: input.required,
                    default: input.default.as_ref(),
                    description: input.description.as_deref(),
                })
                .collect(),
            steps: workflow
                .steps
                .iter()
                .map(|step| StepView {
                    id: &step.id,
                    name: step.name.as_deref(),
                    uses: &step.uses,
                    needs: step
                        .needs
                        .iter()
                        .map(|&i| workflow.steps[i].id.as_str())
                        .collect(),
                    credits: step.credits,
                    when: step.when.as_deref(),
                })
                .collect(),
        }
    }
}

/// A live workflow with its YAML text and its file's state.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkflowShow<'a> {
    #[serde(flatten)]
    detail: WorkflowDetail<'a>,
    source: &'a str,
    status: crate::server::views::WorkflowView<'a>,
}

/// A live workflow: typed inputs, steps and needs, price, YAML source, file state
///
/// The live version, its YAML text, and whether the file on disk validates (an invalid
/// edit leaves the previous version live). The price is the sum of its steps' `credits:`.
#[utoipa::path(get, path = "/api/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "the workflow's name")),
    responses(
        (status = 200, description = "the workflow", body = WorkflowShow),
        (status = 404, description = "no such workflow (`not_found`)")))]
pub async fn show(
    State(state): State<AppState>,
    _: Signed,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let status = state
        .workflows
        .statuses()
        .into_iter()
        .find(|status| status.name == name);
    let workflow = state.workflows.get(&name);
    let (Some(workflow), Some(status)) = (workflow, status) else {
        return Err(ApiError::not_found("workflow", &name));
    };
    Ok(Json(json!(WorkflowShow {
        detail: WorkflowDetail::from(workflow.as_ref()),
        source: &workflow.source,
        status: crate::server::views::WorkflowView::from(&status),
    })))
}

/// The workflow the run is pinned to: inputs, steps and their needs, price
#[utoipa::path(get, path = "/api/runs/{id}/workflow", tag = "runs",
    params(("id" = String, Path, description = "the run's id")),
    responses(
        (status = 200, description = "the workflow text the run is pinned to, as a DAG", body = WorkflowDetail),
        (status = 404, description = "no such run of the caller's (`not_found`)")))]
pub async fn of_run(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let report = super::runs::owned_report(&state, &user.name, &id)?;
    let workflow = state.engine.workflow_of(&report.run)?;
    Ok(Json(json!(WorkflowDetail::from(workflow.as_ref()))))
}

/// Anyone signed in: a user or the admin.
pub struct Signed;

impl FromRequestParts<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        match Admin::from_request_parts(parts, state).await {
            Ok(Admin) => Ok(Signed),
            Err(_) => Caller::from_request_parts(parts, state)
                .await
                .map(|_| Signed),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A workflow's YAML text.
    source: String,
}

/// One problem, located in the text.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticView<'a> {
    code: &'static str,
    line: Option<usize>,
    column: Option<usize>,
    step: Option<&'a str>,
    message: &'a str,
}

fn diagnostic_views(diagnostics: &Diagnostics) -> Vec<DiagnosticView<'_>> {
    diagnostics
        .0
        .iter()
        .map(|d| DiagnosticView {
            code: d.code.as_str(),
            line: d.location.as_ref().map(|l| l.line),
            column: d.location.as_ref().map(|l| l.column),
            step: d.step.as_deref(),
            message: &d.message,
        })
        .collect()
}

/// The name messages give the text being edited (it is no file of the server's).
const EDITOR_ORIGIN: &str = "editor";

/// What a workflow text is worth: every problem, or the DAG.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Validation<'a> {
    valid: bool,
    diagnostics: Vec<DiagnosticView<'a>>,
    workflow: Option<WorkflowDetail<'a>>,
}

/// Validate YAML without saving
///
/// Every problem at once, each with its TP code and line:column, and the DAG when it
/// validates. Nothing is saved.
#[utoipa::path(post, path = "/api/workflows/validate", tag = "workflows", request_body = Source,
    responses((status = 200, description = "the problems, or the workflow", body = Validation)))]
pub async fn validate(
    State(state): State<AppState>,
    _: Signed,
    Body(body): Body<Source>,
) -> Result<Json<Value>, ApiError> {
    let registry = state.engine.registry().clone();
    let answer = tokio::task::spawn_blocking(move || {
        match Workflow::parse(&body.source, EDITOR_ORIGIN, &registry) {
            Ok(workflow) => json!(Validation {
                valid: true,
                diagnostics: Vec::new(),
                workflow: Some(WorkflowDetail::from(&workflow)),
            }),
            Err(diagnostics) => json!(Validation {
                valid: false,
                diagnostics: diagnostic_views(&diagnostics),
                workflow: None,
            }),
        }
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(answer))
}

/// A saved workflow: what is now in the folder.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Saved {
    name: String,
    version: String,
    sha256: String,
    /// Its file's name in the workflows folder.
    file: String,
}

/// Save a workflow's YAML into the workflows folder (admin; only when it validates)
///
/// Writes the text if it validates and is the workflow `name`: over that workflow's file, or
/// as `{name}.yaml`. The folder's watcher makes it live for new runs, as for any edit.
#[utoipa::path(put, path = "/api/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "the workflow's name")),
    request_body = Source,
    responses(
        (status = 200, description = "saved", body = Saved),
        (status = 400, description = "the text does not validate (`invalid_workflow`), is another workflow, or the name cannot be a file name (`invalid_input`)"),
        (status = 403, description = "signed in by the session cookie from another origin (`cross_origin`)")))]
pub async fn save(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
    Body(body): Body<Source>,
) -> Result<Json<Saved>, ApiError> {
    let registry = state.engine.registry().clone();
    let workflow = Workflow::parse(&body.source, EDITOR_ORIGIN, &registry)
        .map_err(|d| ApiError::of(ErrorCode::InvalidWorkflow, public_diagnostics(&d)))?;
    if workflow.name != name {
        return Err(ApiError::bad_request(format!(
            "the text is workflow `{}`, not `{name}`: save it under its own name",
            workflow.name
        )));
    }
    let folder = state.workflows.clone();
    let file = tokio::task::spawn_blocking(move || folder.save(&name, &body.source))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| match error {
            crate::server::workflow_folder::SaveError::BadName(_) => {
                ApiError::bad_request(error.to_string())
            }
            other => ApiError::internal(other),
        })?;
    Ok(Json(Saved {
        name: workflow.name,
        version: workflow.version,
        sha256: workflow.sha256,
        file,
    }))
}
