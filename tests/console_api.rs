//! The web console's server side against the real binary: the pages and assets it serves and
//! their headers, the session cookie, and the endpoints the console added to the API.

mod common;

use common::{ADMIN, Server, dirs};
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use serde_json::{Value, json};

const THREE_STEPS: &str = "name: three-steps
version: 1
inputs:
  who: { type: string, default: world, description: who to greet }
steps:
  first: { uses: core/echo, with: { value: 1 } }
  second: { uses: core/echo, needs: first, with: { value: 2 } }
  third: { uses: core/echo, needs: second, credits: 2, with: { value: \"${{ inputs.who }}\" } }
";

const FAILING: &str = "name: failing
version: 1
steps:
  boom: { uses: core/fail, retry: { attempts: 1 }, with: { message: the cutter jammed } }
";

fn start() -> (tempfile::TempDir, Server) {
    let (dir, data, workflows) = dirs(&[]);
    std::fs::write(workflows.join("three-steps.yaml"), THREE_STEPS).unwrap();
    std::fs::write(workflows.join("failing.yaml"), FAILING).unwrap();
    let server = Server::start(&data, &workflows, &[]);
    (dir, server)
}

/// The `name=value` of the session cookie a sign-in answer set.
fn session_cookie(response: &reqwest::blocking::Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

#[test]
fn a_session_cookie_signs_a_browser_in_and_out_and_acts_only_from_this_origin() {
    let (_dir, server) = start();
    let token = server.user("ada", 10);
    let origin = server.base.clone();
    let post = |path: &str, cookie: &str| server.request("POST", path).header("cookie", cookie);
    let get = |path: &str, cookie: &str| {
        server
            .request("GET", path)
            .header("cookie", cookie)
            .send()
            .unwrap()
    };

    let bad = server
        .request("POST", "/api/session")
        .json(&json!({ "token": "tp_nope_nope" }))
        .send()
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(bad.headers().get(SET_COOKIE).is_none());
    // Another site's page cannot sign the browser in.
    let forged = server
        .request("POST", "/api/session")
        .header("origin", "http://evil.example")
        .json(&json!({ "token": token }))
        .send()
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let signed = server
        .request("POST", "/api/session")
        .header("origin", &origin)
        .json(&json!({ "token": token }))
        .send()
        .unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    let set = signed.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for flag in ["techpack_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(
        !set.contains(token.rsplit('_').next().unwrap()),
        "the cookie holds the token"
    );
    let cookie = session_cookie(&signed);
    assert_eq!(
        signed.json::<Value>().unwrap(),
        json!({ "user": "ada", "admin": false })
    );

    // Reading needs no Origin; changing something needs this origin.
    assert_eq!(
        get("/api/session", &cookie).json::<Value>().unwrap()["user"],
        "ada"
    );
    assert_eq!(get("/api/me/credits", &cookie).status(), StatusCode::OK);
    for origin_header in [Some("http://evil.example"), Some("null"), None] {
        let mut request = post("/api/workflows/three-steps/runs", &cookie).json(&json!({}));
        if let Some(value) = origin_header {
            request = request.header("origin", value);
        }
        let response = request.send().unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{origin_header:?}"
        );
        assert_eq!(
            response.json::<Value>().unwrap()["error"]["code"],
            "cross_origin"
        );
    }
    assert_eq!(
        server.balance(&token),
        10,
        "a refused request charged nothing"
    );
    let started = post("/api/workflows/three-steps/runs", &cookie)
        .header("origin", &origin)
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    // A bearer header still works alone, without Origin.
    let (status, _) = server.send(
        "POST",
        "/api/workflows/three-steps/runs",
        Some(&token),
        Some(json!({})),
    );
    assert_eq!(status, StatusCode::ACCEPTED);

    // Signing out ends the session at once, and clears the cookie.
    let out = server
        .request("DELETE", "/api/session")
        .header("cookie", &cookie)
        .header("origin", &origin)
        .send()
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        get("/api/me/credits", &cookie).status(),
        StatusCode::UNAUTHORIZED
    );

    // The admin's session reaches the admin endpoints, and no user's.
    let admin = server
        .request("POST", "/api/session")
        .json(&json!({ "token": ADMIN }))
        .send()
        .unwrap();
    let admin_cookie = session_cookie(&admin);
    assert_eq!(
        admin.json::<Value>().unwrap(),
        json!({ "user": null, "admin": true })
    );
    let created = post("/api/admin/users", &admin_cookie)
        .header("origin", &origin)
        .json(&json!({ "name": "bo" }))
        .send()
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(
        get("/api/me/credits", &admin_cookie).status(),
        StatusCode::UNAUTHORIZED
    );
}

const INVALID: &str = "name: three-steps
version: 2
steps:
  first: { uses: core/echo, bogus: 1 }
  second: { uses: core/nope, needs: first }
";

#[test]
fn the_editor_validates_as_it_goes_and_only_the_admin_saves_only_valid_text() {
    let (dir, server) = start();
    let token = server.user("ada", 0);
    let file = dir.path().join("workflows/three-steps.yaml");

    let (status, answer) = server.send(
        "POST",
        "/api/workflows/validate",
        Some(&token),
        Some(json!({ "source": INVALID })),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["valid"], false);
    let diagnostics = answer["diagnostics"].as_array().unwrap();
    let unknown_field = diagnostics
        .iter()
        .find(|d| d["code"] == "TP002")
        .unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(unknown_field["line"], 4, "{unknown_field}");
    assert!(unknown_field["column"].as_u64().unwrap() > 1);
    assert!(
        diagnostics
            .iter()
            .any(|d| d["code"] == "TP010" && d["line"] == 5),
        "every problem at once: {answer}"
    );
    assert!(
        !answer.to_string().contains(dir.path().to_str().unwrap()),
        "no server path"
    );

    let valid = THREE_STEPS.replace("version: 1", "version: 2");
    let (_, answer) = server.send(
        "POST",
        "/api/workflows/validate",
        Some(&token),
        Some(json!({ "source": valid })),
    );
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["workflow"]["steps"][2]["needs"], json!(["second"]));
    assert_eq!(answer["workflow"]["price"], 2);

    // A user cannot save; the admin cannot save invalid text; the file stays as it was.
    let before = std::fs::read_to_string(&file).unwrap();
    let (status, _) = server.send(
        "PUT",
        "/api/workflows/three-steps",
        Some(&token),
        Some(json!({ "source": valid })),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = server.send(
        "PUT",
        "/api/workflows/three-steps",
        Some(ADMIN),
        Some(json!({ "source": INVALID })),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["code"], "invalid_workflow");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("4:"),
        "{answer}"
    );
    let (status, _) = server.send(
        "PUT",
        "/api/workflows/other",
        Some(ADMIN),
        Some(json!({ "source": valid })),
    );
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the text is another workflow"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    let (status, answer) = server.send(
        "PUT",
        "/api/workflows/three-steps",
        Some(ADMIN),
        Some(json!({ "source": valid })),
    );
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["file"], "three-steps.yaml");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), valid);
    let (_, shown) = server.send("GET", "/api/workflows/three-steps", Some(&token), None);
    assert_eq!(shown["version"], "2");
    assert_eq!(shown["source"], valid);
    assert_eq!(
        shown["inputs"][0],
        json!({ "name": "who", "type": "string", "required": false, "default": "world", "description": "who to greet" })
    );

    // A new workflow is saved under its own name, never a path the caller chose.
    let new = "name: brand-new\nsteps:\n  only: { uses: core/echo }\n";
    let (status, answer) = server.send(
        "PUT",
        "/api/workflows/brand-new",
        Some(ADMIN),
        Some(json!({ "source": new })),
    );
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("workflows/brand-new.yaml")).unwrap(),
        new
    );
}

