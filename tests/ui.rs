//! UI tests for workflow validation: each `tests/ui/invalid/NAME.yaml` must fail with exactly
//! the text in `NAME.err`. Run with `TECHPACK_BLESS=1` to rewrite the `.err` files after an
//! intended change of wording, then review the diff.

use std::path::Path;

use techpack_engine::{StepRegistry, Workflow};

fn registry() -> StepRegistry {
    let mut registry = StepRegistry::with_builtins();
    techpack_steps::register(&mut registry);
    let cache = tempfile::tempdir().unwrap();
    let host = techpack_wasm::PluginHost::new(cache.path()).unwrap();
    host.register(&mut registry, &[std::path::PathBuf::from("plugins")]);
    registry
}

#[test]
fn invalid_workflows_report_every_problem_with_its_position() {
    let dir = Path::new("tests/ui/invalid");
    let bless = std::env::var_os("TECHPACK_BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "the invalid workflow folder lost its cases"
    );
    let mut mismatches = Vec::new();
    for case in &cases {
        let origin = case.to_str().unwrap();
        let source = std::fs::read_to_string(case).unwrap();
        let actual = match Workflow::parse(&source, origin, &registry()) {
            Ok(_) => "<valid>".to_string(),
            Err(diagnostics) => diagnostics.to_string(),
        } + "\n";
        let expected_path = case.with_extension("err");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            mismatches.push(format!(
                "{origin}\n--- expected\n{expected}--- actual\n{actual}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn shipped_workflows_are_valid() {
    let mut checked = 0;
    for dir in ["workflows", "workflows/bench", "workflows/examples"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                if let Err(e) = Workflow::from_file(&path, &registry()) {
                    panic!("{}: {e}", path.display());
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 3);
}
