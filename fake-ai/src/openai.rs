//! `POST /v1/chat/completions` in OpenAI's exact answer and error shapes. Valid answers follow
//! the `json_schema` the request sent, so a client's parsing is tested against its own schema.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::behaviour::{Behaviour, Fault};
use crate::record::RecordedRequest;
use crate::schema_instance::schema_instance;

pub(crate) async fn chat_completions(
    State(state): State<Arc<crate::State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (request, fault) = state.arrive(&method, &uri, &headers, &body).await;
    match fault {
        Some(fault) => fault_response(&fault, &state.behaviour, &request),
        None => answer(&state.behaviour, &request),
    }
}

fn fault_response(fault: &Fault, behaviour: &Behaviour, request: &RecordedRequest) -> Response {
    match fault {
        Fault::RateLimited {
            retry_after,
            retry_after_ms,
        } => {
            let mut response = error(
                429,
                "Rate limit reached for requests. Please try again in a moment.",
                "requests",
                Some("rate_limit_exceeded"),
            );
            let headers = response.headers_mut();
            if let Some(value) = retry_after
                .as_deref()
                .and_then(|value| HeaderValue::from_str(value).ok())
            {
                headers.insert("retry-after", value);
            }
            if let Some(millis) = retry_after_ms {
                headers.insert("retry-after-ms", HeaderValue::from(*millis));
            }
            response
        }
        Fault::Status(code) => status_error(*code),
        Fault::Unauthorized => {
            let key = request
                .header("authorization")
                .map(|value| value.trim_start_matches("Bearer "))
                .unwrap_or("");
            let message = format!(
                "Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys."
            );
            error(
                401,
                &message,
                "invalid_request_error",
                Some("invalid_api_key"),
            )
        }
        // Served by `State::arrive`, which waits and then lets the normal answer through.
        Fault::Stall(_) => answer(behaviour, request),
        Fault::MalformedJson => malformed(),
        Fault::OpenAiInsufficientQuota => error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        Fault::OpenAiRefusal(refusal) => completion(
            request,
            json!({ "role": "assistant", "content": null, "refusal": refusal }),
            "stop",
            None,
        ),
        Fault::OpenAiTruncated => completion(
            request,
            json!({ "role": "assistant", "content": "{\"summary\": \"The product is a", "refusal": null }),
            "length",
            None,
        ),
        Fault::OpenAiNonJsonContent => completion(
            request,
            json!({ "role": "assistant", "content": "Sure! The product appears to be a tote bag.", "refusal": null }),
            "stop",
            None,
        ),
        other => error(
            400,
            &format!("fake-ai: the fault {other:?} is for Gemini, not OpenAI"),
            "invalid_request_error",
            None,
        ),
    }
}

/// A valid answer: the canned document, or an instance of the request's schema.
fn answer(behaviour: &Behaviour, request: &RecordedRequest) -> Response {
    let body = &request.body;
    if body.is_null() {
        return error(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)",
            "invalid_request_error",
            None,
        );
    }
    if !body["model"].is_string() {
        return error(
            400,
            "you must provide a model parameter",
            "invalid_request_error",
            None,
        );
    }
    if !body["messages"].is_array() {
        return error(
            400,
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            None,
        );
    }
    let content = match (&behaviour.openai_answer, &body["response_format"]) {
        (Some(canned), _) => canned.to_string(),
        (None, format) if format["type"] == "json_schema" => {
            schema_instance(&format["json_schema"]["schema"]).to_string()
        }
        (None, format) if format["type"] == "json_object" => "{}".to_string(),
        (None, _) => "This is a fake answer.".to_string(),
    };
    let message =
        json!({ "role": "assistant", "content": content, "refusal": null, "annotations": [] });
    let usage = behaviour
        .usage
        .map(|usage| (usage.prompt, usage.completion));
    completion(request, message, "stop", usage)
}

fn completion(
    request: &RecordedRequest,
    message: Value,
    finish_reason: &str,
    usage: Option<(u64, u64)>,
) -> Response {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let (prompt, completion) = usage.unwrap_or_else(|| {
        let written = message["content"]
            .as_str()
            .or(message["refusal"].as_str())
            .unwrap_or("");
        (
            estimate_prompt_tokens(&request.body),
            (written.len() as u64).div_ceil(4).max(1),
        )
    });
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let body = json!({
        "id": format!("chatcmpl-fake{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
        "object": "chat.completion",
        "created": created,
        "model": request.body["model"].as_str().unwrap_or("gpt-4o"),
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason }],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": { "reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0 },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    });
    Json(body).into_response()
}

/// About four characters a token, plus OpenAI's 85-token base for each low-detail image.
fn estimate_prompt_tokens(body: &Value) -> u64 {
    let mut characters = 0u64;
    let mut images = 0u64;
    for message in body["messages"].as_array().into_iter().flatten() {
        match &message["content"] {
            Value::String(text) => characters += text.len() as u64,
            Value::Array(parts) => {
                for part in parts {
                    match part["type"].as_str() {
                        Some("image_url") => images += 1,
                        _ => {
                            characters += part["text"].as_str().map_or(0, |text| text.len() as u64)
                        }
                    }
                }
            }
            _ => {}
        }
    }
    characters.div_ceil(4) + 85 * images + 7
}

fn status_error(code: u16) -> Response {
    let (message, kind, error_code) = match code {
        400 => ("Invalid request (fake-ai).", "invalid_request_error", None),
        401 => (
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        403 => (
            "Country, region, or territory not supported",
            "request_forbidden",
            Some("unsupported_country_region_territory"),
        ),
        404 => (
            "The model does not exist or you do not have access to it.",
            "invalid_request_error",
            Some("model_not_found"),
        ),
        429 => (
            "Rate limit reached for requests.",
            "requests",
            Some("rate_limit_exceeded"),
        ),
        503 => (
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
        ),
        500..=599 => (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        _ => ("Request failed (fake-ai).", "invalid_request_error", None),
    };
    error(code, message, kind, error_code)
}

fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body =
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    (status, Json(body)).into_response()
}

fn malformed() -> Response {
    let body = r#"{"id": "chatcmpl-fake", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "{\"sum"#;
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}
