//! `/metrics` in Prometheus text format, computed from the store on each scrape so it is
//! always consistent with it: runs and steps by status, step durations, provider calls and
//! tokens, credits reserved / posted / refunded.

use std::collections::BTreeMap;
use std::fmt::Write;

use techpack_engine::credits::{EntryKind, Ledger};

use super::AppState;
use super::error::ApiError;

const DURATION_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

pub fn render(state: &AppState) -> Result<String, ApiError> {
    let store = state.engine.store();
    let mut out = String::new();
    let runs = store.runs()?;
    let mut run_status: BTreeMap<&str, u64> = BTreeMap::new();
    let mut step_status: BTreeMap<&str, u64> = BTreeMap::new();
    let mut durations = Vec::new();
    for run in &runs {
        *run_status.entry(run.status.as_str()).or_default() += 1;
        for node in state.engine.nodes(run)? {
            *step_status.entry(node.status.as_str()).or_default() += 1;
            if let (Some(start), Some(end)) = (node.started_at, node.finished_at) {
                durations.push(end.saturating_sub(start) as f64 / 1000.0);
            }
        }
    }
    out.push_str("# HELP techpack_runs Runs in the store by status.\n# TYPE techpack_runs gauge\n");
    for (status, n) in &run_status {
        let _ = writeln!(out, "techpack_runs{{status=\"{status}\"}} {n}");
    }
    out.push_str(
        "# HELP techpack_steps Steps of stored runs by status.\n# TYPE techpack_steps gauge\n",
    );
    for (status, n) in &step_status {
        let _ = writeln!(out, "techpack_steps{{status=\"{status}\"}} {n}");
    }
    out.push_str("# HELP techpack_step_duration_seconds Wall time of finished steps.\n# TYPE techpack_step_duration_seconds histogram\n");
    for bucket in DURATION_BUCKETS {
        let n = durations.iter().filter(|d| **d <= bucket).count();
        let _ = writeln!(
            out,
            "techpack_step_duration_seconds_bucket{{le=\"{bucket}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "techpack_step_duration_seconds_bucket{{le=\"+Inf\"}} {}",
        durations.len()
    );
    let _ = writeln!(
        out,
        "techpack_step_duration_seconds_sum {}",
        durations.iter().sum::<f64>()
    );
    let _ = writeln!(
        out,
        "techpack_step_duration_seconds_count {}",
        durations.len()
    );

    let mut calls: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut tokens: BTreeMap<(String, &str), u64> = BTreeMap::new();
    for op in state.services.catalog.ai_log.list(None, None)? {
        *calls
            .entry((op.provider.clone(), op.status.clone()))
            .or_default() += 1;
        *tokens.entry((op.provider.clone(), "prompt")).or_default() += op.usage.prompt_tokens;
        *tokens
            .entry((op.provider.clone(), "completion"))
            .or_default() += op.usage.completion_tokens;
    }
    out.push_str("# HELP techpack_provider_calls_total Model calls by provider and outcome.\n# TYPE techpack_provider_calls_total counter\n");
    for ((provider, status), n) in &calls {
        let _ = writeln!(
            out,
            "techpack_provider_calls_total{{provider=\"{provider}\",status=\"{status}\"}} {n}"
        );
    }
    out.push_str("# HELP techpack_provider_tokens_total Tokens reported by providers.\n# TYPE techpack_provider_tokens_total counter\n");
    for ((provider, kind), n) in &tokens {
        let _ = writeln!(
            out,
            "techpack_provider_tokens_total{{provider=\"{provider}\",kind=\"{kind}\"}} {n}"
        );
    }

    let mut credits: BTreeMap<&str, u64> = BTreeMap::from([
        ("reserved", 0),
        ("posted", 0),
        ("refunded", 0),
        ("expired", 0),
        ("granted", 0),
    ]);
    for entry in Ledger::new(store.as_ref()).all_entries()? {
        let kind = match entry.kind {
            EntryKind::Reserve => "reserved",
            EntryKind::Post => "posted",
            EntryKind::Void => "refunded",
            EntryKind::Expire => "expired",
            EntryKind::Grant => "granted",
            _ => continue,
        };
        *credits.entry(kind).or_default() += entry.amount;
    }
    out.push_str("# HELP techpack_credits_total Credits moved through the ledger, by kind.\n# TYPE techpack_credits_total counter\n");
    for (kind, n) in &credits {
        let _ = writeln!(out, "techpack_credits_total{{kind=\"{kind}\"}} {n}");
    }
    Ok(out)
}
