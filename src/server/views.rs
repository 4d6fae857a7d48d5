//! What the API answers, in camelCase: views of the engine's and the steps' records, whose
//! own (stored) field names stay snake_case. A view names each field it shows, so a field
//! added to a record (such as a run's server-side workflow path) is not shown until a view
//! says so.
//!
//! Data keeps its own names: a run's `inputs`, a step's `output` and the tech-pack document
//! (`techPack`, whose schema is published in `steps/schema/`) are shown as they are.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use techpack_engine::credits::LedgerEntry;
use techpack_engine::store::{DeliveryRecord, DeliveryStatus};
use techpack_engine::{AttemptOutcome, JsonText, NodeRecord, RunEvent, RunRecord, RunReport};
use techpack_steps::storage::{
    AiOperation, CloseUpRecord, ImageRevision, Product, RevisionOrigin, SketchRecord,
};
use techpack_steps::techpack::View;

use super::workflow_folder::WorkflowStatus;

/// A run: its workflow by name, version and sha256 (never the file it was read from).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView<'a> {
    id: &'a str,
    workflow_name: &'a str,
    workflow_version: &'a str,
    workflow_sha256: &'a str,
    #[schema(value_type = Object)]
    inputs: &'a Map<String, Value>,
    status: &'static str,
    owner: Option<&'a str>,
    created_at: u64,
    started_at: Option<u64>,
    finished_at: Option<u64>,
    error: Option<&'a str>,
    resumes: u32,
    /// How many times the run was retried (`POST /api/runs/{id}/retry`).
    retries: u32,
    /// The run this one replays, and the step it replays from.
    parent_run_id: Option<&'a str>,
    replay_from: Option<&'a str>,
    /// The steps that failed with `continue_on_error`: a `succeeded` run with an empty list
    /// is a clean success, one with warnings succeeded with tolerated failures.
    warnings: Vec<WarningView<'a>>,
}

/// A tolerated failure of a run.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarningView<'a> {
    step: &'a str,
    message: &'a str,
    /// The step's failure code (`docs/error-codes.md`).
    code: Option<&'a str>,
}

impl<'a> From<&'a RunRecord> for RunView<'a> {
    fn from(run: &'a RunRecord) -> Self {
        RunView {
            id: &run.id,
            workflow_name: &run.workflow_name,
            workflow_version: &run.workflow_version,
            workflow_sha256: &run.workflow_sha256,
            inputs: &run.inputs,
            status: run.status.as_str(),
            owner: run.owner.as_deref(),
            created_at: run.created_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            error: run.error.as_deref(),
            resumes: run.resumes,
            retries: run.retries,
            parent_run_id: run.parent_run_id.as_deref(),
            replay_from: run.replay_from.as_deref(),
            warnings: run
                .warnings
                .iter()
                .map(|w| WarningView {
                    step: &w.step,
                    message: &w.message,
                    code: w.code.as_deref(),
                })
                .collect(),
        }
    }
}

/// One step of a run.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView<'a> {
    run_id: &'a str,
    step_id: &'a str,
    status: &'static str,
    attempt: u32,
    idempotency_key: &'a str,
    #[schema(value_type = Option<Value>)]
    output: Option<&'a JsonText>,
    error: Option<&'a str>,
    /// Why it failed, as a step failure code (`docs/error-codes.md`).
    error_code: Option<&'a str>,
    started_at: Option<u64>,
    finished_at: Option<u64>,
    /// The output came from the cache; its credits were refunded.
    free: bool,
    /// The run's retry this step last ran in (0: its first execution).
    round: u32,
    /// Every ended attempt, oldest first, across retries and restarts.
    attempts: Vec<AttemptView<'a>>,
    /// The run whose output this step took without running (a replay's upstream steps).
    reused_from: Option<&'a str>,
    /// The step failed and has `continue_on_error`: the run went on without it.
    tolerated: bool,
}

/// How one attempt of a step ended.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView<'a> {
    attempt: u32,
    round: u32,
    #[schema(value_type = String)]
    outcome: AttemptOutcome,
    error: Option<&'a str>,
    /// Why it failed, as a step failure code (`docs/error-codes.md`).
    error_code: Option<&'a str>,
    started_at: Option<u64>,
    finished_at: Option<u64>,
}

impl<'a> From<&'a NodeRecord> for NodeView<'a> {
    fn from(node: &'a NodeRecord) -> Self {
        NodeView {
            run_id: &node.run_id,
            step_id: &node.step_id,
            status: node.status.as_str(),
            attempt: node.attempt,
            idempotency_key: &node.idempotency_key,
            output: node.output.as_ref(),
            error: node.error.as_deref(),
            error_code: node.error_code.as_deref(),
            started_at: node.started_at,
            finished_at: node.finished_at,
            free: node.free,
            round: node.round,
            attempts: node
                .attempts
                .iter()
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    round: a.round,
                    outcome: a.outcome,
                    error: a.error.as_deref(),
                    error_code: a.error_code.as_deref(),
                    started_at: a.started_at,
                    finished_at: a.finished_at,
                })
                .collect(),
            reused_from: node.reused_from.as_deref(),
            tolerated: node.tolerated,
        }
    }
}

