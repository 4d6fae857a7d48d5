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
use crate::server::views::{DeliveryView, EventView, ReportView, RunEndView, WorkflowView};

/// Any signed-in caller: a user, or the admin (who edits them in the console).
pub async fn list_workflows(
    State(state): State<AppState>,
    _: crate::server::routes::workflows::Signed,
) -> Json<Value> {
    let statuses = state.workflows.statuses();
    let workflows: Vec<WorkflowView> = statuses.iter().map(WorkflowView::from).collect();
    Json(json!({ "workflows": workflows }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    #[serde(default)]
    inputs: Map<String, Value>,
    /// Where the run's end is POSTed, signed with the caller's webhook secret.
    #[serde(default)]
    callback: Option<CallbackRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackRequest {
    url: String,
}

/// The callback URL if the operator's rules allow it (checked on the addresses its host
/// resolves to now; the sender checks again at every attempt) and the caller can sign it.
async fn accepted_callback(
    state: &AppState,
    user: &crate::users::User,
    callback: Option<&CallbackRequest>,
) -> Result<Option<String>, ApiError> {
    let Some(callback) = callback else {
        return Ok(None);
    };
    let refused = |e: crate::server::callbacks::Refused| {
        ApiError::of(ErrorCode::CallbackRefused, e.to_string())
    };
    let target = state.callbacks.check(&callback.url).map_err(refused)?;
    state.callbacks.resolve(&target).await.map_err(refused)?;
    if user.webhook_secret().is_none() {
        return Err(ApiError::of(
            ErrorCode::WebhookSecretMissing,
            "a run with a callback needs a webhook secret to sign it: create one with `POST /api/me/webhook-secret`",
        ));
    }
    Ok(Some(callback.url.clone()))
}

fn accepted(run_id: &str, replayed: bool, status: RunStatus) -> (StatusCode, Json<Value>) {
    (
        StatusCode::ACCEPTED,
        Json(
            json!({ "runId": run_id, "replayed": replayed, "status": status.as_str(), "links": {
            "run": format!("/api/runs/{run_id}"), "events": format!("/api/runs/{run_id}/events") } }),
        ),
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
                    return Ok(accepted(
                        &seen.run_id,
                        true,
                        stored_status(&state, &seen.run_id),
                    ));
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
    let callback = accepted_callback(&state, &user, trigger.callback.as_ref()).await?;

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
    let run = state.engine.record_run_with_callback(
        &workflow,
        trigger.inputs,
        Some(user.name.clone()),
        callback,
    )?;
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
            // never starts and is cancelled (it holds no credits), and nobody is told of
            // its end.
            let mut unreported = run.clone();
            unreported.callback = None;
            state.engine.store().commit(None, Some(&unreported), None)?;
            state.engine.cancel_stored(&run.id).await.ok();
            if seen.body_sha256 == body_sha256 {
                return Ok(accepted(
                    &seen.run_id,
                    true,
                    stored_status(&state, &seen.run_id),
                ));
            }
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different body",
            ));
        }
    }
    state.engine.durable().await?;
    // A queued run starts when its workflow's concurrency limits leave it a slot.
    if run.status != RunStatus::Queued {
        state.spawn_run(run.id.clone());
    }
    Ok(accepted(&run.id, false, run.status))
}

