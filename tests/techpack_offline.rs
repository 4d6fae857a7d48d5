//! The tech-pack pipeline as a user runs it: the real binary, offline, on the bundled sample
//! photo. Asserts what a user would look at: the files, the schema, the cache and the log.

mod common;

use common::cli::{graded_row, json, ok, pdf_has_text, techpack};

use std::path::Path;

use serde_json::Value;

const SAMPLE: &str = "workflows/samples/sample-product.png";

fn run_pipeline(data: &Path, out: &Path) -> Value {
    ok(&techpack(
        data,
        &[
            "run",
            "workflows/tech-pack-v2.yaml",
            "--image",
            SAMPLE,
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
    ));
    json(&out.join("run.json"))
}

fn logs(data: &Path) -> Vec<Value> {
    let value: Value = serde_json::from_str(&ok(&techpack(data, &["logs", "--json"]))).unwrap();
    value.as_array().unwrap().clone()
}

#[test]
fn the_readme_command_writes_a_complete_tech_pack_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("out"));
    let run = run_pipeline(&data, &out);
    assert_eq!(run["status"], "succeeded");

    let tech_pack = json(&out.join("techpack.json"));
    let schema = json(Path::new("steps/schema/techpack.schema.json"));
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&tech_pack)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "techpack.json does not fit its schema: {errors:?}"
    );

    // What the offline provider can know, it reports; what it cannot, it marks unknown.
    let front = &tech_pack["views"][0];
    let colors: Vec<&str> = front["colors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        colors.contains(&"navy") && colors.contains(&"mustard"),
        "{colors:?}"
    );
    assert_eq!(front["materials"][0]["source"], "unknown");
    assert_eq!(front["materials"][0]["confidence"], 0.0);
    assert_eq!(tech_pack["meta"]["category"]["source"], "unknown");
    let poms: Vec<&str> = tech_pack["points_of_measure"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    // No category known: the generic set, each POM in mm or to be measured on the sample
    // (no reference size was given, so no value: pixels are not millimetres).
    assert_eq!(poms, ["W", "H", "D"]);
    assert_eq!(tech_pack["meta"]["pom_set"]["name"], "generic");
    assert!(
        tech_pack["points_of_measure"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["value"].is_null() && p["unit"] == "mm")
    );
    assert!(!tech_pack["callouts"].as_array().unwrap().is_empty());

    for file in [
        "photos/front-v1.png",
        "sketches/front.png",
        "sketches/front.svg",
        "index.html",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let close_ups = std::fs::read_dir(out.join("close-ups")).unwrap().count();
    assert_eq!(close_ups, 8);
    let sketch = std::fs::read(out.join("sketches/front.png")).unwrap();
    assert!(sketch.starts_with(b"\x89PNG"));
    let svg = std::fs::read_to_string(out.join("sketches/front.svg")).unwrap();
    assert!(
        // The width is drawn as a dimension line where it was measured, labelled with its
        // value: in pixels, as no real size was given (`techpack_flat` checks the rest).
        svg.contains("<svg") && svg.contains(">W overall width: 656 px</text>"),
        "{}",
        &svg[..200.min(svg.len())]
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    for section in [
        "Bill of materials",
        "Points of measure",
        "Technical sketches",
        "Close-ups",
        "data:image/png;base64,",
    ] {
        assert!(html.contains(section), "index.html lacks {section}");
    }
    // The back and side flats need photos the run was not given: said, not invented.
    let sketches = &run["outputs"]["sketches"];
    assert_eq!(sketches["sketches"].as_array().unwrap().len(), 1);
    assert_eq!(sketches["skipped"].as_array().unwrap().len(), 2);
}

#[test]
fn the_same_image_again_makes_no_model_call_and_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = run_pipeline(&data, &dir.path().join("first"));
    let calls = logs(&data);
    assert!(
        calls.len() >= 18, // one view, 8 close-ups drawn and analyzed, one flat
        "every model call is logged: {}",
        calls.len()
    );
    assert!(
        calls
            .iter()
            .all(|c| c["status"] == "ok" && c["provider"] == "local")
    );
    assert!(
        calls
            .iter()
            .all(|c| !c["input_summary"].as_str().unwrap().contains("base64"))
    );

    let second = run_pipeline(&data, &dir.path().join("second"));
    assert_eq!(
        logs(&data).len(),
        calls.len(),
        "the second run of the same image called a provider"
    );
    let show: Value = serde_json::from_str(&ok(&techpack(
        &data,
        &["runs", "show", second["run"].as_str().unwrap(), "--json"],
    )))
    .unwrap();
    for node in show["nodes"].as_array().unwrap() {
        if ["base_views", "close_ups", "sketches"].contains(&node["step_id"].as_str().unwrap()) {
            assert_eq!(node["free"], true, "{node}");
        }
    }
    assert_eq!(
        first["outputs"]["base_views"]["tech_pack"]["views"],
        second["outputs"]["base_views"]["tech_pack"]["views"]
    );
}

#[test]
fn a_file_that_is_not_an_image_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("notes.png");
    std::fs::write(&fake, "these are my notes, not a photo").unwrap();
    let output = techpack(
        &dir.path().join("data"),
        &[
            "run",
            "workflows/tech-pack-v2.yaml",
            "--image",
            fake.to_str().unwrap(),
            "-q",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("not a PNG or JPEG image"), "{stdout}");
    assert!(stdout.contains("needs `detect`, which failed"), "{stdout}");
}

#[test]
fn edit_keeps_history_and_regenerate_adds_a_revision() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = run_pipeline(&data, &dir.path().join("out"));
    let analysis_id = run["outputs"]["base_views"]["analysis_id"]
        .as_str()
        .unwrap()
        .to_string();
    let product_id = run["outputs"]["base_views"]["product_id"]
        .as_str()
        .unwrap()
        .to_string();

    let edit_out = dir.path().join("edit");
    ok(&techpack(
        &data,
        &[
            "run",
            "workflows/edit.yaml",
            "-q",
            "--out",
            edit_out.to_str().unwrap(),
            "-i",
            &format!("analysis_id={analysis_id}"),
            "-i",
            "path=views.0.materials.0.value",
            "-i",
            "value=\"cotton canvas\"",
        ],
    ));
    let edited = &json(&edit_out.join("run.json"))["outputs"]["edit"];
    assert_eq!(edited["old_value"], Value::Null);
    assert_eq!(edited["new_value"], "cotton canvas");
    assert_eq!(edited["history_length"], 1);

    let bad = techpack(
        &data,
        &[
            "run",
            "workflows/edit.yaml",
            "-q",
            "-i",
            &format!("analysis_id={analysis_id}"),
            "-i",
            "path=views.0.materials.0.confidence",
            "-i",
            "value=\"very\"",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("does not fit the tech pack"));

    let regen_out = dir.path().join("regen");
    ok(&techpack(
        &data,
        &[
            "run",
            "workflows/regenerate.yaml",
            "-q",
            "--out",
            regen_out.to_str().unwrap(),
            "-i",
            &format!("product_id={product_id}"),
            "-i",
            "view=front",
            "-i",
            &format!("analysis_id={analysis_id}"),
        ],
    ));
    let regenerated = &json(&regen_out.join("run.json"))["outputs"]["regenerate"];
    assert_eq!(regenerated["revision"]["version"], 2);
    assert_eq!(regenerated["revision"]["isCurrent"], true);
    assert_ne!(
        regenerated["revision"]["id"],
        regenerated["previous_revision_id"]
    );
    assert_eq!(regenerated["analysis_id"], analysis_id.as_str());
}

#[test]
fn a_size_run_is_graded_by_the_wasm_plugin_into_the_tech_pack() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    ok(&techpack(
        &dir.path().join("data"),
        &[
            "run",
            "workflows/tech-pack-v2.yaml",
            "--image",
            SAMPLE,
            "--out",
            out.to_str().unwrap(),
            "-q",
            "-i",
            "sizes=[\"S\",\"M\",\"L\"]",
            "-i",
            "default_grade=20",
            "-i",
            "width_mm=380",
        ],
    ));
    let chart = json(&out.join("size-chart.json"));
    assert_eq!(graded_row(&chart, "W"), "S 360, M 380, L 400");
    let pack = json(&out.join("techpack.json"));
    assert_eq!(
        pack["size_chart"], chart,
        "the tech pack holds the same chart"
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("Graded size chart") && html.contains("M (base)") && html.contains("400 mm"),
        "the chart is not in the page"
    );
}