/// `GET /api/runs/{id}` and the `snapshot` event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportView<'a> {
    run: RunView<'a>,
    nodes: Vec<NodeView<'a>>,
}

impl<'a> From<&'a RunReport> for ReportView<'a> {
    fn from(report: &'a RunReport) -> Self {
        ReportView {
            run: (&report.run).into(),
            nodes: report.nodes.iter().map(NodeView::from).collect(),
        }
    }
}

/// A `node` or `run` event of `/api/runs/{id}/events`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView<'a> {
    run_id: &'a str,
    step_id: Option<&'a str>,
    status: &'a str,
    attempt: u32,
    message: Option<&'a str>,
    at: u64,
}

impl<'a> From<&'a RunEvent> for EventView<'a> {
    fn from(event: &'a RunEvent) -> Self {
        EventView {
            run_id: &event.run_id,
            step_id: event.step_id.as_deref(),
            status: &event.status,
            attempt: event.attempt,
            message: event.message.as_deref(),
            at: event.at,
        }
    }
}

/// One completion callback of a run (`GET /api/runs/{id}`'s `deliveries`): where to, how it
/// stands, and every attempt. Not its body's signature, nor anything of the secret.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView<'a> {
    id: &'a str,
    url: &'a str,
    /// The run's retry whose end it reports (0: the first end).
    round: u32,
    /// The run status it reports.
    run_status: &'static str,
    /// `pending`, `delivered` or `abandoned`.
    status: &'static str,
    created_at: u64,
    /// When the next attempt is due, while pending.
    next_attempt_at: Option<u64>,
    attempts: Vec<DeliveryAttemptView<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttemptView<'a> {
    at: u64,
    duration_ms: u64,
    http_status: Option<u16>,
    /// Why it failed; none when it was delivered.
    error: Option<&'a str>,
}

impl<'a> From<&'a DeliveryRecord> for DeliveryView<'a> {
    fn from(delivery: &'a DeliveryRecord) -> Self {
        DeliveryView {
            id: &delivery.id,
            url: &delivery.url,
            round: delivery.round,
            run_status: delivery.run_status.as_str(),
            status: delivery.status.as_str(),
            created_at: delivery.created_at,
            next_attempt_at: (delivery.status == DeliveryStatus::Pending)
                .then_some(delivery.next_attempt_at),
            attempts: delivery
                .attempts
                .iter()
                .map(|a| DeliveryAttemptView {
                    at: a.at,
                    duration_ms: a.duration_ms,
                    http_status: a.http_status,
                    error: a.error.as_deref(),
                })
                .collect(),
        }
    }
}

/// The final `run` event when the stream learns of the end from the store, not from an event.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunEndView<'a> {
    pub run_id: &'a str,
    pub status: &'static str,
}

/// One entry of the caller's ledger.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntryView<'a> {
    seq: u64,
    operation_id: &'a str,
    kind: &'static str,
    user: &'a str,
    amount: u64,
    from: &'a str,
    to: &'a str,
    reservation_id: Option<&'a str>,
    run_id: Option<&'a str>,
    step_id: Option<&'a str>,
    at: u64,
    expires_at: Option<u64>,
}

impl<'a> From<&'a LedgerEntry> for LedgerEntryView<'a> {
    fn from(entry: &'a LedgerEntry) -> Self {
        LedgerEntryView {
            seq: entry.seq,
            operation_id: &entry.op_id,
            kind: entry.kind.as_str(),
            user: &entry.user,
            amount: entry.amount,
            from: &entry.from,
            to: &entry.to,
            reservation_id: entry.reservation_id.as_deref(),
            run_id: entry.run_id.as_deref(),
            step_id: entry.step_id.as_deref(),
            at: entry.at,
            expires_at: entry.expires_at,
        }
    }
}

