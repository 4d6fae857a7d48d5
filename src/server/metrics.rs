//! `/metrics` in Prometheus text format. Counters are this process's, kept as things happen
//! (the engine's [`techpack_engine::executor::Counters`], the AI operation log's tallies):
//! several workers on one database each report what they did, and Prometheus sums them and
//! handles restarts. The `techpack_runs` gauge is the store's now, from its index of
//! unfinished runs, so a scrape costs the same however many runs the store has kept.

use std::fmt::{Display, Write};

use techpack_engine::credits::EntryKind;

use super::AppState;
use super::error::ApiError;

pub fn render(state: &AppState) -> Result<String, ApiError> {
    let mut out = String::new();
    let unfinished = state.engine.store().count_unfinished_runs()?;
    family(
        &mut out,
        ("techpack_runs", "gauge"),
        "Runs in the store that have not finished, by status (the same on every worker).",
        [
            ("queued", unfinished.queued),
            ("pending", unfinished.pending),
            ("running", unfinished.running),
        ]
        .map(|(status, n)| (label("status", status), n)),
    );

    let counters = state.engine.counters();
    family(
        &mut out,
        ("techpack_runs_finished_total", "counter"),
        "Runs this process finished, by final status.",
        counters
            .runs_finished
            .iter()
            .map(|(status, n)| (label("status", status.as_str()), n)),
    );
    family(
        &mut out,
        ("techpack_steps_finished_total", "counter"),
        "Steps this process finished, by final status.",
        counters
            .steps_finished
            .iter()
            .map(|(status, n)| (label("status", status.as_str()), n)),
    );
    let count = counters.step_duration_count;
    family(
        &mut out,
        ("techpack_step_duration_seconds", "histogram"),
        "Wall time of the steps this process finished, from their first attempt's start.",
        counters
            .step_duration_buckets
            .iter()
            .map(|(le, n)| (label("le", le), *n))
            .chain([(label("le", "+Inf"), count)]),
    );
    let _ = writeln!(
        out,
        "techpack_step_duration_seconds_sum {}\ntechpack_step_duration_seconds_count {count}",
        counters.step_duration_seconds
    );

    let tallies = state.services.catalog.ai_log.tallies();
    family(
        &mut out,
        ("techpack_provider_calls_total", "counter"),
        "Model calls this process made, by provider and outcome.",
        tallies.iter().flat_map(|(provider, tally)| {
            let provider = label("provider", provider);
            [("ok", tally.ok), ("error", tally.errors)]
                .map(|(status, n)| (format!("{provider},{}", label("status", status)), n))
        }),
    );
    family(
        &mut out,
        ("techpack_provider_tokens_total", "counter"),
        "Tokens providers reported for this process's calls.",
        tallies.iter().flat_map(|(provider, tally)| {
            let provider = label("provider", provider);
            [
                ("prompt", tally.prompt_tokens),
                ("completion", tally.completion_tokens),
            ]
            .map(|(kind, n)| (format!("{provider},{}", label("kind", kind)), n))
        }),
    );

    family(
        &mut out,
        ("techpack_credits_total", "counter"),
        "Credits moved by the steps this process ran, by kind.",
        counters.credits.iter().filter_map(|(kind, n)| {
            let kind = match kind {
                EntryKind::Reserve => "reserved",
                EntryKind::Post => "posted",
                EntryKind::Void => "refunded",
                _ => return None,
            };
            Some((label("kind", kind), n))
        }),
    );
    Ok(out)
}

/// A metric family: its `# HELP` and `# TYPE` lines, then one sample per `(labels, value)`
/// (a histogram's samples are its buckets).
fn family<V: Display>(
    out: &mut String,
    (name, kind): (&str, &str),
    help: &str,
    samples: impl IntoIterator<Item = (String, V)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    let suffix = if kind == "histogram" { "_bucket" } else { "" };
    for (labels, n) in samples {
        let _ = writeln!(out, "{name}{suffix}{{{labels}}} {n}");
    }
}

/// One label, `name="value"`.
fn label(name: &str, value: impl Display) -> String {
    format!("{name}=\"{value}\"")
}
