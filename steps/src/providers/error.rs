//! Typed provider errors that say which provider failed and why. They never contain keys.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The provider needs an API key and none is set.
    #[error("{provider}: no API key; set {env}")]
    MissingKey {
        provider: &'static str,
        env: &'static str,
    },
    /// 401/403: the key is wrong or lacks access. Never retried.
    #[error("{provider}: authentication failed (HTTP {status}): {message}")]
    Auth {
        provider: &'static str,
        status: u16,
        message: String,
    },
    /// The account's quota is used up (e.g. `insufficient_quota`, a per-day limit). Never retried.
    #[error("{provider}: quota exhausted: {message}")]
    QuotaExhausted {
        provider: &'static str,
        message: String,
    },
    /// The provider rejected the request (400 and other 4xx). Never retried.
    #[error("{provider}: request rejected (HTTP {status}): {message}")]
    Rejected {
        provider: &'static str,
        status: u16,
        message: String,
    },
    /// 408/409/429/5xx after every retry.
    #[error("{provider}: unavailable after {attempts} attempts (last: HTTP {status}): {message}")]
    Unavailable {
        provider: &'static str,
        status: u16,
        attempts: u32,
        message: String,
    },
    /// The connection failed after every retry.
    #[error("{provider}: cannot connect after {attempts} attempts: {message}")]
    Connect {
        provider: &'static str,
        attempts: u32,
        message: String,
    },
    /// A call took longer than the per-call timeout, on every attempt.
    #[error("{provider}: no answer within {} after {attempts} attempts", humantime::format_duration(*after))]
    Timeout {
        provider: &'static str,
        after: Duration,
        attempts: u32,
    },
    /// The model refused on safety grounds (`promptFeedback.blockReason`, `IMAGE_SAFETY`, a refusal).
    #[error("{provider}: blocked by the model's safety filter: {reason}")]
    Blocked {
        provider: &'static str,
        reason: String,
    },
    /// An image was asked for and only text came back.
    #[error("{provider}: the model answered with text instead of an image: {text}")]
    NoImage {
        provider: &'static str,
        text: String,
    },
    /// The answer is not what the wire format promises (malformed JSON, missing fields).
    #[error("{provider}: unexpected response: {message}")]
    BadResponse {
        provider: &'static str,
        message: String,
    },
    /// The local provider could not process the image.
    #[error("local: {0}")]
    Local(String),
    /// No product stands out in the photo (a blank photo, or one all of the backdrop): there
    /// is nothing to analyze. Never retried; the caller gives another photo.
    #[error(
        "no product can be found in the {view} photo: it is blank or the product does not stand out from its background"
    )]
    NoProduct { view: &'static str },
    /// The memory budget for image work stayed full for longer than work may wait.
    #[error("local: {0}")]
    Busy(crate::work_budget::Busy),
}

impl ProviderError {
    /// Whether the engine may try the step again later (the client already retried what it
    /// could; this is for transient conditions that may clear up).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::Unavailable { .. }
                | ProviderError::Connect { .. }
                | ProviderError::Timeout { .. }
                | ProviderError::Busy(_)
        )
    }
}
