//! The web console in a real browser (headless Chromium over WebDriver) against the real
//! binary: what a person sees when signing in, starting and watching runs, reading a failed
//! step, running out of credits, editing YAML, and opening things that are not theirs.
//! Screenshots of each page go to `target/screenshots/`.

mod browser;
mod common;

use std::sync::Mutex;
use std::time::Duration;

use browser::Browser;
use common::{ADMIN, Server, dirs};
use serde_json::{Value, json};

/// One browser at a time: they share two cores with the server under test, and the
/// 1000-step render is timed.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

const THREE_STEPS: &str = "name: three-steps
version: 1
description: Three steps in a row.
inputs:
  who: { type: string, default: world, description: who to greet }
steps:
  first: { uses: core/sleep, with: { ms: 600 } }
  second: { uses: core/sleep, needs: first, with: { ms: 600 } }
  third: { uses: core/echo, needs: second, credits: 1, with: { value: \"hello, ${{ inputs.who }}\" } }
";

const FAILING: &str = "name: failing
version: 1
steps:
  prepare: { uses: core/echo, with: { value: ready } }
  cut: { uses: core/fail, needs: prepare, retry: { attempts: 2, initial_delay: 10ms }, with: { message: the cutter <b>jammed</b> } }
  pack: { uses: core/echo, needs: cut }
";

const SLOW: &str = "name: slow
version: 1
steps:
  nap: { uses: core/sleep, with: { ms: 20000 } }
";

const PAID: &str = "name: paid
version: 1
steps:
  expensive: { uses: core/echo, credits: 5, with: { value: 1 } }
";

struct Setup {
    _dir: tempfile::TempDir,
    server: Server,
    browser: Browser,
    _one: std::sync::MutexGuard<'static, ()>,
}

fn setup(test: &str, repo_workflows: &[&str]) -> Option<Setup> {
    let (chromium, driver) = browser::available(test)?;
    let one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, data, workflows) = dirs(repo_workflows);
    std::fs::write(workflows.join("three-steps.yaml"), THREE_STEPS).unwrap();
    std::fs::write(workflows.join("failing.yaml"), FAILING).unwrap();
    std::fs::write(workflows.join("paid.yaml"), PAID).unwrap();
    std::fs::write(workflows.join("slow.yaml"), SLOW).unwrap();
    let server = Server::start(&data, &workflows, &[]);
    let browser = Browser::start(&chromium, &driver);
    Some(Setup {
        _dir: dir,
        server,
        browser,
        _one: one,
    })
}

const SECONDS: Duration = Duration::from_secs(15);

/// Signs in through the form, as a person would.
fn sign_in(setup: &Setup, token: &str) {
    let b = &setup.browser;
    b.open(&setup.server.url("/signin"));
    let field = b.find("#token");
    b.clear(&field);
    b.type_into(&field, token);
    b.click(&b.find("button[type=submit]"));
    b.wait(
        "signed in",
        SECONDS,
        "return location.pathname !== '/signin' && document.querySelector('#who button')",
    );
}

/// Waits until the server's watcher has loaded `name` with `steps` steps.
trait WaitWorkflow {
    fn wait_for_workflow_steps(&self, name: &str, steps: u64);
}

impl WaitWorkflow for Server {
    fn wait_for_workflow_steps(&self, name: &str, steps: u64) {
        let admin = Some(ADMIN);
        for _ in 0..100 {
            let (_, body) = self.send("GET", &format!("/api/workflows/{name}"), admin, None);
            if body["steps"].as_array().map(|s| s.len() as u64) == Some(steps) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not load the edited `{name}`");
    }
}

/// Asserts that the pages logged no error (a CSP violation, a failed load, an exception)
/// but the `expected` ones.
fn no_console_errors(b: &Browser, expected: &[&str]) {
    let errors: Vec<String> = b
        .console_errors()
        .into_iter()
        .filter(|e| !expected.iter().any(|x| e.contains(x)))
        .collect();
    assert!(errors.is_empty(), "the console logged errors: {errors:#?}");
}

fn path(b: &Browser) -> String {
    b.run("return location.pathname", json!([]))
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_person_signs_in_starts_a_run_from_its_form_and_watches_it_finish_live() {
    let Some(setup) = setup("console_browser::starts_a_run", &[]) else {
        return;
    };
    let (server, b) = (&setup.server, &setup.browser);
    let token = server.user("ada", 10);

    // A deep link before signing in goes to the sign-in form; a wrong token is an error.
    b.open(&server.url("/runs"));
    let field = b.find("#token");
    assert_eq!(path(b), "/signin");
    b.type_into(&field, "tp_not_a_real_token");
    b.click(&b.find("button[type=submit]"));
    let error = b.wait(
        "the error",
        SECONDS,
        "return document.querySelector('.notice.error')?.innerText",
    );
    assert!(error.as_str().unwrap().contains("not valid"), "{error}");
    assert_eq!(path(b), "/signin");
    b.screenshot("signin-bad-token");

    b.clear(&field);
    b.type_into(&field, &token);
    b.click(&b.find("button[type=submit]"));
    b.wait("the runs page", SECONDS, "return location.pathname === '/runs' && document.querySelector('h1')?.innerText === 'Runs'");
    // The session is a cookie no script can read, and the token is nowhere in the page's reach.
    let exposed = b.run("return [document.cookie, location.href, JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.body.innerText].join(' ')", json!([]));
    assert!(
        !exposed.as_str().unwrap().contains(&token[10..]),
        "the token is exposed: {exposed}"
    );
    assert!(!exposed.as_str().unwrap().contains("techpack_session"));

    // The workflow's page (a deep link, loaded fresh): its form, its price, its DAG.
    b.open(&server.url("/workflows/three-steps"));
    let who = b.find("#in-who");
    assert!(b.text("main").contains("who to greet"));
    assert!(
        b.text(".price").contains("at most 1 credit"),
        "{}",
        b.text(".price")
    );
    assert!(b.text(".price").contains("balance: 10 credits"));
    assert_eq!(
        b.run(
            "return document.querySelectorAll('.dag .node').length",
            json!([])
        ),
        3
    );
    b.clear(&who);
    b.type_into(&who, "factory");
    b.screenshot("workflow-form");
    b.click(&b.find("button[type=submit]"));
    b.wait("the run page", SECONDS, "return /^\\/runs\\/[0-9a-f-]{36}$/.test(location.pathname) && document.querySelectorAll('.dag .node').length === 3");
    b.run("window.stillTheSamePage = true", json!([]));

    // The nodes change state from the run's events, without reloading the page.
    let seen_unfinished = b.wait("a step not finished yet", SECONDS,
        "return [...document.querySelectorAll('.dag .node')].some(n => n.matches('.s-running, .s-pending'))");
    assert_eq!(seen_unfinished, true);
    b.wait("all three steps succeeded", SECONDS,
        "return document.querySelectorAll('.dag .node.s-succeeded').length === 3 && document.querySelector('#run-status')?.innerText.includes('succeeded')");
    assert_eq!(
        b.run("return window.stillTheSamePage === true", json!([])),
        true,
        "the page was reloaded"
    );
    // The states are in words too, not only in colour.
    assert!(b.text(".dag").contains("succeeded"));
    b.click(&b.find(".dag .node[data-step=third]"));
    b.wait(
        "the output",
        SECONDS,
        "return document.querySelector('#step-panel')?.innerText.includes('hello, factory')",
    );
    b.screenshot("run-succeeded");

    // The runs list shows it with what it cost.
    b.click(&b.find("a[href='/runs']"));
    b.wait(
        "the run in the list",
        SECONDS,
        "return document.querySelector('table.runs tbody tr')?.innerText.includes('1 charged')",
    );
    b.screenshot("runs-list");

    // Credits: the balance after the paid step, and its ledger entries linked to the run.
    b.click(&b.find("nav a[href='/credits']"));
    let balance = b.wait(
        "the balance",
        SECONDS,
        "return document.querySelector('#balance')?.innerText",
    );
    assert_eq!(balance, "9 credits");
    let ledger = b.text("main table");
    for entry in ["grant", "reserve", "post"] {
        assert!(ledger.contains(entry), "{entry} missing: {ledger}");
    }
    assert!(
        b.run(
            "return document.querySelectorAll('main table a[href^=\"/runs/\"]').length >= 2",
            json!([])
        ) == true
    );
    b.screenshot("credits");
    b.click(&b.find("nav a[href='/logs']"));
    b.wait(
        "the logs",
        SECONDS,
        "return document.querySelector('main h1')?.innerText === 'AI operation log'",
    );
    assert!(b.text("main").contains("No model calls yet."));
    // Nothing the pages did broke the Content-Security-Policy or threw; the only errors are
    // the 401s of asking who is signed in before signing in, and of the wrong token.
    no_console_errors(
        b,
        &["/api/session - Failed to load resource: the server responded with a status of 401"],
    );
}

#[test]
fn a_failed_steps_error_is_open_and_a_402_says_the_balance() {
    let Some(setup) = setup("console_browser::failed_and_402", &[]) else {
        return;
    };
    let (server, b) = (&setup.server, &setup.browser);
    let token = server.user("bo", 3);
    let (_, answer) = server.send(
        "POST",
        "/api/workflows/failing/runs",
        Some(&token),
        Some(json!({})),
    );
    let run = answer["runId"].as_str().unwrap().to_string();
    server.wait_finished(&token, &run);

    sign_in(&setup, &token);
    b.open(&server.url(&format!("/runs/{run}")));
    let error = b.wait(
        "the open error",
        SECONDS,
        "return document.querySelector('#step-panel details.step-error[open]')?.innerText",
    );
    assert!(
        error.as_str().unwrap().contains("the cutter <b>jammed</b>"),
        "{error}"
    );
    let panel = b.text("#step-panel");
    assert!(
        panel.contains("Step cut"),
        "the failed step is the one shown: {panel}"
    );
    assert!(panel.contains("Attempts"), "{panel}");
    assert_eq!(
        b.run(
            "return document.querySelectorAll('.attempts tbody tr').length",
            json!([])
        ),
        2
    );
    assert!(b.text(".dag .node[data-step=pack]").contains("cancelled"));
    assert!(b.text(".actions").contains("Retry"));
    // The step's log lines, a block per attempt, as text (the message's markup included).
    let logs = b.wait(
        "the step's log",
        SECONDS,
        "const blocks = [...document.querySelectorAll('#step-panel pre.log')]; return blocks.length === 2 && blocks.map(p => p.dataset.attempt + ':' + p.textContent)",
    );
    let logs: Vec<String> = serde_json::from_value(logs).unwrap();
    for (attempt, block) in logs.iter().enumerate() {
        let attempt = attempt + 1;
        assert!(
            block.starts_with(&format!("{attempt}:"))
                && block.contains(&format!("INFO  attempt {attempt}"))
                && block.contains("ERROR the cutter <b>jammed</b>"),
            "attempt {attempt}'s log: {block}"
        );
    }
    assert_eq!(
        b.run(
            "return document.querySelectorAll('#step-panel pre.log b').length",
            json!([])
        ),
        0,
        "a log line was read as HTML"
    );
    b.screenshot("run-failed");

    // The run's buttons: cancel a running run, then retry it; the page follows both live.
    let (_, answer) = server.send(
        "POST",
        "/api/workflows/slow/runs",
        Some(&token),
        Some(json!({})),
    );
    let slow = answer["runId"].as_str().unwrap().to_string();
    b.open(&server.url(&format!("/runs/{slow}")));
    b.wait(
        "running",
        SECONDS,
        "return document.querySelector('.dag .node.s-running')",
    );
    let cancel = b.find(".actions button");
    assert_eq!(b.text(".actions button"), "Cancel");
    b.click(&cancel);
    b.wait("cancelled", SECONDS, "return document.querySelector('#run-status')?.innerText.includes('cancelled') && document.querySelector('.dag .node.s-cancelled')");
    b.screenshot("run-cancelled");
    let retry = b.find(".actions button");
    assert_eq!(b.text(".actions button"), "Retry");
    b.click(&retry);
    b.wait("running again", SECONDS, "return document.querySelector('#run-status')?.innerText.includes('running') && document.querySelector('.dag .node.s-running')");
    let (_, shown) = server.send("GET", &format!("/api/runs/{slow}"), Some(&token), None);
    assert_eq!(shown["run"]["retries"], 1, "{shown}");
    assert!(
        b.text("#run-status").contains("live"),
        "the page does not follow the retried run: {}",
        b.text("#run-status")
    );

    server.send(
        "POST",
        &format!("/api/runs/{slow}/cancel"),
        Some(&token),
        None,
    );

    // Bulk cancel from the runs list, of two more runs.
    let mut two = Vec::new();
    for _ in 0..2 {
        let (_, answer) = server.send(
            "POST",
            "/api/workflows/slow/runs",
            Some(&token),
            Some(json!({})),
        );
        let id = answer["runId"].as_str().unwrap().to_string();
        server.wait_for(&token, &id, |r| r["run"]["status"] == "running");
        two.push(id);
    }
    b.open(&server.url("/runs"));
    for id in &two {
        b.click(&b.find(&format!("tr[data-run='{id}'] input[type=checkbox]")));
    }
    b.click(&b.find(".filters button"));
    b.wait("the answer", SECONDS, "return document.querySelector('.notice.info')?.innerText.includes('Asked 2 run(s) to cancel')");
    for id in &two {
        server.wait_for(&token, id, |r| r["run"]["status"] == "cancelled");
    }
    // A page at a time, newest first, "Load more" for the next, until the last: the two
    // runs cancelled together, then the one cancelled before them.
    b.open(&server.url("/runs?status=cancelled&limit=1"));
    b.wait("the first page", SECONDS, &format!(
        "return document.querySelectorAll('tr[data-run]').length === 1 && document.querySelector(\"tr[data-run='{}']\")", two[1]));
    b.click(&b.find("#load-more"));
    b.wait("both cancelled", SECONDS, &format!(
        "return document.querySelectorAll('tr[data-run]').length === 2 && document.querySelector(\"tr[data-run='{}']\")", two[0]));
    b.click(&b.find("#load-more"));
    b.wait("the last page", SECONDS, &format!(
        "return document.querySelectorAll('tr[data-run]').length === 3 && document.querySelector(\"tr[data-run='{slow}']\") && !document.querySelector('#load-more')"));
    server.send(
        "POST",
        &format!("/api/runs/{slow}/cancel"),
        Some(&token),
        None,
    );

    b.open(&server.url("/workflows/paid"));
    b.click(&b.find("button[type=submit]"));
    let message = b.wait(
        "the 402 message",
        SECONDS,
        "return document.querySelector('.notice.error')?.innerText",
    );
    let message = message.as_str().unwrap();
    assert!(message.contains("Not enough credits"), "{message}");
    assert!(
        message.contains("up to 5 credits") && message.contains("balance is 3 credits"),
        "{message}"
    );
    assert!(!message.contains('{'), "JSON shown: {message}");
    assert_eq!(path(b), "/workflows/paid");
    b.screenshot("workflow-402");
    no_console_errors(
        b,
        &[
            "/api/session - Failed to load resource",
            "/runs - Failed to load resource: the server responded with a status of 402",
        ],
    );
}

const BROKEN: &str =
    "name: three-steps\nversion: 2\nsteps:\n  first: { uses: core/echo, bogus: 1 }\n";
const FIXED: &str = "name: three-steps\nversion: 2\nsteps:\n  first: { uses: core/echo }\n";

#[test]
fn the_yaml_editor_marks_the_bad_line_and_saves_only_valid_text() {
    let Some(setup) = setup("console_browser::yaml_editor", &[]) else {
        return;
    };
    let (server, b) = (&setup.server, &setup.browser);
    sign_in(&setup, ADMIN);
    b.open(&server.url("/workflows"));
    b.wait(
        "the workflows",
        SECONDS,
        "return document.querySelector('main table')?.innerText.includes('three-steps.yaml')",
    );
    b.screenshot("workflows");
    // A user's page tells the admin so, without signing them out.
    b.open(&server.url("/runs"));
    b.wait(
        "the note",
        SECONDS,
        "return document.querySelector('main h1')?.innerText === 'For users'",
    );
    b.open(&server.url("/workflows/three-steps/edit"));
    b.wait(
        "valid",
        SECONDS,
        "return document.querySelector('.validity')?.innerText.includes('Valid')",
    );
    let editor = b.find("#yaml");
    b.clear(&editor);
    b.type_into(&editor, BROKEN);
    let marked = b.wait(
        "the marked line",
        SECONDS,
        "return document.querySelector('.gutter .bad')?.innerText",
    );
    assert_eq!(marked, "4");
    assert!(
        b.text("#problems").contains("TP002"),
        "{}",
        b.text("#problems")
    );
    assert!(b.text("#problems").contains("line 4:"));
    assert_eq!(
        b.run(
            "return document.querySelector('.actions button').disabled",
            json!([])
        ),
        true,
        "invalid text can be saved"
    );
    b.screenshot("editor-invalid");

    b.clear(&editor);
    b.type_into(&editor, FIXED);
    b.wait("valid again", SECONDS, "return document.querySelector('.validity')?.innerText.includes('Valid') && !document.querySelector('.actions button').disabled");
    assert_eq!(
        b.run(
            "return document.querySelectorAll('.gutter .bad').length",
            json!([])
        ),
        0
    );
    b.click(&b.find(".actions button"));
    b.wait(
        "saved",
        SECONDS,
        "return document.querySelector('.notice.info')?.innerText.includes('Saved')",
    );
    let on_disk =
        std::fs::read_to_string(setup._dir.path().join("workflows/three-steps.yaml")).unwrap();
    assert_eq!(on_disk, FIXED);
    b.screenshot("editor-saved");
    no_console_errors(
        b,
        &[
            "/api/session - Failed to load resource",
            "/api/runs?limit=50 - Failed to load resource: the server responded with a status of 401",
        ],
    );
}

#[test]
fn what_users_typed_is_shown_as_text_and_others_runs_are_not_found() {
    let Some(setup) = setup("console_browser::text_and_not_found", &[]) else {
        return;
    };
    let (server, b) = (&setup.server, &setup.browser);
    let ada = server.user("ada", 10);
    let bo = server.user("bo", 10);
    let name = "<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>";
    let (_, product) = server.send(
        "POST",
        "/api/products",
        Some(&ada),
        Some(json!({ "name": name })),
    );
    let product = product["id"].as_str().unwrap().to_string();
    let (_, answer) = server.send(
        "POST",
        "/api/workflows/three-steps/runs",
        Some(&bo),
        Some(json!({})),
    );
    let theirs = answer["runId"].as_str().unwrap().to_string();

    sign_in(&setup, &ada);
    b.open(&server.url(&format!("/products/{product}")));
    let heading = b.wait(
        "the product",
        SECONDS,
        "return document.querySelector('#product-name')?.innerText",
    );
    assert_eq!(heading, name);
    b.open(&server.url("/products"));
    b.wait(
        "the products list",
        SECONDS,
        "return document.querySelector('main table')?.innerText.includes('onerror')",
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.run("return [window.pwned ?? null, document.querySelectorAll('main img[src=x], main script').length]", json!([])), json!([null, 0]));
    b.screenshot("products-text");

    b.open(&server.url(&format!("/runs/{theirs}")));
    let heading = b.wait(
        "the page",
        SECONDS,
        "return document.querySelector('main h1')?.innerText",
    );
    assert_eq!(heading, "Not found");
    assert!(b.text("main").contains(&theirs));
    b.screenshot("run-not-found");
}

#[test]
fn a_thousand_step_run_renders_every_state() {
    let Some(setup) = setup("console_browser::fanout", &["bench/fanout-1000.yaml"]) else {
        return;
    };
    let (server, b) = (&setup.server, &setup.browser);
    let token = server.user("ada", 0);
    let (_, answer) = server.send(
        "POST",
        "/api/workflows/bench-fanout-1000/runs",
        Some(&token),
        Some(json!({})),
    );
    let run = answer["runId"].as_str().unwrap().to_string();
    let report = server.wait_finished(&token, &run);
    assert_eq!(report["run"]["status"], "succeeded");
    sign_in(&setup, &token);
    let mut times = Vec::new();
    for _ in 0..3 {
        b.open(&server.url(&format!("/runs/{run}")));
        let rendered: Value = b.wait(
            "the graph",
            Duration::from_secs(30),
            "return document.body.dataset.rendered",
        );
        let ms: f64 = rendered.as_str().unwrap().parse().unwrap();
        assert_eq!(
            b.run(
                "return document.querySelectorAll('.dag .node.s-succeeded').length",
                json!([])
            ),
            1002
        );
        b.run("delete document.body.dataset.rendered", json!([]));
        times.push(ms);
    }
    b.screenshot("run-fanout-1000");
    println!(
        "1000-step run page, navigation start to the graph drawn with every state: {times:?} ms"
    );
    // The time is a figure for BENCHMARKS.md, not an assertion: a test that times itself fails
    // on a loaded machine for reasons that are not the page's.
}

#[test]
fn a_tech_pack_fills_in_live_and_a_callout_marks_its_row() {
    let Some(setup) = setup("console_browser::tech_pack", &["tech-pack-v2.yaml"]) else {
        return;
    };
    let (server, b) = (&setup.server, &setup.browser);
    // The pipeline held back four seconds before its first step, so the page is open before
    // any section can exist.
    let file = setup._dir.path().join("workflows/tech-pack-v2.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    let held = original.replace(
        "steps:\n  detect:\n    uses: techpack/detect-category\n",
        "steps:\n  hold:\n    uses: core/sleep\n    with: { ms: 4000 }\n  detect:\n    uses: techpack/detect-category\n    needs: hold\n",
    );
    assert_ne!(held, original, "the tech-pack workflow's first step moved");
    std::fs::write(&file, held).unwrap();
    let steps = original.matches("\n    uses: ").count() as u64 + 1;
    server.wait_for_workflow_steps("tech-pack-v2", steps);
    let token = server.user("ada", 100);
    sign_in(&setup, &token);

    // Started from the workflow's form: a product name and a photo per view, uploaded when
    // the run starts.
    b.open(&server.url("/workflows/tech-pack-v2"));
    let name = b.find("#in-images");
    b.type_into(&name, "tote");
    let photo = std::fs::canonicalize("workflows/samples/sample-product.png").unwrap();
    b.type_into(&b.find("#in-images-front"), photo.to_str().unwrap());
    let path_input = b.run(
        "return document.querySelector('#in-out').disabled",
        json!([]),
    );
    assert_eq!(path_input, true, "a server path is offered to a user");
    let close_ups = b.find("#in-close_ups");
    b.clear(&close_ups);
    b.type_into(&close_ups, "6");
    // A real width, so the points of measure are in mm and reach the tech pack's POM table.
    b.type_into(&b.find("#in-width_mm"), "380");
    b.screenshot("workflow-tech-pack-form");
    b.click(&b.find("button[type=submit]"));
    b.wait(
        "the run page",
        SECONDS,
        "return /^\\/runs\\/[0-9a-f-]{36}$/.test(location.pathname)",
    );
    let (_, products) = server.send("GET", "/api/products", Some(&token), None);
    let product = products["products"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(products["products"][0]["name"], "tote");
    b.open(&server.url(&format!("/products/{product}")));
    // The page follows the product's run while it goes, and shows its end without a reload.
    b.wait(
        "the live run",
        SECONDS,
        "return document.querySelector('main p[role=status]')?.innerText.includes('Live: run')",
    );
    b.run("window.stillTheSamePage = true", json!([]));
    let mut counts = Vec::new();
    let ended = std::time::Instant::now();
    while !b.text("main p[role=status]").contains("The run ended") {
        counts.push(
            b.run(
                "return document.querySelectorAll('[data-section]').length",
                json!([]),
            )
            .as_u64()
            .unwrap(),
        );
        assert!(
            ended.elapsed() < Duration::from_secs(120),
            "the run did not end: {}",
            b.text("main")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        b.text("main p[role=status]").contains("succeeded"),
        "{}",
        b.text("main")
    );
    b.wait(
        "the sections",
        SECONDS,
        "return document.querySelectorAll('[data-section]').length === 10",
    );
    // The flats and close-ups the run made are shown (loaded, not broken images).
    b.wait(
        "the flats and close-ups",
        SECONDS,
        "return [...document.querySelectorAll('[data-section=flats] img, [data-section=close_ups] img')].filter(i => i.complete && i.naturalWidth > 0).length >= 7",
    );
    // Each flat is drawn as it prints: numbered callouts and dimension lines beside it.
    let flat = b.run(
        "const img = document.querySelector('[data-section=flats] img'); return fetch(img.src).then(r => r.text()).then(t => [img.getAttribute('src'), t])",
        json!([]),
    );
    let (src, svg) = (flat[0].as_str().unwrap(), flat[1].as_str().unwrap());
    assert!(src.contains("/tech-pack/flats/front.svg"), "{src}");
    assert!(svg.contains(r#"<g class="callouts""#), "{svg:.300}");
    assert!(svg.contains(" mm</text>"), "a dimension in mm: {svg:.300}");
    assert_eq!(
        b.run("return window.stillTheSamePage === true", json!([])),
        true
    );
    println!("sections seen while the run went: {counts:?}");
    assert_eq!(
        counts.first(),
        Some(&0),
        "sections before the first step finished"
    );
    assert!(
        counts.contains(&10),
        "the sections appeared while the run was still going: {counts:?}"
    );
    assert_eq!(b.text("#product-name"), "tote");
    b.screenshot("product-tech-pack");
    b.run(
        "document.querySelector('[data-section=flats]').scrollIntoView()",
        json!([]),
    );
    b.screenshot("product-flats");
    let callout = b.find("tr[data-kind=callout][data-pom=W]");
    b.click(&callout);
    let marked = b.run("return [...document.querySelectorAll('tr.marked')].map(r => r.dataset.kind + ':' + (r.dataset.ref || r.dataset.pom))", json!([]));
    assert_eq!(
        marked,
        json!(["pom:W", "callout:W"]),
        "clicking a callout marks its POM row"
    );
    // And back: the POM row marks its callouts.
    b.click(&b.find("tr[data-kind=pom][data-ref=H]"));
    let marked = b.run("return [...document.querySelectorAll('tr.marked')].map(r => r.dataset.kind + ':' + (r.dataset.ref || r.dataset.pom))", json!([]));
    assert_eq!(marked, json!(["pom:H", "callout:H"]));
    b.screenshot("product-callout");
    // Before the first step finished, the product had no tech pack yet (404).
    no_console_errors(
        b,
        &[
            "/api/session - Failed to load resource",
            "/tech-pack - Failed to load resource: the server responded with a status of 404",
        ],
    );
}

/// Signs `user` in on the page of a product whose front photo was analysed, with one credit
/// left (the analysis costs 3 of 4): enough for one edit or one regeneration. Their token.
fn product_page_with_one_credit_left(setup: &Setup, user: &str) -> String {
    let (server, b) = (&setup.server, &setup.browser);
    let token = server.user(user, 4);
    let (product, revision) = server.product_with_photo(&token);
    let (status, analysis) = server.send(
        "POST",
        "/api/tech-pack-v2/base-views/analyze",
        Some(&token),
        Some(json!({ "productId": product, "revisionIds": [revision] })),
    );
    assert_eq!(status, reqwest::StatusCode::OK, "{analysis}");
    assert_eq!(server.balance(&token), 1);
    sign_in(setup, &token);
    b.open(&server.url(&format!("/products/{product}")));
    b.wait(
        "the balance",
        SECONDS,
        "return document.querySelector('#balance')?.innerText.includes('balance: 1 credit.')",
    );
    token
}

#[test]
fn a_tech_pack_field_is_edited_in_place_for_a_credit_and_shows_in_the_history() {
    let Some(setup) = setup("console_browser::edit_field", &[]) else {
        return;
    };
    let (server, b) = (&setup.server, &setup.browser);
    let token = product_page_with_one_credit_left(&setup, "ada");
    let path = "points_of_measure.0.name";
    let edit = b.find(&format!("button.edit-field[data-path='{path}']"));
    b.click(&edit);
    let field = b.find("form.cell-edit input");
    b.clear(&field);
    b.type_into(&field, "waxed <i>canvas</i>");
    b.screenshot("product-edit-field");
    b.click(&b.find("form.cell-edit button[type=submit]"));
    // The new value in its table, the edit in the history, the balance one credit lower.
    b.wait(
        "the new value",
        SECONDS,
        "return document.querySelector('[data-section=points_of_measure] tbody tr')?.innerText.includes('waxed <i>canvas</i>')",
    );
    b.wait(
        "the history entry",
        SECONDS,
        "return document.querySelectorAll('table.edits tr.edit').length === 1",
    );
    let entry = b.text("table.edits tr.edit");
    assert!(
        entry.contains("/points_of_measure/0/name")
            && entry.contains("waxed <i>canvas</i>")
            && entry.contains("given"),
        "{entry}"
    );
    b.wait(
        "the balance after",
        SECONDS,
        "return document.querySelector('#balance')?.innerText.includes('balance: 0 credits.')",
    );
    assert_eq!(server.balance(&token), 0);
    assert_eq!(
        b.run(
            "return document.querySelectorAll('#tech-pack i').length",
            json!([])
        ),
        0,
        "the value was read as HTML"
    );
    b.screenshot("product-history");

    // Another edit with nothing left: the 402 says the price and the balance.
    b.click(&b.find(&format!("button.edit-field[data-path='{path}']")));
    let field = b.find("form.cell-edit input");
    b.clear(&field);
    b.type_into(&field, "denim");
    b.click(&b.find("form.cell-edit button[type=submit]"));
    let refused = b.wait(
        "the refusal",
        SECONDS,
        "return document.querySelector('#product-message [role=alert]')?.innerText",
    );
    assert!(
        refused
            .as_str()
            .unwrap()
            .contains("it costs 1 credit and your balance is 0 credits"),
        "{refused}"
    );
    assert_eq!(
        b.run(
            "return document.querySelectorAll('table.edits tr.edit').length",
            json!([])
        ),
        1
    );
    no_console_errors(
        b,
        &["/api/session - Failed to load resource", "status of 402"],
    );
}

#[test]
fn a_view_is_regenerated_from_the_product_page_for_a_credit_and_shows_as_a_revision() {
    let Some(setup) = setup("console_browser::regenerate_view", &[]) else {
        return;
    };
    let (server, b) = (&setup.server, &setup.browser);
    let token = product_page_with_one_credit_left(&setup, "grace");
    let prompt = b.find("#regen-prompt");
    b.type_into(&prompt, "brighter <b>strap</b>");
    b.click(&b.find("form.regenerate button[type=submit]"));
    let done = b.wait(
        "the regeneration",
        SECONDS,
        "return document.querySelector('#product-message')?.innerText.includes('Regenerated the front view') && document.querySelector('#product-message').innerText",
    );
    assert!(
        done.as_str().unwrap().contains("1 credit charged"),
        "{done}"
    );
    // The new photo revision is listed (the prompt as text) and is the current one.
    b.wait(
        "the new revision",
        SECONDS,
        "return [...document.querySelectorAll('#history tr')].some((r) => r.innerText.includes('v2') && r.innerText.includes('regenerated: brighter <b>strap</b>') && r.innerText.includes('yes'))",
    );
    b.wait(
        "the balance after",
        SECONDS,
        "return document.querySelector('#balance')?.innerText.includes('balance: 0 credits.')",
    );
    assert_eq!(server.balance(&token), 0);
    assert_eq!(
        b.run(
            "return document.querySelectorAll('#history b').length",
            json!([])
        ),
        0,
        "the prompt was read as HTML"
    );
    // Every export downloads with the session, as the files a factory uses.
    let downloads = b.run(
        "return [...document.querySelectorAll('p.downloads a')].map((a) => { const x = new XMLHttpRequest(); x.open('GET', a.href, false); x.send(); return `${a.getAttribute('download')} ${x.status} ${x.getResponseHeader('content-type')}`; })",
        json!([]),
    );
    assert_eq!(
        downloads,
        json!([
            "techpack.json 200 application/json",
            "index.html 200 text/html; charset=utf-8",
            "techpack.pdf 200 application/pdf",
            "techpack.xlsx 200 application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "bom.csv 200 text/csv; charset=utf-8",
            "points-of-measure.csv 200 text/csv; charset=utf-8",
        ])
    );
    b.screenshot("product-regenerated");
    no_console_errors(b, &["/api/session - Failed to load resource"]);
}
