//! OpenAI-compatible chat completions with structured outputs: photos in as `data:` URLs, a
//! JSON document out that follows the caller's JSON Schema. `base_url` and `model` point it
//! at OpenAI itself or at any server that speaks the same API (Ollama, vLLM, LM Studio).

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};

use super::endpoint::{EndpointConfig, Service};
use super::retry::{
    Failure, error_message, header_retry_delay, is_retryable_status, redact_error,
    send_with_retries, snippet,
};
use super::{InlineImage, ProviderError, Usage};

/// The provider name in errors and logs.
pub const PROVIDER: &str = "openai";
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o";
/// Vision answers over several photos can take a minute; a stuck call should not take five.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// `OPENAI_API_KEY`, `OPENAI_BASE_URL` (everything before `/chat/completions`:
/// `http://localhost:11434/v1` for Ollama), `gpt-4o`. The key is sent as `Authorization:
/// Bearer`; it is optional because local servers often need none, and only
/// `api.openai.com` itself refuses to be called without one.
pub const SERVICE: Service = Service {
    name: PROVIDER,
    key_env: "OPENAI_API_KEY",
    base_url_env: "OPENAI_BASE_URL",
    default_base_url: DEFAULT_BASE_URL,
    default_model: DEFAULT_MODEL,
    default_timeout: DEFAULT_TIMEOUT,
};

/// An OpenAI-compatible endpoint ([`SERVICE`] names its environment).
pub type OpenAiConfig = EndpointConfig;

