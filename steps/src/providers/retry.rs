//! What the HTTP providers share: the retry policy, reading a server's "retry after" hints,
//! the attempt loop with its per-call timeout, and the API key that never prints.
//!
//! The loop retries 408/409/429/5xx, connection errors and timeouts; each provider decides
//! what a failed answer means (`Failure`), because only it knows which 429 is a used-up quota.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::ProviderError;

/// How a provider call is retried: the engine's policy for a workflow step's attempts (the
/// same type, so one backoff rule) and a ceiling on the pauses servers ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all (1 never retries; 0 is taken as 1) and the backoff between them.
    pub attempts: techpack_engine::workflow::RetryPolicy,
    /// Ceiling on a delay the server asks for (`retry-after`, `retry-after-ms`, Gemini's
    /// `RetryInfo`), so a hostile or broken header cannot stall a run.
    pub max_server_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 0.5 s doubling to at most 8 s with jitter; servers may ask for up to 30 s.
    fn default() -> Self {
        RetryPolicy::exponential(4, Duration::from_millis(500), Duration::from_secs(8))
    }
}

impl RetryPolicy {
    /// `attempts` in all, exponential backoff from `initial_delay` up to `max_delay` with
    /// jitter, and the default 30 s ceiling on what a server asks for.
    pub fn exponential(attempts: u32, initial_delay: Duration, max_delay: Duration) -> Self {
        RetryPolicy {
            attempts: techpack_engine::workflow::RetryPolicy {
                attempts,
                backoff: techpack_engine::workflow::Backoff::Exponential,
                initial_delay,
                max_delay,
                jitter: true,
            },
            max_server_delay: Duration::from_secs(30),
        }
    }

    /// One attempt, no retries.
    pub fn no_retries() -> Self {
        let mut policy = RetryPolicy::default();
        policy.attempts.attempts = 1;
        policy
    }

    /// Attempts in all, at least 1.
    pub fn max_attempts(&self) -> u32 {
        self.attempts.attempts.max(1)
    }

    /// The pause after attempt `attempt` (1-based) failed. A delay the server asked for wins,
    /// capped at `max_server_delay`; otherwise the engine's backoff before the next attempt.
    pub fn delay_after(&self, attempt: u32, server_delay: Option<Duration>) -> Duration {
        match server_delay {
            Some(asked) => asked.min(self.max_server_delay),
            None => self.attempts.delay_before(attempt.saturating_add(1)),
        }
    }
}

/// The delay a response's headers ask for: `retry-after-ms` (OpenAI's milliseconds) first,
/// then `retry-after` as seconds (fractions allowed) or as an HTTP date relative to `now`.
/// A date in the past asks for no delay. Unreadable values are ignored.
pub fn header_retry_delay(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    if let Some(millis) = text("retry-after-ms").and_then(parse_seconds) {
        return Some(millis / 1000);
    }
    let value = text("retry-after")?;
    if let Some(delay) = parse_seconds(value) {
        return Some(delay);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A non-negative decimal number of seconds (or of milliseconds, for the caller to divide);
/// absurdly large values saturate and are capped later by the policy.
fn parse_seconds(text: &str) -> Option<Duration> {
    let number: f64 = text.parse().ok()?;
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(number).unwrap_or(Duration::MAX))
}

/// Gemini's `error.details[]` entry `type.googleapis.com/google.rpc.RetryInfo` `retryDelay`
/// ("7s", "0.250s").
pub fn google_retry_delay(error_body: &Value) -> Option<Duration> {
    google_error_details(error_body)
        .filter(|detail| detail["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
        .find_map(|detail| detail["retryDelay"].as_str().and_then(parse_proto_duration))
}

/// The `error.details[]` entries of a Google API error body.
pub(crate) fn google_error_details(error_body: &Value) -> impl Iterator<Item = &Value> {
    error_body["error"]["details"]
        .as_array()
        .into_iter()
        .flatten()
}

/// A protobuf `Duration` in its JSON form: decimal seconds with an `s` suffix.
pub fn parse_proto_duration(text: &str) -> Option<Duration> {
    parse_seconds(text.trim().strip_suffix('s')?)
}

/// Whether an HTTP status is worth another attempt: timeouts, conflicts, rate limits and
/// server errors. 400/401/403 and other client errors never are.
pub fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error()
}

/// What a provider makes of an answer that is not 2xx.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another attempt, after the server's delay if it named one.
    Retry {
        status: StatusCode,
        message: String,
        server_delay: Option<Duration>,
    },
    /// Final: retrying cannot help.
    Fatal(ProviderError),
}

/// A 2xx answer's body and how many attempts it took.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub body: Vec<u8>,
    pub attempts: u32,
}

