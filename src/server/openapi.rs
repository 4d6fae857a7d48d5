//! The OpenAPI 3.1 document served at `/api/openapi.json`.

use serde_json::{Value, json};

use super::error::ErrorCode;

fn error_responses(codes: &[&str]) -> Value {
    let mut responses = serde_json::Map::new();
    for code in codes {
        let description = match *code {
            "400" => "invalid input",
            "401" => "missing or invalid bearer token",
            "402" => "insufficient credits (nothing was charged)",
            "404" => "unknown (or another user's) product, revision, analysis or run",
            "409" => "conflict",
            "413" => "the body is larger than the server allows",
            "500" => "the step failed; its credits were refunded",
            _ => "error",
        };
        responses.insert(code.to_string(), json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }));
    }
    Value::Object(responses)
}

fn body(properties: Value, required: &[&str]) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": {
        "type": "object", "properties": properties, "required": required, "additionalProperties": false } } } })
}

fn op(summary: &str, request: Option<Value>, ok: (&str, &str), errors: &[&str]) -> Value {
    let mut responses = error_responses(errors);
    responses[ok.0] = json!({ "description": ok.1, "content": { "application/json": { "schema": { "type": "object" } } } });
    let mut operation =
        json!({ "summary": summary, "security": [{ "bearer": [] }], "responses": responses });
    if let Some(request) = request {
        operation["requestBody"] = request;
    }
    operation
}

