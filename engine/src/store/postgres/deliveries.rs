//! Completion callbacks' outbox in PostgreSQL (`callback_deliveries`): queued in the run's
//! final transaction, claimed by one worker at a time with `FOR UPDATE SKIP LOCKED`.

use super::ledger::{from_json, owned, to_json};
use super::pool::{PgError, PgPool, PgTxn};
use super::state::store_error;
use crate::EngineError;
use crate::store::{DeliveryRecord, RunRecord};

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Queues the delivery of `run`'s end, if it has a callback and has finished; a second
/// commit of the same end finds the row there and adds nothing.
pub(super) fn queue_for(txn: &mut PgTxn<'_>, run: &RunRecord) -> Result<(), PgError> {
    let Some(delivery) = DeliveryRecord::for_finished_run(run) else {
        return Ok(());
    };
    let record = to_json(&delivery);
    txn.defer(
        "INSERT INTO callback_deliveries (id, run_id, status, next_attempt_at, record)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        vec![
            owned(delivery.id),
            owned(delivery.run_id),
            owned(delivery.status.as_str()),
            owned(int(delivery.next_attempt_at)),
            owned(record),
        ],
    )
}

/// The due pending rows, claimed in one statement: the CTE locks the rows it picks and skips
/// those another worker's claim holds locked, so two workers never claim the same row.
pub(super) fn claim(
    pool: &PgPool,
    now: u64,
    hold_ms: u64,
    limit: usize,
) -> Result<Vec<DeliveryRecord>, EngineError> {
    let token = uuid::Uuid::now_v7().simple().to_string();
    let until = int(now.saturating_add(hold_ms));
    let rows = pool
        .query(
            "WITH due AS (
                 SELECT id FROM callback_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT $2
                 FOR UPDATE SKIP LOCKED)
             UPDATE callback_deliveries d
             SET claim = $3, next_attempt_at = $4,
                 record = jsonb_set(jsonb_set(d.record, '{claim}', to_jsonb($3::text)),
                                    '{next_attempt_at}', to_jsonb($4::bigint))
             FROM due WHERE d.id = due.id
             RETURNING d.record",
            &[
                &int(now),
                &i64::try_from(limit).unwrap_or(i64::MAX),
                &token,
                &until,
            ],
        )
        .map_err(store_error)?;
    let mut claimed: Vec<DeliveryRecord> = rows
        .into_iter()
        .map(|row| from_json("a callback delivery", row.get(0)))
        .collect::<Result<_, _>>()?;
    claimed.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(claimed)
}

/// Writes an attempt's outcome, only while `claim` is still the row's.
pub(super) fn save(
    pool: &PgPool,
    delivery: &DeliveryRecord,
    claim: &str,
) -> Result<bool, EngineError> {
    let changed = pool
        .execute(
            "UPDATE callback_deliveries
             SET status = $2, next_attempt_at = $3, claim = $4, record = $5
             WHERE id = $1 AND claim = $6",
            &[
                &delivery.id,
                &delivery.status.as_str(),
                &int(delivery.next_attempt_at),
                &delivery.claim,
                &to_json(delivery),
                &claim,
            ],
        )
        .map_err(store_error)?;
    Ok(changed == 1)
}

pub(super) fn of_run(pool: &PgPool, run_id: &str) -> Result<Vec<DeliveryRecord>, EngineError> {
    let mut deliveries: Vec<DeliveryRecord> = pool
        .query(
            "SELECT record FROM callback_deliveries WHERE run_id = $1",
            &[&run_id],
        )
        .map_err(store_error)?
        .into_iter()
        .map(|row| from_json(&format!("a callback delivery of run {run_id}"), row.get(0)))
        .collect::<Result<_, _>>()?;
    deliveries.sort_by_key(|d| d.round);
    Ok(deliveries)
}
