//! Crash test: the real `techpack` binary is killed with SIGKILL in the middle of a run, then
//! `techpack runs resume` finishes it. Asserted from the store and from a side-effect log.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use techpack_engine::{NodeStatus, RunStatus, SledStore, StateStore};

fn techpack(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_techpack"));
    command
        .env("TECHPACK_DATA_DIR", data_dir)
        .stdin(Stdio::null());
    command
}

/// `(step, attempt)` of every `start`/`end` line in the side-effect log.
fn log_lines(log: &Path, event: &str) -> Vec<(String, u32)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            (parts.next()? == event).then_some(())?;
            let step = parts.next()?.split('/').nth(1)?.to_string();
            let attempt = parts.next()?.strip_prefix("attempt=")?.parse().ok()?;
            Some((step, attempt))
        })
        .collect()
}

#[test]
fn a_run_killed_mid_flight_resumes_without_rerunning_finished_steps() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("side-effects.log");
    let workflow = dir.path().join("slow.yaml");
    let mut yaml = String::from("name: slow\nsteps:\n");
    let step = |id: &str, needs: &str, ms: u32| {
        format!(
            "  {id}:\n    uses: core/sleep\n    needs: [{needs}]\n    with: {{ ms: {ms}, log: \"{}\" }}\n",
            log.display()
        )
    };
    yaml += &step("s1", "", 200);
    for i in 2..=6 {
        yaml += &step(&format!("s{i}"), &format!("s{}", i - 1), 300);
    }
    yaml += &step("side", "s1", 900);
    std::fs::write(&workflow, yaml).unwrap();

    let mut child = techpack(&data)
        .args(["run", workflow.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_lines(&log, "end").iter().any(|(s, _)| s == "s3") {
        assert!(Instant::now() < deadline, "the run made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "techpack exited before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // What the crash left: a running run, some steps finished, at least one interrupted.
    let finished_before: Vec<String> = {
        let store = SledStore::open(&data).unwrap();
        let run = store.runs().unwrap().remove(0);
        assert_eq!(run.status, RunStatus::Running);
        let nodes = store.nodes(&run.id).unwrap();
        assert!(
            nodes.iter().any(|n| n.status == NodeStatus::Running),
            "{nodes:?}"
        );
        nodes
            .into_iter()
            .filter(|n| n.status == NodeStatus::Succeeded)
            .map(|n| n.step_id)
            .collect()
    };
    assert!(finished_before.len() >= 2, "{finished_before:?}");
    assert!(finished_before.iter().all(|s| s != "s6"));

    let output = techpack(&data).args(["runs", "resume"]).output().unwrap();
    assert!(
        output.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let store = SledStore::open(&data).unwrap();
    let run = store.runs().unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.resumes, 1);
    let nodes: HashMap<String, _> = store
        .nodes(&run.id)
        .unwrap()
        .into_iter()
        .map(|n| (n.step_id.clone(), n))
        .collect();
    assert_eq!(nodes.len(), 7);
    let starts = log_lines(&log, "start");
    let ends = log_lines(&log, "end");
    for (id, node) in &nodes {
        assert_eq!(node.status, NodeStatus::Succeeded, "{id}");
        assert_eq!(node.idempotency_key, format!("{}/{id}", run.id));
        let started = starts.iter().filter(|(s, _)| s == id).count();
        if finished_before.contains(id) {
            assert_eq!(started, 1, "`{id}` finished before the crash but ran again");
            assert_eq!(node.attempt, 1);
        } else {
            assert!(started >= 1, "`{id}` never ran");
        }
        // The attempt the store kept is the one whose end was observed last.
        let last_end = ends.iter().filter(|(s, _)| s == id).map(|(_, a)| *a).max();
        assert_eq!(last_end, Some(node.attempt), "`{id}`");
    }
    let rerun: Vec<_> = nodes.values().filter(|n| n.attempt == 2).collect();
    assert!(
        !rerun.is_empty(),
        "the interrupted step was not run again with a new attempt"
    );
}
