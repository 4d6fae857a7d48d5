//! Expiring reservations whose hold ran out, so credits held by a run that is never resumed
//! come back (I7: nothing stays pending past its expiry plus one sweep).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Ledger;
use crate::EngineError;
use crate::store::{StateStore, now_ms};

impl Ledger<'_> {
    /// Expires every pending reservation whose hold ran out by `now_ms`, each in its own
    /// transaction; returns how many it expired. Reservations resolved meanwhile are left
    /// alone (a resolution is final).
    pub fn sweep_expired(&self, now_ms: u64) -> Result<usize, EngineError> {
        // The index is ordered by expiry, so the due ones come first.
        let due: Vec<String> = self
            .read(|t| t.pending())?
            .into_iter()
            .take_while(|(expires_at, _)| *expires_at <= now_ms)
            .map(|(_, id)| id)
            .collect();
        let mut expired = 0;
        for id in due {
            if self.transact(|books| books.expire_if_due(&id, now_ms))? {
                expired += 1;
            }
        }
        Ok(expired)
    }
}

/// Sweeps at once (holds may have run out while the server was down), then every `every`
/// until `stop` fires. A failed sweep is logged and retried next time.
pub async fn sweep_periodically(
    store: Arc<dyn StateStore>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        let store = store.clone();
        let swept = tokio::task::spawn_blocking(move || {
            Ledger::new(store.as_ref()).sweep_expired(now_ms())
        })
        .await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(expired)) => {
                tracing::info!(expired, "expired credit reservations whose hold ran out")
            }
            Ok(Err(error)) => tracing::warn!(%error, "credit reservation sweep failed"),
            Err(error) => tracing::warn!(%error, "credit reservation sweep panicked"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