pub fn document() -> Value {
    let string = json!({ "type": "string" });
    let mut page = op(
        "the product's tech pack as a printable page, images inlined (`?analysis=ID`)",
        None,
        ("200", "the page"),
        &["400", "401", "404"],
    );
    page["responses"]["200"]["content"] =
        json!({ "text/html": { "schema": { "type": "string" } } });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let paid = ["400", "401", "402", "404", "500"];
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let mut logs = op(
        "the caller's AI operation log",
        None,
        ("200", "{operations}"),
        &["400", "401", "404"],
    );
    logs["parameters"] = json!([{ "name": "run", "in": "query", "required": false, "schema": string,
        "description": "only the operations of this run (an unknown parameter is a 400)" }]);
    json!({
        "openapi": "3.1.0",
        "info": { "title": "techpack", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Product photos in, factory-ready tech packs out. Every paid call is charged only if it succeeds. Bodies are camelCase, but for the tech-pack document (`techPack`), which keeps the names of its published JSON schema. Every error, whatever the status, is `{\"error\": {\"code\", \"message\"}}`." },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "Error": { "type": "object", "required": ["error"], "properties": { "error": {
                "type": "object", "required": ["code", "message"],
                "properties": { "code": { "type": "string", "enum": codes }, "message": { "type": "string" } } } } } }
        },
        "paths": {
            "/healthz": { "get": { "summary": "liveness", "responses": { "200": { "description": "ok" } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "responses": { "200": { "description": "text format" } } } },
            "/api/products": { "post": op("create a product", Some(body(json!({ "name": string, "description": string }), &["name"])), ("201", "the product"), &["400", "401"]) },
            "/api/products/{id}": { "get": op("a product with its image revisions", None, ("200", "the product"), &["401", "404"]) },
            "/api/products/{id}/revisions": { "get": op("a product's image revisions", None, ("200", "revisions"), &["401", "404"]) },
            "/api/products/{id}/tech-pack": { "get": op("the product's tech pack (`techpack.json`; `?analysis=ID`, else the newest)", None, ("200", "the tech pack"), &["400", "401", "404"]) },
            "/api/products/{id}/tech-pack.html": { "get": page },
            "/api/products/{id}/tech-pack/{file}": { "get": op("a factory file of the product's tech pack: techpack.pdf, techpack.xlsx, bom.csv, points-of-measure.csv or size-chart.csv (`?analysis=ID`, else the newest)", None, ("200", "the file"), &["400", "401", "404"]) },
            "/api/products/{id}/images": { "post": {
                "summary": "upload a photo of one view (multipart: file `image`, text `view`)",
                "security": [{ "bearer": [] }],
                "requestBody": { "required": true, "content": { "multipart/form-data": { "schema": { "type": "object", "required": ["image", "view"],
                    "properties": { "image": { "type": "string", "format": "binary" }, "view": { "type": "string", "enum": ["front", "back", "side", "top", "detail"] } } } } } },
                "responses": { "201": { "description": "{revisionId, imageHash, version, ...}" }, "400": { "description": "not a PNG/JPEG, too large, bad view" }, "401": { "description": "unauthenticated" }, "404": { "description": "unknown product" }, "413": { "description": "body too large" } } } },
            "/api/tech-pack-v2/category/detect": { "post": op("detect the category (free)", Some(body(json!({ "productId": string, "revisionIds": strings }), &["productId"])), ("200", "category, subcategory, confidence"), &paid) },
            "/api/tech-pack-v2/base-views/analyze": { "post": op("analyze up to 5 views (3 credits)", Some(body(json!({ "productId": string, "revisionIds": strings, "category": string, "styleId": string, "widthMm": { "type": "number" }, "heightMm": { "type": "number" }, "depthMm": { "type": "number" }, "spec": { "type": "object", "description": "the designer's spec sheet, inline" } }), &["productId"])), ("200", "{analyses, analysisId, techPack, creditsUsed, creditsRefunded}"), &paid) },
            "/api/tech-pack-v2/close-ups/generate": { "post": op("6-10 close-ups (3 credits)", Some(body(json!({ "productId": string, "analysisId": string, "count": { "type": "integer", "minimum": 6, "maximum": 10 } }), &["productId", "analysisId"])), ("200", "{closeUps, creditsUsed}"), &paid) },
            "/api/tech-pack-v2/sketches/generate": { "post": op("technical flats with callouts (3 credits)", Some(body(json!({ "productId": string, "analysisId": string, "views": strings }), &["productId", "analysisId"])), ("200", "{sketches, skipped, creditsUsed}"), &paid) },
            "/api/tech-pack-v2/edit": { "post": op("edit one analysis field (1 credit)", Some(body(json!({ "analysisId": string, "path": string, "value": {}, "instruction": string, "op": { "type": "string", "enum": ["set", "add", "remove"] } }), &["analysisId", "path"])), ("200", "{oldValue, newValue, creditsUsed}"), &paid) },
            "/api/tech-pack-v2/regenerate": { "post": op("regenerate one view as a new revision (1 credit)", Some(body(json!({ "productId": string, "revisionId": string, "view": string, "analysisId": string, "prompt": string }), &["productId"])), ("200", "{revision, analysis, creditsUsed}"), &paid) },
            "/api/workflows": { "get": op("workflows in the folder, with validation errors", None, ("200", "workflows"), &["401"]) },
            "/api/workflows/{name}/runs": { "post": {
                "summary": "start a run (honours Idempotency-Key)", "security": [{ "bearer": [] }],
                "parameters": [{ "name": "Idempotency-Key", "in": "header", "required": false, "schema": string }],
                "requestBody": body(json!({ "inputs": { "type": "object" } }), &[]),
                "responses": { "202": { "description": "{runId}" }, "400": { "description": "invalid inputs" }, "401": { "description": "unauthenticated" }, "402": { "description": "insufficient credits" }, "404": { "description": "unknown workflow" }, "409": { "description": "Idempotency-Key reused with another body" } } } },
            "/api/runs/{id}": { "get": op("a run and its steps", None, ("200", "{run, nodes}"), &["401", "404"]) },
            "/api/runs/{id}/events": { "get": { "summary": "Server-Sent Events of node transitions", "description": "A snapshot, then node and run events until the run ends, from whichever worker executes it. On PostgreSQL each event has an id; reconnecting with Last-Event-ID replays the events after it (no snapshot).", "security": [{ "bearer": [] }], "parameters": [{ "name": "Last-Event-ID", "in": "header", "required": false, "schema": { "type": "integer", "minimum": 0 } }], "responses": { "200": { "description": "text/event-stream: snapshot, node, run events" } } } },
            "/api/runs/{id}/cancel": { "post": op("cancel a run", None, ("202", "cancelling"), &["401", "404", "409"]) },
            "/api/runs/{id}/resume": { "post": op("resume an interrupted run", None, ("202", "resumed"), &["401", "404", "409"]) },
            "/api/runs/{id}/retry": { "post": op("the same failed or cancelled run goes on: its failed and cancelled steps and those after them run again", None, ("202", "retried"), &["401", "404", "409"]) },
            "/api/runs/{id}/replay": { "post": op("a new run on this run's workflow text from step `from`; the steps before it take this run's outputs", Some(body(json!({ "from": string, "inputs": { "type": "object" } }), &["from"])), ("202", "the new run"), &["400", "401", "404", "409"]) },
            "/api/me/credits": { "get": op("balance and ledger history", None, ("200", "{balance, reserved, spent, history}"), &["401"]) },
            "/api/logs": { "get": logs },
            "/api/admin/users": { "post": op("create a user (admin token)", Some(body(json!({ "name": string, "credits": { "type": "integer" } }), &["name"])), ("201", "{name, token}"), &["400", "401", "409"]) },
            "/api/admin/users/{name}/credits": { "post": op("grant credits (admin token)", Some(body(json!({ "amount": { "type": "integer" }, "operationId": string }), &["amount", "operationId"])), ("200", "{balance}"), &["400", "401", "404", "409"]) }
        }
    })
}
