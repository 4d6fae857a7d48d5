//! The real plugin, `plugins/grade-sizes` (C, built by its build.sh, module committed):
//! graded values, tolerances, and its own error messages.

mod common;

use common::*;
use serde_json::{Value, json};
use techpack_wasm::PluginError;

fn base_with() -> Value {
    json!({
        "base_size": "M",
        "sizes": ["XS", "S", "M", "L", "XL", "XXL"],
        "points_of_measure": [
            { "code": "A", "name": "Chest width", "base": 52, "tolerance": 1 },
            { "code": "B", "name": "Body length", "base": 70, "tolerance": 1.5 }
        ],
        "grade_rules": { "A": 2, "B": [1, 1, 1.5, 1.5, 2] }
    })
}

#[tokio::test]
async fn grades_a_base_size_into_a_size_chart_with_tolerances() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    let plugin = host.load(&repo_plugins().join("grade-sizes")).unwrap();
    let chart = call(&host, &plugin, base_with()).await.unwrap();

    assert_eq!(chart["unit"], json!("cm"));
    assert_eq!(chart["sizes"], json!(["XS", "S", "M", "L", "XL", "XXL"]));
    let chest = &chart["points_of_measure"][0];
    assert_eq!(chest["code"], json!("A"));
    assert_eq!(
        chest["values"],
        json!({"XS": 48, "S": 50, "M": 52, "L": 54, "XL": 56, "XXL": 58})
    );
    assert_eq!(
        chest["min"],
        json!({"XS": 47, "S": 49, "M": 51, "L": 53, "XL": 55, "XXL": 57})
    );
    assert_eq!(chest["max"]["XXL"], json!(59));
    let length = &chart["points_of_measure"][1];
    assert_eq!(length["tolerance"], json!(1.5));
    assert_eq!(
        length["values"],
        json!({"XS": 68, "S": 69, "M": 70, "L": 71.5, "XL": 73, "XXL": 75})
    );
    assert_eq!(length["min"]["L"], json!(70));
}

#[tokio::test]
async fn rounds_to_the_requested_precision_for_inch_charts() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    let plugin = host.load(&repo_plugins().join("grade-sizes")).unwrap();
    let with = json!({
        "base_size": "8", "sizes": ["6", "8", "10"], "unit": "in", "precision": 0.125,
        "points_of_measure": [{ "code": "W", "base": 30.25, "tolerance": 0.25 }],
        "grade_rules": { "W": [0.6, 0.9] }
    });
    let chart = call(&host, &plugin, with).await.unwrap();
    // 30.25 - 0.6 = 29.65 -> 29.625; 30.25 + 0.9 = 31.15 -> 31.125
    assert_eq!(
        chart["points_of_measure"][0]["values"],
        json!({"6": 29.625, "8": 30.25, "10": 31.125})
    );
    assert_eq!(chart["points_of_measure"][0]["name"], json!("W"));
    assert_eq!(chart["unit"], json!("in"));
}

/// The shape `techpack/analyze-base-views` outputs (`tech_pack.points_of_measure`): `value`
/// instead of `base`, nullable fields, a unit per POM, extra fields.
#[tokio::test]
async fn takes_the_tech_packs_own_points_of_measure() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    let plugin = host.load(&repo_plugins().join("grade-sizes")).unwrap();
    let with = json!({
        "base_size": "M", "sizes": ["S", "M", "L"], "unit": null, "precision": 1,
        "points_of_measure": [
            { "code": "A", "name": "Chest width", "how_to_measure": "1 cm below armhole", "value": 520.0,
              "unit": "mm", "tolerance": null, "criticality": "critical", "source": "measured", "confidence": 0.8 },
            { "code": "B", "name": "Hem width", "value": null, "unit": "mm", "tolerance": 10 }
        ],
        "grade_rules": null,
        "default_grade": 20
    });
    let chart = call(&host, &plugin, with).await.unwrap();
    assert_eq!(
        chart["points_of_measure"],
        json!([{
            "code": "A", "name": "Chest width", "unit": "mm", "tolerance": 0,
            "values": {"S": 500, "M": 520, "L": 540}, "min": {"S": 500, "M": 520, "L": 540},
            "max": {"S": 500, "M": 520, "L": 540}
        }])
    );
    assert_eq!(
        chart["skipped"],
        json!([{"code": "B", "name": "Hem width", "reason": "no base measurement"}])
    );
}

#[tokio::test]
async fn says_what_is_wrong_with_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    let plugin = host.load(&repo_plugins().join("grade-sizes")).unwrap();
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut with = base_with();
    with["base_size"] = json!("XXXL");
    cases.push((with, "base size `XXXL` is not one of `with.sizes`"));
    let mut with = base_with();
    with["grade_rules"] = json!({ "A": 2 });
    cases.push((
        with,
        "no grade rule for POM `B` in `with.grade_rules` (or set `with.default_grade`)",
    ));
    let mut with = base_with();
    with["grade_rules"]["B"] = json!([1, 2]);
    cases.push((
        with,
        "grade rule for POM `B` must be a number or a list of 5 numbers (one per size step)",
    ));
    let mut with = base_with();
    with["grade_rules"]["A"] = json!(30);
    cases.push((
        with,
        "POM `A` grades to -8 at size `XS`: check its grade rule",
    ));
    let mut with = base_with();
    with["sizes"] = json!(["S", "M", "S"]);
    cases.push((with, "size `S` appears twice in `with.sizes`"));
    for (with, expected) in cases {
        let error = call(&host, &plugin, with).await.unwrap_err();
        assert!(
            matches!(&error, PluginError::Failed { message, .. } if message == expected),
            "{error}"
        );
    }
}

#[tokio::test]
async fn its_manifest_example_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    let report = host
        .check_plugin(&repo_plugins().join("grade-sizes"))
        .await
        .unwrap();
    assert_eq!(report.name, "grade-sizes");
    let example = report.example.unwrap();
    assert!(example.checked, "the manifest's example has `expect`");
    assert_eq!(
        example.output["points_of_measure"][0]["values"]["XS"],
        json!(48)
    );
}

/// The committed module is what `build.sh` makes from the committed source; CI runs
/// `plugins/check-reproducible.sh` to rebuild and compare. Here: the manifest points at
/// a module that exists and is the one the other tests ran.
#[test]
fn the_committed_module_is_a_webassembly_binary() {
    let bytes = std::fs::read(repo_plugins().join("grade-sizes/grade-sizes.wasm")).unwrap();
    assert_eq!(&bytes[..4], b"\0asm");
}