/// `techpack runs list --json` of a data directory.
fn runs(data: &Path) -> Vec<Value> {
    let value: Value = serde_json::from_str(&ok(&techpack(data, &["runs", "list", "--json"])))
        .unwrap_or_else(|_| Value::Array(Vec::new()));
    value.as_array().cloned().unwrap_or_default()
}

/// A 451×300 photo in which the product (the bundled sample, scaled down) is 16 px wide: too
/// small for any close-up (a close-up needs 64 px of the photo, never an enlarged speck),
/// enough for the rest of the tech pack.
fn small_photo(path: &Path) {
    let product = image::open(SAMPLE)
        .unwrap()
        .resize_exact(16, 16, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut photo = image::RgbImage::from_pixel(451, 300, image::Rgb([255, 255, 255]));
    image::imageops::overlay(&mut photo, &product, 217, 142);
    photo.save(path).unwrap();
}

#[test]
fn a_small_photo_still_gets_its_tech_pack_with_the_close_ups_marked_not_produced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out");
    let photo = dir.path().join("small.png");
    small_photo(&photo);
    let output = techpack(
        &data,
        &[
            "run",
            "workflows/tech-pack-v2.yaml",
            "--image",
            photo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
    );
    let stdout = ok(&output);
    assert!(stdout.contains("succeeded with 1 warning"), "{stdout}");
    assert!(
        stdout.contains(
            "warning: step `close_ups` failed (tolerated, continue_on_error): only 0 distinct \
             details could be planned from the front photo"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("px in the front photo: too small for a close-up"),
        "{stdout}"
    );
    assert!(stdout.contains("outputs written to"), "{stdout}");

    // The tech pack is there, valid, and says what is missing and why.
    let pack = json(&out.join("techpack.json"));
    let schema = json(Path::new("steps/schema/techpack.schema.json"));
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&pack)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let missing = pack["not_produced"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["part"], "close_ups");
    let reason = missing[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("distinct details could be planned"),
        "{reason}"
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains(&format!(
            "not produced: {}",
            reason.split('`').next().unwrap()
        )),
        "the page does not mark the close-ups"
    );
    let pdf = std::fs::read(out.join("techpack.pdf")).unwrap();
    assert!(
        pdf_has_text(&pdf, "Not produced: only 0 distinct details"),
        "the PDF does not mark the close-ups"
    );
    assert!(!out.join("close-ups").exists());
    assert!(
        out.join("sketches/front.png").is_file(),
        "the sketches are kept"
    );

    // The stored run succeeded with the warning; `runs show` marks the step tolerated.
    let run_id = json(&out.join("run.json"))["run"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = ok(&techpack(&data, &["runs", "show", &run_id]));
    assert!(shown.contains("tolerated: only"), "{shown}");
    let stored = &runs(&data)[0];
    assert_eq!(stored["status"], "succeeded");
    assert_eq!(stored["warnings"][0]["step"], "close_ups");
}

#[test]
fn bad_inputs_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cases: &[(&[&str], &str)] = &[
        (
            &["-i", "close_ups=5"],
            "input `close_ups` must be 6 to 10, got 5",
        ),
        (
            &["-i", "close_ups=11"],
            "input `close_ups` must be 6 to 10, got 11",
        ),
        (
            &["-i", "width_mm=0"],
            "input `width_mm` must be more than 0, got 0",
        ),
        (
            &["-i", "width_mm=-380"],
            "input `width_mm` must be more than 0",
        ),
        (
            &["-i", r#"sizes=["S","L","XL"]"#, "-i", "default_grade=20"],
            "`sizes` must include the base size `M`",
        ),
        (
            &["-i", r#"sizes=["S","M","L"]"#],
            "`sizes` needs a grading rule",
        ),
        (
            &["--image", "front=workflows/samples/sample-product.png"],
            "two photos for the view `front`",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec![
            "run",
            "workflows/tech-pack-v2.yaml",
            "--image",
            "front=workflows/samples/sample-product.png",
            "-q",
        ];
        args.extend_from_slice(extra);
        let output = techpack(&data, &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{extra:?}: {stderr}");
        assert!(stderr.contains("TP017"), "{extra:?}: {stderr}");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    }
    assert!(runs(&data).is_empty(), "a run was recorded");
}

#[test]
fn a_blank_photo_fails_at_the_analysis_saying_no_product_was_found() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out");
    let blank = dir.path().join("blank.png");
    image::RgbImage::from_pixel(640, 480, image::Rgb([250, 250, 250]))
        .save(&blank)
        .unwrap();
    let output = techpack(
        &data,
        &[
            "run",
            "workflows/tech-pack-v2.yaml",
            "--image",
            blank.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("step `base_views` failed: no product can be found in the front photo"),
        "{stdout}"
    );
    assert!(stdout.contains("nothing written to"), "{stdout}");
    assert!(!stdout.contains("outputs written to"), "{stdout}");
    assert!(!out.join("techpack.json").exists());
    // Not retried: the same photo would not change.
    let stored = &runs(&data)[0];
    assert_eq!(stored["status"], "failed");
}
