//! The `techpack` command as an operator uses it: exit codes, messages, outputs.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn techpack(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_techpack"))
        .env("TECHPACK_DATA_DIR", data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn validate_reports_every_problem_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = techpack(
        dir.path(),
        &[
            "validate",
            "tests/ui/invalid/unknown_fields.yaml",
            "workflows/examples/hello.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("tests/ui/invalid/unknown_fields.yaml:6:5: error[TP002]: step `a`: unknown field `nedds`"), "{stderr}");
    assert!(
        stderr.contains("tests/ui/invalid/unknown_fields.yaml:9:5"),
        "{stderr}"
    );
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(text(&out.stdout).contains("ok: workflows/examples/hello.yaml"));
}

#[test]
fn a_successful_run_prints_a_summary_and_writes_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = techpack(
        &dir.path().join("data"),
        &[
            "run",
            "workflows/examples/hello.yaml",
            "--input",
            "who=factory",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with("flaky")
            && l.contains("succeeded")
            && l.contains(" 3 ")),
        "{stdout}"
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(written["outputs"]["done"]["greeting"], "hello, factory");

    let listed = techpack(&dir.path().join("data"), &["runs", "list"]);
    assert!(text(&listed.stdout).contains("succeeded"));
}

#[test]
fn a_failed_run_exits_1_and_names_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("fails.yaml");
    std::fs::write(&workflow, "name: fails\nsteps:\n  cut:\n    uses: core/fail\n    with: { message: fabric jammed }\n  sew: { uses: core/echo, needs: cut }\n").unwrap();
    let out = techpack(
        &dir.path().join("data"),
        &["run", workflow.to_str().unwrap(), "-q"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("step `cut` failed: fabric jammed"),
        "{stdout}"
    );
    assert!(stdout.contains("needs `cut`, which failed"), "{stdout}");
}

#[test]
fn missing_inputs_exit_3_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("needs-input.yaml");
    std::fs::write(&workflow, "name: x\ninputs:\n  style: { type: string, required: true, description: the style number }\nsteps:\n  a: { uses: core/echo }\n").unwrap();
    let data = dir.path().join("data");
    let out = techpack(&data, &["run", workflow.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("missing required input `style` (the style number)"),
        "{}",
        text(&out.stderr)
    );
    let listed = techpack(&data, &["runs", "list"]);
    assert!(
        text(&listed.stdout).contains("no runs"),
        "{}",
        text(&listed.stdout)
    );
}

#[test]
fn errors_are_one_sentence_with_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let out = techpack(dir.path(), &["runs", "show", "no-such-run"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(text(&out.stderr), "error: no run with id `no-such-run`\n");
    let out = techpack(dir.path(), &["run", "does/not/exist.yaml"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).starts_with("error: cannot read does/not/exist.yaml"));
}

#[test]
fn graph_prints_mermaid_and_dot() {
    let dir = tempfile::tempdir().unwrap();
    let mermaid = text(&techpack(dir.path(), &["graph", "workflows/examples/hello.yaml"]).stdout);
    assert!(mermaid.starts_with("flowchart TD"));
    assert!(mermaid.contains("greet --> done"));
    let dot = text(
        &techpack(
            dir.path(),
            &["graph", "workflows/examples/hello.yaml", "--format", "dot"],
        )
        .stdout,
    );
    assert!(dot.contains("\"greet\" -> \"wait_a\";"), "{dot}");
}

#[test]
fn a_plugin_is_compiled_only_when_a_workflow_that_uses_it_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = techpack(&data, &["run", "workflows/bench/chain-40.yaml", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !data.join("wasm-cache").exists(),
        "a workflow without plugins compiled some"
    );
    let out = techpack(&data, &["validate", "workflows/tech-pack-v2.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cached = std::fs::read_dir(data.join("wasm-cache"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(
        cached, 1,
        "grade-sizes, which tech-pack-v2 uses, is compiled"
    );
}

/// `--plugins-dir` reaches the registry every command loads workflows with: a plugin found
/// only there validates, and without the flag it is an unknown step kind.
#[test]
fn plugins_dir_adds_the_plugins_found_there() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("extra/grade-sizes-copy");
    std::fs::create_dir_all(&plugin).unwrap();
    let manifest = std::fs::read_to_string("plugins/grade-sizes/plugin.yaml").unwrap();
    std::fs::write(
        plugin.join("plugin.yaml"),
        manifest.replacen("name: grade-sizes", "name: grade-sizes-copy", 1),
    )
    .unwrap();
    std::fs::copy(
        "plugins/grade-sizes/grade-sizes.wasm",
        plugin.join("grade-sizes.wasm"),
    )
    .unwrap();
    let workflow = dir.path().join("grade.yaml");
    std::fs::write(
        &workflow,
        "name: grade\nsteps:\n  chart:\n    uses: wasm/grade-sizes-copy\n    with: { base_size: M, sizes: [S, M], points_of_measure: [{ code: A, base: 10 }] }\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let extra = dir.path().join("extra");
    let workflow = workflow.to_str().unwrap();

    let with = techpack(
        &data,
        &[
            "validate",
            "--plugins-dir",
            extra.to_str().unwrap(),
            workflow,
        ],
    );
    assert_eq!(with.status.code(), Some(0), "{}", text(&with.stderr));
    assert!(
        text(&with.stdout).contains("ok: "),
        "{}",
        text(&with.stdout)
    );

    let without = techpack(&data, &["validate", workflow]);
    assert_eq!(without.status.code(), Some(3), "{}", text(&without.stdout));
    assert!(
        text(&without.stderr).contains("wasm/grade-sizes-copy"),
        "{}",
        text(&without.stderr)
    );
}
