//! The outbox of completion callbacks: what the store keeps about reporting a run's end.
//!
//! A [`DeliveryRecord`] is queued by the store itself, in the transaction that writes a run's
//! final state when the run has a [`RunRecord::callback`] (one per time the run finishes, so
//! a retried run reports each end). Whoever sends it claims it for a while
//! ([`super::StateStore::claim_deliveries`]), tries once, and saves the attempt
//! ([`super::StateStore::save_delivery`]); a sender that dies leaves its claim to run out, and
//! the delivery is claimed again: at least once.

use serde::{Deserialize, Serialize};

use super::{RunRecord, RunStatus, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: due at [`DeliveryRecord::next_attempt_at`].
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed until the sender's time for it ran out; no more attempts.
    Abandoned,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Abandoned => "abandoned",
        }
    }
}

/// One try at delivering, as the run shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub at: u64,
    pub duration_ms: u64,
    /// The receiver's status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Why the attempt failed (no answer, a refused address, a non-2xx status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reporting one end of one run to its callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// `run_id#round`: unique per end of a run, so queuing it twice is impossible.
    pub id: String,
    pub run_id: String,
    /// The run's [`RunRecord::retries`] when it ended.
    pub round: u32,
    pub url: String,
    pub owner: Option<String>,
    /// The status the run ended with, the one this delivery reports.
    pub run_status: RunStatus,
    pub status: DeliveryStatus,
    pub created_at: u64,
    /// When it is due (pending), or until when its current claim holds it.
    pub next_attempt_at: u64,
    /// The token of the sender holding it now; only that sender's save is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// The body, fixed at the first attempt so that every attempt sends the same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<DeliveryAttempt>,
}

impl DeliveryRecord {
    /// The delivery a run's final state queues: `None` if the run has no callback or has not
    /// finished.
    pub fn for_finished_run(run: &RunRecord) -> Option<DeliveryRecord> {
        let url = run.callback.clone()?;
        if !run.status.is_finished() {
            return None;
        }
        let now = now_ms();
        Some(DeliveryRecord {
            id: format!("{}#{}", run.id, run.retries),
            run_id: run.id.clone(),
            round: run.retries,
            url,
            owner: run.owner.clone(),
            run_status: run.status,
            status: DeliveryStatus::Pending,
            created_at: now,
            next_attempt_at: now,
            claim: None,
            payload: None,
            attempts: Vec::new(),
        })
    }
}
