//! `docs/error-codes.md`: every code a user sees, each once with what it means and what to
//! do, generated from the three lists: the API's [`ErrorCode`], the engine's
//! [`StepFailure`] (with the API code each is answered by) and the workflow validator's TP
//! codes ([`Code`]). A test fails when the
//! file is stale (`TECHPACK_BLESS=1` rewrites it).

use techpack_engine::workflow::Code;
use techpack_engine::{PluginCode, StepFailure};

use super::error::ErrorCode;
use super::step_failure::api_code;

/// Every TP code, in the validator's order, with what it means and what to do. The match is
/// exhaustive, so a new code does not build until it is documented here; the position it
/// gives must be its place in the list, which the test below checks.
fn tp_code(code: Code) -> (usize, &'static str, &'static str) {
    match code {
        Code::YamlSyntax => (
            0,
            "the file is not valid YAML",
            "fix the syntax at the line and column given",
        ),
        Code::UnknownField => (
            1,
            "a key the workflow schema does not know",
            "check its spelling against the Workflow YAML reference in the README",
        ),
        Code::DuplicateKey => (
            2,
            "the same key twice in one mapping (step ids included)",
            "keep one of them",
        ),
        Code::InvalidValue => (
            3,
            "a value of the wrong type, or a required field missing",
            "give the field the type the message names",
        ),
        Code::InvalidStepId => (
            4,
            "a step id that expressions cannot refer to",
            "use letters, digits and `_`, starting with a letter",
        ),
        Code::UnknownUses => (
            5,
            "`uses` names a step kind that is not registered (or a plugin that does not load)",
            "use a kind `techpack steps` lists; `techpack plugins check` says why a plugin does not load",
        ),
        Code::InvalidConfig => (
            6,
            "a step's `with:` block does not fit its kind",
            "fix the field the message names",
        ),
        Code::MissingNeed => (
            7,
            "`needs` names a step that does not exist",
            "name an existing step",
        ),
        Code::Cycle => (
            8,
            "steps that wait on each other (the whole chain is shown)",
            "break the chain",
        ),
        Code::BadExpression => (
            9,
            "an expression that does not parse",
            "fix the `${{ … }}` at the position given",
        ),
        Code::BadReference => (
            10,
            "an expression that refers to an input or step that does not exist",
            "refer to a declared input or an upstream step",
        ),
        Code::BadDuration => (
            11,
            "a duration such as `30s` that does not parse",
            "write a number and a unit: `500ms`, `30s`, `5m`",
        ),
        Code::BadInput => (
            12,
            "run inputs that do not fit the declared inputs (type, range, missing)",
            "give the inputs the workflow declares",
        ),
        Code::NoSteps => (13, "a workflow with nothing to do", "add a step"),
        Code::StatusFunction => (
            14,
            "a status function (`always()`, `failure()` …) outside `when:`, not called, or called with arguments",
            "use it alone in a step's `when:`",
        ),
        Code::BadConcurrency => (
            15,
            "`concurrency:` that is not a mapping of limits, each a whole number of runs ≥ 1",
            "write `concurrency: { per_workflow: N, per_user: M }`",
        ),
        Code::UnreachableConcurrency => (
            16,
            "a `per_user` limit above `per_workflow`: no user could reach it",
            "lower `per_user` to at most `per_workflow`",
        ),
    }
}

const TP_CODES: &[Code] = &[
    Code::YamlSyntax,
    Code::UnknownField,
    Code::DuplicateKey,
    Code::InvalidValue,
    Code::InvalidStepId,
    Code::UnknownUses,
    Code::InvalidConfig,
    Code::MissingNeed,
    Code::Cycle,
    Code::BadExpression,
    Code::BadReference,
    Code::BadDuration,
    Code::BadInput,
    Code::NoSteps,
    Code::StatusFunction,
    Code::BadConcurrency,
    Code::UnreachableConcurrency,
];

