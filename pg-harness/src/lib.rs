//! A throw-away PostgreSQL server for tests and benchmarks, started with PostgreSQL's own
//! command-line tools (`initdb`, `pg_ctl`, `psql`): no database client crate, no Docker.
//!
//! Test support only: a dev-dependency, never part of the production binary.
//!
//! ```no_run
//! let Some(pg) = techpack_pg_harness::server() else { return }; // skipped, loudly
//! let url = pg.database(); // postgresql://techpack@127.0.0.1:PORT/techpack_test_N, fresh
//! pg.psql(&url, "CREATE TABLE t (id int)");
//! assert_eq!(pg.psql(&url, "SELECT count(*) FROM t"), "0");
//! ```
//!
//! # API
//! - [`server`]: the server shared by every test of the test process, started on first use
//!   (fast and not crash-safe: `fsync=off`, `synchronous_commit=off`, `full_page_writes=off`).
//!   `None` when the PostgreSQL binaries are not installed: a loud `=== SKIPPED ... ===` line
//!   goes to stderr (past the test harness's capture) and the test should return early.
//!   With `TECHPACK_REQUIRE_POSTGRES=1` (set in CI) a missing install is a panic instead.
//!   Binaries that exist but fail to start a server are always a panic, with `initdb`'s or
//!   `pg_ctl`'s output and the server log.
//! - [`start_durable`]: an owned server with `fsync`, `synchronous_commit` and
//!   `full_page_writes` on, for benchmarks; stopped (and its files removed) when dropped.
//!   Panics when the binaries are missing; check [`available`] first to skip.
//! - [`PgServer::database`] creates a fresh, uniquely named database and returns its URL;
//!   [`PgServer::url`] is the URL of a database by name, [`PgServer::port`] the TCP port,
//!   and [`PgServer::psql`] runs SQL with `psql -At` and returns what it printed.
//!
//! Every server listens on `127.0.0.1` on a free port (and on a unix socket in its temporary
//! directory), has `max_connections=200`, trust authentication and the superuser `techpack`
//! (no password).
//!
//! # Where the binaries come from
//! `TECHPACK_PG_BINDIR`, when set, is the only directory looked in (set it to a directory
//! without PostgreSQL, e.g. `/nonexistent`, to see what a machine without it does).
//! Otherwise: `pg_config --bindir`, then `/usr/lib/postgresql/*/bin` (Debian's layout; the
//! newest version first), then each directory of `PATH`. The first one holding both `initdb`
//! and `pg_ctl` wins; `psql` is taken from there too, or else from `PATH`.
//!
//! # Running as root
//! `initdb` and `postgres` refuse to run as root. When `id -u` says 0, the server's commands
//! run as the `postgres` user (`runuser -u postgres --`, else `setpriv`, else `su`) and the
//! temporary directory is given to that user; otherwise they run as the current user.
//!
//! # Cleanup
//! The shared server lives in a static, whose `Drop` never runs. So each server gets a small
//! watchdog (`sh -c` loop, in its own process group so Ctrl-C does not kill it first) that
//! checks every second whether the test process is still alive (`kill -0`); once it is gone,
//! it runs `pg_ctl stop -m immediate` and removes the temporary directory. A dropped
//! [`start_durable`] server stops at once (`pg_ctl stop -m fast`) and its watchdog exits.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The superuser `initdb` creates; every URL connects as it.
pub const USER: &str = "techpack";

/// How long a server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The stderr line printed when the binaries are missing and the tests skip.
const SKIP_NOTICE: &str = "=== SKIPPED: PostgreSQL tests need initdb/pg_ctl (apt-get install postgresql); set TECHPACK_REQUIRE_POSTGRES=1 to make this a failure ===";

/// A running PostgreSQL server in a temporary directory.
///
/// The shared one from [`server`] is stopped by its watchdog when the test process exits;
/// an owned one from [`start_durable`] is stopped when dropped.
pub struct PgServer {
    port: u16,
    data: PathBuf,
    tools: Tools,
    runner: Runner,
    next_db: AtomicU32,
    // Last: removed only after `Drop::drop` has stopped the server.
    dir: tempfile::TempDir,
}

