//! The real `techpack` command for end-to-end tests of the CLI, offline: the provider
//! variables of the test's environment are not inherited, so the local provider answers.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Runs `techpack ARGS` on `data_dir` with no standard input and returns what it did.
pub fn techpack(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_techpack"))
        .env("TECHPACK_DATA_DIR", data_dir)
        .env_remove("TECHPACK_VISION_PROVIDER")
        .env_remove("TECHPACK_IMAGE_PROVIDER")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The command's stdout, after asserting it exited 0 (else both streams in the panic).
pub fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A JSON file the command wrote.
pub fn json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// One row of an exported `size-chart.json` (the tech pack's `size_chart`): each size and
/// its value in the chart's order, as `S 390, M 400, L 410`.
#[allow(dead_code)] // not every test binary reads a chart
pub fn graded_row(chart: &Value, code: &str) -> String {
    let row = chart["points_of_measure"]
        .as_array()
        .expect("a chart lists its points of measure")
        .iter()
        .find(|p| p["code"] == code)
        .unwrap_or_else(|| panic!("no {code} row in {chart}"));
    let grades: Vec<String> = row["grades"]
        .as_array()
        .expect("a row lists its grades")
        .iter()
        .map(|g| {
            let size = g["size"].as_str().expect("a size");
            format!("{size} {}", g["value"].as_f64().expect("a value"))
        })
        .collect();
    grades.join(", ")
}

/// Whether the PDF holds `text` as text (in a page's content stream: as written, or in hex
/// when it has characters beyond ASCII).
#[allow(dead_code)] // not every test binary reads a PDF
pub fn pdf_has_text(pdf: &[u8], text: &str) -> bool {
    let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
    [text.as_bytes(), hex.as_bytes()]
        .iter()
        .any(|needle| pdf.windows(needle.len()).any(|w| w == *needle))
}
