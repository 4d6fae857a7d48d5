//! `POST /v1beta/models/{model}:generateContent` in Google's exact answer and error shapes.
//! Valid answers carry a real PNG in `inlineData`, a text part and `usageMetadata`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::behaviour::{Behaviour, Fault};
use crate::png::fake_png;
use crate::record::RecordedRequest;

/// What Gemini reports for one generated image.
const IMAGE_OUTPUT_TOKENS: u64 = 1290;
/// What Gemini counts for each image sent in.
const IMAGE_INPUT_TOKENS: u64 = 258;

pub(crate) async fn generate_content(
    State(state): State<Arc<crate::State>>,
    Path(target): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (request, fault) = state.arrive(&method, &uri, &headers, &body).await;
    let Some((model, "generateContent")) = target.split_once(':') else {
        return google_error(
            404,
            &format!("fake-ai: unknown method in models/{target}"),
            vec![],
        );
    };
    let has_key = request.header("x-goog-api-key").is_some()
        || request
            .query
            .as_deref()
            .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("key=")));
    if !has_key {
        return google_error(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            vec![],
        );
    }
    match fault {
        Some(fault) => fault_response(&fault, &state.behaviour, &request, model),
        None => answer(&state.behaviour, &request, model),
    }
}

fn fault_response(
    fault: &Fault,
    behaviour: &Behaviour,
    request: &RecordedRequest,
    model: &str,
) -> Response {
    match fault {
        Fault::RateLimited {
            retry_after,
            retry_after_ms,
        } => {
            let mut response = google_error(
                429,
                "Resource has been exhausted (e.g. check quota).",
                vec![],
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
        Fault::Status(code) => google_error(*code, status_message(*code), vec![]),
        Fault::Unauthorized => {
            let key = request.header("x-goog-api-key").unwrap_or("");
            google_error(
                400,
                &format!("API key not valid. Please pass a valid API key. (key: {key})"),
                vec![json!({
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": { "service": "generativelanguage.googleapis.com" },
                })],
            )
        }
        // Served by `State::arrive`, which waits and then lets the normal answer through.
        Fault::Stall(_) => answer(behaviour, request, model),
        Fault::MalformedJson => {
            let body = r#"{"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo"#;
            (
                StatusCode::OK,
                [("content-type", "application/json; charset=UTF-8")],
                body,
            )
                .into_response()
        }
        Fault::GeminiRetryInfo { retry_delay } => quota_error(
            model,
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            retry_delay,
        ),
        Fault::GeminiDailyQuota => quota_error(
            model,
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "40s",
        ),
        Fault::GeminiBlockReason(reason) => ok(json!({
            "promptFeedback": { "blockReason": reason },
            "usageMetadata": usage_metadata(request, 0, None),
            "modelVersion": model,
        })),
        Fault::GeminiFinishReason(reason) => ok(json!({
            "candidates": [{ "content": { "role": "model" }, "finishReason": reason, "index": 0 }],
            "usageMetadata": usage_metadata(request, 0, None),
            "modelVersion": model,
        })),
        Fault::GeminiTextOnly(text) => text_only(request, model, text),
        other => google_error(
            400,
            &format!("fake-ai: the fault {other:?} is for OpenAI, not Gemini"),
            vec![],
        ),
    }
}

fn answer(behaviour: &Behaviour, request: &RecordedRequest, model: &str) -> Response {
    let body = &request.body;
    if body.is_null() {
        return google_error(400, "Invalid JSON payload received.", vec![]);
    }
    if body["contents"].as_array().is_none_or(Vec::is_empty) {
        return google_error(
            400,
            "* GenerateContentRequest.contents: contents is not specified\n",
            vec![],
        );
    }
    let asks_for_image = body["generationConfig"]["responseModalities"]
        .as_array()
        .is_some_and(|modalities| modalities.iter().any(|modality| modality == "IMAGE"));
    if !asks_for_image {
        // Like the real model: without IMAGE among the modalities it can only describe.
        return text_only(
            request,
            model,
            "I can only answer in text here; ask for the IMAGE modality to get a picture.",
        );
    }
    let text = behaviour
        .gemini_text
        .as_deref()
        .unwrap_or("Here is the image.");
    let usage = behaviour
        .usage
        .map(|usage| (usage.prompt, usage.completion));
    ok(json!({
        "candidates": [{
            "content": { "role": "model", "parts": [
                { "text": text },
                { "inlineData": { "mimeType": "image/png", "data": BASE64.encode(fake_png()) } },
            ] },
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": usage_metadata(request, IMAGE_OUTPUT_TOKENS, usage),
        "modelVersion": model,
        "responseId": "fake-response",
    }))
}

fn text_only(request: &RecordedRequest, model: &str, text: &str) -> Response {
    let written = (text.len() as u64).div_ceil(4);
    ok(json!({
        "candidates": [{ "content": { "role": "model", "parts": [{ "text": text }] }, "finishReason": "STOP", "index": 0 }],
        "usageMetadata": usage_metadata(request, written, None),
        "modelVersion": model,
    }))
}

/// Counts as Gemini reports them: prompt text at about four characters a token, 258 a
/// picture in, 1290 for a picture out. `fixed` overrides prompt and output counts.
fn usage_metadata(request: &RecordedRequest, output: u64, fixed: Option<(u64, u64)>) -> Value {
    let (prompt, output) = fixed.unwrap_or_else(|| {
        let mut characters = 0u64;
        let mut images = 0u64;
        let contents = request.body["contents"].as_array().into_iter().flatten();
        for part in contents.flat_map(|content| content["parts"].as_array().into_iter().flatten()) {
            if let Some(text) = part["text"].as_str() {
                characters += text.len() as u64;
            }
            if part.get("inlineData").is_some() || part.get("inline_data").is_some() {
                images += 1;
            }
        }
        (characters.div_ceil(4) + IMAGE_INPUT_TOKENS * images, output)
    });
    json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
        "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": prompt }],
    })
}

fn quota_error(model: &str, quota_id: &str, retry_delay: &str) -> Response {
    google_error(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        vec![
            json!({
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": quota_id,
                    "quotaDimensions": { "location": "global", "model": model },
                    "quotaValue": "10",
                }],
            }),
            json!({
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{ "description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits" }],
            }),
            json!({ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay }),
        ],
    )
}

fn status_message(code: u16) -> &'static str {
    match code {
        400 => "Request contains an invalid argument.",
        401 => "Request had invalid authentication credentials.",
        403 => "The caller does not have permission",
        404 => "models/unknown is not found for API version v1beta.",
        429 => "Resource has been exhausted (e.g. check quota).",
        500 => {
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
        }
        503 => "The model is overloaded. Please try again later.",
        504 => "Deadline exceeded.",
        _ => "Request failed (fake-ai).",
    }
}

/// Google's canonical status name for an HTTP status.
fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

fn ok(body: Value) -> Response {
    Json(body).into_response()
}

fn google_error(code: u16, message: &str, details: Vec<Value>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut error = json!({ "code": code, "message": message, "status": status_name(code) });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    (status, Json(json!({ "error": error }))).into_response()
}
