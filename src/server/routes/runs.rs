//! Workflow runs over HTTP: trigger (with `Idempotency-Key`), follow (JSON and Server-Sent
//! Events), cancel and resume. A user sees only their own runs.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};
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

#[derive(Serialize, utoipa::ToSchema)]
pub struct Workflows<'a> {
    workflows: Vec<WorkflowView<'a>>,
}

/// Workflows in the folder, with validation errors
///
/// Any signed-in caller: a user, or the admin (who edits them in the console).
#[utoipa::path(get, path = "/api/workflows", tag = "workflows",
    responses((status = 200, description = "every workflow file of the folder", body = Workflows)))]
pub async fn list_workflows(
    State(state): State<AppState>,
    _: crate::server::routes::workflows::Signed,
) -> Json<Value> {
    let statuses = state.workflows.statuses();
    let workflows = Workflows {
        workflows: statuses.iter().map(WorkflowView::from).collect(),
    };
    Json(json!(workflows))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The workflow's inputs by name.
    #[serde(default)]
    #[schema(value_type = Object)]
    inputs: Map<String, Value>,
    /// Where the run's end is POSTed, signed with the caller's webhook secret.
    #[serde(default)]
    callback: Option<CallbackRequest>,
}

/// POST the run's end to `url`, signed with the caller's webhook secret:
/// `X-Techpack-Signature: sha256=<hex HMAC-SHA256 of TIMESTAMP.BODY>`,
/// `X-Techpack-Timestamp: TIMESTAMP` (Unix seconds), `X-Techpack-Delivery: <id>`; at least
/// once, retried with backoff.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackRequest {
    /// An `https` URL on a host the operator allowed.
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

/// A started run.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    run_id: String,
    /// The same `Idempotency-Key` and body were sent before: this is that run.
    replayed: bool,
    /// `pending`, or `queued` when the workflow's `concurrency:` limits leave no slot now.
    status: &'static str,
    links: RunLinks,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunLinks {
    run: String,
    events: String,
}

impl RunLinks {
    fn of(run_id: &str) -> RunLinks {
        RunLinks {
            run: format!("/api/runs/{run_id}"),
            events: format!("/api/runs/{run_id}/events"),
        }
    }
}

fn accepted(run_id: &str, replayed: bool, status: RunStatus) -> (StatusCode, Json<Started>) {
    let started = Started {
        run_id: run_id.to_string(),
        replayed,
        status: status.as_str(),
        links: RunLinks::of(run_id),
    };
    (StatusCode::ACCEPTED, Json(started))
}

/// Start a run (honours `Idempotency-Key`)
///
/// Like Stripe: the same key and body give the same run; the same key with another body is
/// a 409.
#[utoipa::path(post, path = "/api/workflows/{name}/runs", tag = "runs",
    params(("name" = String, Path, description = "the workflow's name"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 characters")),
    request_body = Option<Trigger>,
    responses(
        (status = 202, description = "the run is recorded and starts (or waits for a slot)", body = Started),
        (status = 400, description = "invalid inputs or key (`invalid_input`); a callback URL this server does not call (`callback_refused`); no webhook secret to sign the callback (`webhook_secret_missing`)"),
        (status = 402, description = "the balance does not cover the workflow's price (`insufficient_credits`)"),
        (status = 404, description = "no such workflow, or an uploaded photo the caller does not own (`not_found`)"),
        (status = 409, description = "this `Idempotency-Key` came with another body (`idempotency_key_reused`)")))]
pub async fn trigger(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Started>), ApiError> {
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
    let (id, status) = (run.id.clone(), run.status);
    if status != RunStatus::Queued {
        state.spawn_created_run(run);
    }
    Ok(accepted(&id, false, status))
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

/// `GET /api/runs/{id}`: the run, its steps and its callback deliveries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunDetail<'a> {
    #[serde(flatten)]
    report: ReportView<'a>,
    deliveries: Vec<DeliveryView<'a>>,
}

/// A run, its steps and its callback deliveries (each with every attempt's outcome)
#[utoipa::path(get, path = "/api/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "the run's id")),
    responses(
        (status = 200, description = "the run", body = RunDetail),
        (status = 404, description = "no such run of the caller's (`not_found`)")))]
pub async fn show(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let report = owned_report(&state, &user.name, &id)?;
    let store = state.engine.store().clone();
    let run_id = id.clone();
    let deliveries = tokio::task::spawn_blocking(move || store.deliveries(&run_id))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(json!(RunDetail {
        report: ReportView::from(&report),
        deliveries: deliveries.iter().map(DeliveryView::from).collect(),
    })))
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

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cancelling {
    run_id: String,
    /// Always true: the run's steps are being stopped.
    cancelling: bool,
}

/// Cancel a run
#[utoipa::path(post, path = "/api/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = "the run's id")),
    responses(
        (status = 202, description = "the run is being cancelled", body = Cancelling),
        (status = 404, description = "no such run of the caller's (`not_found`)"),
        (status = 409, description = "the run has finished (`run_finished`)")))]
