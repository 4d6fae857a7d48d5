//! A fake OpenAI and Gemini for tests and benchmarks: a real HTTP server on `127.0.0.1:0`
//! that speaks OpenAI `chat/completions` and Gemini `generateContent`, records every request,
//! and serves a script of faults before it falls back to valid answers.
//!
//! Test support only: a dev-dependency, never part of the production binary.
//!
//! ```no_run
//! # async fn demo() {
//! use techpack_fake_ai::{Behaviour, FakeAi, Fault};
//! let fake = FakeAi::start(Behaviour::default().with_faults([Fault::Status(503)])).await;
//! let openai_base = fake.base_url_openai(); // http://127.0.0.1:PORT/v1
//! // ... point a client at it, then:
//! assert_eq!(fake.request_count(), 2);
//! # }
//! ```
//!
//! # Layout
//! - `behaviour`: what the server does: latency, canned answers, usage, the fault script.
//! - `record`: the requests it received, for assertions.
//! - `openai`: `POST /v1/chat/completions` and OpenAI's answer and error shapes.
//! - `gemini`: `POST /v1beta/models/{model}:generateContent` and Google's shapes.
//! - `schema_instance`: a minimal document that validates against a JSON Schema.
//! - `png`: the small real PNG the fake Gemini draws.

mod behaviour;
mod gemini;
mod openai;
mod png;
mod record;
mod schema_instance;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::task::JoinHandle;

pub use behaviour::{Behaviour, FakeUsage, Fault};
pub use png::fake_png;
pub use record::RecordedRequest;
pub use schema_instance::schema_instance;

/// A running fake server. Dropping it stops the server.
pub struct FakeAi {
    addr: SocketAddr,
    state: Arc<State>,
    server: JoinHandle<()>,
}

/// What the handlers share.
struct State {
    behaviour: Behaviour,
    faults: Mutex<VecDeque<Fault>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

impl State {
    fn record(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> RecordedRequest {
        let request = RecordedRequest::new(method, uri, headers, body);
        lock(&self.requests).push(request.clone());
        request
    }

    /// What every handler does first: record the request, take the next fault, wait out the
    /// latency (and a `Stall`, which then answers normally).
    async fn arrive(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> (RecordedRequest, Option<Fault>) {
        let request = self.record(method, uri, headers, body);
        let fault = lock(&self.faults).pop_front();
        tokio::time::sleep(self.behaviour.latency).await;
        match fault {
            Some(Fault::Stall(pause)) => {
                tokio::time::sleep(pause).await;
                (request, None)
            }
            other => (request, other),
        }
    }
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeAi {
    /// Binds `127.0.0.1:0` and serves until dropped. Panics if the loopback cannot be bound
    /// (a test cannot go on without it).
    pub async fn start(behaviour: Behaviour) -> FakeAi {
        let faults = behaviour.faults.iter().cloned().collect();
        let state = Arc::new(State {
            behaviour,
            faults: Mutex::new(faults),
            requests: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local address of the fake server");
        let app = Router::new()
            .route("/v1/chat/completions", post(openai::chat_completions))
            .route("/v1beta/models/{target}", post(gemini::generate_content))
            .fallback(unknown_route)
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            // Errors end the server; the test then sees connection errors, which is the point.
            let _ = axum::serve(listener, app).await;
        });
        FakeAi {
            addr,
            state,
            server,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// For `OPENAI_BASE_URL`: `http://127.0.0.1:PORT/v1`.
    pub fn base_url_openai(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// For `GEMINI_BASE_URL`: `http://127.0.0.1:PORT`.
    pub fn base_url_gemini(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order, whatever its route.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// How many requests arrived: 0 proves that no provider request was made.
    pub fn request_count(&self) -> usize {
        lock(&self.state.requests).len()
    }

    /// Adds a fault to the end of the script.
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.state.faults).push_back(fault);
    }

    /// Faults not served yet.
    pub fn faults_left(&self) -> usize {
        lock(&self.state.faults).len()
    }
}

impl Drop for FakeAi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl std::fmt::Debug for FakeAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAi")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Any other route: recorded (so a wrong path shows up in `requests()`), then 404.
async fn unknown_route(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.record(&method, &uri, &headers, &body);
    let message = format!("fake-ai: no route for {method} {}", uri.path());
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({ "error": { "message": message } })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::time::{Duration, Instant};

    async fn post(
        url: String,
        body: Value,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = reqwest::Client::new().post(url).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn chat(schema: Value) -> Value {
        json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "hi" }],
            "response_format": { "type": "json_schema", "json_schema": { "name": "x", "schema": schema, "strict": true } } })
    }

    fn generate() -> Value {
        json!({ "contents": [{ "parts": [{ "text": "draw" }] }],
            "generationConfig": { "responseModalities": ["TEXT", "IMAGE"] } })
    }

    #[tokio::test]
    async fn openai_answers_with_a_schema_instance_and_usage() {
        let fake = FakeAi::start(Behaviour::default()).await;
        let schema = json!({ "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"], "additionalProperties": false });
        let url = format!("{}/chat/completions", fake.base_url_openai());
        let (status, _, body) = post(url, chat(schema), &[("authorization", "Bearer sk-x")]).await;
        assert_eq!(status, 200);
        let content: Value =
            serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap())
                .unwrap();
        assert_eq!(content, json!({ "name": "fake" }));
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        assert_eq!(
            fake.requests()[0].header("authorization"),
            Some("Bearer sk-x")
        );
    }

