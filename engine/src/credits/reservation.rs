//! Reservations: credits held for one step of one run until it ends.
//!
//! A step's first reservation has the step's idempotency key as id (`run_id/step_id`). A
//! resolved reservation is final (I3), so if a step needs credits again after its
//! reservation expired (its run was interrupted longer than the hold), the new one is the
//! next generation of the same id: `run_id/step_id#2`, `#3`, …
//!
//! A step that `runs retry` runs again does so in a new round of its run (the node's
//! `round`), whose reservations are the generations of `run_id/step_id/retry-<round>`: new
//! ids, so a retried step reserves afresh whatever an earlier round posted or voided, and
//! what was posted stays posted once.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    /// Holding credits; resolves exactly once into one of the others.
    Pending,
    /// Charged: the step succeeded.
    Posted,
    /// Returned: the step failed, timed out, was cancelled or its output was free.
    Voided,
    /// Returned: the hold ran out before the step ended.
    Expired,
}

impl ReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationState::Pending => "pending",
            ReservationState::Posted => "posted",
            ReservationState::Voided => "voided",
            ReservationState::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// `run_id/step_id`, with `#n` for the n-th generation (n ≥ 2).
    pub id: String,
    pub user: String,
    pub amount: u64,
    pub state: ReservationState,
    pub run_id: String,
    pub step_id: String,
    /// Unix milliseconds.
    pub reserved_at: u64,
    /// When the sweep may expire it if still pending (Unix milliseconds). Until a sweep does,
    /// a pending reservation stays usable: expiry is the sweep's decision, made once.
    pub expires_at: u64,
    /// How many times a resumed step extended the hold; numbers the renew operations.
    #[serde(default)]
    pub renewals: u32,
    pub resolved_at: Option<u64>,
}

/// What a node's reservation ids are generations of: its idempotency key, with the round
/// for a node that `runs retry` ran again.
pub(crate) fn round_key(idempotency_key: &str, round: u32) -> String {
    match round {
        0 => idempotency_key.to_string(),
        round => format!("{idempotency_key}/retry-{round}"),
    }
}

/// The round and generation of a reservation id of node `key` (`None`: another node's).
pub(crate) fn parse_id(key: &str, id: &str) -> Option<(u32, u32)> {
    let rest = id.strip_prefix(key)?;
    let (round, rest) = match rest.strip_prefix("/retry-") {
        Some(rest) => {
            let end = rest.find('#').unwrap_or(rest.len());
            (rest[..end].parse().ok()?, &rest[end..])
        }
        None => (0, rest),
    };
    let generation = match rest {
        "" => 1,
        rest => rest.strip_prefix('#')?.parse().ok()?,
    };
    Some((round, generation))
}

/// The id of generation `generation` (from 1) of the reservation for `key`.
pub(crate) fn generation_id(key: &str, generation: u32) -> String {
    if generation <= 1 {
        key.to_string()
    } else {
        format!("{key}#{generation}")
    }
}
