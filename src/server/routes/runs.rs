//! Workflow runs over HTTP: trigger (with `Idempotency-Key`), follow (JSON and Server-Sent
//! Events), cancel and resume. A user sees only their own runs.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use techpack_engine::credits::{Ledger, credits_required};
use techpack_engine::{RunReport, RunStatus};
use tokio::sync::broadcast::error::RecvError;

use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorCode};
use crate::server::idempotency::IdempotentRun;
use crate::server::views::{EventView, ReportView, RunEndView, WorkflowView};

pub async fn list_workflows(State(state): State<AppState>, Caller(_): Caller) -> Json<Value> {
    let statuses = state.workflows.statuses();
    let workflows: Vec<WorkflowView> = statuses.iter().map(WorkflowView::from).collect();
    Json(json!({ "workflows": workflows }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    #[serde(default)]
    inputs: Map<String, Value>,
}

fn accepted(run_id: &str, replayed: bool) -> (StatusCode, Json<Value>) {
    (
        StatusCode::ACCEPTED,
        Json(json!({ "runId": run_id, "replayed": replayed, "links": {
            "run": format!("/api/runs/{run_id}"), "events": format!("/api/runs/{run_id}/events") } })),
    )
}

pub async fn trigger(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let trigger: Trigger = if body.is_empty() {
        Trigger::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))?
    };
    let workflow = state
        .workflows
        .get(&name)
        .ok_or_else(|| ApiError::not_found("workflow", &name))?;

    // Like Stripe: the same key and body give the same run; the same key with another body is
    // refused.
    let idempotency = match headers.get("idempotency-key") {
        Some(key) => {
            let key = key
                .to_str()
                .map_err(|_| ApiError::bad_request("`Idempotency-Key` must be text"))?;
            if key.is_empty() || key.len() > 255 {
                return Err(ApiError::bad_request(
                    "`Idempotency-Key` must be 1 to 255 characters",
                ));
            }
            let storage_key = format!("{}\0{name}\0{key}", user.name);
            let body_sha256 = hex::encode(Sha256::digest(&body));
            if let Some(seen) = state
                .idempotency
                .0
                .get(&storage_key)
                .map_err(ApiError::internal)?
            {
                if seen.body_sha256 == body_sha256 {
                    return Ok(accepted(&seen.run_id, true));
                }
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was used with a different body",
                ));
            }
            Some((storage_key, body_sha256))
        }
        None => None,
    };

    check_photos(&state, &user.name, &workflow, &trigger.inputs)?;

    let cost = credits_required(&workflow);
    if cost > 0 {
        let ledger = Ledger::new(state.engine.store().as_ref());
        if !ledger.can_afford(&user.name, cost)? {
            let available = ledger.balance(&user.name)?.available;
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                ErrorCode::InsufficientCredits,
                format!(
                    "workflow `{name}` can cost up to {cost} credits; you have {available} available"
                ),
            ));
        }
    }
    // The run and its idempotency record become durable together, before the 202.
    let run = state
        .engine
        .record_run(&workflow, trigger.inputs, Some(user.name.clone()))?;
    if let Some((storage_key, body_sha256)) = idempotency {
        let mine = IdempotentRun {
            body_sha256: body_sha256.clone(),
            run_id: run.id.clone(),
        };
        let seen = state
            .idempotency
            .0
            .insert_new(&storage_key, &mine)
            .map_err(ApiError::internal)?;
        if seen != mine {
            // Another request with the same key won the race: answer with its run; this run
            // never starts and is cancelled (it holds no credits).
            state.engine.cancel_stored(&run.id).await.ok();
            if seen.body_sha256 == body_sha256 {
                return Ok(accepted(&seen.run_id, true));
            }
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different body",
            ));
        }
    }
    state.engine.durable().await?;
    state.spawn_run(run.id.clone());
    Ok(accepted(&run.id, false))
}

/// Every uploaded photo an `images` input names must be one of the caller's (another user's
/// is "not found", like a missing one), so a bad id is answered now rather than by a failed
/// run. The run's steps check again when they load them.
fn check_photos(
    state: &AppState,
    user: &str,
    workflow: &techpack_engine::Workflow,
    inputs: &Map<String, Value>,
) -> Result<(), ApiError> {
    let catalog = &state.services.catalog;
    let images = workflow
        .inputs
        .iter()
        .filter(|i| i.ty == techpack_engine::workflow::InputType::Images)
        .filter_map(|i| inputs.get(&i.name)?.as_array());
    for photo in images.flatten() {
        let Some(id) = photo
            .get("revisionId")
            .or_else(|| photo.get("revision_id"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let not_found = || ApiError::not_found("uploaded photo", id);
        let revision = catalog.revision_by_id(id).map_err(|_| not_found())?;
        let product = catalog
            .product(&revision.product_id)
            .map_err(|_| not_found())?;
        if product.owner.as_deref() != Some(user) {
            return Err(not_found());
        }
    }
    Ok(())
}

pub(crate) fn owned_report(state: &AppState, user: &str, id: &str) -> Result<RunReport, ApiError> {
    let report = state
        .engine
        .report(id)
        .map_err(|_| ApiError::not_found("run", id))?;
    if report.run.owner.as_deref() != Some(user) {
        return Err(ApiError::not_found("run", id));
    }
    Ok(report)
}

pub async fn show(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let report = owned_report(&state, &user.name, &id)?;
    Ok(Json(json!(ReportView::from(&report))))
}

/// The caller's run, if it has not finished (a finished run answers 409).
fn owned_unfinished(state: &AppState, user: &str, id: &str) -> Result<RunReport, ApiError> {
    let report = owned_report(state, user, id)?;
    if report.run.status.is_finished() {
        let message = format!(
            "run `{id}` has already finished ({})",
            report.run.status.as_str()
        );
        return Err(ApiError::of(ErrorCode::RunFinished, message));
    }
    Ok(report)
}

pub async fn cancel(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    owned_unfinished(&state, &user.name, &id)?;
    state.engine.cancel_anywhere(&id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "runId": id, "cancelling": true })),
    ))
}