#[test]
fn the_runs_list_is_the_callers_newest_first_filtered_with_its_credits() {
    let (_dir, server) = start();
    let ada = server.user("ada", 10);
    let bo = server.user("bo", 10);
    let mut ids = Vec::new();
    for workflow in ["three-steps", "failing", "three-steps"] {
        let (status, answer) = server.send(
            "POST",
            &format!("/api/workflows/{workflow}/runs"),
            Some(&ada),
            Some(json!({})),
        );
        assert_eq!(status, StatusCode::ACCEPTED);
        let id = answer["runId"].as_str().unwrap().to_string();
        server.wait_finished(&ada, &id);
        ids.push(id);
    }
    let (_, list) = server.send("GET", "/api/runs", Some(&ada), None);
    let listed: Vec<&str> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        vec![ids[2].as_str(), ids[1].as_str(), ids[0].as_str()]
    );
    assert_eq!(
        list["runs"][0]["credits"],
        json!({ "charged": 2, "refunded": 0, "reserved": 0 })
    );
    assert_eq!(list["next"], Value::Null, "one page holds them all");

    // A page at a time: the cursor continues below the last run shown, to the end.
    let mut paged = Vec::new();
    let mut before = String::new();
    loop {
        let (status, page) = server.send(
            "GET",
            &format!("/api/runs?limit=2{before}"),
            Some(&ada),
            None,
        );
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page["runs"].as_array().unwrap().len() <= 2);
        paged.extend(
            page["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => before = format!("&before={next}"),
            None => break,
        }
    }
    assert_eq!(paged, listed, "the pages, one after the other");
    let (_, of_workflow) = server.send(
        "GET",
        "/api/runs?workflow=three-steps&limit=1",
        Some(&ada),
        None,
    );
    assert_eq!(of_workflow["runs"][0]["id"], ids[2].as_str());
    assert_eq!(of_workflow["next"], ids[2].as_str());
    let (status, _) = server.send("GET", "/api/runs?status=sleepy", Some(&ada), None);
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown status");

    let (_, failed) = server.send("GET", "/api/runs?status=failed", Some(&ada), None);
    assert_eq!(failed["runs"].as_array().unwrap().len(), 1);
    assert_eq!(failed["runs"][0]["id"], ids[1].as_str());
    assert_eq!(failed["runs"][0]["status"], "failed");
    let (_, by_id) = server.send(
        "GET",
        &format!("/api/runs?q={}", &ids[0][ids[0].len() - 8..]),
        Some(&ada),
        None,
    );
    assert_eq!(by_id["runs"][0]["id"], ids[0].as_str());
    let (status, _) = server.send("GET", "/api/runs?colour=red", Some(&ada), None);
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The failed step's log lines, per attempt, for its owner only.
    let logs_of = |token: &str| {
        server.send(
            "GET",
            &format!("/api/runs/{}/nodes/boom/logs", ids[1]),
            Some(token),
            None,
        )
    };
    let (status, logs) = logs_of(&ada);
    assert_eq!(status, StatusCode::OK, "{logs}");
    assert_eq!(logs["attempts"][0]["attempt"], 1);
    let lines: Vec<(&str, &str)> = logs["attempts"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["level"].as_str().unwrap(), l["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines,
        [("info", "attempt 1"), ("error", "the cutter jammed")]
    );
    assert_eq!(logs_of(&bo).0, StatusCode::NOT_FOUND, "another user's run");

    // Another user sees none of them, and not their workflows either.
    let (_, theirs) = server.send("GET", "/api/runs", Some(&bo), None);
    assert_eq!(theirs["runs"], json!([]));
    let (status, _) = server.send(
        "GET",
        &format!("/api/runs/{}/workflow", ids[0]),
        Some(&bo),
        None,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, pinned) = server.send(
        "GET",
        &format!("/api/runs/{}/workflow", ids[0]),
        Some(&ada),
        None,
    );
    let steps: Vec<&str> = pinned["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["first", "second", "third"]);
    assert_eq!(pinned["price"], 2);
}

#[test]
fn the_admin_lists_every_user_with_its_balance_and_nobody_else_does() {
    let (_dir, server) = start();
    let bo = server.user("bo", 3);
    server.user("ada", 10);
    let (status, list) = server.send("GET", "/api/admin/users", Some(ADMIN), None);
    assert_eq!(status, StatusCode::OK, "{list}");
    let rows: Vec<(&str, u64)> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap(), u["balance"].as_u64().unwrap()))
        .collect();
    assert_eq!(rows, [("ada", 10), ("bo", 3)], "by name, with balances");
    assert!(list["users"][0]["createdAt"].as_u64().unwrap() > 0);
    assert!(
        !list.to_string().contains("tp_") && !list.to_string().contains("token"),
        "no token or its hash is listed: {list}"
    );
    // The admin's console session lists them too; a user (bearer or cookie) and nobody
    // signed in do not.
    let signed = server
        .request("POST", "/api/session")
        .json(&json!({ "token": ADMIN }))
        .send()
        .unwrap();
    let admin_cookie = session_cookie(&signed);
    let with_cookie = |cookie: &str| {
        server
            .request("GET", "/api/admin/users")
            .header("cookie", cookie)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(with_cookie(&admin_cookie), StatusCode::OK);
    let user_signed = server
        .request("POST", "/api/session")
        .json(&json!({ "token": bo }))
        .send()
        .unwrap();
    assert_eq!(
        with_cookie(&session_cookie(&user_signed)),
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = server.send("GET", "/api/admin/users", Some(&bo), None);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = server.send("GET", "/api/admin/users", None, None);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn the_openapi_document_lists_the_console_endpoints() {
    let (_dir, server) = start();
    let (_, document) = server.send("GET", "/api/openapi.json", None, None);
    for (path, method) in [
        ("/api/session", "post"),
        ("/api/session", "delete"),
        ("/api/runs", "get"),
        ("/api/runs/{id}/workflow", "get"),
        ("/api/workflows/{name}", "get"),
        ("/api/workflows/{name}", "put"),
        ("/api/workflows/validate", "post"),
        ("/api/products", "get"),
        ("/api/products/{id}/images/{sha256}", "get"),
        ("/api/products/{id}/analyses", "get"),
        ("/api/runs/{id}/nodes/{step}/logs", "get"),
        ("/api/admin/users", "get"),
    ] {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    let codes = &document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
        ["enum"];
    assert!(codes.as_array().unwrap().contains(&json!("cross_origin")));
    assert!(
        codes
            .as_array()
            .unwrap()
            .contains(&json!("invalid_workflow"))
    );
}

/// Two workers on one PostgreSQL database, as behind a load balancer: a session made on one
/// is known to the other, and signing out on either ends it on both. Only the session id's
/// hash is in the database.
#[test]
fn a_session_made_on_one_worker_signs_in_on_another_until_signed_out_on_either() {
    let Some(pg) = techpack_pg_harness::server() else {
        return;
    };
    let url = pg.database();
    let (_dir, data, workflows) = dirs(&[]);
    std::fs::write(workflows.join("three-steps.yaml"), THREE_STEPS).unwrap();
    let worker = |name: &str| {
        common::Server::start_with(
            &data.join(name),
            &workflows,
            common::Options {
                envs: &[("TECHPACK_DATABASE_URL", url.as_str())],
                ..common::Options::default()
            },
        )
    };
    let (first, second) = (worker("a"), worker("b"));
    let token = first.user("ada", 5);
    let signed = first
        .request("POST", "/api/session")
        .header("origin", &first.base)
        .json(&json!({ "token": token }))
        .send()
        .unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    let cookie = session_cookie(&signed);
    let who = |server: &Server| {
        let answer = server
            .request("GET", "/api/session")
            .header("cookie", &cookie)
            .send()
            .unwrap();
        let status = answer.status();
        (status, answer.json::<Value>().unwrap())
    };
    let (status, on_second) = who(&second);
    assert_eq!(status, StatusCode::OK, "{on_second}");
    assert_eq!(
        on_second["user"], "ada",
        "the other worker knows the session"
    );
    let runs = second
        .request("GET", "/api/runs")
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(runs.status(), StatusCode::OK, "the API takes it there too");

    let id = cookie.split_once('=').unwrap().1;
    let stored = pg.psql(&url, "SELECT id_sha256 FROM console_sessions");
    use sha2::Digest;
    assert_eq!(stored, hex::encode(sha2::Sha256::digest(id.as_bytes())));
    assert!(!stored.contains(id));

    let out = second
        .request("DELETE", "/api/session")
        .header("cookie", &cookie)
        .header("origin", &second.base)
        .send()
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    for server in [&first, &second] {
        let (status, body) = who(server);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert_eq!(pg.psql(&url, "SELECT count(*) FROM console_sessions"), "0");
}