/// One provider call of the AI operation log.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AiOperationView<'a> {
    id: &'a str,
    operation: &'a str,
    provider: &'a str,
    model: &'a str,
    kind: &'a str,
    user: Option<&'a str>,
    run_id: Option<&'a str>,
    step_id: Option<&'a str>,
    input_summary: &'a str,
    output_summary: &'a str,
    usage: UsageView,
    latency_ms: u64,
    status: &'a str,
    error: Option<&'a str>,
    at: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct UsageView {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

impl<'a> From<&'a AiOperation> for AiOperationView<'a> {
    fn from(operation: &'a AiOperation) -> Self {
        AiOperationView {
            id: &operation.id,
            operation: &operation.operation,
            provider: &operation.provider,
            model: &operation.model,
            kind: &operation.kind,
            user: operation.user.as_deref(),
            run_id: operation.run_id.as_deref(),
            step_id: operation.step_id.as_deref(),
            input_summary: &operation.input_summary,
            output_summary: &operation.output_summary,
            usage: UsageView {
                prompt_tokens: operation.usage.prompt_tokens,
                completion_tokens: operation.usage.completion_tokens,
                total_tokens: operation.usage.total_tokens,
            },
            latency_ms: operation.latency_ms,
            status: &operation.status,
            error: operation.error.as_deref(),
            at: operation.at,
        }
    }
}

/// A workflow of the folder, named by its file name: the folder is the server's.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowView<'a> {
    name: &'a str,
    file: &'a str,
    version: Option<&'a str>,
    sha256: Option<&'a str>,
    errors: Option<String>,
    steps: usize,
}

impl<'a> From<&'a WorkflowStatus> for WorkflowView<'a> {
    fn from(status: &'a WorkflowStatus) -> Self {
        let file = std::path::Path::new(&status.file)
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        WorkflowView {
            name: &status.name,
            file,
            version: status.version.as_deref(),
            sha256: status.sha256.as_deref(),
            // The messages locate problems by the file's path; the file name is enough.
            errors: status
                .errors
                .as_ref()
                .map(|errors| errors.replace(&status.file, file)),
            steps: status.steps,
        }
    }
}

/// A product.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    id: String,
    name: String,
    description: Option<String>,
    /// The user it belongs to (the caller).
    owner: Option<String>,
    created_at: u64,
}

impl From<Product> for ProductView {
    fn from(product: Product) -> Self {
        ProductView {
            id: product.id,
            name: product.name,
            description: product.description,
            owner: product.owner,
            created_at: product.created_at,
        }
    }
}

/// One version of one view's photo.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionView {
    id: String,
    product_id: String,
    view: ViewName,
    /// 1, 2, … per product and view.
    version: u32,
    /// The revision of this view that analyses use; exactly one per view.
    is_current: bool,
    image_hash: String,
    mime: String,
    width: u32,
    height: u32,
    origin: OriginView,
    created_at: u64,
}

/// Where a revision came from: an upload, or `techpack/regenerate` from another revision.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum OriginView {
    Upload,
    #[serde(rename_all = "camelCase")]
    Regenerated {
        from_revision_id: String,
        prompt: Option<String>,
    },
}

/// A photo's view.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViewName {
    Front,
    Back,
    Side,
    Top,
    Detail,
}

impl From<View> for ViewName {
    fn from(view: View) -> Self {
        match view {
            View::Front => ViewName::Front,
            View::Back => ViewName::Back,
            View::Side => ViewName::Side,
            View::Top => ViewName::Top,
            View::Detail => ViewName::Detail,
        }
    }
}

impl From<&ImageRevision> for RevisionView {
    fn from(revision: &ImageRevision) -> Self {
        RevisionView {
            id: revision.id.clone(),
            product_id: revision.product_id.clone(),
            view: revision.view.into(),
            version: revision.version,
            is_current: revision.is_current,
            image_hash: revision.image_hash.clone(),
            mime: revision.mime.clone(),
            width: revision.width,
            height: revision.height,
            origin: match &revision.origin {
                RevisionOrigin::Upload => OriginView::Upload,
                RevisionOrigin::Regenerated {
                    from_revision_id,
                    prompt,
                } => OriginView::Regenerated {
                    from_revision_id: from_revision_id.clone(),
                    prompt: prompt.clone(),
                },
            },
            created_at: revision.created_at,
        }
    }
}

/// What `POST /api/products/{id}/images` answers: the new revision.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadView {
    revision_id: String,
    image_hash: String,
    version: u32,
    view: ViewName,
    is_current: bool,
    width: u32,
    height: u32,
    product_id: String,
}

impl From<&ImageRevision> for UploadView {
    fn from(revision: &ImageRevision) -> Self {
        UploadView {
            revision_id: revision.id.clone(),
            image_hash: revision.image_hash.clone(),
            version: revision.version,
            view: revision.view.into(),
            is_current: revision.is_current,
            width: revision.width,
            height: revision.height,
            product_id: revision.product_id.clone(),
        }
    }
}

/// A technical flat made for a product.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SketchImageView {
    id: String,
    analysis_id: String,
    view: ViewName,
    image_hash: String,
    width: u32,
    height: u32,
    created_at: u64,
}