/// A question whose answer is a JSON document following `schema`.
#[derive(Debug, Clone)]
pub struct ChatJsonRequest {
    pub system: String,
    pub user_text: String,
    /// Sent after the text, in order, as `data:` URLs.
    pub images: Vec<InlineImage>,
    /// `json_schema.name`: letters, digits, `_` and `-` only (OpenAI's rule).
    pub schema_name: String,
    /// Must satisfy strict mode: every property required, no additional properties.
    pub schema: Value,
    /// Cap on the answer's tokens; `None` leaves it to the server.
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ChatJsonResponse {
    pub value: Value,
    pub usage: Usage,
    /// The model that answered, as the server names it (`gpt-4o-2024-08-06`), or the
    /// configured one when the server does not say.
    pub model: String,
    /// HTTP attempts it took, retries included.
    pub attempts: u32,
}

#[derive(Debug, Clone)]
pub struct OpenAiClient {
    config: OpenAiConfig,
    http: reqwest::Client,
    endpoint: String,
}

impl OpenAiClient {
    pub fn new(config: OpenAiConfig, http: reqwest::Client) -> Self {
        let endpoint = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        OpenAiClient {
            config,
            http,
            endpoint,
        }
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// Asks the model and returns its answer parsed as JSON. Transient failures are retried
    /// per the config's policy; a refusal is `Blocked`, a cut-off or non-JSON answer is
    /// `BadResponse`.
    pub async fn chat_json(
        &self,
        request: &ChatJsonRequest,
    ) -> Result<ChatJsonResponse, ProviderError> {
        self.call(request)
            .await
            .map_err(|error| redact_error(error, self.config.api_key.as_ref()))
    }

    async fn call(&self, request: &ChatJsonRequest) -> Result<ChatJsonResponse, ProviderError> {
        if self.config.api_key.is_none() && self.is_openai_itself() {
            return Err(ProviderError::MissingKey {
                provider: PROVIDER,
                env: SERVICE.key_env,
            });
        }
        let body = serde_json::to_vec(&self.request_body(request)).map_err(|error| {
            ProviderError::BadResponse {
                provider: PROVIDER,
                message: format!("cannot encode the request: {error}"),
            }
        })?;
        tracing::debug!(
            provider = PROVIDER,
            model = %self.config.model,
            images = request.images.len(),
            schema = %request.schema_name,
            "chat completion"
        );
        let delivered = send_with_retries(
            PROVIDER,
            &self.config.retry,
            self.config.timeout,
            || {
                let builder = self
                    .http
                    .post(&self.endpoint)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
                match &self.config.api_key {
                    Some(key) => builder.bearer_auth(key.expose()),
                    None => builder,
                }
            },
            classify_failure,
        )
        .await?;
        let mut answer = parse_completion(&delivered.body)?;
        if answer.model.is_empty() {
            answer.model = self.config.model.clone();
        }
        answer.attempts = delivered.attempts;
        Ok(answer)
    }

    /// Whether the client talks to OpenAI's own API (rather than a compatible server), which
    /// always needs a key and takes the newer `max_completion_tokens`.
    fn is_openai_itself(&self) -> bool {
        reqwest::Url::parse(&self.config.base_url)
            .ok()
            .and_then(|url| {
                url.host_str()
                    .map(|host| host.eq_ignore_ascii_case("api.openai.com"))
            })
            .unwrap_or(false)
    }

    fn request_body(&self, request: &ChatJsonRequest) -> Value {
        let mut user_parts = vec![json!({ "type": "text", "text": request.user_text })];
        user_parts.extend(request.images.iter().map(|image| {
            let url = format!("data:{};base64,{}", image.mime, BASE64.encode(&image.bytes));
            json!({ "type": "image_url", "image_url": { "url": url } })
        }));
        let mut body = json!({
            "model": self.config.model,
            "messages": [
                { "role": "system", "content": request.system },
                { "role": "user", "content": user_parts },
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": { "name": request.schema_name, "schema": request.schema, "strict": true },
            },
        });
        if let Some(max_tokens) = request.max_tokens {
            // OpenAI has deprecated `max_tokens` (newer models reject it); compatible servers
            // widely accept only the old name.
            let field = if self.is_openai_itself() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            body[field] = json!(max_tokens);
        }
        body
    }
}

/// OpenAI's error answers: `{"error": {"message", "type", "code"}}`.
fn classify_failure(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Failure {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = error_message(body);
    let names_quota = |field: &str| parsed["error"][field].as_str() == Some("insufficient_quota");
    match status.as_u16() {
        429 if names_quota("code") || names_quota("type") => {
            Failure::Fatal(ProviderError::QuotaExhausted {
                provider: PROVIDER,
                message,
            })
        }
        401 | 403 => Failure::Fatal(ProviderError::Auth {
            provider: PROVIDER,
            status: status.as_u16(),
            message,
        }),
        _ if is_retryable_status(status) => Failure::Retry {
            status,
            message,
            server_delay: header_retry_delay(headers, SystemTime::now()),
        },
        code => Failure::Fatal(ProviderError::Rejected {
            provider: PROVIDER,
            status: code,
            message,
        }),
    }
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    /// A string from OpenAI; some compatible servers send a list of text parts.
    #[serde(default)]
    content: Value,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: Option<u64>,
}

fn bad_response(message: String) -> ProviderError {
    ProviderError::BadResponse {
        provider: PROVIDER,
        message,
    }
}

/// A 2xx body into the answer; `attempts` is filled in by the caller.
fn parse_completion(body: &[u8]) -> Result<ChatJsonResponse, ProviderError> {
    let completion: Completion = serde_json::from_slice(body).map_err(|error| {
        bad_response(format!(
            "the body is not a chat completion ({error}): {}",
            snippet(&String::from_utf8_lossy(body), 200)
        ))
    })?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| bad_response("no choices in the answer".into()))?;
    let message = choice
        .message
        .ok_or_else(|| bad_response("the choice has no message".into()))?;
    if let Some(refusal) = message.refusal.filter(|refusal| !refusal.trim().is_empty()) {
        return Err(ProviderError::Blocked {
            provider: PROVIDER,
            reason: format!("the model refused: {refusal}"),
        });
    }
    match choice.finish_reason.as_deref() {
        Some("length") => {
            return Err(bad_response(
                "truncated: the answer reached the token limit before the JSON was complete".into(),
            ));
        }
        Some("content_filter") => {
            return Err(ProviderError::Blocked {
                provider: PROVIDER,
                reason:
                    "the answer was withheld by the content filter (finish_reason content_filter)"
                        .into(),
            });
        }
        _ => {}
    }
    let content = match &message.content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect(),
        _ => String::new(),
    };
    if content.trim().is_empty() {
        return Err(bad_response("the answer has no content".into()));
    }
    let value: Value = serde_json::from_str(strip_code_fence(&content)).map_err(|error| {
        bad_response(format!(
            "the content is not valid JSON ({error}): {}",
            snippet(&content, 200)
        ))
    })?;
    let usage = completion
        .usage
        .map(|usage| Usage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage
                .total_tokens
                .unwrap_or(usage.prompt_tokens + usage.completion_tokens),
        })
        .unwrap_or_default();
    Ok(ChatJsonResponse {
        value,
        usage,
        model: completion.model.unwrap_or_default(),
        attempts: 0,
    })
}

