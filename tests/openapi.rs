//! `/api/openapi.json` against the real server: every documented operation is answered by
//! the router with exactly the documented methods, every error response is the `Error`
//! schema, and a paid endpoint's summary tells the price its workflow's `credits:` sets,
//! which is also the price it charges.

mod common;

use std::collections::BTreeSet;

use common::Server;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn document(server: &Server) -> Value {
    let (status, document) = server.send("GET", "/api/openapi.json", None, None);
    assert_eq!(status, StatusCode::OK, "{document}");
    document
}

#[test]
fn every_documented_path_answers_exactly_its_documented_methods() {
    let (_dir, data, workflows) = common::dirs(&["examples/hello.yaml"]);
    let server = Server::start(&data, &workflows, &[]);
    let document = document(&server);
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() > 30, "{}", paths.len());
    for (path, item) in paths {
        let documented: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|method| method.to_uppercase())
            .collect();
        // A method no route has: the router answers 405 with the methods it serves there.
        let concrete = path.replace(['{', '}'], "");
        let response = server
            .client
            .request(
                reqwest::Method::from_bytes(b"PROBE").unwrap(),
                server.url(&concrete),
            )
            .send()
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{path} is documented but not served"
        );
        let allowed: BTreeSet<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|method| method.trim().to_string())
            .filter(|method| method != "HEAD")
            .collect();
        assert_eq!(allowed, documented, "{path}: served vs documented methods");
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    let codes = &document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
        ["enum"];
    assert!(
        codes.as_array().unwrap().contains(&json!("step_failed")),
        "{codes}"
    );
    server.kill();
}

#[test]
fn a_paid_endpoint_charges_and_says_the_price_its_workflow_sets() {
    let (_dir, data, workflows) = common::dirs(&["tech-pack-v2.yaml"]);
    let server = Server::start(&data, &workflows, &[]);
    let summary = |document: &Value| {
        document["paths"]["/api/tech-pack-v2/base-views/analyze"]["post"]["summary"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        summary(&document(&server)).ends_with("(3 credits)"),
        "{}",
        summary(&document(&server))
    );
    // Each endpoint that runs a paid step says what it answers when the step cannot be paid.
    for (path, item) in document(&server)["paths"].as_object().unwrap() {
        if path.starts_with("/api/tech-pack-v2/") {
            let refusal = &item["post"]["responses"]["402"]["content"]["application/json"];
            assert_eq!(
                refusal["schema"]["$ref"], "#/components/schemas/Error",
                "{path}"
            );
        }
    }
    // The edit endpoint's workflow is not in the folder: the shipped one prices it.
    let edit = &document(&server)["paths"]["/api/tech-pack-v2/edit"]["post"]["summary"];
    assert!(edit.as_str().unwrap().ends_with("(1 credit)"), "{edit}");

    // The operator raises the analysis to 5 credits: the summary and the charge follow.
    let file = workflows.join("tech-pack-v2.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let raised = text.replacen(
        "uses: techpack/analyze-base-views\n    credits: 3",
        "uses: techpack/analyze-base-views\n    credits: 5",
        1,
    );
    assert_ne!(raised, text, "the workflow's analysis step moved");
    std::fs::write(&file, raised).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !summary(&document(&server)).ends_with("(5 credits)") {
        assert!(
            std::time::Instant::now() < deadline,
            "the edit was not picked up"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let token = server.user("ada", 4);
    let (product, revision) = server.product_with_photo(&token);
    let (status, body) = server.send(
        "POST",
        "/api/tech-pack-v2/base-views/analyze",
        Some(&token),
        Some(json!({ "productId": product, "revisionIds": [revision] })),
    );
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("costs 5 credits"),
        "{body}"
    );
    assert_eq!(server.balance(&token), 4);
    server.kill();
}
