//! The OpenAI and Gemini clients against the fake providers: real HTTP on the loopback, a real
//! `reqwest` client, so what is asserted is what would go over the wire.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use techpack_fake_ai::{Behaviour, FakeAi, Fault, fake_png};
use techpack_steps::providers::gemini::{GeminiClient, GeminiConfig, GenerateImageRequest};
use techpack_steps::providers::openai::{ChatJsonRequest, OpenAiClient, OpenAiConfig};
use techpack_steps::providers::retry::{ApiKey, RetryPolicy};
use techpack_steps::providers::{InlineImage, ProviderError, Usage};
use techpack_steps::techpack;

const OPENAI_KEY: &str = "sk-test-4f2b9c1d8e7a6b5c";
const GEMINI_KEY: &str = "AIzaSy-test-91e8d7c6b5a4";

/// Retries fast enough that only a server's delay can make a test slow.
fn quick_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_server_delay: Duration::from_secs(5),
        ..RetryPolicy::exponential(
            max_attempts,
            Duration::from_millis(5),
            Duration::from_millis(20),
        )
    }
}

fn openai(fake: &FakeAi, key: Option<&str>, retry: RetryPolicy) -> OpenAiClient {
    let config = OpenAiConfig {
        base_url: fake.base_url_openai(),
        api_key: key.map(ApiKey::new),
        model: "gpt-4o".into(),
        timeout: Duration::from_secs(5),
        retry,
    };
    OpenAiClient::new(config, reqwest::Client::new())
}

fn gemini(fake: &FakeAi, key: Option<&str>, retry: RetryPolicy) -> GeminiClient {
    let config = GeminiConfig {
        base_url: fake.base_url_gemini(),
        api_key: key.map(ApiKey::new),
        model: "gemini-2.5-flash-image".into(),
        timeout: Duration::from_secs(5),
        retry,
    };
    GeminiClient::new(config, reqwest::Client::new())
}

fn photo() -> InlineImage {
    InlineImage {
        mime: "image/png".into(),
        bytes: Arc::from(fake_png()),
    }
}

fn category_question() -> ChatJsonRequest {
    ChatJsonRequest {
        system: "You write factory tech packs.".into(),
        user_text: "What kind of product is this?".into(),
        images: vec![
            photo(),
            InlineImage {
                mime: "image/jpeg".into(),
                bytes: Arc::from(&b"\xff\xd8\xff jpeg"[..]),
            },
        ],
        schema_name: "techpack_category".into(),
        schema: techpack::category_schema(),
        max_tokens: Some(800),
    }
}

fn sketch_request() -> GenerateImageRequest {
    GenerateImageRequest {
        prompt: "A black-and-white technical flat of the front view.".into(),
        images: vec![photo()],
    }
}

async fn ask_openai(
    faults: Vec<Fault>,
    retry: RetryPolicy,
) -> (
    FakeAi,
    Result<techpack_steps::providers::openai::ChatJsonResponse, ProviderError>,
) {
    let fake = FakeAi::start(Behaviour::default().with_faults(faults)).await;
    let result = openai(&fake, Some(OPENAI_KEY), retry)
        .chat_json(&category_question())
        .await;
    (fake, result)
}

async fn ask_gemini(
    faults: Vec<Fault>,
    retry: RetryPolicy,
) -> (
    FakeAi,
    Result<techpack_steps::providers::gemini::GeneratedImage, ProviderError>,
) {
    let fake = FakeAi::start(Behaviour::default().with_faults(faults)).await;
    let result = gemini(&fake, Some(GEMINI_KEY), retry)
        .generate_image(&sketch_request())
        .await;
    (fake, result)
}

fn assert_validates(schema: &Value, instance: &Value) {
    let validator = jsonschema::validator_for(schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|error| error.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{instance} does not follow the schema: {errors:?}"
    );
}

// ---- request shape and answers ----