/// The server shared by all tests of this process, started on the first call.
///
/// `None` (after a loud notice on stderr) when the PostgreSQL binaries are not installed and
/// `TECHPACK_REQUIRE_POSTGRES` is not `1`; the test should then return early.
///
/// # Panics
/// When the binaries are missing and `TECHPACK_REQUIRE_POSTGRES=1`, and when they exist but
/// the server does not start (with `initdb`'s or `pg_ctl`'s output). Every later call panics
/// with the same message, without trying again.
pub fn server() -> Option<&'static PgServer> {
    static SHARED: OnceLock<Result<Option<PgServer>, String>> = OnceLock::new();
    match SHARED.get_or_init(start_shared) {
        Ok(server) => server.as_ref(),
        Err(message) => panic!("{message}"),
    }
}

/// Whether the PostgreSQL binaries were found (nothing is started): for a benchmark that
/// wants to skip instead of calling [`start_durable`].
pub fn available() -> bool {
    find_bindir().is_ok()
}

/// Starts a server of your own with the durable settings (`fsync`, `synchronous_commit`,
/// `full_page_writes` on): for benchmarks. Stopped, and its files removed, when dropped.
///
/// # Panics
/// When the binaries are missing (see [`available`]) or the server does not start.
pub fn start_durable() -> PgServer {
    let bindir = find_bindir().unwrap_or_else(|looked| {
        panic!("techpack-pg-harness: PostgreSQL's initdb/pg_ctl not found (looked in {looked}); install Debian's postgresql package")
    });
    PgServer::start(&bindir, Settings::Durable).unwrap_or_else(|e| {
        panic!(
            "techpack-pg-harness: the PostgreSQL binaries in {} did not start a server:\n{e}",
            bindir.display()
        )
    })
}

fn start_shared() -> Result<Option<PgServer>, String> {
    let bindir = match find_bindir() {
        Ok(bindir) => bindir,
        Err(looked) if required() => {
            return Err(format!(
                "techpack-pg-harness: TECHPACK_REQUIRE_POSTGRES=1, but PostgreSQL's initdb/pg_ctl were not found \
                 (looked in {looked}); install Debian's postgresql package (apt-get install postgresql)"
            ));
        }
        Err(_) => {
            // Straight to the stream: the test harness captures `eprintln!`, not this.
            let _ = writeln!(std::io::stderr(), "\n{SKIP_NOTICE}\n");
            return Ok(None);
        }
    };
    PgServer::start(&bindir, Settings::Fast).map(Some).map_err(|e| {
        format!(
            "techpack-pg-harness: the PostgreSQL binaries in {} did not start the test server:\n{e}",
            bindir.display()
        )
    })
}

fn required() -> bool {
    std::env::var("TECHPACK_REQUIRE_POSTGRES")
        .is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "no"))
}

#[derive(Clone, Copy)]
enum Settings {
    /// Tests: nothing is synced; a crash of the machine may lose the data, which is thrown
    /// away anyway.
    Fast,
    /// Benchmarks: PostgreSQL's defaults for durability, said explicitly.
    Durable,
}

impl PgServer {
    fn start(bindir: &Path, settings: Settings) -> Result<PgServer, String> {
        let tools = Tools::new(bindir);
        let runner = Runner::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("techpack-pg-")
            .tempdir_in(temp_base())
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let data = dir.path().join("data");
        let server = PgServer {
            port: 0,
            data,
            tools,
            runner,
            next_db: AtomicU32::new(0),
            dir,
        };
        // From here on, `server` going out of scope (an error below) stops whatever started.
        if let Runner::As { user, .. } = &server.runner {
            let out = run(Command::new("chown").arg(user).arg(server.dir.path()))?;
            check("chown", &out)?;
        }
        server.spawn_watchdog()?;
        server.start_in_dir(settings)
    }

