//! The AI operation log in `ai_operation_logs`.

use techpack_engine::store::postgres::PgPool;
use tokio_postgres::types::Json;

use super::{at, backend, big, records};
use crate::storage::{AiOperation, AiOperationStore, StorageError};

pub(super) struct PgAiLog {
    pool: PgPool,
}

impl PgAiLog {
    pub(super) fn new(pool: PgPool) -> Self {
        PgAiLog { pool }
    }
}

impl AiOperationStore for PgAiLog {
    fn append(&self, op: &AiOperation) -> Result<(), StorageError> {
        self.pool
            .execute(
                "INSERT INTO ai_operation_logs
                     (id, operation, provider, model, kind, user_name, run_id, step_id, status,
                      error, prompt_tokens, completion_tokens, total_tokens, latency_ms, at, record)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 ON CONFLICT (id) DO UPDATE SET
                     operation = EXCLUDED.operation, provider = EXCLUDED.provider,
                     model = EXCLUDED.model, kind = EXCLUDED.kind,
                     user_name = EXCLUDED.user_name, run_id = EXCLUDED.run_id,
                     step_id = EXCLUDED.step_id, status = EXCLUDED.status,
                     error = EXCLUDED.error, prompt_tokens = EXCLUDED.prompt_tokens,
                     completion_tokens = EXCLUDED.completion_tokens,
                     total_tokens = EXCLUDED.total_tokens, latency_ms = EXCLUDED.latency_ms,
                     at = EXCLUDED.at, record = EXCLUDED.record",
                &[
                    &op.id,
                    &op.operation,
                    &op.provider,
                    &op.model,
                    &op.kind,
                    &op.user,
                    &op.run_id,
                    &op.step_id,
                    &op.status,
                    &op.error,
                    &big(op.usage.prompt_tokens),
                    &big(op.usage.completion_tokens),
                    &big(op.usage.total_tokens),
                    &big(op.latency_ms),
                    &at(op.at),
                    &Json(op),
                ],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn list(
        &self,
        run_id: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<AiOperation>, StorageError> {
        // One statement per filter, so each can use its index.
        let rows = match (run_id, user) {
            (None, None) => self
                .pool
                .query("SELECT record FROM ai_operation_logs ORDER BY id", &[]),
            (Some(run_id), None) => self.pool.query(
                "SELECT record FROM ai_operation_logs WHERE run_id = $1 ORDER BY id",
                &[&run_id],
            ),
            (None, Some(user)) => self.pool.query(
                "SELECT record FROM ai_operation_logs WHERE user_name = $1 ORDER BY id",
                &[&user],
            ),
            (Some(run_id), Some(user)) => self.pool.query(
                "SELECT record FROM ai_operation_logs WHERE run_id = $1 AND user_name = $2
                 ORDER BY id",
                &[&run_id, &user],
            ),
        }
        .map_err(backend)?;
        records(&rows)
    }
}