    #[tokio::test]
    async fn gemini_answers_with_a_png_and_needs_a_key() {
        let fake = FakeAi::start(Behaviour::default()).await;
        let url = format!(
            "{}/v1beta/models/gemini-2.5-flash-image:generateContent",
            fake.base_url_gemini()
        );
        let (status, _, body) =
            post(url.clone(), generate(), &[("x-goog-api-key", "AIza-x")]).await;
        assert_eq!(status, 200);
        let parts = body["candidates"][0]["content"]["parts"]
            .as_array()
            .unwrap();
        assert!(parts.iter().any(|part| part["text"].is_string()));
        assert!(
            parts
                .iter()
                .any(|part| part["inlineData"]["mimeType"] == "image/png")
        );
        assert_eq!(body["modelVersion"], "gemini-2.5-flash-image");

        let (status, _, body) = post(url, generate(), &[]).await;
        assert_eq!(status, 403);
        assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
        assert_eq!(fake.request_count(), 2);
    }

    #[tokio::test]
    async fn faults_are_served_in_order_then_answers_resume() {
        let fake = FakeAi::start(Behaviour::default().with_faults([
            Fault::RateLimited {
                retry_after: Some("2".into()),
                retry_after_ms: Some(1500),
            },
            Fault::Status(503),
        ]))
        .await;
        let url = format!("{}/chat/completions", fake.base_url_openai());
        let schema = json!({ "type": "object" });
        let (status, headers, _) = post(url.clone(), chat(schema.clone()), &[]).await;
        assert_eq!(status, 429);
        assert_eq!(headers["retry-after"], "2");
        assert_eq!(headers["retry-after-ms"], "1500");
        assert_eq!(post(url.clone(), chat(schema.clone()), &[]).await.0, 503);
        assert_eq!(post(url, chat(schema), &[]).await.0, 200);
        assert_eq!(fake.faults_left(), 0);
    }

    #[tokio::test]
    async fn latency_applies_to_every_call() {
        let fake =
            FakeAi::start(Behaviour::default().with_latency(Duration::from_millis(150))).await;
        let started = Instant::now();
        let url = format!("{}/chat/completions", fake.base_url_openai());
        assert_eq!(
            post(url, chat(json!({ "type": "object" })), &[]).await.0,
            200
        );
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn unknown_routes_are_recorded_and_refused() {
        let fake = FakeAi::start(Behaviour::default()).await;
        let (status, _, _) = post(
            format!("{}/v1/completions", fake.base_url_gemini()),
            json!({}),
            &[],
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(fake.requests()[0].path, "/v1/completions");
    }
}
