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
            "403" => "signed in by the session cookie from another origin (`cross_origin`)",
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
    let mut operation = json!({ "summary": summary, "security": [{ "bearer": [] }, { "session": [] }], "responses": responses });
    if let Some(request) = request {
        operation["requestBody"] = request;
    }
    operation
}

pub fn document() -> Value {
    let mut document = api_document();
    console_paths(&mut document);
    document
}

/// The endpoints the web console added: sessions, the runs list, workflow details, the
/// editor's validate and save, product listings and images.
fn console_paths(document: &mut Value) {
    let string = json!({ "type": "string" });
    let source = body(json!({ "source": string }), &["source"]);
    let mut runs = op(
        "the caller's runs, newest first, each with the credits it moved",
        None,
        ("200", "{runs, matching, total, workflows}"),
        &["400", "401"],
    );
    runs["parameters"] = json!([
        { "name": "status", "in": "query", "required": false, "schema": string },
        { "name": "workflow", "in": "query", "required": false, "schema": string },
        { "name": "q", "in": "query", "required": false, "schema": string, "description": "part of a run id" },
        { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } }]);
    let mut image = op(
        "one of the product's images (photo, close-up, flat) by sha256",
        None,
        ("200", "the image"),
        &["401", "404"],
    );
    image["responses"]["200"]["content"] = json!({ "image/png": {}, "image/jpeg": {} });
    let mut sign_in = op(
        "sign in with a user's token or the admin token: sets an HttpOnly, SameSite=Strict session cookie",
        Some(body(json!({ "token": string }), &["token"])),
        ("200", "{user, admin}"),
        &["400", "401", "403"],
    );
    sign_in["security"] = json!([]);
    let mut sign_out = op(
        "sign out: ends the session and clears its cookie",
        None,
        ("204", "signed out"),
        &["403"],
    );
    sign_out["responses"]["204"] = json!({ "description": "signed out" });
    let paths = document["paths"]
        .as_object_mut()
        .expect("paths is an object");
    let mut add = |path: &str, value: Value| {
        paths.insert(path.to_string(), value);
    };
    add(
        "/api/session",
        json!({
        "post": sign_in,
        "get": op("who the session cookie signed in", None, ("200", "{user, admin}"), &["401"]),
        "delete": sign_out }),
    );
    add("/api/runs", json!({ "get": runs }));
    add(
        "/api/runs/{id}/workflow",
        json!({ "get": op("the workflow the run is pinned to: inputs, steps and their needs, price", None, ("200", "{name, version, sha256, price, inputs, steps}"), &["401", "404"]) }),
    );
    add(
        "/api/workflows/{name}",
        json!({
        "get": op("a live workflow: typed inputs, steps and needs, price (sum of `credits:`), YAML source, file state", None, ("200", "{name, version, price, inputs, steps, source, status}"), &["401", "404"]),
        "put": op("save a workflow's YAML into the workflows folder (admin; only when it validates)", Some(source.clone()), ("200", "{name, version, sha256, file}"), &["400", "401", "403"]) }),
    );
    add(
        "/api/workflows/validate",
        json!({ "post": op("validate YAML without saving: every problem with its TP code, line and column; the DAG when valid", Some(source), ("200", "{valid, diagnostics: [{code, line, column, step, message}], workflow}"), &["400", "401"]) }),
    );
    add(
        "/api/products/{id}/images/{sha256}",
        json!({ "get": image }),
    );
    let products = &mut document["paths"]["/api/products"];
    products["get"] = op(
        "the caller's products, newest first",
        None,
        ("200", "{products}"),
        &["401"],
    );
}

fn api_document() -> Value {
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
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "session": { "type": "apiKey", "in": "cookie", "name": "techpack_session",
                    "description": "from `POST /api/session`; a request that changes state with it must carry this server's `Origin` (else 403 `cross_origin`)" } },
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
                "requestBody": body(json!({ "inputs": { "type": "object" },
                    "callback": { "type": "object", "required": ["url"], "additionalProperties": false,
                        "description": "POST the run's end to `url`, signed with the caller's webhook secret: `X-Techpack-Signature: sha256=<hex HMAC-SHA256 of TIMESTAMP.BODY>`, `X-Techpack-Timestamp: TIMESTAMP` (Unix seconds), `X-Techpack-Delivery: <id>`; at least once, retried with backoff",
                        "properties": { "url": { "type": "string", "format": "uri" } } } }), &[]),
                "responses": { "202": { "description": "{runId, status}: `pending`, or `queued` when the workflow's `concurrency:` limits leave no slot now" }, "400": { "description": "invalid inputs; `callback_refused`: a callback URL this server does not call; `webhook_secret_missing`" }, "401": { "description": "unauthenticated" }, "402": { "description": "insufficient credits" }, "404": { "description": "unknown workflow" }, "409": { "description": "Idempotency-Key reused with another body" } } } },
            "/api/runs/{id}": { "get": op("a run, its steps and its callback deliveries (each with every attempt's outcome)", None, ("200", "{run, nodes, deliveries}"), &["401", "404"]) },
            "/api/runs/{id}/events": { "get": { "summary": "Server-Sent Events of node transitions", "description": "A snapshot, then node and run events until the run ends, from whichever worker executes it. On PostgreSQL each event has an id; reconnecting with Last-Event-ID replays the events after it (no snapshot).", "security": [{ "bearer": [] }], "parameters": [{ "name": "Last-Event-ID", "in": "header", "required": false, "schema": { "type": "integer", "minimum": 0 } }], "responses": { "200": { "description": "text/event-stream: snapshot, node, run events" } } } },
            "/api/runs/{id}/cancel": { "post": op("cancel a run", None, ("202", "cancelling"), &["401", "404", "409"]) },
            "/api/runs/{id}/resume": { "post": op("resume an interrupted run", None, ("202", "resumed"), &["401", "404", "409"]) },
            "/api/runs/{id}/retry": { "post": op("the same failed or cancelled run goes on: its failed and cancelled steps and those after them run again", None, ("202", "retried"), &["401", "404", "409"]) },
            "/api/runs/{id}/replay": { "post": op("a new run on this run's workflow text from step `from`; the steps before it take this run's outputs", Some(body(json!({ "from": string, "inputs": { "type": "object" } }), &["from"])), ("202", "the new run"), &["400", "401", "404", "409"]) },
            "/api/me/credits": { "get": op("balance and ledger history", None, ("200", "{balance, reserved, spent, history}"), &["401"]) },
            "/api/me/webhook-secret": { "post": op("create or rotate the caller's webhook secret (callbacks are signed with it from now on); answered this once", None, ("201", "{secret}"), &["401"]) },
            "/api/logs": { "get": logs },
            "/api/admin/users": { "post": op("create a user (admin token)", Some(body(json!({ "name": string, "credits": { "type": "integer" } }), &["name"])), ("201", "{name, token}"), &["400", "401", "409"]) },
            "/api/admin/users/{name}/credits": { "post": op("grant credits (admin token)", Some(body(json!({ "amount": { "type": "integer" }, "operationId": string }), &["amount", "operationId"])), ("200", "{balance}"), &["400", "401", "404", "409"]) }
        }
    })
}