pub async fn cancel(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Cancelling>), ApiError> {
    owned_unfinished(&state, &user.name, &id)?;
    state.engine.cancel_anywhere(&id).await?;
    let cancelling = Cancelling {
        run_id: id,
        cancelling: true,
    };
    Ok((StatusCode::ACCEPTED, Json(cancelling)))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resumed {
    run_id: String,
    /// Always true: the run goes on from where it stopped.
    resumed: bool,
}

/// Resume an interrupted run
#[utoipa::path(post, path = "/api/runs/{id}/resume", tag = "runs",
    params(("id" = String, Path, description = "the run's id")),
    responses(
        (status = 202, description = "the run goes on", body = Resumed),
        (status = 404, description = "no such run of the caller's (`not_found`)"),
        (status = 409, description = "the run has finished (`run_finished`), is running (`run_active`) or is queued (`conflict`)")))]

pub async fn resume(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Resumed>), ApiError> {
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
    let resumed = Resumed {
        run_id: id,
        resumed: true,
    };
    Ok((StatusCode::ACCEPTED, Json(resumed)))
}

/// One event of `GET /api/runs/{id}/events`, as the stream carries it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // written by axum's `Event`; this describes it
pub struct EventFrame {
    /// `snapshot` (the run as `GET /api/runs/{id}` shows it), `node` or `run` (a transition).
    event: String,
    /// The event's JSON.
    #[schema(content_media_type = "application/json")]
    data: String,
    /// On PostgreSQL: the event's place in the run's events (for `Last-Event-ID`).
    id: Option<String>,
}

/// Server-Sent Events of the run's transitions
///
/// The run's current state (a `snapshot` event), then every transition (`node` and `run`
/// events), until it finishes.
///
/// On a store shared by several workers the transitions come from the store's events table,
/// so any worker streams a run whichever worker executes it, each event with its `id:`; a
/// client that reconnects with `Last-Event-ID` gets the events after that one (and no
/// snapshot). On the embedded store they come from this process's broadcast.
#[utoipa::path(get, path = "/api/runs/{id}/events", tag = "runs",
    params(("id" = String, Path, description = "the run's id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "on PostgreSQL: replay the events after this one (no snapshot)")),
    responses(
        (status = 200, description = "`snapshot`, `node` and `run` events", body = EventFrame, content_type = "text/event-stream"),
        (status = 404, description = "no such run of the caller's (`not_found`)")))]
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

/// A retried run (the same id), or a replay (a new run with its parent).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rerun {
    run_id: String,
    parent_run_id: Option<String>,
    status: &'static str,
    links: RunLinks,
}

fn rerun_accepted(run: &techpack_engine::RunRecord) -> (StatusCode, Json<Rerun>) {
    let rerun = Rerun {
        run_id: run.id.clone(),
        parent_run_id: run.parent_run_id.clone(),
        status: run.status.as_str(),
        links: RunLinks::of(&run.id),
    };
    (StatusCode::ACCEPTED, Json(rerun))
}

/// Retry a failed or cancelled run
///
/// The same run goes on: its failed and cancelled steps and every step after them run again.
#[utoipa::path(post, path = "/api/runs/{id}/retry", tag = "runs",
    params(("id" = String, Path, description = "the run's id")),
    responses(
        (status = 202, description = "the run goes on", body = Rerun),
        (status = 402, description = "the balance does not cover the steps to run again (`insufficient_credits`)"),
        (status = 404, description = "no such run of the caller's (`not_found`)"),
        (status = 409, description = "the run succeeded (`nothing_to_retry`), has not finished (`run_unfinished`) or is running (`run_active`)")))]
pub async fn retry(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Rerun>), ApiError> {
    owned_report(&state, &user.name, &id)?;
    let run = state.engine.retry(&id).await.map_err(rerun_error)?;
    if run.status != RunStatus::Queued {
        state.spawn_run(run.id.clone());
    }
    Ok(rerun_accepted(&run))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// The step to run from; the steps before it take the parent run's outputs.
    from: String,
    /// Inputs to change.
    #[serde(default)]
    #[schema(value_type = Object)]
    inputs: Map<String, Value>,
}

/// Replay a finished run from a step
///
/// A new run on this run's workflow text from step `from`, with `inputs` changed; the steps
/// before it take this run's outputs.
#[utoipa::path(post, path = "/api/runs/{id}/replay", tag = "runs",
    params(("id" = String, Path, description = "the run's id")),
    request_body = Replay,
    responses(
        (status = 202, description = "the new run", body = Rerun),
        (status = 400, description = "bad body or inputs (`invalid_input`), or no such step (`unknown_step`)"),
        (status = 402, description = "the balance does not cover the steps to run (`insufficient_credits`)"),
        (status = 404, description = "no such run of the caller's (`not_found`)"),
        (status = 409, description = "the run has not finished (`run_unfinished`) or is running (`run_active`)")))]
pub async fn replay(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Rerun>), ApiError> {
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