pub async fn resume(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    owned_unfinished(&state, &user.name, &id)?;
    if state.engine.active_runs().contains(&id) {
        return Err(ApiError::of(
            ErrorCode::RunActive,
            format!("run `{id}` is running"),
        ));
    }
    state.spawn_run(id.clone());
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "runId": id, "resumed": true })),
    ))
}

/// Server-Sent Events: the run's current state, then every transition, until it finishes.
pub async fn events(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let mut receiver = state.engine.subscribe();
    let report = owned_report(&state, &user.name, &id)?;
    let engine = state.engine.clone();
    let stream = async_stream(move |sender| async move {
        let snapshot = Event::default()
            .event("snapshot")
            .json_data(ReportView::from(&report))
            .unwrap_or_default();
        if sender.send(snapshot).await.is_err() || report.run.status.is_finished() {
            return;
        }
        loop {
            let event = match tokio::time::timeout(Duration::from_secs(1), receiver.recv()).await {
                Ok(Ok(event)) => Some(event),
                Ok(Err(RecvError::Lagged(_))) | Err(_) => None,
                Ok(Err(RecvError::Closed)) => return,
            };
            match event {
                Some(event) if event.run_id == id => {
                    let run_done = event.step_id.is_none() && event.status != "running";
                    let data = Event::default()
                        .event(if event.step_id.is_some() {
                            "node"
                        } else {
                            "run"
                        })
                        .json_data(EventView::from(&event))
                        .unwrap_or_default();
                    if sender.send(data).await.is_err() || run_done {
                        return;
                    }
                }
                Some(_) => {}
                None => {
                    // Quiet or lagged: check the store so a finished run always ends the stream.
                    if let Ok(report) = engine.report(&id)
                        && (report.run.status.is_finished()
                            || report.run.status == RunStatus::Pending
                                && !engine.active_runs().contains(&id))
                    {
                        let status = RunEndView {
                            run_id: &id,
                            status: report.run.status.as_str(),
                        };
                        let _ = sender
                            .send(
                                Event::default()
                                    .event("run")
                                    .json_data(status)
                                    .unwrap_or_default(),
                            )
                            .await;
                        return;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// A stream fed by a task through a bounded channel.
fn async_stream<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(produce(sender));
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    })
}

/// Retry and replay refusals, each with its own code (the rest as any engine error).
fn rerun_error(error: techpack_engine::EngineError) -> ApiError {
    use techpack_engine::EngineError as E;
    let message = error.to_string();
    match error {
        E::NothingToRetry(_) => ApiError::of(ErrorCode::NothingToRetry, message),
        E::RunUnfinished { .. } => ApiError::of(ErrorCode::RunUnfinished, message),
        E::RunActive(_) => ApiError::of(ErrorCode::RunActive, message),
        E::UnknownStep { .. } => ApiError::of(ErrorCode::UnknownStep, message),
        other => other.into(),
    }
}

fn rerun_accepted(run: &techpack_engine::RunRecord) -> (StatusCode, Json<Value>) {
    (
        StatusCode::ACCEPTED,
        Json(
            json!({ "runId": run.id, "parentRunId": run.parent_run_id, "links": {
            "run": format!("/api/runs/{}", run.id), "events": format!("/api/runs/{}/events", run.id) } }),
        ),
    )
}

/// The caller's failed or cancelled run goes on: its failed and cancelled steps and every
/// step after them run again.
pub async fn retry(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    owned_report(&state, &user.name, &id)?;
    let run = state.engine.retry(&id).await.map_err(rerun_error)?;
    state.spawn_run(run.id.clone());
    Ok(rerun_accepted(&run))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    from: String,
    #[serde(default)]
    inputs: Map<String, Value>,
}

/// A new run of the caller's finished run from step `from`, with `inputs` changed.
pub async fn replay(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let replay: Replay = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))?;
    let parent = owned_report(&state, &user.name, &id)?;
    let workflow = state.engine.workflow_of(&parent.run)?;
    check_photos(&state, &user.name, &workflow, &replay.inputs)?;
    let run = state
        .engine
        .replay(&id, &replay.from, replay.inputs)
        .await
        .map_err(rerun_error)?;
    state.spawn_run(run.id.clone());
    Ok(rerun_accepted(&run))
}