/// Why the last attempt failed, kept to build the error once attempts run out.
enum LastFailure {
    Http { status: StatusCode, message: String },
    Connect(String),
    Timeout,
}

/// Sends the request `build` makes until a 2xx arrives, a `Failure::Fatal` comes back from
/// `classify`, or the policy's attempts are used up. Each attempt (connect, send, read the
/// whole body) is bounded by `timeout`.
pub(crate) async fn send_with_retries(
    provider: &'static str,
    policy: &RetryPolicy,
    timeout: Duration,
    build: impl Fn() -> reqwest::RequestBuilder,
    classify: impl Fn(StatusCode, &HeaderMap, &[u8]) -> Failure,
) -> Result<Delivered, ProviderError> {
    let max_attempts = policy.max_attempts();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (failure, server_delay) = match tokio::time::timeout(timeout, exchange(build())).await {
            Err(_elapsed) => (LastFailure::Timeout, None),
            Ok(Err(error)) if error.is_builder() => {
                return Err(ProviderError::Connect {
                    provider,
                    attempts: attempt,
                    message: format!("cannot build the request: {}", describe(&error)),
                });
            }
            Ok(Err(error)) if error.is_timeout() => (LastFailure::Timeout, None),
            Ok(Err(error)) => (LastFailure::Connect(describe(&error)), None),
            Ok(Ok((status, _, body))) if status.is_success() => {
                return Ok(Delivered {
                    body,
                    attempts: attempt,
                });
            }
            Ok(Ok((status, headers, body))) => match classify(status, &headers, &body) {
                Failure::Fatal(error) => return Err(error),
                Failure::Retry {
                    status,
                    message,
                    server_delay,
                } => (LastFailure::Http { status, message }, server_delay),
            },
        };
        if attempt >= max_attempts {
            return Err(match failure {
                LastFailure::Http { status, message } => ProviderError::Unavailable {
                    provider,
                    status: status.as_u16(),
                    attempts: attempt,
                    message,
                },
                LastFailure::Connect(message) => ProviderError::Connect {
                    provider,
                    attempts: attempt,
                    message,
                },
                LastFailure::Timeout => ProviderError::Timeout {
                    provider,
                    after: timeout,
                    attempts: attempt,
                },
            });
        }
        let delay = policy.delay_after(attempt, server_delay);
        let reason = match &failure {
            LastFailure::Http { status, .. } => format!("HTTP {}", status.as_u16()),
            LastFailure::Connect(message) => format!("connection error: {message}"),
            LastFailure::Timeout => format!("no answer within {timeout:?}"),
        };
        tracing::warn!(provider, attempt, max_attempts, %reason, ?delay, "provider call failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

async fn exchange(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, HeaderMap, Vec<u8>), reqwest::Error> {
    let response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    Ok((status, headers, body))
}

/// A transport error with its causes ("error sending request: client error (Connect): tcp
/// connect error: Connection refused"), which is where the useful part lives.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The human part of a provider's error body (`error.message` for both OpenAI and Google),
/// or the start of the body when it is not the usual JSON.
pub(crate) fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(message) = parsed
        .as_ref()
        .and_then(|json| json["error"]["message"].as_str())
    {
        return message.to_string();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        snippet(text, 300)
    }
}

/// At most `max_chars` characters of `text`, marked when cut.
pub(crate) fn snippet(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// An API key, held as a `secrecy` secret: zeroed when dropped, and printed as `***` in
/// `Debug` and `Display`, so it cannot reach a log, an error or a panic message by accident;
/// only [`ApiKey::expose`] hands it out, for the auth header.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(SecretString::from(key.into()))
    }

    /// The key from an environment variable's value: trimmed, and `None` when empty.
    pub fn from_env_value(value: Option<String>) -> Option<ApiKey> {
        value
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
            .map(ApiKey::new)
    }

    /// The key itself, for the one header that carries it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// `text` with every occurrence of the key replaced by `***` (some servers echo the key
    /// they were sent in their error messages).
    pub fn redact(&self, text: &str) -> String {
        let key = self.expose();
        if key.is_empty() {
            text.to_string()
        } else {
            text.replace(key, "***")
        }
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for ApiKey {}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `error` with the key redacted from every message it carries: the last line of defence for
/// "keys never appear in errors", whatever a server chose to echo.
pub(crate) fn redact_error(error: ProviderError, key: Option<&ApiKey>) -> ProviderError {
    let Some(key) = key else { return error };
    use ProviderError::*;
    match error {
        Auth {
            provider,
            status,
            message,
        } => Auth {
            provider,
            status,
            message: key.redact(&message),
        },
        QuotaExhausted { provider, message } => QuotaExhausted {
            provider,
            message: key.redact(&message),
        },
        Rejected {
            provider,
            status,
            message,
        } => Rejected {
            provider,
            status,
            message: key.redact(&message),
        },
        Unavailable {
            provider,
            status,
            attempts,
            message,
        } => Unavailable {
            provider,
            status,
            attempts,
            message: key.redact(&message),
        },
        Connect {
            provider,
            attempts,
            message,
        } => Connect {
            provider,
            attempts,
            message: key.redact(&message),
        },
        Blocked { provider, reason } => Blocked {
            provider,
            reason: key.redact(&reason),
        },
        NoImage { provider, text } => NoImage {
            provider,
            text: key.redact(&text),
        },
        BadResponse { provider, message } => BadResponse {
            provider,
            message: key.redact(&message),
        },
        Local(message) => Local(key.redact(&message)),
        other @ (MissingKey { .. } | Timeout { .. } | Busy(_) | NoProduct { .. }) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let read = |pairs: &[(&'static str, &str)]| header_retry_delay(&headers(pairs), now);

        assert_eq!(read(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(
            read(&[("retry-after", "1.5")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            read(&[("retry-after-ms", "250")]),
            Some(Duration::from_millis(250))
        );
        // The precise header wins over the coarse one.
        assert_eq!(
            read(&[("retry-after", "9"), ("retry-after-ms", "120")]),
            Some(Duration::from_millis(120))
        );
        let in_ten_seconds = httpdate::fmt_http_date(now + Duration::from_secs(10));
        assert_eq!(
            read(&[("retry-after", &in_ten_seconds)]),
            Some(Duration::from_secs(10))
        );
        let in_the_past = httpdate::fmt_http_date(now - Duration::from_secs(10));
        assert_eq!(read(&[("retry-after", &in_the_past)]), Some(Duration::ZERO));
        assert_eq!(read(&[("retry-after", "soon")]), None);
        assert_eq!(read(&[("retry-after", "-3")]), None);
        assert_eq!(read(&[]), None);
    }

    #[test]
    fn hostile_server_delays_are_capped() {
        let policy = RetryPolicy {
            max_server_delay: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        let now = SystemTime::now();
        let huge = header_retry_delay(&headers(&[("retry-after", "1e300")]), now);
        assert_eq!(huge, Some(Duration::MAX));
        assert_eq!(policy.delay_after(1, huge), Duration::from_secs(30));
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn gemini_retry_info_is_found_among_the_details() {
        let body = json!({ "error": { "code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
            { "@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [] },
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s" },
        ] } });
        assert_eq!(google_retry_delay(&body), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_proto_duration("0.250s"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_proto_duration("7"), None);
        assert_eq!(
            google_retry_delay(&json!({ "error": { "code": 429 } })),
            None
        );
    }

    #[test]
    fn backoff_doubles_within_jitter_and_stops_at_the_ceiling() {
        let policy =
            RetryPolicy::exponential(10, Duration::from_millis(100), Duration::from_millis(1000));
        for _ in 0..200 {
            let first = policy.delay_after(1, None);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.delay_after(3, None);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.delay_after(40, None);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for code in [408, 409, 429, 500, 502, 503, 504] {
            assert!(
                is_retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn the_default_policy_is_four_attempts_from_half_a_second_to_eight() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_attempts(), 4);
        assert_eq!(policy.max_server_delay, Duration::from_secs(30));
        for _ in 0..100 {
            let first = policy.delay_after(1, None);
            assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
            let late = policy.delay_after(9, None);
            assert!(late >= Duration::from_secs(4) && late <= Duration::from_secs(8));
        }
        assert_eq!(RetryPolicy::no_retries().max_attempts(), 1);
    }

    #[test]
    fn api_key_never_prints() {
        let key = ApiKey::new("sk-secret-123");
        assert_eq!(format!("{key:?}"), "***");
        assert_eq!(key.to_string(), "***");
        assert_eq!(
            key.redact("bad key sk-secret-123 given"),
            "bad key *** given"
        );
        let error = ProviderError::Auth {
            provider: "openai",
            status: 401,
            message: "key sk-secret-123".into(),
        };
        let redacted = redact_error(error, Some(&key));
        assert!(!format!("{redacted} {redacted:?}").contains("sk-secret-123"));
        assert_eq!(ApiKey::from_env_value(Some("  ".into())), None);
        assert_eq!(
            ApiKey::from_env_value(Some(" k \n".into()))
                .unwrap()
                .expose(),
            "k"
        );
    }

    #[test]
    fn error_messages_come_from_the_body() {
        assert_eq!(
            error_message(br#"{"error":{"message":"slow down"}}"#),
            "slow down"
        );
        assert_eq!(
            error_message(b"<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(error_message(b""), "(empty body)");
        assert_eq!(snippet("abcdef", 3), "abc…");
    }
}
