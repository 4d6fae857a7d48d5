//! What the fake server does: how slow it is, what it answers, and which faults it serves.

use std::time::Duration;

use serde_json::Value;

/// How the fake behaves. `Default` answers every call at once with valid answers.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Added to every call before it answers, faults included (benchmarks use e.g. 200 ms to
    /// stand in for a real model).
    pub latency: Duration,
    /// Served in order, one per request, whichever provider's route it arrives on; valid
    /// answers resume once the script is used up.
    pub faults: Vec<Fault>,
    /// The document OpenAI answers with instead of one made from the request's schema.
    pub openai_answer: Option<Value>,
    /// Token counts to report instead of ones estimated from the request.
    pub usage: Option<FakeUsage>,
    /// The text part beside Gemini's image (default "Here is the image.").
    pub gemini_text: Option<String>,
}

impl Behaviour {
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    pub fn with_faults(mut self, faults: impl IntoIterator<Item = Fault>) -> Self {
        self.faults.extend(faults);
        self
    }

    pub fn with_openai_answer(mut self, answer: Value) -> Self {
        self.openai_answer = Some(answer);
        self
    }

    pub fn with_usage(mut self, prompt: u64, completion: u64) -> Self {
        self.usage = Some(FakeUsage { prompt, completion });
        self
    }

    pub fn with_gemini_text(mut self, text: impl Into<String>) -> Self {
        self.gemini_text = Some(text.into());
        self
    }
}

/// Token counts the fake reports; the total is their sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeUsage {
    pub prompt: u64,
    pub completion: u64,
}

/// One scripted misbehaviour, in the exact shape the real provider uses. Faults named for one
/// provider, arriving on the other's route, answer 400 saying so (a mistake in the test).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with `retry-after` (sent verbatim: seconds or an HTTP date) and/or `retry-after-ms`.
    RateLimited {
        retry_after: Option<String>,
        retry_after_ms: Option<u64>,
    },
    /// This status with the provider's error body: 400, 401, 403, 500, 503, ...
    Status(u16),
    /// 401 (OpenAI) or 400 `API_KEY_INVALID` (Gemini) whose message echoes, in full, the key
    /// that was sent: worse than the real services, so tests can prove clients redact it.
    Unauthorized,
    /// Waits this long, then answers normally: longer than the client's timeout, a timeout.
    Stall(Duration),
    /// 200 whose body is cut-off JSON.
    MalformedJson,
    /// OpenAI 429 `insufficient_quota`.
    OpenAiInsufficientQuota,
    /// OpenAI: the message's `refusal` is set and `content` is null.
    OpenAiRefusal(String),
    /// OpenAI: `finish_reason: "length"` with cut-off content.
    OpenAiTruncated,
    /// OpenAI: a well-formed answer whose content is prose, not JSON.
    OpenAiNonJsonContent,
    /// Gemini 429 `RESOURCE_EXHAUSTED` with a per-minute `QuotaFailure` and
    /// `RetryInfo.retryDelay` (e.g. "7s").
    GeminiRetryInfo { retry_delay: String },
    /// Gemini 429 whose `QuotaFailure` names a per-day quota.
    GeminiDailyQuota,
    /// Gemini: `promptFeedback.blockReason` (e.g. "SAFETY", "PROHIBITED_CONTENT"), no candidates.
    GeminiBlockReason(String),
    /// Gemini: a candidate without parts and this `finishReason` (e.g. "IMAGE_SAFETY").
    GeminiFinishReason(String),
    /// Gemini: only this text came back, no image.
    GeminiTextOnly(String),
}
