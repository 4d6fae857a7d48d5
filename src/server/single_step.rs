//! One tech-pack step as its own run, for the seed's endpoints: the same engine, hooks and
//! ledger as a workflow run, so the same semantics hold (402 before any work, refunds on any
//! failure, the step's error class mapped to 400 / 404 / 500).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use techpack_engine::credits::Ledger;
use techpack_engine::{JsonText, NodeStatus, Workflow};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::step_failure;
use super::views::{AnswerFields, step_answer};

/// A paid step by kind, and what it costs (its workflow's `credits:`).
pub struct StepCall {
    pub uses: String,
    pub credits: u64,
}

/// A one-step workflow whose `with:` is the run's `config` input, parsed once per kind and
/// price.
fn workflow(
    call: &StepCall,
    registry: &techpack_engine::StepRegistry,
) -> Result<Arc<Workflow>, ApiError> {
    type Parsed = HashMap<(String, u64), Arc<Workflow>>;
    static PARSED: OnceLock<Mutex<Parsed>> = OnceLock::new();
    let parsed = PARSED.get_or_init(Default::default);
    let key = (call.uses.clone(), call.credits);
    if let Some(workflow) = parsed.lock().expect("workflows lock").get(&key) {
        return Ok(workflow.clone());
    }
    let workflow = Arc::new(parse_workflow(call, registry)?);
    parsed
        .lock()
        .expect("workflows lock")
        .insert(key, workflow.clone());
    Ok(workflow)
}

fn parse_workflow(
    call: &StepCall,
    registry: &techpack_engine::StepRegistry,
) -> Result<Workflow, ApiError> {
    let id = call
        .uses
        .rsplit('/')
        .next()
        .unwrap_or("step")
        .replace('-', "_");
    let text = format!(
        "name: api/{uses}\nversion: 1\ninputs:\n  config: {{ type: object, required: true }}\nsteps:\n  {id}:\n    uses: {uses}\n    credits: {credits}\n    timeout: 5m\n    retry: {{ attempts: 2, initial_delay: 1s }}\n    with: ${{{{ inputs.config }}}}\n",
        uses = call.uses,
        credits = call.credits,
    );
    Workflow::parse(&text, &format!("api/{}", call.uses), registry).map_err(ApiError::internal)
}

/// Runs the step for `user` and answers with its output and the credits it used.
pub async fn run_step(
    state: &AppState,
    user: &str,
    call: StepCall,
    config: Value,
) -> Result<(StatusCode, AnswerFields), ApiError> {
    let registry = state.engine.registry();
    let kind = registry
        .get(&call.uses)
        .ok_or_else(|| ApiError::internal(format!("{} is not registered", call.uses)))?;
    kind.build(&config).map_err(ApiError::bad_request)?;
    let workflow = workflow(&call, registry)?;
    let ledger = Ledger::new(state.engine.store().as_ref());
    if call.credits > 0 && !ledger.can_afford(user, call.credits)? {
        let available = ledger.balance(user)?.available;
        return Err(ApiError::of(
            ErrorCode::InsufficientCredits,
            format!(
                "this costs {} credits; you have {available} available",
                call.credits
            ),
        ));
    }
    let mut inputs = Map::new();
    inputs.insert("config".into(), config);
    // Executed in a tracked task: if the request is dropped (timeout, client gone), the run
    // still reaches a persisted end and settles its credits.
    let (engine, owner) = (state.engine.clone(), Some(user.to_string()));
    let report = state
        .tasks
        .spawn(async move { engine.run_now(&workflow, inputs, owner).await })
        .await
        .map_err(ApiError::internal)??;
    let run = &report.run;
    let mut node = report
        .nodes
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("a one-step run has no node"))?;
    let charged = node.status == NodeStatus::Succeeded && !node.free;
    let credits_used = if charged { call.credits } else { 0 };
    match node.status {
        NodeStatus::Succeeded => {
            // The step's output with camelCase keys (the tech pack keeps its own).
            let mut body = match &node.output {
                Some(output) => step_answer(output).map_err(ApiError::internal)?,
                None => AnswerFields::new(),
            };
            let mut field = |key: &str, value: Value| {
                body.insert(key.into(), JsonText::from_value(&value));
            };
            field("runId", json!(run.id));
            field("creditsUsed", json!(credits_used));
            field("creditsRefunded", json!(call.credits - credits_used));
            field("cached", json!(node.free));
            Ok((StatusCode::OK, body))
        }
        _ => {
            let message = node
                .error
                .take()
                .unwrap_or_else(|| "the step did not finish".into());
            // The step's error class, as the engine records it.
            let failure = node
                .error_code
                .as_deref()
                .and_then(step_failure::api_code_of);
            let code = match failure {
                Some(code) if code != ErrorCode::StepFailed => code,
                _ if node.status == NodeStatus::Cancelled => ErrorCode::Cancelled,
                _ => ErrorCode::StepFailed,
            };
            tracing::info!(run = %run.id, step = %node.step_id, %message, "step failed");
            let mut error = ApiError::of(code, message);
            if code == ErrorCode::Busy {
                error.retry_after = Some(state.services.budget.max_wait().as_secs().max(1));
            }
            if code == ErrorCode::StepFailed {
                // Provider and storage failures are told in one sentence without internals.
                error.message = format!(
                    "{} (credits refunded: {})",
                    error.message.lines().next().unwrap_or(""),
                    call.credits
                );
            }
            Err(error)
        }
    }
}
