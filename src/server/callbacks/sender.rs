//! The sender: claims due deliveries from the store, makes one attempt at each, and saves
//! how it went. Runs in every `techpack serve`; on PostgreSQL any number of workers share the
//! outbox, each delivery claimed by one of them at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use techpack_engine::Engine;
use techpack_engine::store::{DeliveryAttempt, DeliveryRecord, DeliveryStatus, now_ms};
use tokio_util::sync::CancellationToken;

use super::policy::CallbackPolicy;
use super::signature::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::users::Users;

/// How long a claim holds a delivery: longer than an attempt can take (connect plus request
/// timeouts), so that only a sender that died leaves one to be claimed again.
const CLAIM_HOLD: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a receiver's answer is read (and then dropped): enough to end the exchange
/// cleanly, never an unbounded body.
const RESPONSE_READ_MAX: usize = 64 * 1024;
/// How often the outbox is looked at when it had nothing due.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Deliveries claimed (and attempted concurrently) at once.
const BATCH: usize = 16;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(300);

/// What the sender needs.
#[derive(Clone)]
pub struct Sender {
    pub engine: Engine,
    pub users: Arc<Users>,
    pub policy: Arc<CallbackPolicy>,
    /// How long after a run's end its delivery is still attempted
    /// (`--callback-retry-for`); after that it is abandoned.
    pub retry_for: Duration,
}

impl Sender {
    /// Delivers until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let store = self.engine.store().clone();
            let hold = CLAIM_HOLD.as_millis() as u64;
            let claimed =
                tokio::task::spawn_blocking(move || store.claim_deliveries(now_ms(), hold, BATCH))
                    .await;
            let claimed = match claimed {
                Ok(Ok(claimed)) => claimed,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "could not claim callback deliveries");
                    Vec::new()
                }
                Err(error) => {
                    tracing::warn!(%error, "claiming callback deliveries panicked");
                    Vec::new()
                }
            };
            let idle = claimed.is_empty();
            let mut attempts: FuturesUnordered<_> = claimed
                .into_iter()
                .map(|delivery| self.clone().attempt(delivery))
                .collect();
            while attempts.next().await.is_some() {}
            if idle {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            } else if stop.is_cancelled() {
                return;
            }
        }
    }

    /// One attempt at a claimed delivery, saved whatever its outcome.
    async fn attempt(self, mut delivery: DeliveryRecord) {
        let Some(claim) = delivery.claim.clone() else {
            return;
        };
        let started = Instant::now();
        let at = now_ms();
        let outcome = self.send(&mut delivery).await;
        let (http_status, error) = match outcome {
            Ok(status) => (Some(status), None),
            Err(Failure { status, message }) => (status, Some(message)),
        };
        let delivered = error.is_none();
        delivery.attempts.push(DeliveryAttempt {
            at,
            duration_ms: started.elapsed().as_millis() as u64,
            http_status,
            error,
        });
        delivery.claim = None;
        let now = now_ms();
        if delivered {
            delivery.status = DeliveryStatus::Delivered;
        } else if now.saturating_sub(delivery.created_at) >= self.retry_for.as_millis() as u64 {
            delivery.status = DeliveryStatus::Abandoned;
            tracing::warn!(delivery = %delivery.id, attempts = delivery.attempts.len(), "callback abandoned");
        } else {
            delivery.next_attempt_at =
                now + retry_delay(delivery.attempts.len()).as_millis() as u64;
        }
        let store = self.engine.store().clone();
        let id = delivery.id.clone();
        match tokio::task::spawn_blocking(move || store.save_delivery(&delivery, &claim)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::warn!(delivery = %id, "callback attempt not saved: its claim ran out")
            }
            Ok(Err(error)) => tracing::warn!(delivery = %id, %error, "callback attempt not saved"),
            Err(error) => {
                tracing::warn!(delivery = %id, %error, "saving a callback attempt panicked")
            }
        }
    }

    /// Sends the delivery once: the receiver's 2xx status, or why not.
    async fn send(&self, delivery: &mut DeliveryRecord) -> Result<u16, Failure> {
        if delivery.payload.is_none() {
            let engine = self.engine.clone();
            let snapshot = delivery.clone();
            let built =
                tokio::task::spawn_blocking(move || super::payload::build(&engine, &snapshot))
                    .await
                    .map_err(|e| Failure::ours(format!("building the body panicked: {e}")))?;
            delivery.payload = Some(built.map_err(|e| {
                tracing::warn!(delivery = %delivery.id, error = %e, "cannot build a callback body");
                Failure::ours("the run's report could not be read".into())
            })?);
        }
        let body = delivery.payload.clone().unwrap_or_default();
        // A store that cannot answer is told apart from a missing secret (the error itself
        // goes to the log: what a delivery records is shown to the user).
        let owner = match delivery.owner.as_deref().map(|owner| self.users.get(owner)) {
            Some(Ok(user)) => Some(user),
            Some(Err(crate::users::UserError::NotFound(_))) | None => None,
            Some(Err(error)) => {
                tracing::warn!(delivery = %delivery.id, %error, "cannot read the run's owner");
                return Err(Failure::ours("the run's owner could not be read".into()));
            }
        };
        let secret = owner
            .and_then(|user| user.webhook_secret().map(str::to_string))
            .ok_or_else(|| Failure::ours("the run's owner has no webhook secret".into()))?;
        let target = self
            .policy
            .check(&delivery.url)
            .map_err(|e| Failure::ours(e.to_string()))?;
        let addresses = self
            .policy
            .resolve(&target)
            .await
            .map_err(|e| Failure::ours(e.to_string()))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(!self.policy.allow_http())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .resolve_to_addrs(&target.host, &addresses)
            .user_agent(concat!("techpack/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::ours(format!("cannot make an HTTP client: {e}")))?;
        let timestamp = now_ms() / 1000;
        let response = client
            .post(target.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(&secret, timestamp, body.as_bytes()))
            .header(DELIVERY_HEADER, &delivery.id)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::ours(describe(&e)))?;
        let status = response.status();
        drain(response).await;
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            let message = match status.is_redirection() {
                true => format!("the receiver answered {status}; redirects are not followed"),
                false => format!("the receiver answered {status}"),
            };
            Err(Failure {
                status: Some(status.as_u16()),
                message,
            })
        }
    }
}

