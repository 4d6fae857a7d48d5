//! The tech-pack pipeline against the HTTP providers: the real binary talks to a local fake
//! server that speaks OpenAI's and Gemini's exact wire formats.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use techpack_fake_ai::{Behaviour, FakeAi, Fault};

const OPENAI_KEY: &str = "sk-test-0123456789secret";
const GEMINI_KEY: &str = "gm-test-9876543210secret";

async fn techpack(fake: &FakeAi, data: &Path, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_techpack"));
    command
        .env("TECHPACK_DATA_DIR", data)
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("OPENAI_BASE_URL", fake.base_url_openai())
        .env("GEMINI_API_KEY", GEMINI_KEY)
        .env("GEMINI_BASE_URL", fake.base_url_gemini())
        .env("TECHPACK_VISION_PROVIDER", "openai")
        .env("TECHPACK_IMAGE_PROVIDER", "gemini")
        .args(args)
        .stdin(Stdio::null());
    command.output().await.unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn pipeline(fake: &FakeAi, data: &Path, out: &Path) -> Output {
    techpack(
        fake,
        data,
        &[
            "run",
            "workflows/tech-pack-v2.yaml",
            "--image",
            "workflows/samples/sample-product.png",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_speaks_both_wire_formats_and_caches_by_image() {
    let fake = FakeAi::start(Behaviour::default().with_usage(1200, 300)).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = pipeline(&fake, &data, &dir.path().join("out")).await;
    assert!(output.status.success(), "{}", text(&output));

    let requests = fake.requests();
    let chats: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .collect();
    let images: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with(":generateContent"))
        .collect();
    assert!(
        !chats.is_empty() && !images.is_empty(),
        "{:?}",
        requests.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    // 1 category + 1 view + 8 close-up analyses; 8 close-ups + 3 flats (back and side drawn from the front).
    assert_eq!(chats.len(), 10);
    assert_eq!(images.len(), 11);
    for chat in &chats {
        assert_eq!(
            chat.header("authorization"),
            Some(format!("Bearer {OPENAI_KEY}").as_str())
        );
        assert_eq!(chat.body["model"], "gpt-4o");
        let format = &chat.body["response_format"];
        assert_eq!(format["type"], "json_schema");
        assert_eq!(format["json_schema"]["strict"], true);
        assert!(
            format["json_schema"]["schema"]["$schema"].is_null(),
            "documentation keys are not sent"
        );
    }
    let view_call = chats
        .iter()
        .find(|c| c.body["response_format"]["json_schema"]["name"] == "techpack_view_analysis")
        .unwrap();
    let parts = view_call.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .collect::<Vec<_>>();
    assert!(parts.iter().any(|p| {
        p["type"] == "image_url"
            && p["image_url"]["url"]
                .as_str()
                .unwrap()
                .starts_with("data:image/png;base64,")
    }));
    for call in &images {
        assert_eq!(
            call.path,
            "/v1beta/models/gemini-2.5-flash-image:generateContent"
        );
        assert_eq!(call.header("x-goog-api-key"), Some(GEMINI_KEY));
        let modalities = call.body["generationConfig"]["responseModalities"]
            .as_array()
            .unwrap();
        assert!(modalities.iter().any(|m| m == "IMAGE"));
        let inline = &call.body["contents"][0]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p.get("inlineData").is_some())
            .unwrap()["inlineData"];
        assert_eq!(inline["mimeType"], "image/png");
    }

    let logs = techpack(&fake, &data, &["logs", "--json"]).await;
    let logged: Vec<Value> = serde_json::from_slice(&logs.stdout).unwrap();
    assert_eq!(logged.len(), 21);
    let vision = logged.iter().find(|l| l["provider"] == "openai").unwrap();
    assert_eq!(vision["usage"]["total_tokens"], 1500);
    let everything = format!("{}{}", String::from_utf8_lossy(&logs.stdout), text(&output));
    assert!(
        !everything.contains(OPENAI_KEY) && !everything.contains(GEMINI_KEY),
        "a key leaked"
    );

    let before = fake.request_count();
    let again = pipeline(&fake, &data, &dir.path().join("again")).await;
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        fake.request_count(),
        before,
        "the same image again must not call a provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out_and_auth_failures_are_not_retried() {
    let fake = FakeAi::start(Behaviour::default().with_faults([Fault::RateLimited {
        retry_after: None,
        retry_after_ms: Some(300),
    }]))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let output = pipeline(&fake, &dir.path().join("data"), &dir.path().join("out")).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        fake.requests()[0].path,
        fake.requests()[1].path,
        "the rate-limited call was retried"
    );

    let fake = FakeAi::start(Behaviour::default().with_faults([Fault::Unauthorized])).await;
    let output = pipeline(&fake, &dir.path().join("data2"), &dir.path().join("out2")).await;
    assert_eq!(output.status.code(), Some(1));
    let all = text(&output);
    assert!(all.contains("openai: authentication failed"), "{all}");
    assert!(!all.contains(OPENAI_KEY), "the key leaked: {all}");
    assert_eq!(fake.request_count(), 1, "a 401 must not be retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safety_block_fails_the_step_with_the_reason() {
    let fake = FakeAi::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Analysis offline, so the first request is the first image: it is blocked.
    fake.push_fault(Fault::GeminiBlockReason("PROHIBITED_CONTENT".into()));
    let output = techpack(
        &fake,
        &data,
        &[
            "run",
            "workflows/tech-pack-v2.yaml",
            "--image",
            "workflows/samples/sample-product.png",
            "--vision-provider",
            "local",
            "-q",
        ],
    )
    .await;
    let all = text(&output);
    // Close-ups and sketches ask for images side by side, so either may send the blocked
    // first request. Both may fail without taking the tech pack with them: the run succeeds
    // and warns, with the reason.
    assert_eq!(output.status.code(), Some(0), "{all}");
    let blocked = |step: &str| {
        all.contains(&format!(
            "warning: step `{step}` failed (tolerated, continue_on_error): gemini: blocked by the model's safety filter"
        ))
    };
    assert!(
        (blocked("close_ups") || blocked("sketches")) && all.contains("PROHIBITED_CONTENT"),
        "{all}"
    );
}