#[tokio::test]
async fn openai_sends_auth_model_strict_schema_and_data_url_images() {
    let fake = FakeAi::start(Behaviour::default().with_usage(1234, 56)).await;
    let answer = openai(&fake, Some(OPENAI_KEY), quick_retries(1))
        .chat_json(&category_question())
        .await
        .unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
    let body = &sent.body;
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(
        body["max_tokens"], 800,
        "compatible servers get the widely understood name"
    );
    assert_eq!(
        body["messages"][0],
        json!({ "role": "system", "content": "You write factory tech packs." })
    );
    assert_eq!(body["messages"][1]["role"], "user");
    let parts = body["messages"][1]["content"].as_array().unwrap();
    assert_eq!(
        parts[0],
        json!({ "type": "text", "text": "What kind of product is this?" })
    );
    let png_url = format!("data:image/png;base64,{}", BASE64.encode(fake_png()));
    assert_eq!(
        parts[1],
        json!({ "type": "image_url", "image_url": { "url": png_url } })
    );
    let jpeg_url = parts[2]["image_url"]["url"].as_str().unwrap();
    assert!(
        jpeg_url.starts_with("data:image/jpeg;base64,"),
        "{jpeg_url}"
    );
    assert_eq!(
        BASE64
            .decode(&jpeg_url["data:image/jpeg;base64,".len()..])
            .unwrap(),
        b"\xff\xd8\xff jpeg"
    );
    assert_eq!(
        body["response_format"],
        json!({ "type": "json_schema", "json_schema": {
            "name": "techpack_category", "schema": techpack::category_schema(), "strict": true } })
    );

    assert_validates(&techpack::category_schema(), &answer.value);
    assert_eq!(
        answer.usage,
        Usage {
            prompt_tokens: 1234,
            completion_tokens: 56,
            total_tokens: 1290
        }
    );
    assert_eq!(answer.model, "gpt-4o");
    assert_eq!(answer.attempts, 1);
}

#[tokio::test]
async fn openai_default_answers_follow_every_techpack_schema() {
    let fake = FakeAi::start(Behaviour::default()).await;
    let client = openai(&fake, Some(OPENAI_KEY), quick_retries(1));
    let schemas = [
        ("techpack_category", techpack::category_schema()),
        ("techpack_view_analysis", techpack::view_analysis_schema()),
        ("techpack_close_up", techpack::close_up_schema()),
        ("techpack_field_edit", techpack::edit_schema()),
    ];
    for (name, schema) in schemas {
        let request = ChatJsonRequest {
            schema_name: name.into(),
            schema: schema.clone(),
            ..category_question()
        };
        let answer = client.chat_json(&request).await.unwrap();
        assert_validates(&schema, &answer.value);
        assert!(
            answer.usage.prompt_tokens > 0 && answer.usage.completion_tokens > 0,
            "{name}: {:?}",
            answer.usage
        );
    }
}

#[tokio::test]
async fn openai_canned_answers_come_back_as_given() {
    let canned = json!({ "new_value_json": "\"navy\"", "explanation": "as asked" });
    let fake = FakeAi::start(Behaviour::default().with_openai_answer(canned.clone())).await;
    let answer = openai(&fake, Some(OPENAI_KEY), quick_retries(1))
        .chat_json(&category_question())
        .await
        .unwrap();
    assert_eq!(answer.value, canned);
}