/// Why an attempt failed: the receiver's status if it answered, and a sentence.
struct Failure {
    status: Option<u16>,
    message: String,
}

impl Failure {
    fn ours(message: String) -> Failure {
        Failure {
            status: None,
            message,
        }
    }
}

/// A sentence about a request that got no answer, without the error's internals.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the receiver did not answer in time".into()
    } else if error.is_connect() {
        "could not connect to the receiver".into()
    } else {
        "the request to the receiver failed".into()
    }
}

/// Reads at most [`RESPONSE_READ_MAX`] bytes of the answer and drops them.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0;
    while read < RESPONSE_READ_MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => return,
        }
    }
}

/// Exponential from [`FIRST_RETRY`] up to [`MAX_RETRY`], with jitter (half to all of it).
fn retry_delay(failed_attempts: usize) -> Duration {
    let exponent = failed_attempts.saturating_sub(1).min(16) as u32;
    let full = FIRST_RETRY.saturating_mul(1 << exponent).min(MAX_RETRY);
    full.mul_f64(0.5 + fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_a_ceiling() {
        for (failed, full) in [(1, 1), (2, 2), (3, 4), (9, 256), (10, 300), (50, 300)] {
            let delay = retry_delay(failed);
            let full = Duration::from_secs(full);
            assert!(delay <= full && delay >= full / 2, "{failed}: {delay:?}");
        }
    }
}
