//! Run inputs from an HTTP caller are data: they never make the server read or write a file.
//! Each hole found by trying it as an outside caller has its test here, against the real
//! `techpack serve`; each asserts that nothing was read or written.

mod common;

use std::path::Path;

use common::{Server, dirs, snapshot};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn trigger(server: &Server, token: &str, workflow: &str, inputs: Value) -> (StatusCode, Value) {
    server.send(
        "POST",
        &format!("/api/workflows/{workflow}/runs"),
        Some(token),
        Some(json!({ "inputs": inputs })),
    )
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// The stored file of a revision (content-addressed by its sha256).
fn blob_path(data: &Path, revision: &Value) -> String {
    let hash = revision["imageHash"].as_str().unwrap();
    let path = data.join("blobs").join(&hash[..2]).join(hash);
    assert!(path.exists(), "no blob at {}", path.display());
    path.display().to_string()
}

#[test]
fn an_http_run_cannot_read_or_write_server_files_through_its_inputs() {
    let (dir, data, workflows) = dirs(&["tech-pack-v2.yaml"]);
    let server = Server::start(&data, &workflows, &[]);
    let alice = server.user("alice", 20);
    let bob = server.user("bob", 20);

    // A file of the server's, by path: refused before anything runs, and nothing of it shown.
    let (status, body) = trigger(
        &server,
        &alice,
        "tech-pack-v2",
        json!({ "images": [{ "view": "front", "path": "/etc/passwd" }] }),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input");
    assert!(message(&body).contains("upload the photo first"), "{body}");
    assert!(!body.to_string().contains("root:"), "{body}");

    // Another user's photo by its blob path: refused the same way.
    let (bob_product, bob_revision) = server.product_with_photo(&bob);
    let (_, revisions) = server.send(
        "GET",
        &format!("/api/products/{bob_product}/revisions"),
        Some(&bob),
        None,
    );
    let bobs_blob = blob_path(&data, &revisions["revisions"][0]);
    let (status, body) = trigger(
        &server,
        &alice,
        "tech-pack-v2",
        json!({ "images": [{ "view": "front", "path": bobs_blob }] }),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Another user's photo by its revision id: not found, as if it did not exist.
    let (status, body) = trigger(
        &server,
        &alice,
        "tech-pack-v2",
        json!({ "images": [{ "view": "front", "revisionId": bob_revision }] }),
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    // A folder to write the tech pack to: refused, and the folder is left as it was.
    let (product, revision) = server.product_with_photo(&alice);
    let target = dir.path().join("victim");
    std::fs::create_dir_all(target.join("photos")).unwrap();
    std::fs::write(target.join("index.html"), "the operator's page").unwrap();
    let before = snapshot(&target);
    let (status, body) = trigger(
        &server,
        &alice,
        "tech-pack-v2",
        json!({
            "images": [{ "view": "front", "revisionId": revision }],
            "out": target.display().to_string(),
        }),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("`out` is a server path"), "{body}");
    assert_eq!(snapshot(&target), before);
    assert_eq!(server.balance(&alice), 20, "a refused run costs nothing");

    // The caller's own upload works end to end, and its tech pack is downloaded from the API.
    let (status, body) = trigger(
        &server,
        &alice,
        "tech-pack-v2",
        json!({ "images": [{ "view": "front", "revisionId": revision }], "style_id": "SS27-1" }),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = body["runId"].as_str().unwrap().to_string();
    let report = server.wait_finished(&alice, &run);
    assert_eq!(report["run"]["status"], "succeeded", "{report}");
    assert_eq!(server.balance(&alice), 11);
    assert_eq!(snapshot(&target), before);

    let response = server
        .client
        .get(server.url(&format!("/api/products/{product}/tech-pack")))
        .bearer_auth(&alice)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tech_pack: Value = response.json().unwrap();
    assert_eq!(
        tech_pack["meta"]["source_photos"][0]["revision_id"],
        revision
    );
    assert!(
        tech_pack["callouts"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{tech_pack}"
    );
    let response = server
        .client
        .get(server.url(&format!("/api/products/{product}/tech-pack.html")))
        .bearer_auth(&alice)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().unwrap();
    assert!(page.contains("SS27-1") && page.contains("data:image/png;base64,"));

    // Bob cannot download Alice's tech pack.
    let (status, _) = server.send(
        "GET",
        &format!("/api/products/{product}/tech-pack"),
        Some(&bob),
        None,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    // What users see of the workflows names no server path.
    let (status, body) = server.send("GET", "/api/workflows", Some(&alice), None);
    assert_eq!(status, StatusCode::OK);
    let root = dir.path().display().to_string();
    assert!(!body.to_string().contains(&root), "{body}");
    assert!(!report.to_string().contains(&root), "{report}");
}

/// A workflow that hands each built-in kind that touches files a path from a string input
/// (not a `path` input, so the inputs let it through): the steps themselves must refuse it.
const PATHS_WORKFLOW: &str = r#"
name: paths
inputs:
  log: { type: string, required: true }
  photo: { type: string, required: true }
  out: { type: string, required: true }
steps:
  sleep:
    uses: core/sleep
    with: { ms: 1, log: "${{ inputs.log }}" }
  detect:
    uses: techpack/detect-category
    with:
      images: '${{ [{"view": "front", "path": inputs.photo}] }}'
      category: bag
  export:
    uses: techpack/export
    with: { out_dir: "${{ inputs.out }}", product_id: prod_x, analysis_id: ana_x }
"#;

fn node<'a>(report: &'a Value, step: &str) -> &'a Value {
    report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["stepId"] == step)
        .unwrap_or_else(|| panic!("no node {step} in {report}"))
}

fn error_code(node: &Value) -> &Value {
    &node["errorCode"]
}

#[test]
fn every_built_in_kind_that_touches_files_refuses_paths_in_a_users_run() {
    let (dir, data, workflows) = dirs(&[]);
    std::fs::write(workflows.join("paths.yaml"), PATHS_WORKFLOW).unwrap();
    let allowed = dir.path().join("allowed");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::copy(
        "workflows/samples/sample-product.png",
        allowed.join("photo.png"),
    )
    .unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::copy(
        "workflows/samples/sample-product.png",
        outside.join("photo.png"),
    )
    .unwrap();
    let allowed_arg = allowed.display().to_string();
    let server = Server::start(
        &data,
        &workflows,
        &["--allow-read", &allowed_arg, "--allow-write", &allowed_arg],
    );
    let carol = server.user("carol", 0);
    let before = snapshot(&outside);

    let run = |log: &Path, photo: &Path, out: &Path| -> Value {
        let (status, body) = trigger(
            &server,
            &carol,
            "paths",
            json!({ "log": log, "photo": photo, "out": out }),
        );
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        server.wait_finished(&carol, body["runId"].as_str().unwrap())
    };

    // Outside the allowed folders, every step refuses, and nothing is read or written.
    let report = run(
        &outside.join("sleep.log"),
        &outside.join("photo.png"),
        &outside.join("pack"),
    );
    for step in ["sleep", "detect", "export"] {
        let node = node(&report, step);
        assert_eq!(node["status"], "failed", "{node}");
        assert_eq!(error_code(node), "path_refused", "{node}");
        assert_eq!(node["attempt"], 1, "a refusal is not retried: {node}");
        assert!(
            !node["error"]
                .as_str()
                .unwrap()
                .contains(&*outside.to_string_lossy())
        );
    }
    assert_eq!(snapshot(&outside), before);

    // `..` cannot climb out of an allowed folder.
    let climbing = allowed.join("..").join("outside");
    let report = run(
        &climbing.join("sleep.log"),
        &climbing.join("photo.png"),
        &climbing.join("pack"),
    );
    assert_eq!(error_code(node(&report, "sleep")), "path_refused");
    assert_eq!(error_code(node(&report, "detect")), "path_refused");
    assert_eq!(snapshot(&outside), before);

    // Inside them, the operator's grant holds: the log is written and the photo read (the
    // export then fails only because its product does not exist).
    let report = run(
        &allowed.join("sleep.log"),
        &allowed.join("photo.png"),
        &allowed.join("pack"),
    );
    assert_eq!(node(&report, "sleep")["status"], "succeeded", "{report}");
    assert_eq!(node(&report, "detect")["status"], "succeeded", "{report}");
    assert_eq!(error_code(node(&report, "export")), "not_found", "{report}");
    assert!(allowed.join("sleep.log").exists());
}

/// The spec sheet over HTTP is the object itself: a file name in its place is refused before
/// anything runs, the inline sheet reaches the tech pack as given, and the factory files are
/// downloaded from the API (never written to a server folder).
#[test]
fn an_http_spec_sheet_is_data_and_the_factory_files_download() {
    let (_dir, data, workflows) = dirs(&["tech-pack-v2.yaml"]);
    let server = Server::start(&data, &workflows, &[]);
    let alice = server.user("alice", 20);
    let bob = server.user("bob", 20);
    let (product, revision) = server.product_with_photo(&alice);
    let images = json!([{ "view": "front", "revisionId": revision }]);

    let (status, body) = trigger(
        &server,
        &alice,
        "tech-pack-v2",
        json!({ "images": images, "spec": "/etc/passwd" }),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("`spec` must be of type object"),
        "{body}"
    );
    assert_eq!(server.balance(&alice), 20, "a refused run costs nothing");

    let spec = json!({
        "style_id": "SS27-9",
        "season": "SS27",
        "bill_of_materials": [{ "placement": "body", "material": "waxed canvas" }],
    });
    let (status, body) = trigger(
        &server,
        &alice,
        "tech-pack-v2",
        json!({ "images": images, "spec": spec, "width_mm": 380 }),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = body["runId"].as_str().unwrap().to_string();
    let report = server.wait_finished(&alice, &run);
    assert_eq!(report["run"]["status"], "succeeded", "{report}");

    let get = |path: &str, token: &str| {
        server
            .client
            .get(server.url(&format!("/api/products/{product}/tech-pack/{path}")))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    let pdf = get("techpack.pdf", &alice);
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let bytes = pdf.bytes().unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    // Real text: the style id is in the page content, not only in a picture of it.
    assert!(
        bytes.windows(b"SS27-9".len()).any(|w| w == b"SS27-9"),
        "the style id is not in the PDF"
    );
    let bom = get("bom.csv", &alice).text().unwrap();
    assert!(
        bom.lines().nth(1).unwrap().contains("waxed canvas"),
        "{bom}"
    );
    let poms = get("points-of-measure.csv", &alice).text().unwrap();
    assert!(
        poms.contains("W,overall width") && poms.contains(",380,mm,"),
        "{poms}"
    );
    let xlsx = get("techpack.xlsx", &alice);
    assert_eq!(xlsx.status(), StatusCode::OK);
    assert!(xlsx.bytes().unwrap().starts_with(b"PK"), "an xlsx is a zip");

    let (status, body) = server.send(
        "GET",
        &format!("/api/products/{product}/tech-pack/passwd"),
        Some(&alice),
        None,
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(message(&body).contains("techpack.pdf"), "{body}");
    assert_eq!(get("techpack.pdf", &bob).status(), StatusCode::NOT_FOUND);
}
