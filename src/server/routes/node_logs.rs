//! `GET /api/runs/{id}/nodes/{step}/logs`: what a step of the caller's run logged, per attempt.
//! Lines are text as the step wrote them; the console shows them as text.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use techpack_engine::step::{AttemptLog, LogLevel};

use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;

#[derive(Serialize, utoipa::ToSchema)]
pub struct NodeLogs {
    /// Oldest attempt first; attempts that logged nothing are left out.
    attempts: Vec<AttemptLogView>,
}

/// One attempt's last lines (at most 200, 64 KiB of text; a line is cut at 2 KiB).
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptLogView {
    attempt: u32,
    lines: Vec<LogLineView>,
    /// Older lines dropped to stay within the bounds.
    dropped: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LogLineView {
    /// Unix milliseconds.
    at: u64,
    #[schema(pattern = "^(info|warn|error)$")]
    level: &'static str,
    text: String,
}

impl From<AttemptLog> for AttemptLogView {
    fn from(log: AttemptLog) -> Self {
        AttemptLogView {
            attempt: log.attempt,
            dropped: log.dropped,
            lines: log
                .lines
                .into_iter()
                .map(|line| LogLineView {
                    at: line.at,
                    level: match line.level {
                        LogLevel::Info => "info",
                        LogLevel::Warn => "warn",
                        LogLevel::Error => "error",
                    },
                    text: line.text,
                })
                .collect(),
        }
    }
}

/// A step's log lines, per attempt
#[utoipa::path(get, path = "/api/runs/{id}/nodes/{step}/logs", tag = "runs",
    params(("id" = String, Path, description = "the run's id"),
        ("step" = String, Path, description = "the step's id")),
    responses(
        (status = 200, description = "the step's lines, per attempt", body = NodeLogs),
        (status = 404, description = "no such run of the caller's (`not_found`)")))]
pub async fn logs(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((id, step)): Path<(String, String)>,
) -> Result<Json<NodeLogs>, ApiError> {
    let attempts = tokio::task::spawn_blocking(move || {
        let store = state.engine.store();
        let run = store.run(&id)?;
        if run.and_then(|run| run.owner).as_deref() != Some(user.name.as_str()) {
            return Err(ApiError::not_found("run", &id));
        }
        Ok(store.attempt_logs(&id, &step)?)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(NodeLogs {
        attempts: attempts.into_iter().map(AttemptLogView::from).collect(),
    }))
}
