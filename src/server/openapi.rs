//! The OpenAPI 3.1 document served at `/api/openapi.json`, derived from the code: each
//! operation comes from its handler's `#[utoipa::path]` (request body, parameters and
//! responses named by the handler's own types), collected by the router that serves it
//! (`app::api_routes`). This file adds what holds for every operation alike:
//!
//! - every error response is the [`ErrorBody`] schema (`Error`, whose `code` lists every
//!   [`ErrorCode`](super::error::ErrorCode)): the `json_errors` middleware makes sure of it;
//! - an operation that needs a caller answers 401 without one; one with a body or a query
//!   answers 400 to a bad one, and 413 to a body over `--max-body-mib`; one with path
//!   parameters answers 404 when nothing is there; any may answer 500;
//! - an endpoint that runs one paid step answers what `single_step` answers (402, 404, 500,
//!   503), and its summary says its price, read from its workflow's `credits:` like the price
//!   it charges.

use std::sync::OnceLock;

use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::AppState;
use super::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "techpack",
        description = "Product photos in, factory-ready tech packs out. Every paid call is charged only if it succeeds. Bodies are camelCase, but for the tech-pack document (`techPack`), which keeps the names of its published JSON schema. Every error, whatever the status, is `{\"error\": {\"code\", \"message\"}}`; the codes are listed in `docs/error-codes.md`."
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("session" = []))
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "techpack_session",
                "from `POST /api/session`; a request that changes state with it must carry this server's `Origin` (else 403 `cross_origin`)",
            ))),
        );
    }
}

/// The document's root (info, security schemes, the `Error` schema) that the router adds
/// the operations to.
pub(crate) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document: the router's operations with what holds for all of them (built once),
/// and the prices as the live workflows say them now.
pub fn document(state: &AppState) -> Value {
    static BUILT: OnceLock<Value> = OnceLock::new();
    let mut document = BUILT
        .get_or_init(|| {
            let mut document = serde_json::to_value(super::app::api_routes().into_openapi())
                .expect("the OpenAPI document serializes");
            for (operation_id, _) in super::routes::tech_pack::PRICED {
                if let Some(operation) = operation_mut(&mut document, operation_id) {
                    add_step_responses(operation);
                }
            }
            complete_responses(&mut document);
            document
        })
        .clone();
    for (operation_id, priced) in super::routes::tech_pack::PRICED {
        let price = match priced.price(state) {
            Ok(0) => "free".to_string(),
            Ok(1) => "1 credit".to_string(),
            Ok(n) => format!("{n} credits"),
            Err(_) => continue,
        };
        if let Some(operation) = operation_mut(&mut document, operation_id)
            && let Some(summary) = operation["summary"].as_str()
        {
            operation["summary"] = json!(format!("{summary} ({price})"));
        }
    }
    document
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn operation_mut<'a>(document: &'a mut Value, operation_id: &str) -> Option<&'a mut Value> {
    document["paths"]
        .as_object_mut()?
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.iter_mut())
        .filter(|(method, _)| METHODS.contains(&method.as_str()))
        .map(|(_, operation)| operation)
        .find(|operation| operation["operationId"] == operation_id)
}

/// What an endpoint that runs one paid step answers besides its output: the same for each,
/// since `single_step` answers them all.
fn add_step_responses(operation: &mut Value) {
    let responses = &mut operation["responses"];
    for (status, description) in [
        (
            "402",
            "the balance does not cover the price; nothing was charged (`insufficient_credits`)",
        ),
        (
            "404",
            "no such product, revision or analysis of the caller's (`not_found`)",
        ),
        (
            "500",
            "the step failed; its credits were refunded (`step_failed`)",
        ),
        (
            "503",
            "busy or shutting down; nothing was charged (`busy`, `cancelled`)",
        ),
    ] {
        responses[status] = json!({ "description": description });
    }
}

/// The responses every operation shares, and the `Error` body on every error response.
fn complete_responses(document: &mut Value) {
    let error =
        json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } });
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for (method, operation) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            // `security: [{}]`: no caller needed; otherwise the document's bearer or session.
            let open = operation["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|r| r.is_empty()))
            });
            let has_body = operation.get("requestBody").is_some();
            let has_in = |place: &str| {
                operation["parameters"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["in"] == place))
            };
            let (has_query, has_path) = (has_in("query"), has_in("path"));
            let responses = operation["responses"]
                .as_object_mut()
                .expect("every operation has responses");
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status)
                    .or_insert_with(|| json!({ "description": description }));
            };
            if !open {
                add("401", "no valid bearer token or session (`unauthorized`)");
            }
            if has_body || has_query {
                add(
                    "400",
                    "the body or query does not fit the endpoint (`invalid_input`)",
                );
            }
            if has_body {
                add(
                    "413",
                    "the body is larger than the server allows (`too_large`)",
                );
            }
            if has_path {
                add(
                    "404",
                    "nothing is there for these path parameters (`not_found`)",
                );
            }
            add("500", "something went wrong on our side (`internal`)");
            for (status, response) in responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if is_error && response.get("content").is_none() {
                    response["content"] = error.clone();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_priced_endpoint_is_an_operation_of_the_document() {
        let mut document = serde_json::to_value(super::super::app::api_routes().into_openapi())
            .expect("the OpenAPI document serializes");
        for (operation_id, _) in super::super::routes::tech_pack::PRICED {
            let operation = operation_mut(&mut document, operation_id);
            assert!(
                operation.is_some_and(|o| o["summary"].is_string()),
                "no operation `{operation_id}` with a summary to put its price in"
            );
        }
    }

    #[test]
    fn a_steps_output_may_be_any_json_value() {
        // `core/echo` outputs a string; the document must not promise an object.
        let document = serde_json::to_value(super::super::app::api_routes().into_openapi())
            .expect("the OpenAPI document serializes");
        let output = &document["components"]["schemas"]["NodeView"]["properties"]["output"];
        assert_eq!(output, &serde_json::json!({}), "{output}");
    }
}
