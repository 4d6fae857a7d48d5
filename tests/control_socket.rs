//! The CLI's read and admin commands while `techpack serve` holds the data directory: they
//! ask the server over its control socket instead of failing with "in use".

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{Server, dirs};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn techpack(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_techpack"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_cli_works_through_the_server_that_holds_the_data_dir() {
    let (_dir, data, workflows) = dirs(&["examples/hello.yaml"]);
    let server = Server::start(&data, &workflows, &[]);
    let socket = data.join("control.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the data dir's owner may connect");

    // A user made by the CLI can call the API at once.
    let (ok, token, stderr) = techpack(&data, &["users", "create", "erin", "--credits", "7"]);
    assert!(ok, "{stderr}");
    let token = token.trim();
    let (status, body) = server.send("GET", "/api/me/credits", Some(token), None);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["balance"], 7);

    let (ok, stdout, stderr) = techpack(&data, &["users", "grant", "erin", "3"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "erin: 10 available");
    let (ok, stdout, stderr) = techpack(&data, &["users", "show", "erin"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("erin: 10 available, 0 reserved, 0 spent"),
        "{stdout}"
    );

    // A run started over HTTP is listed and shown by the CLI.
    let (status, body) = server.send(
        "POST",
        "/api/workflows/hello/runs",
        Some(token),
        Some(json!({ "inputs": { "who": "factory" } })),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = body["runId"].as_str().unwrap().to_string();
    server.wait_finished(token, &run);
    let (ok, stdout, stderr) = techpack(&data, &["runs", "list"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&run) && stdout.contains("hello"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = techpack(&data, &["runs", "show", &run, "--json"]);
    assert!(ok, "{stderr}");
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["run"]["status"], "succeeded");

    // Errors come back as the CLI would say them itself.
    let (ok, _, stderr) = techpack(&data, &["runs", "show", "no-such-run"]);
    assert!(!ok);
    assert!(stderr.contains("no run with id `no-such-run`"), "{stderr}");
    let (ok, _, stderr) = techpack(&data, &["runs", "resume", &run]);
    assert!(!ok);
    assert!(stderr.contains("has already finished"), "{stderr}");
    let (ok, stdout, stderr) = techpack(&data, &["logs"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("no AI operations"), "{stdout}");

    // Once the server is gone, the CLI opens the store itself and sees the same.
    drop(server);
    let (ok, stdout, stderr) = techpack(&data, &["users", "show", "erin"]);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("erin: 10 available"), "{stdout}");
}