/// The status of a run the caller was answered with before (a replayed trigger).
fn stored_status(state: &AppState, run_id: &str) -> RunStatus {
    state
        .engine
        .store()
        .run(run_id)
        .ok()
        .flatten()
        .map_or(RunStatus::Pending, |run| run.status)
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
    let mut body = json!(ReportView::from(&report));
    let store = state.engine.store().clone();
    let run_id = id.clone();
    let deliveries = tokio::task::spawn_blocking(move || store.deliveries(&run_id))
        .await
        .map_err(ApiError::internal)??;
    body["deliveries"] = json!(
        deliveries
            .iter()
            .map(DeliveryView::from)
            .collect::<Vec<_>>()
    );
    Ok(Json(body))
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
    let report = owned_unfinished(&state, &user.name, &id)?;
    if report.run.status == RunStatus::Queued {
        return Err(ApiError::of(
            ErrorCode::Conflict,
            format!("run `{id}` is queued: it starts on its own when a slot of its workflow frees"),
        ));
    }
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
///
/// On a store shared by several workers the transitions come from the store's events table,
/// so any worker streams a run whichever worker executes it, each event with its `id:`; a
/// client that reconnects with `Last-Event-ID` gets the events after that one (and no
/// snapshot). On the embedded store they come from this process's broadcast.
pub async fn events(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let receiver = state.engine.subscribe();
    let report = owned_report(&state, &user.name, &id)?;
    let engine = state.engine.clone();
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Where the stored stream starts: after the client's last event, or after every event
    // recorded before the snapshot (those the snapshot already shows).
    let stored_from = match last_event_id {
        Some(seq) => Some(seq),
        None => engine
            .stored_events(&id, 0, usize::MAX)?
            .map(|events| events.last().map_or(0, |e| e.seq)),
    };
    let stream = async_stream(move |sender| async move {
        match stored_from {
            Some(after) => {
                let snapshot = last_event_id.is_none().then_some(report);
                stream_stored(engine, id, after, snapshot, receiver, sender).await
            }
            None => stream_broadcast(engine, id, report, receiver, sender).await,
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn snapshot_event(report: &RunReport) -> Event {
    Event::default()
        .event("snapshot")
        .json_data(ReportView::from(report))
        .unwrap_or_default()
}

fn transition_event(event: &techpack_engine::RunEvent) -> Event {
    Event::default()
        .event(if event.step_id.is_some() {
            "node"
        } else {
            "run"
        })
        .json_data(EventView::from(event))
        .unwrap_or_default()
}

/// How often a stored stream looks for events another worker committed; this worker's own
/// transitions wake it at once.
const STORED_EVENTS_POLL: Duration = Duration::from_millis(200);

/// The run's transitions as the store recorded them, after event `after`.
async fn stream_stored(
    engine: techpack_engine::Engine,
    id: String,
    mut after: u64,
    snapshot: Option<RunReport>,
    mut receiver: tokio::sync::broadcast::Receiver<techpack_engine::RunEvent>,
    sender: tokio::sync::mpsc::Sender<Event>,
) {
    if let Some(report) = snapshot {
        let finished = report.run.status.is_finished();
        if sender.send(snapshot_event(&report)).await.is_err() || finished {
            return;
        }
    }
    loop {
        let events = match engine.stored_events(&id, after, 256) {
            Ok(Some(events)) => events,
            Ok(None) | Err(_) => return,
        };
        for stored in &events {
            after = stored.seq;
            let event = transition_event(&stored.event).id(stored.seq.to_string());
            if sender.send(event).await.is_err() || stored.event.ends_run() {
                return;
            }
        }
        if events.len() == 256 {
            continue;
        }
        // A run that stopped without a final event (its worker died before it was taken
        // over, and nobody resumes it) still ends the stream once its record says so.
        if let Ok(report) = engine.report(&id)
            && report.run.status.is_finished()
            && matches!(engine.stored_events(&id, after, 1), Ok(Some(rest)) if rest.is_empty())
        {
            let _ = sender.send(end_event(&id, &report)).await;
            return;
        }
        let wake = async {
            loop {
                match receiver.recv().await {
                    Ok(event) if event.run_id == id => return,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        let _ = tokio::time::timeout(STORED_EVENTS_POLL, wake).await;
    }
}

/// The run's transitions as this process broadcasts them.
async fn stream_broadcast(
    engine: techpack_engine::Engine,
    id: String,
    report: RunReport,
    mut receiver: tokio::sync::broadcast::Receiver<techpack_engine::RunEvent>,
    sender: tokio::sync::mpsc::Sender<Event>,
) {
    if sender.send(snapshot_event(&report)).await.is_err() || report.run.status.is_finished() {
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
                if sender.send(transition_event(&event)).await.is_err() || event.ends_run() {
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
                    let _ = sender.send(end_event(&id, &report)).await;
                    return;
                }
            }
        }
    }
}

/// The final `run` event when the stream learns of the end from the store, not from an event.
fn end_event(id: &str, report: &RunReport) -> Event {
    let status = RunEndView {
        run_id: id,
        status: report.run.status.as_str(),
    };
    Event::default()
        .event("run")
        .json_data(status)
        .unwrap_or_default()
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
            json!({ "runId": run.id, "parentRunId": run.parent_run_id, "status": run.status.as_str(), "links": {
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
    if run.status != RunStatus::Queued {
        state.spawn_run(run.id.clone());
    }
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
    if run.status != RunStatus::Queued {
        state.spawn_run(run.id.clone());
    }
    Ok(rerun_accepted(&run))
}
