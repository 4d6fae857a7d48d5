//! The export-only workflow (`workflows/export.yaml`) and the revision table, offline: an
//! edited tech pack re-rendered with no model, from the CLI into a folder and over HTTP into
//! the store, every export showing the edit and the table of what changed.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::cli::{graded_row, json, ok, pdf_has_text, techpack};
use common::{Server, dirs};
use reqwest::StatusCode;
use serde_json::Value;

const SAMPLE: &str = "workflows/samples/sample-product.png";

/// `techpack run WORKFLOW -q --out OUT ARGS…` on `data` (ARGS: `-i` inputs, `--image`): the
/// run's `run.json`.
fn run(data: &Path, workflow: &str, out: &Path, args: &[&str]) -> Value {
    let mut all = vec!["run", workflow, "-q", "--out", out.to_str().unwrap()];
    all.extend(args);
    ok(&techpack(data, &all));
    json(&out.join("run.json"))
}

/// The AI operations a run logged.
fn logged_calls(data: &Path, run: &Value) -> Vec<Value> {
    let id = run["run"].as_str().unwrap();
    let text = ok(&techpack(data, &["logs", "--run", id, "--json"]));
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// A file of the workbook (a zip), as text.
fn xlsx_part(xlsx: &Path, name: &str) -> String {
    let file = std::fs::File::open(xlsx).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// A tech pack made offline from the sample with a one-line spec sheet: (data folder,
/// product id, analysis id, the pipeline's run.json).
fn pipeline(dir: &Path) -> (PathBuf, String, String, Value) {
    let data = dir.join("data");
    let sheet = dir.join("sheet.yaml");
    std::fs::write(
        &sheet,
        "style_id: SS26-014\nseason: SS26\nbill_of_materials:\n  - { placement: body, material: cotton canvas }\n",
    )
    .unwrap();
    let spec = format!("spec={}", sheet.display());
    let report = run(
        &data,
        "workflows/tech-pack-v2.yaml",
        &dir.join("first"),
        &[
            "--image",
            SAMPLE,
            "-i",
            &spec,
            "-i",
            "category=tote bag",
            "-i",
            "width_mm=380",
        ],
    );
    let base = &report["outputs"]["base_views"];
    let product = base["product_id"].as_str().unwrap().to_string();
    let analysis = base["analysis_id"].as_str().unwrap().to_string();
    (data, product, analysis, report)
}

#[test]
fn the_export_workflow_re_renders_an_edit_with_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (data, product, analysis, first) = pipeline(dir);
    assert!(
        !logged_calls(&data, &first).is_empty(),
        "the pipeline's model calls are logged, so an export's would be"
    );
    run(
        &data,
        "workflows/edit.yaml",
        &dir.join("edit"),
        &[
            "-i",
            &format!("analysis_id={analysis}"),
            "-i",
            "path=bill_of_materials.0.material.value",
            "-i",
            "value=\"waxed cotton canvas\"",
        ],
    );

    let out = dir.join("export");
    let report = run(
        &data,
        "workflows/export.yaml",
        &out,
        &["-i", &format!("product_id={product}"), "-i", "paper=letter"],
    );
    assert_eq!(report["status"], "succeeded");
    assert!(
        report["outputs"]["grade_sizes"].is_null(),
        "no size run was given, so nothing is graded: {}",
        report["outputs"]
    );
    assert!(
        logged_calls(&data, &report).is_empty(),
        "an export calls no model"
    );
    let exported = &report["outputs"]["export"];
    assert_eq!(exported["analysis_id"], analysis.as_str());
    assert_eq!(exported["version"], "2", "one edit after the analysis");

    // techpack.json: the edit, and the revision table that says what changed.
    let pack = json(&out.join("techpack.json"));
    let line = &pack["bill_of_materials"][0];
    assert_eq!(line["material"]["value"], "waxed cotton canvas");
    let revisions = pack["revisions"].as_array().unwrap();
    let mut kinds: Vec<&str> = revisions
        .iter()
        .map(|r| r["by"].as_str().unwrap())
        .collect();
    // Close-ups and sketches are made side by side: either may be first.
    kinds[2..4].sort_unstable();
    assert_eq!(
        kinds,
        ["analysis", "spec_sheet", "close_ups", "sketches", "edit"],
        "{revisions:?}"
    );
    let edit = revisions.last().unwrap();
    assert_eq!(edit["version"], 2);
    assert_eq!(edit["provider"], "given");
    assert_eq!(
        edit["changes"],
        serde_json::json!([{
            "path": "/bill_of_materials/0/material/value",
            "old_value": "\"cotton canvas\"",
            "new_value": "\"waxed cotton canvas\"",
        }])
    );
    assert!(
        revisions[1]["summary"]
            .as_str()
            .unwrap()
            .contains("style id, season; 1 BOM line"),
        "{}",
        revisions[1]
    );
    let schema = json(Path::new("steps/schema/techpack.schema.json"));
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&pack), "techpack.json fits its schema");

    // The page, the PDF (its text), the workbook and the CSV all show the edit and the table.
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    for expected in [
        "waxed cotton canvas",
        "<h2>Revisions</h2>",
        "changed bill_of_materials.0.material.value; ",
        "material&#x2f;value: was &quot;cotton canvas&quot;, now &quot;waxed cotton canvas&quot;",
        "@page{size:letter landscape",
        "Version 2",
    ] {
        assert!(html.contains(expected), "index.html lacks {expected:?}");
    }
    let pdf = std::fs::read(out.join("techpack.pdf")).unwrap();
    assert!(
        pdf_has_text(&pdf, "/MediaBox [0 0 792 612]"),
        "letter landscape"
    );
    for expected in [
        "waxed cotton canvas",
        "Revisions",
        "Version 2",
        "changed bill_of_materials.0.material.value",
    ] {
        assert!(pdf_has_text(&pdf, expected), "the PDF lacks {expected:?}");
    }
    let xlsx = out.join("techpack.xlsx");
    assert!(
        xlsx_part(&xlsx, "xl/workbook.xml").contains(r#"<sheet name="Revisions""#),
        "no Revisions sheet"
    );
    let strings = xlsx_part(&xlsx, "xl/sharedStrings.xml");
    for expected in [
        "waxed cotton canvas",
        "changed bill_of_materials.0.material.value",
    ] {
        assert!(
            strings.contains(expected),
            "the workbook lacks {expected:?}"
        );
    }
    let bom = std::fs::read_to_string(out.join("bom.csv")).unwrap();
    assert!(bom.contains("BOM-1,body,waxed cotton canvas"), "{bom}");

    // The first export, made before the edit, is left as it was.
    let before = json(&dir.join("first/techpack.json"));
    assert_eq!(
        before["bill_of_materials"][0]["material"]["value"],
        "cotton canvas"
    );
}

