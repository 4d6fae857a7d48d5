//! The requests the fake received, kept whole so tests can assert what a client sent.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Without the query.
    pub path: String,
    pub query: Option<String>,
    /// Names lower-cased, in arrival order; secrets included (it is a test double).
    pub headers: Vec<(String, String)>,
    /// The body as JSON, or `Value::Null` when it is not JSON (see `raw_body`).
    pub body: Value,
    pub raw_body: Vec<u8>,
}

impl RecordedRequest {
    pub(crate) fn new(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Self {
        RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            raw_body: body.to_vec(),
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}
