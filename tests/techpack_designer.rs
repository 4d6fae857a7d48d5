//! What a designer adds and what a factory gets, through the real binary, offline: a spec
//! sheet file merged as given, a misspelt field named, rows added and removed with `edit`,
//! the factory files (PDF, XLSX, CSV) in the export folder, and a regenerated view that
//! leaves the designer's rows alone.

mod common;

use common::cli::{json, ok, techpack};

use std::path::Path;
use std::process::Output;

use serde_json::Value;

const SAMPLE: &str = "workflows/samples/sample-product.png";

const SHEET: &str = r##"
style_id: SS26-014
season: SS26
brand: Acme
bill_of_materials:
  - placement: body
    material: cotton canvas
    composition: 100% cotton
    weight_or_thickness: { value: 340, unit: gsm }
    color: { name: navy, hex: "#1F2A44", pantone: 19-4024 TCX }
construction:
  - { operation: topstitch opening, location: top edge, stitch_class_iso4915: 301, stitches_per_inch: 10 }
labels_and_packaging:
  - { kind: care label, placement: inside side seam, content: "100% cotton, wash 30 °C" }
colorways:
  - name: Navy / Mustard
    colors: [{ name: navy, hex: "#1F2A44" }, { name: mustard, hex: "#D9A521" }]
points_of_measure:
  - { code: HD, value: 230 }
"##;

fn run_with_sheet(dir: &Path, sheet: &str) -> (Output, std::path::PathBuf) {
    let file = dir.join("sheet.yaml");
    std::fs::write(&file, sheet).unwrap();
    let out = dir.join("out");
    let output = techpack(
        &dir.join("data"),
        &[
            "run",
            "workflows/tech-pack-v2.yaml",
            "--image",
            SAMPLE,
            "--out",
            out.to_str().unwrap(),
            "-q",
            "-i",
            "category=tote bag",
            "-i",
            "width_mm=380",
            "-i",
            &format!("spec={}", file.display()),
        ],
    );
    (output, out)
}

#[test]
fn a_spec_sheet_enters_the_tech_pack_as_given_and_reaches_every_export() {
    let dir = tempfile::tempdir().unwrap();
    let (output, out) = run_with_sheet(dir.path(), SHEET);
    ok(&output);
    let pack = json(&out.join("techpack.json"));
    assert_eq!(pack["meta"]["style_id"], "SS26-014");
    assert_eq!(pack["meta"]["season"], "SS26");
    assert_eq!(pack["meta"]["brand"], "Acme");
    let line = &pack["bill_of_materials"][0];
    assert_eq!(line["material"]["value"], "cotton canvas");
    assert_eq!(line["material"]["source"], "given");
    assert_eq!(line["weight_or_thickness"]["value"], 340.0);
    assert_eq!(
        line["finish"]["source"], "unknown",
        "a field left out stays unknown"
    );
    assert_eq!(pack["construction"][0]["stitch_class_iso4915"], "301");
    assert_eq!(pack["colorways"][0]["name"], "Navy / Mustard");
    assert_eq!(pack["labels_and_packaging"][0]["source"], "given");
    let handle_drop = pack["points_of_measure"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "HD")
        .unwrap();
    assert_eq!(
        (&handle_drop["value"], &handle_drop["source"]),
        (&Value::from(230.0), &Value::from("given"))
    );

    // The factory files, from the same tables.
    let bom = std::fs::read_to_string(out.join("bom.csv")).unwrap();
    assert!(bom.starts_with("ID,Placement,Material"), "{bom}");
    assert!(
        bom.contains("BOM-1,body,cotton canvas,100% cotton,340 gsm"),
        "{bom}"
    );
    let poms = std::fs::read_to_string(out.join("points-of-measure.csv")).unwrap();
    assert!(
        poms.contains("HD,handle drop,") && poms.contains("measure on the sample"),
        "{poms}"
    );
    assert!(
        !out.join("size-chart.csv").exists(),
        "no size run, no chart"
    );
    let xlsx = std::fs::read(out.join("techpack.xlsx")).unwrap();
    assert!(xlsx.starts_with(b"PK"));
    let pdf = std::fs::read(out.join("techpack.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let has = |needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
    // A4 landscape, real text, a header with the style and "page x of y" on every page.
    assert!(has(b"/MediaBox [0 0 841.89 595.28]"), "not A4 landscape");
    let pages = pdf
        .windows(b"/Type /Page\n".len())
        .filter(|w| *w == b"/Type /Page\n")
        .count();
    assert!(
        pages >= 4,
        "cover, a flat, tables, close-ups: {pages} pages"
    );
    assert!(
        has(format!("(page {pages} of {pages})").as_bytes()),
        "no page x of y"
    );
    // Strings with characters beyond ASCII (the header's `·`) are written in hex.
    let has_text = |text: &str| {
        let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
        has(text.as_bytes()) || has(hex.as_bytes())
    };
    assert!(
        has_text("Style SS26-014") && has_text("cotton canvas") && has_text("handle drop"),
        "text missing from the PDF"
    );
}

#[test]
fn a_misspelt_field_in_the_sheet_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = SHEET.replace(
        "    composition: 100% cotton",
        "    compositon: 100% cotton",
    );
    let (output, _) = run_with_sheet(dir.path(), &sheet);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("spec.bill_of_materials[0]: unknown field `compositon`"),
        "{stdout}"
    );
}