#[test]
fn an_edited_point_of_measure_is_graded_again_by_the_export_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let data = dir.join("data");
    let first = run(
        &data,
        "workflows/tech-pack-v2.yaml",
        &dir.join("first"),
        &[
            "--image",
            SAMPLE,
            "-i",
            "width_mm=380",
            "-i",
            "sizes=[\"S\",\"M\",\"L\"]",
            "-i",
            "grade_rules={\"W\": 10}",
            "-i",
            "default_grade=20",
        ],
    );
    let base = &first["outputs"]["base_views"];
    let (product, analysis) = (
        base["product_id"].as_str().unwrap(),
        base["analysis_id"].as_str().unwrap(),
    );
    let chart_row = |csv: &str, code: &str| {
        csv.lines()
            .find(|l| l.starts_with(&format!("{code},")))
            .unwrap_or_else(|| panic!("no {code} row in {csv}"))
            .to_string()
    };
    let before = std::fs::read_to_string(dir.join("first/size-chart.csv")).unwrap();
    assert!(
        chart_row(&before, "W").ends_with(",370,380,390"),
        "{before}"
    );
    let pack = json(&dir.join("first/techpack.json"));
    let index = pack["points_of_measure"]
        .as_array()
        .unwrap()
        .iter()
        .position(|p| p["code"] == "W")
        .unwrap();
    run(
        &data,
        "workflows/edit.yaml",
        &dir.join("edit"),
        &[
            "-i",
            &format!("analysis_id={analysis}"),
            "-i",
            &format!("path=points_of_measure.{index}.value"),
            "-i",
            "value=400",
        ],
    );

    let out = dir.join("export");
    let report = run(
        &data,
        "workflows/export.yaml",
        &out,
        &["-i", &format!("product_id={product}")],
    );
    assert_eq!(report["status"], "succeeded");
    assert!(
        logged_calls(&data, &report).is_empty(),
        "grading again calls no model"
    );
    // The chart is graded from the edited base: 400 at M, 10 a size either way.
    let after = std::fs::read_to_string(out.join("size-chart.csv")).unwrap();
    assert!(chart_row(&after, "W").ends_with(",390,400,410"), "{after}");
    assert_eq!(
        chart_row(&after, "H"),
        chart_row(&before, "H"),
        "an unedited POM grades as before"
    );
    let chart = json(&out.join("size-chart.json"));
    assert_eq!(graded_row(&chart, "W"), "S 390, M 400, L 410");
    let pack = json(&out.join("techpack.json"));
    assert_eq!(
        pack["meta"]["grading"]["sizes"],
        serde_json::json!(["S", "M", "L"])
    );
    // The flat and the PDF show the edited measurement and the regraded chart.
    let svg = std::fs::read_to_string(out.join("sketches/front.svg")).unwrap();
    assert!(svg.contains(">W overall width: 400 mm</text>"));
    let pdf = std::fs::read(out.join("techpack.pdf")).unwrap();
    assert!(pdf_has_text(&pdf, "W overall width: 400 mm"));
    assert!(pdf_has_text(&pdf, "410"));
}

