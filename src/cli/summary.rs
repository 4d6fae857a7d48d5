//! The per-step table printed when a run ends and by `runs show`.

use std::fmt::Write;

use techpack_engine::{NodeStatus, RunReport, RunStatus};

pub fn format_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// The run's status (an unfinished run that no process executes is `interrupted`).
pub fn run_status(report_status: RunStatus) -> &'static str {
    match report_status {
        RunStatus::Running => "interrupted (resumable)",
        other => other.as_str(),
    }
}

pub fn render(report: &RunReport, live: bool) -> String {
    let run = &report.run;
    let mut out = String::new();
    let status = if live {
        run.status.as_str()
    } else {
        run_status(run.status)
    };
    let elapsed = match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => format!(" in {}", format_ms(end.saturating_sub(start))),
        _ => String::new(),
    };
    let warned = match run.warnings.len() {
        0 => String::new(),
        1 => " with 1 warning".to_string(),
        n => format!(" with {n} warnings"),
    };
    let _ = writeln!(
        out,
        "run {} ({} v{}) {status}{warned}{elapsed}",
        run.id, run.workflow_name, run.workflow_version
    );
    if let (Some(parent), Some(from)) = (&run.parent_run_id, &run.replay_from) {
        let _ = writeln!(out, "  replays run {parent} from step `{from}`");
    }
    if run.retries > 0 {
        let _ = writeln!(out, "  retried {} time(s)", run.retries);
    }
    if let Some(error) = &run.error {
        let _ = writeln!(out, "  {error}");
    }
    for warning in &run.warnings {
        let _ = writeln!(
            out,
            "  warning: step `{}` failed (tolerated, continue_on_error): {}",
            warning.step,
            warning.message.lines().next().unwrap_or("")
        );
    }
    let width = report
        .nodes
        .iter()
        .map(|n| n.step_id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "  {:width$}  {:10}  {:8}  {:>8}  NOTE",
        "STEP", "STATUS", "ATTEMPTS", "TIME"
    );
    for node in &report.nodes {
        let time = match node.status {
            NodeStatus::Pending | NodeStatus::Skipped => "-".to_string(),
            _ => node
                .elapsed_ms()
                .map(format_ms)
                .unwrap_or_else(|| "-".into()),
        };
        let status = match (node.status, live) {
            (NodeStatus::Running, false) => "interrupted",
            (status, _) => status.as_str(),
        };
        let taken = node
            .reused_from
            .as_ref()
            .map(|r| format!("output taken from run {r}"));
        let tolerated = node
            .tolerated
            .then(|| format!("tolerated: {}", node.error.as_deref().unwrap_or("failed")));
        let note = tolerated
            .as_deref()
            .or(node.error.as_deref())
            .or(taken.as_deref())
            .unwrap_or(if node.free { "free" } else { "" });
        let _ = writeln!(
            out,
            "  {:width$}  {:10}  {:8}  {:>8}  {}",
            node.step_id,
            status,
            node.attempt,
            time,
            note.lines().next().unwrap_or("")
        );
    }
    out
}