#[test]
fn edit_adds_and_removes_bom_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (output, out) = run_with_sheet(dir.path(), SHEET);
    ok(&output);
    let run = json(&out.join("run.json"));
    let analysis = run["outputs"]["base_views"]["analysis_id"]
        .as_str()
        .unwrap()
        .to_string();
    let data = dir.path().join("data");
    let edit = |args: &[&str]| {
        let out = dir.path().join("edit");
        let mut all = vec![
            "run",
            "workflows/edit.yaml",
            "-q",
            "--out",
            out.to_str().unwrap(),
        ];
        let analysis_arg = format!("analysis_id={analysis}");
        all.extend(["-i", analysis_arg.as_str()]);
        for arg in args {
            all.extend(["-i", arg]);
        }
        let output = techpack(&data, &all);
        (output, out)
    };
    let (output, edit_out) = edit(&[
        "op=add",
        "path=bill_of_materials",
        r#"value={"placement": "handle", "material": "leather", "color": "tan"}"#,
    ]);
    ok(&output);
    let rows = json(&edit_out.join("run.json"))["outputs"]["edit"]["new_value"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    assert_eq!(rows[1]["id"], "BOM-2");
    assert_eq!(rows[1]["material"]["value"], "leather");
    assert_eq!(rows[1]["material"]["source"], "given");
    assert_eq!(rows[1]["color"]["name"], "tan");

    let (output, _) = edit(&["op=remove", "path=bill_of_materials.0"]);
    ok(&output);
    let (output, edit_out) = edit(&[
        "op=add",
        "path=bill_of_materials",
        r#"value={"placment": "strap"}"#,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("unknown field `placment`"));
    let _ = edit_out;

    // What is left: the handle alone, and the tech pack still fits its schema.
    let (output, edit_out) = edit(&[
        "path=bill_of_materials.0.finish.value",
        "value=\"vegetable tanned\"",
    ]);
    ok(&output);
    let edited = &json(&edit_out.join("run.json"))["outputs"]["edit"];
    assert_eq!(edited["history_length"], 3);
}

#[test]
fn regenerating_a_view_keeps_the_spec_rows_and_the_edits() {
    let dir = tempfile::tempdir().unwrap();
    let (output, out) = run_with_sheet(dir.path(), SHEET);
    ok(&output);
    let base = json(&out.join("run.json"))["outputs"]["base_views"].clone();
    let analysis = format!("analysis_id={}", base["analysis_id"].as_str().unwrap());
    let product = format!("product_id={}", base["product_id"].as_str().unwrap());
    let data = dir.path().join("data");
    let step = |workflow: &str, inputs: &[&str]| {
        let out = dir.path().join(workflow);
        let mut args = vec!["run", workflow, "-q", "--out", out.to_str().unwrap()];
        for input in inputs {
            args.extend(["-i", input]);
        }
        ok(&techpack(&data, &args));
        out
    };
    step(
        "workflows/edit.yaml",
        &[
            &analysis,
            "op=add",
            "path=bill_of_materials",
            r#"value={"placement": "handle", "material": "leather"}"#,
        ],
    );
    step(
        "workflows/edit.yaml",
        &[&analysis, "path=meta.brand", "value=\"Acme Bags\""],
    );
    let before = json(&out.join("techpack.json"));
    step(
        "workflows/regenerate.yaml",
        &[&analysis, &product, "view=front"],
    );
    let pack = json(&step("workflows/export.yaml", &[&product]).join("techpack.json"));

    let placements: Vec<&str> = pack["bill_of_materials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["placement"].as_str().unwrap())
        .collect();
    assert_eq!(
        placements,
        ["body", "handle"],
        "the sheet's line and the added one"
    );
    assert_eq!(
        pack["bill_of_materials"][0]["material"]["value"],
        "cotton canvas"
    );
    assert_eq!(pack["bill_of_materials"][1]["material"]["value"], "leather");
    for section in ["construction", "labels_and_packaging"] {
        assert_eq!(pack[section], before[section], "{section} changed");
    }
    assert_eq!(pack["colorways"][0]["name"], "Navy / Mustard");
    let handle_drop = pack["points_of_measure"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "HD")
        .unwrap();
    assert_eq!(
        (&handle_drop["value"], &handle_drop["source"]),
        (&serde_json::json!(230.0), &serde_json::json!("given"))
    );
    assert_eq!(pack["meta"]["brand"], "Acme Bags");
    assert_eq!(pack["meta"]["style_id"], "SS26-014");
    let last = pack["revisions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&last["by"], &last["version"]),
        (&serde_json::json!("regenerate"), &serde_json::json!(4))
    );
    assert!(
        last["summary"]
            .as_str()
            .unwrap()
            .starts_with("regenerated the front view as revision 2"),
        "{last}"
    );
}