    fn start_in_dir(mut self, settings: Settings) -> Result<PgServer, String> {
        let data = path_str(&self.data)?;
        let initdb = [
            path_str(&self.tools.initdb)?,
            "-D",
            data,
            "-U",
            USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ];
        let out = run(&mut self.runner.command(&initdb, self.dir.path()))?;
        check("initdb", &out)?;

        let on_off = match settings {
            Settings::Fast => "off",
            Settings::Durable => "on",
        };
        let socket_dir = path_str(self.dir.path())?.replace('\'', "''");
        let conf = format!(
            "\n# techpack-pg-harness\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{socket_dir}'\n\
             max_connections = 200\n\
             fsync = {on_off}\n\
             synchronous_commit = {on_off}\n\
             full_page_writes = {on_off}\n"
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("postgresql.conf"))
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(|e| format!("cannot write postgresql.conf: {e}"))?;

        // The port is free when picked, but another process may take it before the server
        // binds it: then try another.
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.port = free_port()?;
            let out = self.pg_ctl_start()?;
            if out.status.success() {
                break;
            }
            // A timed-out start may have left a postmaster behind.
            self.stop("immediate");
            let server_log = self.server_log();
            let port_taken = ["could not bind", "Address already in use"]
                .iter()
                .any(|s| server_log.contains(s));
            if !(port_taken && attempt < 5) {
                return Err(format!(
                    "{}\n--- server log ---\n{server_log}",
                    describe("pg_ctl start", &out)
                ));
            }
        }
        self.wait_ready()?;
        Ok(self)
    }

    /// `pg_ctl start` on this server's data directory and port, waiting for it.
    fn pg_ctl_start(&self) -> Result<std::process::Output, String> {
        let options = format!("-p {}", self.port);
        let timeout = READY_TIMEOUT.as_secs().to_string();
        let log = self.log_path();
        let pg_ctl = [
            path_str(&self.tools.pg_ctl)?,
            "-D",
            path_str(&self.data)?,
            "-l",
            path_str(&log)?,
            "-o",
            &options,
            "-w",
            "-t",
            &timeout,
            "start",
        ];
        run(&mut self.runner.command(&pg_ctl, self.dir.path()))
    }

    /// Crashes the server (`pg_ctl stop -m immediate`: every process exits at once, without a
    /// checkpoint or writing out its WAL buffers) and starts it again on the same port, which
    /// replays the WAL on disk. What a commit left only in memory is gone; what was flushed
    /// survives. Clients must reconnect.
    ///
    /// # Panics
    /// When the server does not start again.
    pub fn crash_and_restart(&self) {
        self.stop("immediate");
        let restart = || -> Result<(), String> {
            check("pg_ctl start", &self.pg_ctl_start()?)?;
            self.wait_ready()
        };
        if let Err(e) = restart() {
            panic!(
                "techpack-pg-harness: the server did not start again after a crash: {e}\n--- server log ---\n{}",
                self.server_log()
            );
        }
    }

    /// Retries a trivial query until the server answers over TCP, for [`READY_TIMEOUT`].
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.try_psql(&self.url("postgres"), "SELECT 1") {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "the server did not accept connections within {READY_TIMEOUT:?}: {e}\n--- server log ---\n{}",
                        self.server_log()
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgresql://techpack@127.0.0.1:PORT/DB`. `postgres` is the database that always
    /// exists; [`PgServer::database`] makes fresh ones.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database with a name not used before on this server and returns
    /// its URL (see [`PgServer::url`]). Panics if `CREATE DATABASE` fails.
    pub fn database(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("techpack_test_{n}");
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs `sql` with `psql -X -At -v ON_ERROR_STOP=1 -c` against `db` (a URL, or the name
    /// of a database on this server) and returns what it printed, without the final newline:
    /// one row per line, columns separated by `|`. Several statements separated by `;` run
    /// in one transaction.
    ///
    /// # Panics
    /// When psql fails (an SQL error, the server unreachable), with psql's stderr.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let url = if db.contains("://") {
            db.to_owned()
        } else {
            self.url(db)
        };
        self.try_psql(&url, sql).unwrap_or_else(|e| {
            panic!("techpack-pg-harness: psql on {url} failed for `{sql}`:\n{e}")
        })
    }

    fn try_psql(&self, url: &str, sql: &str) -> Result<String, String> {
        let mut cmd = Command::new(&self.tools.psql);
        cmd.args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "10");
        let out = run(&mut cmd)?;
        check("psql", &out)?;
        let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if stdout.ends_with('\n') {
            stdout.pop();
        }
        Ok(stdout)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// The `pg_ctl stop` command line, as the user that runs the server.
    fn stop_argv(&self, mode: &str) -> Result<Vec<String>, String> {
        let argv = [
            path_str(&self.tools.pg_ctl)?,
            "-D",
            path_str(&self.data)?,
            "-m",
            mode,
            "-w",
            "-s",
            "stop",
        ];
        Ok(self.runner.argv(&argv))
    }

    /// Best effort: there may be no server to stop.
    fn stop(&self, mode: &str) {
        if !self.data.join("postmaster.pid").exists() {
            return;
        }
        if let Ok(argv) = self.stop_argv(mode) {
            let _ = Command::new(&argv[0])
                .args(&argv[1..])
                .current_dir(self.dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Starts the `sh` loop that stops the server and removes its directory once this
    /// process is gone (or returns when the directory is removed first, by `Drop`). Run in
    /// the background of a shell that exits at once, so it is no child of ours to reap.
    fn spawn_watchdog(&self) -> Result<(), String> {
        let dir = sh_quote(path_str(self.dir.path())?);
        let stop = self
            .stop_argv("immediate")?
            .iter()
            .map(|a| sh_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let pid = std::process::id();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null && [ -d {dir} ]; do sleep 1; done; \
             if [ -d {dir} ]; then {stop}; rm -rf {dir}; fi"
        );
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("( {script} ) </dev/null >/dev/null 2>&1 &"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .status()
            .map_err(|e| format!("cannot run sh for the watchdog: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the watchdog's sh exited with {status}"))
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop("fast");
        // Then `dir` is dropped, which removes the files; the watchdog sees it and exits.
    }
}

/// Where the binaries are.
struct Tools {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    psql: PathBuf,
}

impl Tools {
    fn new(bindir: &Path) -> Tools {
        let psql = bindir.join("psql");
        Tools {
            initdb: bindir.join("initdb"),
            pg_ctl: bindir.join("pg_ctl"),
            psql: if psql.is_file() {
                psql
            } else {
                PathBuf::from("psql")
            },
        }
    }
}

fn has_server_tools(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// The directory with `initdb` and `pg_ctl`, or where it looked.
fn find_bindir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("TECHPACK_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return if has_server_tools(&dir) {
            Ok(dir)
        } else {
            Err(format!("TECHPACK_PG_BINDIR={}", dir.display()))
        };
    }
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        && out.status.success()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !dir.is_empty() {
            candidates.push(PathBuf::from(dir));
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let version = name.split('.').map(|p| p.parse().unwrap_or(0)).collect();
                (version, e.path().join("bin"))
            })
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        candidates.extend(versions.into_iter().map(|(_, dir)| dir));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .iter()
        .find(|dir| has_server_tools(dir))
        .cloned()
        .ok_or_else(|| "`pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH".to_owned())
}

/// How the server's own commands are run: as we are, or as the `postgres` user when we are
/// root (which `initdb` and `postgres` refuse).
enum Runner {
    Direct,
    As { user: String, wrapper: Wrapper },
}

enum Wrapper {
    Runuser(PathBuf),
    Setpriv(PathBuf),
    Su(PathBuf),
}

impl Runner {
    fn detect() -> Result<Runner, String> {
        let uid = Command::new("id")
            .arg("-u")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        if uid.as_deref() != Some("0") {
            return Ok(Runner::Direct);
        }
        let user = "postgres".to_owned();
        let exists = Command::new("id")
            .arg("-u")
            .arg(&user)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !exists {
            return Err(format!(
                "running as root, which initdb refuses, and there is no `{user}` user to run it as \
                 (Debian's postgresql package creates one; or run the tests as another user)"
            ));
        }
        let wrapper = if let Some(p) = find_program("runuser") {
            Wrapper::Runuser(p)
        } else if let Some(p) = find_program("setpriv") {
            Wrapper::Setpriv(p)
        } else if let Some(p) = find_program("su") {
            Wrapper::Su(p)
        } else {
            return Err(format!(
                "running as root, which initdb refuses, and none of runuser, setpriv, su was found to run it as `{user}`"
            ));
        };
        Ok(Runner::As { user, wrapper })
    }

    /// The command line that runs `cmd` as the server's user.
    fn argv(&self, cmd: &[&str]) -> Vec<String> {
        let cmd = cmd.iter().map(|s| (*s).to_owned());
        match self {
            Runner::Direct => cmd.collect(),
            Runner::As { user, wrapper } => {
                let mut argv = Vec::new();
                match wrapper {
                    Wrapper::Runuser(p) => {
                        argv.extend([p.display().to_string(), "-u".into(), user.clone()]);
                        argv.push("--".into());
                        argv.extend(cmd);
                    }
                    Wrapper::Setpriv(p) => {
                        argv.push(p.display().to_string());
                        argv.push(format!("--reuid={user}"));
                        argv.push(format!("--regid={user}"));
                        argv.extend(["--init-groups".into(), "--".into()]);
                        argv.extend(cmd);
                    }
                    Wrapper::Su(p) => {
                        let line = cmd.map(|a| sh_quote(&a)).collect::<Vec<_>>().join(" ");
                        argv.extend([p.display().to_string(), "-s".into(), "/bin/sh".into()]);
                        argv.extend(["-c".into(), line, user.clone()]);
                    }
                }
                argv
            }
        }
    }

    fn command(&self, cmd: &[&str], cwd: &Path) -> Command {
        let argv = self.argv(cmd);
        let mut command = Command::new(&argv[0]);
        // A directory the server's user can enter (ours may be root's home).
        command.args(&argv[1..]).current_dir(cwd);
        command
    }
}

/// `name` on PATH, or in the usual system directories (PATH may lack the sbin ones).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Runs a command with no stdin and none of the caller's `PG*` variables (`PGHOST`,
/// `PGOPTIONS`, ... would change what psql and the server do), collecting its output.
fn run(cmd: &mut Command) -> Result<Output, String> {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))
}