impl From<&SketchRecord> for SketchImageView {
    fn from(sketch: &SketchRecord) -> Self {
        SketchImageView {
            id: sketch.id.clone(),
            analysis_id: sketch.analysis_id.clone(),
            view: sketch.view.into(),
            image_hash: sketch.image_hash.clone(),
            width: sketch.width,
            height: sketch.height,
            created_at: sketch.created_at,
        }
    }
}

/// A close-up made for a product.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloseUpImageView {
    id: String,
    analysis_id: String,
    detail: String,
    image_hash: String,
    created_at: u64,
}

impl From<&CloseUpRecord> for CloseUpImageView {
    fn from(close_up: &CloseUpRecord) -> Self {
        CloseUpImageView {
            id: close_up.id.clone(),
            analysis_id: close_up.analysis_id.clone(),
            detail: close_up.detail.clone(),
            image_hash: close_up.image_hash.clone(),
            created_at: close_up.created_at,
        }
    }
}

/// Keys whose values are tech-pack data (the document, a view's or a close-up's analysis,
/// callouts, an edited field's values): shown with their own names.
const DOCUMENT_KEYS: &[&str] = &[
    "tech_pack",
    "analyses",
    "analysis",
    "callouts",
    "old_value",
    "new_value",
    "result",
];

/// An answer's fields, each as JSON text: written out verbatim, in key order.
pub type AnswerFields = BTreeMap<String, JsonText>;

/// A tech-pack step's output as an answer's fields: every key camelCase, except inside the
/// values of [`DOCUMENT_KEYS`], which keep their names (only their own key is renamed). An
/// output that is not an object is the field `result`.
///
/// Only the output's top level is read: a field that is a document or a scalar is copied as
/// it was stored, so a tech pack goes from the step to the answer without being parsed.
pub fn step_answer(output: &JsonText) -> Result<AnswerFields, serde_json::Error> {
    if !output.get().starts_with('{') {
        let mut value = output.value()?;
        camel_case_keys(&mut value);
        return Ok(BTreeMap::from([(
            "result".to_string(),
            JsonText::from_value(&value),
        )]));
    }
    let fields: BTreeMap<String, &RawValue> = serde_json::from_str(output.get())?;
    let mut answer = BTreeMap::new();
    for (key, raw) in fields {
        let nested = raw.get().starts_with(['{', '[']);
        let text = if nested && !DOCUMENT_KEYS.contains(&key.as_str()) {
            let mut value: Value = serde_json::from_str(raw.get())?;
            camel_case_keys(&mut value);
            JsonText::from_value(&value)
        } else {
            JsonText::from(raw)
        };
        answer.insert(camel_case(&key), text);
    }
    Ok(answer)
}

fn camel_case_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut inner) in entries {
                if !DOCUMENT_KEYS.contains(&key.as_str()) {
                    camel_case_keys(&mut inner);
                }
                map.insert(camel_case(&key), inner);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(camel_case_keys),
        _ => {}
    }
}

fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer_of(output: Value) -> Value {
        let fields = step_answer(&JsonText::from_value(&output)).unwrap();
        serde_json::to_value(fields).unwrap()
    }

    #[test]
    fn keys_become_camel_case_but_the_tech_pack_keeps_its_names() {
        let answer = answer_of(json!({
            "analysis_id": "an_1",
            "tech_pack": { "points_of_measure": [], "views": [{ "bom_lines": [] }] },
            "close_ups": [{ "image_hash": "h", "analysis": { "stitch_type": "x" } }],
            "old_value": { "weight_or_thickness": 1 },
            "creditsUsed": 3,
        }));
        assert_eq!(
            answer,
            json!({
                "analysisId": "an_1",
                "techPack": { "points_of_measure": [], "views": [{ "bom_lines": [] }] },
                "closeUps": [{ "imageHash": "h", "analysis": { "stitch_type": "x" } }],
                "oldValue": { "weight_or_thickness": 1 },
                "creditsUsed": 3,
            })
        );
    }

    #[test]
    fn an_output_that_is_not_an_object_is_the_result() {
        assert_eq!(answer_of(json!(3)), json!({ "result": 3 }));
        assert_eq!(
            answer_of(json!([{ "image_hash": "h" }])),
            json!({ "result": [{ "imageHash": "h" }] })
        );
    }

    #[test]
    fn a_document_is_copied_as_stored() {
        let output =
            JsonText::parse(r#"{"tech_pack":{"z_last":1, "a_first":[2.50]},"run_count":7}"#.into())
                .unwrap();
        let fields = step_answer(&output).unwrap();
        assert_eq!(
            fields["techPack"].get(),
            r#"{"z_last":1, "a_first":[2.50]}"#
        );
        assert_eq!(
            serde_json::to_string(&fields).unwrap(),
            r#"{"runCount":7,"techPack":{"z_last":1, "a_first":[2.50]}}"#
        );
    }
}