#[tokio::test]
async fn openai_compatible_servers_may_be_called_without_a_key() {
    let fake = FakeAi::start(Behaviour::default()).await;
    let answer = openai(&fake, None, quick_retries(1))
        .chat_json(&category_question())
        .await
        .unwrap();
    assert_validates(&techpack::category_schema(), &answer.value);
    assert_eq!(fake.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn gemini_sends_key_header_inline_images_and_asks_for_an_image() {
    let fake = FakeAi::start(
        Behaviour::default()
            .with_usage(600, 1290)
            .with_gemini_text("Front flat."),
    )
    .await;
    let image = gemini(&fake, Some(GEMINI_KEY), quick_retries(1))
        .generate_image(&sketch_request())
        .await
        .unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(
        sent.path,
        "/v1beta/models/gemini-2.5-flash-image:generateContent"
    );
    assert_eq!(sent.query, None, "the key never travels in the URL");
    assert_eq!(sent.header("x-goog-api-key"), Some(GEMINI_KEY));
    assert_eq!(sent.header("authorization"), None);
    let parts = sent.body["contents"][0]["parts"].as_array().unwrap();
    assert_eq!(
        parts[0],
        json!({ "text": "A black-and-white technical flat of the front view." })
    );
    assert_eq!(
        parts[1],
        json!({ "inlineData": { "mimeType": "image/png", "data": BASE64.encode(fake_png()) } })
    );
    let modalities = sent.body["generationConfig"]["responseModalities"]
        .as_array()
        .unwrap();
    assert!(modalities.contains(&json!("IMAGE")), "{modalities:?}");

    assert_eq!(image.bytes, fake_png());
    assert_eq!(image.mime, "image/png");
    let decoded = image::load_from_memory(&image.bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (16, 16));
    assert_eq!(image.text.as_deref(), Some("Front flat."));
    assert_eq!(
        image.usage,
        Usage {
            prompt_tokens: 600,
            completion_tokens: 1290,
            total_tokens: 1890
        }
    );
    assert_eq!(image.model, "gemini-2.5-flash-image");
    assert_eq!(image.attempts, 1);
}

#[tokio::test]
async fn gemini_without_a_key_makes_no_request() {
    let fake = FakeAi::start(Behaviour::default()).await;
    let error = gemini(&fake, None, quick_retries(3))
        .generate_image(&sketch_request())
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ProviderError::MissingKey {
            provider: "gemini",
            env: "GEMINI_API_KEY"
        }
    );
    assert_eq!(error.to_string(), "gemini: no API key; set GEMINI_API_KEY");
    assert_eq!(fake.request_count(), 0);
}

// ---- retries ----

#[tokio::test]
async fn rate_limit_waits_for_retry_after_ms() {
    let started = Instant::now();
    let (fake, result) = ask_openai(
        vec![Fault::RateLimited {
            retry_after: None,
            retry_after_ms: Some(400),
        }],
        quick_retries(3),
    )
    .await;
    let answer = result.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer.attempts, 2);
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after_seconds() {
    let started = Instant::now();
    let (fake, result) = ask_gemini(
        vec![Fault::RateLimited {
            retry_after: Some("1".into()),
            retry_after_ms: None,
        }],
        quick_retries(3),
    )
    .await;
    assert_eq!(result.unwrap().attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn gemini_waits_for_retry_info() {
    let started = Instant::now();
    let (fake, result) = ask_gemini(
        vec![Fault::GeminiRetryInfo {
            retry_delay: "1s".into(),
        }],
        quick_retries(3),
    )
    .await;
    assert_eq!(result.unwrap().attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn a_hostile_retry_after_is_capped() {
    let retry = RetryPolicy {
        max_server_delay: Duration::from_millis(100),
        ..quick_retries(3)
    };
    let started = Instant::now();
    let (_fake, result) = ask_openai(
        vec![Fault::RateLimited {
            retry_after: Some("86400".into()),
            retry_after_ms: None,
        }],
        retry,
    )
    .await;
    assert_eq!(result.unwrap().attempts, 2);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(100) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (fake, result) = ask_openai(
        vec![Fault::Status(500), Fault::Status(503)],
        quick_retries(3),
    )
    .await;
    assert_eq!(result.unwrap().attempts, 3);
    assert_eq!(fake.request_count(), 3);

    let (fake, result) = ask_gemini(
        vec![Fault::Status(503), Fault::Status(500)],
        quick_retries(3),
    )
    .await;
    assert_eq!(result.unwrap().attempts, 3);
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test]
async fn retries_end_with_the_last_status() {
    let (fake, result) = ask_openai(vec![Fault::Status(503); 5], quick_retries(3)).await;
    match result.unwrap_err() {
        ProviderError::Unavailable {
            provider: "openai",
            status: 503,
            attempts: 3,
            message,
        } => {
            assert!(message.contains("overloaded"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(fake.request_count(), 3);
    assert!(
        ProviderError::Unavailable {
            provider: "openai",
            status: 503,
            attempts: 3,
            message: String::new()
        }
        .is_transient()
    );
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let fake =
        FakeAi::start(Behaviour::default().with_faults([Fault::Stall(Duration::from_secs(3))]))
            .await;
    let config = GeminiConfig {
        base_url: fake.base_url_gemini(),
        api_key: Some(ApiKey::new(GEMINI_KEY)),
        model: "gemini-2.5-flash-image".into(),
        timeout: Duration::from_millis(300),
        retry: quick_retries(2),
    };
    let started = Instant::now();
    let client = GeminiClient::new(config, reqwest::Client::new());
    let image = client.generate_image(&sketch_request()).await.unwrap();
    assert_eq!(image.attempts, 2);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(fake.request_count(), 2);

    for _ in 0..2 {
        fake.push_fault(Fault::Stall(Duration::from_secs(3)));
    }
    let error = client.generate_image(&sketch_request()).await.unwrap_err();
    assert_eq!(
        error,
        ProviderError::Timeout {
            provider: "gemini",
            after: Duration::from_millis(300),
            attempts: 2
        }
    );
    assert_eq!(
        error.to_string(),
        "gemini: no answer within 300ms after 2 attempts"
    );
    assert_eq!(fake.request_count(), 4);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = OpenAiConfig {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        api_key: Some(ApiKey::new(OPENAI_KEY)),
        model: "gpt-4o".into(),
        timeout: Duration::from_secs(5),
        retry: quick_retries(3),
    };
    let error = OpenAiClient::new(config, reqwest::Client::new())
        .chat_json(&category_question())
        .await
        .unwrap_err();
    match &error {
        ProviderError::Connect {
            provider: "openai",
            attempts: 3,
            message,
        } => {
            assert!(message.to_lowercase().contains("connect"), "{message}");
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    assert!(error.is_transient());
}

// ---- never retried ----

#[tokio::test]
async fn client_errors_are_never_retried() {
    for (status, expected) in [
        (400, "Rejected"),
        (401, "Auth"),
        (403, "Auth"),
        (404, "Rejected"),
    ] {
        let (fake, result) = ask_openai(vec![Fault::Status(status)], quick_retries(4)).await;
        let error = result.unwrap_err();
        assert!(
            format!("{error:?}").starts_with(expected),
            "openai {status}: {error:?}"
        );
        assert!(
            error.to_string().contains(&format!("HTTP {status}")),
            "{error}"
        );
        assert_eq!(fake.request_count(), 1, "openai {status}");

        let (fake, result) = ask_gemini(vec![Fault::Status(status)], quick_retries(4)).await;
        let error = result.unwrap_err();
        assert!(
            format!("{error:?}").starts_with(expected),
            "gemini {status}: {error:?}"
        );
        assert_eq!(fake.request_count(), 1, "gemini {status}");
    }
}

#[tokio::test]
async fn openai_insufficient_quota_is_not_retried() {
    let (fake, result) = ask_openai(vec![Fault::OpenAiInsufficientQuota], quick_retries(4)).await;
    match result.unwrap_err() {
        ProviderError::QuotaExhausted {
            provider: "openai",
            message,
        } => assert!(message.contains("quota"), "{message}"),
        other => panic!("expected QuotaExhausted, got {other:?}"),
    }
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn gemini_per_day_quota_is_not_retried() {
    let (fake, result) = ask_gemini(vec![Fault::GeminiDailyQuota], quick_retries(4)).await;
    match result.unwrap_err() {
        ProviderError::QuotaExhausted {
            provider: "gemini",
            message,
        } => {
            assert!(
                message.contains("GenerateRequestsPerDayPerProjectPerModel"),
                "{message}"
            );
        }
        other => panic!("expected QuotaExhausted, got {other:?}"),
    }
    assert_eq!(fake.request_count(), 1);
}

// ---- answers that are not what was asked for ----

#[tokio::test]
async fn gemini_blocked_prompt_is_a_clear_error() {
    let (fake, result) = ask_gemini(
        vec![Fault::GeminiBlockReason("PROHIBITED_CONTENT".into())],
        quick_retries(3),
    )
    .await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            ProviderError::Blocked {
                provider: "gemini",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "gemini: blocked by the model's safety filter: the prompt was blocked (promptFeedback.blockReason PROHIBITED_CONTENT)"
    );
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn gemini_image_safety_is_a_clear_error() {
    let (_fake, result) = ask_gemini(
        vec![Fault::GeminiFinishReason("IMAGE_SAFETY".into())],
        quick_retries(3),
    )
    .await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            ProviderError::Blocked {
                provider: "gemini",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "gemini: blocked by the model's safety filter: no image was made (finishReason IMAGE_SAFETY)"
    );
}

#[tokio::test]
async fn gemini_text_only_answer_is_a_clear_error() {
    let text = "I'm sorry, I can't draw technical flats, but here is a description.";
    let (_fake, result) =
        ask_gemini(vec![Fault::GeminiTextOnly(text.into())], quick_retries(3)).await;
    assert_eq!(
        result.unwrap_err(),
        ProviderError::NoImage {
            provider: "gemini",
            text: text.into()
        }
    );
}

#[tokio::test]
async fn openai_refusal_is_blocked() {
    let (_fake, result) = ask_openai(
        vec![Fault::OpenAiRefusal("I can't help with that.".into())],
        quick_retries(3),
    )
    .await;
    let error = result.unwrap_err();
    assert_eq!(
        error,
        ProviderError::Blocked {
            provider: "openai",
            reason: "the model refused: I can't help with that.".into()
        }
    );
}

#[tokio::test]
async fn openai_truncated_answer_is_a_bad_response() {
    let (_fake, result) = ask_openai(vec![Fault::OpenAiTruncated], quick_retries(3)).await;
    match result.unwrap_err() {
        ProviderError::BadResponse {
            provider: "openai",
            message,
        } => assert!(message.starts_with("truncated"), "{message}"),
        other => panic!("expected BadResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_json_is_a_bad_response() {
    let (fake, result) = ask_openai(vec![Fault::MalformedJson], quick_retries(3)).await;
    assert!(matches!(
        result.unwrap_err(),
        ProviderError::BadResponse {
            provider: "openai",
            ..
        }
    ));
    assert_eq!(fake.request_count(), 1);

    let (_fake, result) = ask_openai(vec![Fault::OpenAiNonJsonContent], quick_retries(3)).await;
    match result.unwrap_err() {
        ProviderError::BadResponse { message, .. } => {
            assert!(message.contains("not valid JSON"), "{message}")
        }
        other => panic!("expected BadResponse, got {other:?}"),
    }

    let (_fake, result) = ask_gemini(vec![Fault::MalformedJson], quick_retries(3)).await;
    assert!(matches!(
        result.unwrap_err(),
        ProviderError::BadResponse {
            provider: "gemini",
            ..
        }
    ));
}

// ---- keys ----

#[tokio::test]
async fn keys_never_appear_in_errors_or_debug_output() {
    let mut errors = Vec::new();
    // The fake's 401/400 echo the key in full; the clients must redact it.
    errors.push(
        ask_openai(vec![Fault::Unauthorized], quick_retries(2))
            .await
            .1
            .unwrap_err(),
    );
    errors.push(
        ask_gemini(vec![Fault::Unauthorized], quick_retries(2))
            .await
            .1
            .unwrap_err(),
    );
    errors.push(
        ask_openai(vec![Fault::Status(500); 2], quick_retries(2))
            .await
            .1
            .unwrap_err(),
    );
    errors.push(
        ask_gemini(vec![Fault::Status(503); 2], quick_retries(2))
            .await
            .1
            .unwrap_err(),
    );
    errors.push(
        ask_openai(vec![Fault::MalformedJson], quick_retries(2))
            .await
            .1
            .unwrap_err(),
    );
    errors.push(
        ask_gemini(
            vec![Fault::GeminiTextOnly(format!("your key is {GEMINI_KEY}"))],
            quick_retries(2),
        )
        .await
        .1
        .unwrap_err(),
    );
    assert!(
        matches!(errors[0], ProviderError::Auth { status: 401, .. }),
        "{:?}",
        errors[0]
    );
    assert!(
        matches!(errors[1], ProviderError::Auth { status: 400, .. }),
        "{:?}",
        errors[1]
    );
    assert!(
        errors[0]
            .to_string()
            .contains("Incorrect API key provided: ***"),
        "{}",
        errors[0]
    );

    let fake = FakeAi::start(Behaviour::default()).await;
    let openai_client = openai(&fake, Some(OPENAI_KEY), quick_retries(1));
    let gemini_client = gemini(&fake, Some(GEMINI_KEY), quick_retries(1));
    let mut printed: Vec<String> = errors
        .iter()
        .flat_map(|error| [error.to_string(), format!("{error:?}")])
        .collect();
    printed.push(format!("{openai_client:?}"));
    printed.push(format!("{gemini_client:?}"));
    printed.push(format!(
        "{:?}",
        OpenAiConfig {
            api_key: Some(ApiKey::new(OPENAI_KEY)),
            ..OpenAiConfig::from_env(&techpack_steps::providers::openai::SERVICE, None)
        }
    ));
    for text in printed {
        assert!(
            !text.contains(OPENAI_KEY) && !text.contains(GEMINI_KEY),
            "a key leaked: {text}"
        );
    }
}