fn check(what: &str, out: &Output) -> Result<(), String> {
    if out.status.success() {
        Ok(())
    } else {
        Err(describe(what, out))
    }
}

fn describe(what: &str, out: &Output) -> String {
    let mut text = format!("{what} failed ({})", out.status);
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let s = String::from_utf8_lossy(bytes);
        if !s.trim().is_empty() {
            let _ = write!(text, "\n--- {what} {name} ---\n{}", s.trim_end());
        }
    }
    text
}

/// A free TCP port on 127.0.0.1 (free when asked).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot bind 127.0.0.1:0 to pick a port: {e}"))
}

/// The temporary directory, unless it is too long for the server's unix socket path
/// (`DIR/techpack-pg-XXXXXX/.s.PGSQL.PORT` must fit in 107 bytes): then /tmp.
fn temp_base() -> PathBuf {
    let base = std::env::temp_dir();
    if base.as_os_str().len() > 64 {
        PathBuf::from("/tmp")
    } else {
        base
    }
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("path is not UTF-8: {}", path.display()))
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_sh() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn runs_as_postgres_through_each_wrapper() {
        let user = "postgres".to_owned();
        let runuser = Runner::As {
            user: user.clone(),
            wrapper: Wrapper::Runuser("/usr/sbin/runuser".into()),
        };
        assert_eq!(
            runuser.argv(&["initdb", "-D", "x"]),
            [
                "/usr/sbin/runuser",
                "-u",
                "postgres",
                "--",
                "initdb",
                "-D",
                "x"
            ]
        );
        let su = Runner::As {
            user,
            wrapper: Wrapper::Su("/bin/su".into()),
        };
        assert_eq!(
            su.argv(&["pg_ctl", "-o", "-p 5"]),
            [
                "/bin/su",
                "-s",
                "/bin/sh",
                "-c",
                "'pg_ctl' '-o' '-p 5'",
                "postgres"
            ]
        );
        assert_eq!(Runner::Direct.argv(&["a", "b"]), ["a", "b"]);
    }
}
