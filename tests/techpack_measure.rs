//! Measurements a factory can trust, end to end through the real binary: product photos the
//! test draws itself with known geometry, reference sizes per axis, and the tech pack's
//! points of measure compared with the truth.

mod common;

use common::cli::techpack;

use std::path::Path;
use std::process::Output;

use image::{Rgb, RgbImage};
use serde_json::Value;

/// The tote: 400 mm wide at the opening, 360 mm at the base, 300 mm high, 120 mm deep.
const TOP_MM: f64 = 400.0;
const BASE_MM: f64 = 360.0;
const HEIGHT_MM: f64 = 300.0;
const DEPTH_MM: f64 = 120.0;

const BACKDROP: Rgb<u8> = Rgb([236, 234, 229]);
const CANVAS: Rgb<u8> = Rgb([30, 45, 90]);
const POCKET: Rgb<u8> = Rgb([200, 150, 40]);

/// The front at 1.5 px/mm: a trapezoid narrowing to the base, with a pocket on it.
fn draw_front() -> RgbImage {
    let scale = 1.5;
    let (w, h) = (800u32, 640u32);
    let (top, left_mid) = (90.0, f64::from(w) / 2.0);
    let mut image = RgbImage::from_pixel(w, h, BACKDROP);
    for y in 0..h {
        let from_top = (f64::from(y) + 0.5 - top) / scale;
        if !(0.0..HEIGHT_MM).contains(&from_top) {
            continue;
        }
        let width_mm = TOP_MM - (TOP_MM - BASE_MM) * from_top / HEIGHT_MM;
        for x in 0..w {
            let from_mid = (f64::from(x) + 0.5 - left_mid) / scale;
            if from_mid.abs() < width_mm / 2.0 {
                let pocket = from_mid.abs() < 80.0 && (120.0..220.0).contains(&from_top);
                image.put_pixel(x, y, if pocket { POCKET } else { CANVAS });
            }
        }
    }
    image
}

/// The side at 2 px/mm (another camera distance): the gusset, 120 x 300 mm.
fn draw_side() -> RgbImage {
    let scale = 2.0;
    let (w, h) = (480u32, 760u32);
    let mut image = RgbImage::from_pixel(w, h, BACKDROP);
    let (x0, y0) = (120u32, 80u32);
    let (bw, bh) = ((DEPTH_MM * scale) as u32, (HEIGHT_MM * scale) as u32);
    for y in y0..y0 + bh {
        for x in x0..x0 + bw {
            image.put_pixel(x, y, CANVAS);
        }
    }
    image
}

/// Runs the pipeline on the drawn tote with `inputs`; the run's output folder.
fn run_tote(dir: &Path, inputs: &[&str]) -> (Output, std::path::PathBuf) {
    let front = dir.join("front.png");
    let side = dir.join("side.png");
    draw_front().save(&front).unwrap();
    draw_side().save(&side).unwrap();
    let out = dir.join("out");
    let mut args = vec![
        "run".to_string(),
        "workflows/tech-pack-v2.yaml".into(),
        "--image".into(),
        format!("front={}", front.display()),
        "--image".into(),
        format!("side={}", side.display()),
        "--out".into(),
        out.display().to_string(),
        "-q".into(),
        "-i".into(),
        "close_ups=6".into(),
    ];
    for input in inputs {
        args.push("-i".into());
        args.push(input.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (techpack(&dir.join("data"), &args), out)
}

fn tech_pack(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("techpack.json")).unwrap()).unwrap()
}

fn pom<'a>(tech_pack: &'a Value, code: &str) -> &'a Value {
    tech_pack["points_of_measure"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == code)
        .unwrap_or_else(|| panic!("no POM {code} in {}", tech_pack["points_of_measure"]))
}

fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_width_scales_the_front_and_the_side_reads_its_own_depth() {
    let dir = tempfile::tempdir().unwrap();
    let (output, out) = run_tote(dir.path(), &["width_mm=400", "category=tote bag"]);
    succeeded(&output);
    let pack = tech_pack(&out);
    assert_eq!(pack["meta"]["pom_set"]["name"], "bags");
    assert_eq!(pack["meta"]["references"]["width_mm"], 400.0);

    let width = pom(&pack, "W");
    assert_eq!(
        (&width["value"], &width["source"], &width["confidence"]),
        (
            &Value::from(400.0),
            &Value::from("given"),
            &Value::from(1.0)
        ),
        "only the given width is `given`"
    );
    let base_at = 0.97; // the bags set measures the base width 97% of the way down
    let truths = [
        ("H", HEIGHT_MM),
        ("D", DEPTH_MM),
        ("WB", TOP_MM - (TOP_MM - BASE_MM) * base_at),
    ];
    for (code, truth) in truths {
        let pom = pom(&pack, code);
        let value = pom["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{code}: {pom}"));
        assert!(
            (value - truth).abs() / truth <= 0.03,
            "{code}: {value} mm, truth {truth} mm"
        );
        assert_eq!(pom["unit"], "mm", "{code}");
        assert_eq!(pom["source"], "estimated_from_photo", "{code} is derived");
        let confidence = pom["confidence"].as_f64().unwrap();
        assert!(confidence > 0.0 && confidence < 1.0, "{code}: {confidence}");
        assert!(pom["tolerance"].as_f64().unwrap() > 0.0, "{code}");
    }
    // The side photo's horizontal span is the gusset, never the width.
    let side = pack["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["view"] == "side")
        .unwrap();
    let side_codes: Vec<&str> = side["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert!(
        side_codes.contains(&"D") && !side_codes.contains(&"W"),
        "{side_codes:?}"
    );
    assert!(
        side["scale"]["basis"]
            .as_str()
            .unwrap()
            .contains("derived from the front view"),
        "{}",
        side["scale"]
    );
    // What an outline cannot tell is listed to be measured on the sample, with no value.
    for code in ["HD", "SW", "SL"] {
        let pom = pom(&pack, code);
        assert_eq!(
            (&pom["value"], &pom["source"]),
            (&Value::Null, &Value::from("unknown"))
        );
    }
}

#[test]
fn a_depth_alone_scales_only_the_side_and_the_height_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let (output, out) = run_tote(dir.path(), &["depth_mm=120", "category=bags"]);
    succeeded(&output);
    let pack = tech_pack(&out);
    assert_eq!(pom(&pack, "D")["source"], "given");
    let height = pom(&pack, "H")["value"].as_f64().unwrap();
    assert!((height - HEIGHT_MM).abs() / HEIGHT_MM <= 0.03, "{height}");
    // The front is reached through the height the side showed.
    let width = pom(&pack, "W")["value"].as_f64().unwrap();
    assert!((width - TOP_MM).abs() / TOP_MM <= 0.03, "{width}");
    assert_eq!(pom(&pack, "W")["source"], "estimated_from_photo");
}

#[test]
fn grading_pixels_is_refused_as_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let (output, _) = run_tote(
        dir.path(),
        &["sizes=[\"S\",\"M\",\"L\"]", "default_grade=20"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("grading needs mm"), "{stdout}");
}

#[test]
fn an_unknown_category_gets_the_generic_set_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (output, out) = run_tote(dir.path(), &["category=spaceship", "height_mm=300"]);
    succeeded(&output);
    let pack = tech_pack(&out);
    assert_eq!(pack["meta"]["pom_set"]["name"], "generic");
    assert_eq!(
        pack["meta"]["pom_set"]["reason"],
        "category `spaceship` matches no points-of-measure set: the generic set is used"
    );
    let codes: Vec<&str> = pack["points_of_measure"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["W", "H", "D"]);
    assert_eq!(pom(&pack, "H")["source"], "given");
}
