//! What a callback says: the run's end, as JSON (camelCase like the rest of the API).
//!
//! Built once, at the delivery's first attempt, and kept with the delivery, so that every
//! attempt sends the same bytes (and signs them afresh with its own timestamp).

use serde_json::{Map, Value, json};
use techpack_engine::credits::{EntryKind, Ledger};
use techpack_engine::store::DeliveryRecord;
use techpack_engine::{Engine, EngineError, NodeStatus};

use crate::server::views::ReportView;

/// A step's output is sent whole up to this many bytes of JSON; a larger one is named with
/// its size (the run's API answer has it whole).
const OUTPUT_INLINE_MAX: usize = 2048;

pub fn build(engine: &Engine, delivery: &DeliveryRecord) -> Result<String, EngineError> {
    let report = engine.report(&delivery.run_id)?;
    let run = &report.run;
    let mut steps = Vec::new();
    let mut outputs = Map::new();
    for node in &report.nodes {
        steps.push(json!({ "id": node.step_id, "status": node.status.as_str(),
            "attempts": node.attempt, "error": node.error }));
        if node.status != NodeStatus::Succeeded {
            continue;
        }
        if let Some(output) = &node.output {
            let size = output.get().len();
            let summary = match size <= OUTPUT_INLINE_MAX {
                true => output.value().unwrap_or(Value::Null),
                false => json!({ "omitted": true, "bytes": size }),
            };
            outputs.insert(node.step_id.clone(), summary);
        }
    }
    let mut body = json!({
        "event": "run.finished",
        "deliveryId": delivery.id,
        "runId": run.id,
        "round": delivery.round,
        "workflow": { "name": run.workflow_name, "version": run.workflow_version,
                      "sha256": run.workflow_sha256 },
        "status": delivery.run_status.as_str(),
        "error": run.error,
        "createdAt": run.created_at,
        "startedAt": run.started_at,
        "finishedAt": run.finished_at,
        "steps": steps,
        "outputs": outputs,
        "credits": credits(engine, run.owner.as_deref(), &run.id)?,
        "links": { "run": format!("/api/runs/{}", run.id) },
    });
    // Whatever the run's API view reports as warnings (tolerated failures), the callback
    // reports too.
    let view = serde_json::to_value(ReportView::from(&report)).unwrap_or(Value::Null);
    if let Some(warnings) = view["run"].get("warnings").filter(|w| !w.is_null()) {
        body["warnings"] = warnings.clone();
    }
    Ok(body.to_string())
}

/// What the run moved in its owner's ledger: held, charged, and given back.
fn credits(engine: &Engine, owner: Option<&str>, run_id: &str) -> Result<Value, EngineError> {
    let (mut reserved, mut charged, mut refunded) = (0u64, 0u64, 0u64);
    if let Some(owner) = owner {
        let ledger = Ledger::new(engine.store().as_ref());
        for entry in ledger.entries(owner)? {
            if entry.run_id.as_deref() != Some(run_id) {
                continue;
            }
            match entry.kind {
                EntryKind::Reserve => reserved += entry.amount,
                EntryKind::Post => charged += entry.amount,
                EntryKind::Void | EntryKind::Expire => refunded += entry.amount,
                EntryKind::Grant | EntryKind::Renew => {}
            }
        }
    }
    Ok(json!({ "reserved": reserved, "charged": charged, "refunded": refunded }))
}