/// The file's text.
pub fn markdown() -> String {
    let mut text = String::from(
        "# Error codes\n\n\
         Generated from the code (`src/server/error_docs.rs`); a test fails when this file is \
         stale. Programs match on the code, never on the message.\n\n\
         ## HTTP API (`error.code`)\n\n\
         Every error the API answers, whatever answers it, is `application/json`: \
         `{\"error\": {\"code\": \"…\", \"message\": \"…\"}}`. The OpenAPI document \
         (`/api/openapi.json`) lists these codes on its `Error` schema. Another status a layer \
         may answer takes `invalid_input` (4xx) or `internal` (5xx).\n\n\
         | code | status | meaning | what to do |\n|---|---|---|---|\n",
    );
    for code in ErrorCode::ALL {
        let status = code.status().as_u16().to_string();
        row(
            &mut text,
            &[
                &quoted(code.as_str()),
                &status,
                code.meaning(),
                code.remedy(),
            ],
        );
    }
    text.push_str(
        "\n## Step failures (a node's `errorCode`, a warning's `code`)\n\n\
         A failed step records why in its node (`GET /api/runs/{id}`, `techpack runs show`). \
         The tech-pack endpoints answer a failed step with the API code given here.\n\n\
         | code | API code | meaning | what to do |\n|---|---|---|---|\n",
    );
    for failure in StepFailure::ALL {
        let api = quoted(api_code(*failure).as_str());
        let cells = [
            &quoted(failure.as_str()),
            &api,
            failure.meaning(),
            failure.remedy(),
        ];
        row(&mut text, &cells);
    }
    let plugin_code = format!("`{}<code>`", PluginCode::PREFIX);
    let plugin_meaning = format!(
        "a WASM plugin failed with a code of its own (`{{\"error\": {{\"message\": ..., \"code\": ...}}}}`; \
         the code matches `{}`; one that does not makes the step fail with `plugin_bad_output`)",
        PluginCode::PATTERN
    );
    let cells: [&str; 4] = [
        &plugin_code,
        &quoted(ErrorCode::StepFailed.as_str()),
        &plugin_meaning,
        "read the plugin's message; its documentation says what its codes mean",
    ];
    row(&mut text, &cells);
    text.push_str(
        "\nA step that failed without a code (an attempt that timed out, an error of the step's \
         own) has none; the message says why.\n\n\
         ## Workflow validation (TP codes)\n\n\
         `techpack validate FILE`, `POST /api/workflows/validate` and a workflow file that does \
         not load report every problem at once, each with its code, `file:line:column` and step.\n\n\
         | code | meaning | what to do |\n|---|---|---|\n",
    );
    for code in TP_CODES {
        let (_, meaning, remedy) = tp_code(*code);
        row(&mut text, &[&quoted(code.as_str()), meaning, remedy]);
    }
    text
}

fn quoted(code: &str) -> String {
    format!("`{code}`")
}

/// One row of a Markdown table.
fn row(text: &mut String, cells: &[&str]) {
    text.push('|');
    for cell in cells {
        text.push_str(&format!(" {cell} |"));
    }
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tp_code_is_listed_once_in_its_place() {
        for (place, code) in TP_CODES.iter().enumerate() {
            assert_eq!(tp_code(*code).0, place, "{}", code.as_str());
        }
    }

    #[test]
    fn the_codes_are_unique_in_each_list() {
        let mut seen = std::collections::HashSet::new();
        assert!(StepFailure::ALL.iter().all(|f| seen.insert(f.as_str())));
        let mut seen = std::collections::HashSet::new();
        assert!(TP_CODES.iter().all(|c| seen.insert(c.as_str())));
    }

    #[test]
    fn docs_error_codes_md_is_generated_from_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/error-codes.md");
        let expected = markdown();
        if std::env::var_os("TECHPACK_BLESS").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/error-codes.md is stale: run `TECHPACK_BLESS=1 cargo test --bin techpack error_docs`"
        );
    }
}