/// Compatible servers without structured outputs often wrap the JSON in a Markdown fence.
fn strip_code_fence(content: &str) -> &str {
    let trimmed = content.trim();
    let Some(inner) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let Some(inner) = inner.strip_suffix("```") else {
        return trimmed;
    };
    // Drop the info string (`json`) on the opening line.
    inner
        .split_once('\n')
        .map_or(inner, |(_, rest)| rest)
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::endpoint::tests::lookup;

    #[tokio::test]
    async fn openai_itself_needs_a_key_before_any_request() {
        let config = OpenAiConfig::from_lookup(&SERVICE, None, lookup(&[]));
        let client = OpenAiClient::new(config, reqwest::Client::new());
        let request = ChatJsonRequest {
            system: "s".into(),
            user_text: "u".into(),
            images: vec![],
            schema_name: "x".into(),
            schema: json!({ "type": "object" }),
            max_tokens: None,
        };
        let error = client.chat_json(&request).await.unwrap_err();
        assert_eq!(
            error,
            ProviderError::MissingKey {
                provider: "openai",
                env: "OPENAI_API_KEY"
            }
        );
    }

    #[test]
    fn max_tokens_takes_the_name_the_server_understands() {
        let request = ChatJsonRequest {
            system: "s".into(),
            user_text: "u".into(),
            images: vec![],
            schema_name: "x".into(),
            schema: json!({ "type": "object" }),
            max_tokens: Some(500),
        };
        let official = OpenAiClient::new(
            OpenAiConfig::from_lookup(&SERVICE, None, lookup(&[])),
            reqwest::Client::new(),
        );
        let body = official.request_body(&request);
        assert_eq!(body["max_completion_tokens"], 500);
        assert!(body.get("max_tokens").is_none());

        let ollama = OpenAiClient::new(
            OpenAiConfig::from_lookup(
                &SERVICE,
                None,
                lookup(&[("OPENAI_BASE_URL", "http://localhost:11434/v1/")]),
            ),
            reqwest::Client::new(),
        );
        assert_eq!(
            ollama.endpoint,
            "http://localhost:11434/v1/chat/completions"
        );
        assert_eq!(ollama.request_body(&request)["max_tokens"], 500);
    }

    #[test]
    fn answers_are_parsed_or_explained() {
        let answer = |message: Value, finish: &str| {
            let body = json!({ "model": "m", "choices": [{ "message": message, "finish_reason": finish }],
                "usage": { "prompt_tokens": 10, "completion_tokens": 5 } });
            parse_completion(body.to_string().as_bytes())
        };
        let ok = answer(json!({ "content": "{\"a\":1}", "refusal": null }), "stop").unwrap();
        assert_eq!(ok.value, json!({ "a": 1 }));
        assert_eq!(
            ok.usage,
            Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
                total_tokens: 15
            }
        );

        let fenced = answer(json!({ "content": "```json\n{\"a\":2}\n```" }), "stop").unwrap();
        assert_eq!(fenced.value, json!({ "a": 2 }));

        let refused = answer(
            json!({ "content": null, "refusal": "I can't help with that." }),
            "stop",
        );
        assert!(
            matches!(refused, Err(ProviderError::Blocked { reason, .. }) if reason.contains("I can't help"))
        );

        let cut = answer(json!({ "content": "{\"a\":" }), "length");
        assert!(
            matches!(cut, Err(ProviderError::BadResponse { message, .. }) if message.starts_with("truncated"))
        );

        let prose = answer(json!({ "content": "Sure! Here it is." }), "stop");
        assert!(
            matches!(prose, Err(ProviderError::BadResponse { message, .. }) if message.contains("not valid JSON"))
        );

        assert!(matches!(
            parse_completion(b"{\"choices\": ["),
            Err(ProviderError::BadResponse { .. })
        ));
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
        let quota = json!({ "error": { "message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota" } });
        assert!(matches!(
            classify(429, quota),
            Failure::Fatal(ProviderError::QuotaExhausted { .. })
        ));
        let rate = json!({ "error": { "message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded" } });
        assert!(matches!(classify(429, rate), Failure::Retry { .. }));
        assert!(matches!(
            classify(401, json!({})),
            Failure::Fatal(ProviderError::Auth { status: 401, .. })
        ));
        assert!(matches!(
            classify(400, json!({})),
            Failure::Fatal(ProviderError::Rejected { status: 400, .. })
        ));
        assert!(matches!(classify(503, json!({})), Failure::Retry { .. }));
    }
}
