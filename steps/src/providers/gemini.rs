//! Gemini image generation through `generateContent`: photos in as `inlineData`, a picture out.
//! Every part of the answer is read, and each way of not getting an image (a blocked prompt,
//! a safety stop, a text-only answer) becomes an error that says which.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::endpoint::{EndpointConfig, Service};
use super::retry::{
    Failure, error_message, google_error_details, google_retry_delay, header_retry_delay,
    is_retryable_status, redact_error, send_with_retries, snippet,
};
use super::{InlineImage, ProviderError, Usage};

/// The provider name in errors and logs.
pub const PROVIDER: &str = "gemini";
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// Image model names change often; this is only the default.
pub const DEFAULT_MODEL: &str = "gemini-2.5-flash-image";
/// Generating an image usually takes 10–30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Finish reasons that mean "a safety or policy filter stopped it", as opposed to the model
/// choosing to answer otherwise.
const BLOCKING_FINISH_REASONS: &[&str] = &[
    "SAFETY",
    "IMAGE_SAFETY",
    "PROHIBITED_CONTENT",
    "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_RECITATION",
];

/// `GEMINI_API_KEY`, `GEMINI_BASE_URL` (everything before `/v1beta/models/...`),
/// `gemini-2.5-flash-image` (a leading `models/` is accepted). The key is sent as
/// `x-goog-api-key`, never in the URL where it would reach logs; Gemini always needs one, and
/// without it no request is made.
pub const SERVICE: Service = Service {
    name: PROVIDER,
    key_env: "GEMINI_API_KEY",
    base_url_env: "GEMINI_BASE_URL",
    default_base_url: DEFAULT_BASE_URL,
    default_model: DEFAULT_MODEL,
    default_timeout: DEFAULT_TIMEOUT,
};

/// A Gemini endpoint ([`SERVICE`] names its environment).
pub type GeminiConfig = EndpointConfig;

/// A picture to make from a prompt and source images.
#[derive(Debug, Clone)]
pub struct GenerateImageRequest {
    pub prompt: String,
    /// Sent after the prompt, in order, as `inlineData`.
    pub images: Vec<InlineImage>,
}

#[derive(Debug, Clone)]
pub struct GeneratedImage {
    pub bytes: Vec<u8>,
    /// As the model labelled it, usually `image/png`.
    pub mime: String,
    /// Text the model sent alongside the image, if any.
    pub text: Option<String>,
    pub usage: Usage,
    /// `modelVersion` from the answer, or the configured model when absent.
    pub model: String,
    /// HTTP attempts it took, retries included.
    pub attempts: u32,
}

#[derive(Debug, Clone)]
pub struct GeminiClient {
    config: GeminiConfig,
    http: reqwest::Client,
    endpoint: String,
}

