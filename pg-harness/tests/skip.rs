//! Without the binaries (`TECHPACK_PG_BINDIR=/nonexistent`): a loud skip, or with
//! `TECHPACK_REQUIRE_POSTGRES=1` a failure. Runs this test binary again as the child.

use std::process::Command;

const CHILD: &str = "TECHPACK_PG_HARNESS_SKIP_CHILD";

/// The child: does nothing unless run by `missing_binaries_skip_loudly_or_fail`.
#[test]
fn child() {
    if std::env::var_os(CHILD).is_some() {
        assert!(techpack_pg_harness::server().is_none());
    }
}

fn run_child(require: bool) -> (bool, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--test-threads=1"])
        .env(CHILD, "1")
        .env("TECHPACK_PG_BINDIR", "/nonexistent");
    if require {
        cmd.env("TECHPACK_REQUIRE_POSTGRES", "1");
    } else {
        cmd.env_remove("TECHPACK_REQUIRE_POSTGRES");
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn missing_binaries_skip_loudly_or_fail() {
    let (ok, text) = run_child(false);
    assert!(ok, "{text}");
    assert!(
        text.contains("=== SKIPPED: PostgreSQL tests need initdb/pg_ctl"),
        "{text}"
    );

    let (ok, text) = run_child(true);
    assert!(!ok, "{text}");
    assert!(
        text.contains("TECHPACK_REQUIRE_POSTGRES=1, but PostgreSQL's initdb/pg_ctl were not found"),
        "{text}"
    );
}