#[test]
fn over_http_the_export_workflow_names_no_folder_and_the_downloads_show_the_edit() {
    let (_dir, data, workflows) = dirs(&["tech-pack-v2.yaml", "export.yaml", "edit.yaml"]);
    let server = Server::start(&data, &workflows, &[]);
    let alice = server.user("alice", 20);
    let (product, revision) = server.product_with_photo(&alice);
    let trigger = |workflow: &str, inputs: Value| {
        server.send(
            "POST",
            &format!("/api/workflows/{workflow}/runs"),
            Some(&alice),
            Some(serde_json::json!({ "inputs": inputs })),
        )
    };
    let finish = |(status, body): (StatusCode, Value)| {
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let report = server.wait_finished(&alice, body["runId"].as_str().unwrap());
        assert_eq!(report["run"]["status"], "succeeded", "{report}");
        report
    };
    let images = serde_json::json!([{ "view": "front", "revisionId": revision }]);
    let first = finish(trigger(
        "tech-pack-v2",
        serde_json::json!({ "images": images, "width_mm": 380, "sizes": ["S", "M", "L"],
            "grade_rules": { "W": 10 }, "default_grade": 20 }),
    ));
    let analysis = common::node(&first, "base_views")["output"]["analysis_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A file of the product's tech pack: its status and bytes.
    let download = |file: &str| {
        let response = server.get_as(&alice, &format!("/api/products/{product}/tech-pack/{file}"));
        (response.status(), response.bytes().unwrap().to_vec())
    };
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    let width_row = |csv: &str| {
        csv.lines()
            .find(|l| l.starts_with("W,"))
            .unwrap_or_else(|| panic!("no W row in {csv}"))
            .to_string()
    };
    let graded = common::node(&first, "grade_sizes");
    assert_eq!(graded["status"], "succeeded", "{graded}");
    // The run's graded chart is stored with its tech pack: downloadable, and in the JSON.
    let (status, chart) = download("size-chart.csv");
    let chart = text(chart);
    assert_eq!(status, StatusCode::OK, "{chart}");
    assert!(width_row(&chart).ends_with(",370,380,390"), "{chart}");
    let (_, pack) = server.send(
        "GET",
        &format!("/api/products/{product}/tech-pack"),
        Some(&alice),
        None,
    );
    assert_eq!(pack["size_chart"]["base_size"], "M", "{pack}");
    let width = pack["points_of_measure"]
        .as_array()
        .unwrap()
        .iter()
        .position(|p| p["code"] == "W")
        .unwrap();
    finish(trigger(
        "edit",
        serde_json::json!({ "analysis_id": analysis, "path": "meta.season", "value": "AW27" }),
    ));
    let (status, chart) = download("size-chart.csv");
    let chart = text(chart);
    assert_eq!(
        status,
        StatusCode::OK,
        "an edit elsewhere keeps the chart: {chart}"
    );
    finish(trigger(
        "edit",
        serde_json::json!({ "analysis_id": analysis,
            "path": format!("points_of_measure.{width}.value"), "value": 400 }),
    ));
    // Graded from the old width, the chart is stale: no download of sizes that are wrong.
    let (status, body) = download("size-chart.csv");
    let body = text(body);
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body.contains("changed after the size chart was graded"),
        "{body}"
    );
    let (_, stale_pdf) = download("techpack.pdf");
    assert!(
        pdf_has_text(&stale_pdf, "Not produced: the points of measure changed"),
        "the PDF says why it has no chart"
    );
    let balance = server.balance(&alice);

    // A folder is a server path: refused before anything runs.
    let (status, body) = trigger(
        "export",
        serde_json::json!({ "product_id": product, "out": "/tmp/pack" }),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server path"),
        "{body}"
    );

    let report = finish(trigger(
        "export",
        serde_json::json!({ "product_id": product }),
    ));
    let run = report["run"]["id"].as_str().unwrap();
    let exported = &common::node(&report, "export")["output"];
    assert!(
        exported.get("dir").is_none(),
        "nothing was written: {exported}"
    );
    assert_eq!(exported["version"], "3");
    let files: Vec<&str> = exported["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for file in [
        "techpack.json",
        "index.html",
        "techpack.pdf",
        "techpack.xlsx",
        "bom.csv",
        "size-chart.csv",
    ] {
        assert!(files.contains(&file), "{file} not rendered: {files:?}");
    }
    assert_eq!(server.balance(&alice), balance, "an export is free");
    let (status, logs) = server.send("GET", &format!("/api/logs?run={run}"), Some(&alice), None);
    assert_eq!(status, StatusCode::OK, "{logs}");
    assert_eq!(
        logs["operations"],
        serde_json::json!([]),
        "no model was called"
    );

    // The console's flats: the drawing with its callouts and the edited dimension.
    let response = server.get_as(
        &alice,
        &format!("/api/products/{product}/tech-pack/flats/front.svg"),
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    let svg = response.text().unwrap();
    assert!(
        svg.contains(">W overall width: 400 mm</text>"),
        "{svg:.400}"
    );
    for missing in ["back.svg", "front.png", "..%2Ffront.svg"] {
        let (status, body) = server.send(
            "GET",
            &format!("/api/products/{product}/tech-pack/flats/{missing}"),
            Some(&alice),
            None,
        );
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{body}");
    }

    // The export graded the edited width again, for every download.
    let (status, chart) = download("size-chart.csv");
    let chart = text(chart);
    assert_eq!(status, StatusCode::OK, "{chart}");
    assert!(width_row(&chart).ends_with(",390,400,410"), "{chart}");

    // The downloads are the same tech pack: the edits and the revisions that made them.
    let (status, pack) = server.send(
        "GET",
        &format!("/api/products/{product}/tech-pack"),
        Some(&alice),
        None,
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pack["meta"]["season"], "AW27");
    let edit = pack["revisions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&edit["by"], &edit["version"]),
        (&serde_json::json!("edit"), &serde_json::json!(3))
    );
    let (_, pdf) = download("techpack.pdf");
    assert!(
        pdf_has_text(&pdf, "Season AW27"),
        "the PDF's header shows the edit"
    );
    assert!(
        pdf_has_text(&pdf, "changed meta.season"),
        "the PDF's revision table"
    );
}

#[test]
fn over_http_the_pdf_download_is_laid_out_for_the_paper_asked_for() {
    let (_dir, data, workflows) = dirs(&["tech-pack-v2.yaml"]);
    let server = Server::start(&data, &workflows, &[]);
    let alice = server.user("alice", 20);
    let (product, revision) = server.product_with_photo(&alice);
    let images = serde_json::json!([{ "view": "front", "revisionId": revision }]);
    let (status, body) = server.send(
        "POST",
        "/api/workflows/tech-pack-v2/runs",
        Some(&alice),
        Some(serde_json::json!({ "inputs": { "images": images } })),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let report = server.wait_finished(&alice, body["runId"].as_str().unwrap());
    assert_eq!(report["run"]["status"], "succeeded", "{report}");

    let download = |query: &str| {
        let response = server.get_as(
            &alice,
            &format!("/api/products/{product}/tech-pack/techpack.pdf{query}"),
        );
        (response.status(), response.bytes().unwrap().to_vec())
    };
    let (status, letter) = download("?paper=letter");
    assert_eq!(status, StatusCode::OK);
    assert!(
        pdf_has_text(&letter, "/MediaBox [0 0 792 612]"),
        "letter landscape is 792 x 612 pt"
    );
    let (status, a4) = download("");
    assert_eq!(status, StatusCode::OK);
    assert!(
        pdf_has_text(&a4, "/MediaBox [0 0 841.89 595.28]"),
        "A4 landscape by default"
    );
    assert!(!pdf_has_text(&a4, "/MediaBox [0 0 792 612]"));

    // Another paper is refused in the API's error shape, saying which are known.
    let (status, body) = server.send(
        "GET",
        &format!("/api/products/{product}/tech-pack/techpack.pdf?paper=a3"),
        Some(&alice),
        None,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("a3") && message.contains("letter"),
        "{message}"
    );

    // The printable page follows the same choice.
    let page = server
        .get_as(
            &alice,
            &format!("/api/products/{product}/tech-pack.html?paper=letter"),
        )
        .text()
        .unwrap();
    assert!(
        page.contains("@page{size:letter landscape"),
        "the page prints on letter"
    );
}