impl GeminiClient {
    pub fn new(config: GeminiConfig, http: reqwest::Client) -> Self {
        let model = config.model.trim_start_matches("models/");
        let endpoint = format!(
            "{}/v1beta/models/{model}:generateContent",
            config.base_url.trim_end_matches('/')
        );
        GeminiClient {
            config,
            http,
            endpoint,
        }
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// Asks for an image. Transient failures are retried per the config's policy; anything
    /// but an image in the answer is an error: `Blocked` (prompt blocked, safety stop),
    /// `NoImage` (text only) or `BadResponse`.
    pub async fn generate_image(
        &self,
        request: &GenerateImageRequest,
    ) -> Result<GeneratedImage, ProviderError> {
        self.call(request)
            .await
            .map_err(|error| redact_error(error, self.config.api_key.as_ref()))
    }

    async fn call(&self, request: &GenerateImageRequest) -> Result<GeneratedImage, ProviderError> {
        let key = self
            .config
            .api_key
            .as_ref()
            .ok_or(ProviderError::MissingKey {
                provider: PROVIDER,
                env: SERVICE.key_env,
            })?;
        let mut key_header =
            HeaderValue::from_str(key.expose()).map_err(|_| ProviderError::Auth {
                provider: PROVIDER,
                status: 0,
                message: format!(
                    "{} holds characters that cannot be sent in an HTTP header",
                    SERVICE.key_env
                ),
            })?;
        key_header.set_sensitive(true);
        let body = serde_json::to_vec(&request_body(request)).map_err(|error| {
            ProviderError::BadResponse {
                provider: PROVIDER,
                message: format!("cannot encode the request: {error}"),
            }
        })?;
        tracing::debug!(provider = PROVIDER, model = %self.config.model, images = request.images.len(), "generate image");
        let delivered = send_with_retries(
            PROVIDER,
            &self.config.retry,
            self.config.timeout,
            || {
                self.http
                    .post(&self.endpoint)
                    .header("x-goog-api-key", key_header.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            },
            classify_failure,
        )
        .await?;
        let mut image = parse_answer(&delivered.body)?;
        if image.model.is_empty() {
            image.model = self.config.model.clone();
        }
        image.attempts = delivered.attempts;
        Ok(image)
    }
}

fn request_body(request: &GenerateImageRequest) -> Value {
    let mut parts = vec![json!({ "text": request.prompt })];
    parts.extend(request.images.iter().map(|image| {
        json!({ "inlineData": { "mimeType": image.mime, "data": BASE64.encode(&image.bytes) } })
    }));
    json!({
        "contents": [{ "role": "user", "parts": parts }],
        // Without IMAGE the model may only describe the picture.
        "generationConfig": { "responseModalities": ["TEXT", "IMAGE"] },
    })
}

/// Google's error answers: `{"error": {"code", "message", "status", "details": [...]}}`.
fn classify_failure(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Failure {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = error_message(body);
    match status.as_u16() {
        429 => match per_day_quota(&parsed) {
            Some(quota_id) => Failure::Fatal(ProviderError::QuotaExhausted {
                provider: PROVIDER,
                message: format!("{message} (daily quota {quota_id})"),
            }),
            None => Failure::Retry {
                status,
                message,
                server_delay: server_delay(headers, &parsed),
            },
        },
        401 | 403 => Failure::Fatal(ProviderError::Auth {
            provider: PROVIDER,
            status: status.as_u16(),
            message,
        }),
        // Gemini answers a wrong key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID.
        400 if error_reason(&parsed) == Some("API_KEY_INVALID") => {
            Failure::Fatal(ProviderError::Auth {
                provider: PROVIDER,
                status: 400,
                message,
            })
        }
        _ if is_retryable_status(status) => Failure::Retry {
            status,
            message,
            server_delay: server_delay(headers, &parsed),
        },
        code => Failure::Fatal(ProviderError::Rejected {
            provider: PROVIDER,
            status: code,
            message,
        }),
    }
}

/// A `retry-after` header if the server sent one, else `RetryInfo.retryDelay` from the body.
fn server_delay(headers: &HeaderMap, body: &Value) -> Option<Duration> {
    header_retry_delay(headers, SystemTime::now()).or_else(|| google_retry_delay(body))
}

/// The `quotaId` of a per-day quota named in a `QuotaFailure`: waiting seconds cannot help.
fn per_day_quota(body: &Value) -> Option<String> {
    google_error_details(body)
        .filter(|detail| detail["@type"] == "type.googleapis.com/google.rpc.QuotaFailure")
        .filter_map(|detail| detail["violations"].as_array())
        .flatten()
        .filter_map(|violation| violation["quotaId"].as_str())
        .find(|quota_id| quota_id.contains("PerDay"))
        .map(str::to_string)
}

fn error_reason(body: &Value) -> Option<&str> {
    google_error_details(body)
        .filter(|detail| detail["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
        .find_map(|detail| detail["reason"].as_str())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    finish_message: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    text: Option<String>,
    #[serde(default, alias = "inline_data")]
    inline_data: Option<Blob>,
    /// Thinking models send drafts marked `thought`; they are not the answer.
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Blob {
    #[serde(alias = "mime_type")]
    mime_type: String,
    data: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
    #[serde(default)]
    block_reason_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    /// Billed as output by thinking models.
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    total_token_count: Option<u64>,
}

fn bad_response(message: String) -> ProviderError {
    ProviderError::BadResponse {
        provider: PROVIDER,
        message,
    }
}

/// A 2xx body into the image; `attempts` is filled in by the caller.
fn parse_answer(body: &[u8]) -> Result<GeneratedImage, ProviderError> {
    let answer: Answer = serde_json::from_slice(body).map_err(|error| {
        bad_response(format!(
            "the body is not a generateContent answer ({error}): {}",
            snippet(&String::from_utf8_lossy(body), 200)
        ))
    })?;
    if let Some(feedback) = &answer.prompt_feedback
        && let Some(block_reason) = &feedback.block_reason
    {
        let detail = feedback
            .block_reason_message
            .as_deref()
            .map(|text| format!(": {text}"))
            .unwrap_or_default();
        return Err(ProviderError::Blocked {
            provider: PROVIDER,
            reason: format!(
                "the prompt was blocked (promptFeedback.blockReason {block_reason}){detail}"
            ),
        });
    }
    if answer.candidates.is_empty() {
        return Err(bad_response("no candidates in the answer".into()));
    }

    let mut image: Option<(String, Vec<u8>)> = None;
    let mut texts: Vec<&str> = Vec::new();
    let parts = answer
        .candidates
        .iter()
        .filter_map(|candidate| candidate.content.as_ref())
        .flat_map(|content| &content.parts);
    for part in parts.filter(|part| !part.thought) {
        if let Some(text) = part.text.as_deref().filter(|text| !text.trim().is_empty()) {
            texts.push(text.trim());
        }
        if let Some(blob) = &part.inline_data
            && image.is_none()
            && blob.mime_type.starts_with("image/")
        {
            let bytes = BASE64.decode(blob.data.trim()).map_err(|error| {
                bad_response(format!(
                    "the image's inlineData is not valid base64: {error}"
                ))
            })?;
            image = Some((blob.mime_type.clone(), bytes));
        }
    }
    let text = if texts.is_empty() {
        None
    } else {
        Some(texts.join("\n"))
    };

    let Some((mime, bytes)) = image else {
        let finish = answer.candidates.iter().find_map(|candidate| {
            candidate
                .finish_reason
                .as_deref()
                .map(|reason| (reason, candidate.finish_message.as_deref()))
        });
        if let Some((reason, message)) = finish
            && BLOCKING_FINISH_REASONS.contains(&reason)
        {
            let detail = message.map(|text| format!(": {text}")).unwrap_or_default();
            return Err(ProviderError::Blocked {
                provider: PROVIDER,
                reason: format!("no image was made (finishReason {reason}){detail}"),
            });
        }
        return Err(match text {
            Some(text) => ProviderError::NoImage {
                provider: PROVIDER,
                text: snippet(&text, 500),
            },
            None => bad_response(format!(
                "the answer holds neither an image nor text (finishReason {})",
                finish.map_or("absent", |(reason, _)| reason)
            )),
        });
    };

    let usage = answer
        .usage_metadata
        .map(|usage| {
            let completion_tokens = usage.candidates_token_count + usage.thoughts_token_count;
            Usage {
                prompt_tokens: usage.prompt_token_count,
                completion_tokens,
                total_tokens: usage
                    .total_token_count
                    .unwrap_or(usage.prompt_token_count + completion_tokens),
            }
        })
        .unwrap_or_default();
    Ok(GeneratedImage {
        bytes,
        mime,
        text,
        usage,
        model: answer.model_version.unwrap_or_default(),
        attempts: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_with(parts: Value, finish: &str) -> Result<GeneratedImage, ProviderError> {
        let body = json!({
            "candidates": [{ "content": { "role": "model", "parts": parts }, "finishReason": finish }],
            "usageMetadata": { "promptTokenCount": 300, "candidatesTokenCount": 1290, "totalTokenCount": 1590 },
            "modelVersion": "gemini-2.5-flash-image",
        });
        parse_answer(body.to_string().as_bytes())
    }

    #[test]
    fn a_model_named_models_slash_is_called_by_its_name() {
        let config = GeminiConfig::from_lookup(
            &SERVICE,
            Some("models/gemini-3-pro-image-preview".into()),
            |_| None,
        );
        let client = GeminiClient::new(config, reqwest::Client::new());
        assert_eq!(
            client.endpoint,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-pro-image-preview:generateContent"
        );
    }

    #[test]
    fn every_part_is_read() {
        let png = BASE64.encode(b"\x89PNG fake");
        let image = answer_with(
            json!([
                { "text": "draft", "thought": true },
                { "text": "Here is the flat." },
                { "inlineData": { "mimeType": "image/png", "data": png } },
            ]),
            "STOP",
        )
        .unwrap();
        assert_eq!(image.bytes, b"\x89PNG fake");
        assert_eq!(image.mime, "image/png");
        assert_eq!(image.text.as_deref(), Some("Here is the flat."));
        assert_eq!(
            image.usage,
            Usage {
                prompt_tokens: 300,
                completion_tokens: 1290,
                total_tokens: 1590
            }
        );
        assert_eq!(image.model, "gemini-2.5-flash-image");
    }

    #[test]
    fn no_image_is_explained() {
        let text_only = answer_with(json!([{ "text": "I can describe it instead." }]), "STOP");
        assert!(
            matches!(text_only, Err(ProviderError::NoImage { text, .. }) if text == "I can describe it instead.")
        );

        let safety = answer_with(json!([]), "IMAGE_SAFETY");
        assert!(
            matches!(safety, Err(ProviderError::Blocked { reason, .. }) if reason.contains("IMAGE_SAFETY"))
        );

        let empty = answer_with(json!([]), "IMAGE_OTHER");
        assert!(
            matches!(empty, Err(ProviderError::BadResponse { message, .. }) if message.contains("IMAGE_OTHER"))
        );

        let blocked = json!({ "promptFeedback": { "blockReason": "PROHIBITED_CONTENT" } });
        let blocked = parse_answer(blocked.to_string().as_bytes());
        assert!(
            matches!(blocked, Err(ProviderError::Blocked { reason, .. }) if reason.contains("PROHIBITED_CONTENT"))
        );

        let bad = answer_with(
            json!([{ "inlineData": { "mimeType": "image/png", "data": "%%%" } }]),
            "STOP",
        );
        assert!(matches!(bad, Err(ProviderError::BadResponse { .. })));
    }

    #[test]
    fn failures_are_classified() {
        let classify = |code: u16, body: Value| {
            classify_failure(
                StatusCode::from_u16(code).unwrap(),
                &HeaderMap::new(),
                body.to_string().as_bytes(),
            )
        };
        let per_minute = json!({ "error": { "code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED",
            "details": [
                { "@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{ "quotaId": "GenerateRequestsPerMinutePerProjectPerModel" }] },
                { "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s" },
            ] } });
        assert!(matches!(
            classify(429, per_minute),
            Failure::Retry { server_delay: Some(delay), .. } if delay == Duration::from_secs(7)
        ));
        let per_day = json!({ "error": { "code": 429, "message": "You exceeded your current quota", "details": [
            { "@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{ "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier" }] },
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "40s" },
        ] } });
        assert!(matches!(
            classify(429, per_day),
            Failure::Fatal(ProviderError::QuotaExhausted { message, .. }) if message.contains("PerDay")
        ));
        let bad_key = json!({ "error": { "code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT",
            "details": [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID" }] } });
        assert!(matches!(
            classify(400, bad_key),
            Failure::Fatal(ProviderError::Auth { status: 400, .. })
        ));
        assert!(matches!(
            classify(400, json!({})),
            Failure::Fatal(ProviderError::Rejected { .. })
        ));
        assert!(matches!(
            classify(403, json!({})),
            Failure::Fatal(ProviderError::Auth { .. })
        ));
        assert!(matches!(classify(503, json!({})), Failure::Retry { .. }));
    }
}
