//! A real PostgreSQL for tests and benches, and a fresh database for each test.
//!
//! `TEST_DATABASE_URL` (a server URL such as `postgres://postgres@127.0.0.1:5432`) names
//! a server to use. Without it, the first caller starts one for the whole test process
//! from the PostgreSQL 15 binaries: `initdb` in a directory under the system temp dir,
//! trust authentication, listening on 127.0.0.1 on a free port, fsync off. The server is
//! spawned by a thread that lives as long as the process and is told to quit when that
//! thread's process dies (`PR_SET_PDEATHSIG`), so it never outlives the tests; the data
//! directories of dead test processes are swept by the next start. Anything missing is
//! a loud panic, never a skipped test.
//!
//! Self-contained (no `super::`).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

/// Where Debian's PostgreSQL 15 keeps its server binaries.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const READY_WITHIN: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 3;

static SERVER: OnceLock<String> = OnceLock::new();

/// URL of the test server (no database part): `TEST_DATABASE_URL`, or one started once
/// for this process.
pub async fn server_url() -> String {
    tokio::task::spawn_blocking(|| {
        SERVER
            .get_or_init(|| match std::env::var("TEST_DATABASE_URL") {
                Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
                _ => start_server(),
            })
            .clone()
    })
    .await
    .expect("starting the test PostgreSQL panicked")
}

/// A new, empty database of its own on the test server; returns its URL.
pub async fn fresh_database() -> String {
    let server = server_url().await;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = with_database(&server, "postgres");
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at {admin}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin}: {e}"));
    let _ = conn.close().await;
    with_database(&server, &name)
}

/// `url` with its database part replaced by `database` (query parameters kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((main, query)) => (main, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = main.find("://").map_or(0, |i| i + 3);
    let server = match main[scheme_end..].find('/') {
        Some(slash) => &main[..scheme_end + slash],
        None => main,
    };
    format!("{server}/{database}{query}")
}

/// A PostgreSQL server of one test's own, which the test may stop and start
/// again (on the same port and data) without disturbing tests that share the
/// process-wide server. Quits with the test process like that one.
pub struct DedicatedServer {
    dir: PathBuf,
    port: u16,
    account: Option<(u32, u32)>,
    running: Option<(u32, Receiver<std::io::Result<ExitStatus>>)>,
    starts: usize,
}

impl DedicatedServer {
    /// initdb and start a server of its own; blocking, run it before the test's work.
    pub fn start() -> DedicatedServer {
        let (dir, account) = init_data_dir();
        let mut server = DedicatedServer { dir, port: 0, account, running: None, starts: 0 };
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            server.port = syncthing_fixtures::ports::free_port().unwrap_or_else(|e| panic!("cannot bind a port: {e}"));
            match server.try_start() {
                Ok(()) => return server,
                Err(why) => failures.push(why),
            }
        }
        panic!("the dedicated PostgreSQL did not start:\n{}", failures.join("\n"));
    }

    /// The server URL (no database part), stable across restarts.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Stops the server (fast shutdown: every client connection is cut) and
    /// waits until it has exited.
    pub fn stop(&mut self) {
        let (pid, exited) = self.running.take().expect("the dedicated PostgreSQL is not running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid fits in i32"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT)
            .unwrap_or_else(|e| panic!("cannot signal PostgreSQL {pid}: {e}"));
        match exited.recv_timeout(READY_WITHIN) {
            Ok(_) => {}
            Err(e) => panic!("PostgreSQL {pid} did not stop within {READY_WITHIN:?}: {e}"),
        }
    }

    /// Starts it again on the same port and data, and waits until it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "stop it first");
        self.try_start().unwrap_or_else(|why| panic!("the dedicated PostgreSQL did not start again: {why}"));
    }

    fn try_start(&mut self) -> Result<(), String> {
        let bin = Path::new(PG_BIN);
        let log_path = self.dir.join(format!("postgres-{}.log", self.starts));
        self.starts += 1;
        let (pid, exited) = spawn_keeper(bin, &self.dir.join("data"), &self.dir, self.port, &log_path, self.account);
        match wait_ready(bin, self.port, &exited) {
            Ok(()) => {
                self.running = Some((pid, exited));
                Ok(())
            }
            Err(why) => {
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                Err(format!("on port {}: {why}\n{log}", self.port))
            }
        }
    }
}

impl Drop for DedicatedServer {
    /// Stops a server left running; the data directory goes with the next sweep.
    fn drop(&mut self) {
        if let Some((pid, _)) = self.running.take()
            && let Ok(pid) = i32::try_from(pid)
        {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGQUIT);
        }
    }
}

/// initdb, then start `postgres` (retrying on another port if the chosen one was taken)
/// and wait until it accepts connections. Runs once per process.
fn start_server() -> String {
    let (dir, account) = init_data_dir();
    let bin = Path::new(PG_BIN);
    let data = dir.join("data");
    let mut failures = Vec::new();
    for attempt in 0..START_ATTEMPTS {
        // A race with another process for the port is retried.
        let port = syncthing_fixtures::ports::free_port().unwrap_or_else(|e| panic!("cannot bind a port: {e}"));
        let log_path = dir.join(format!("postgres-{attempt}.log"));
        let (_, exited) = spawn_keeper(bin, &data, &dir, port, &log_path, account);
        match wait_ready(bin, port, &exited) {
            Ok(()) => return format!("postgres://postgres@127.0.0.1:{port}"),
            Err(why) => {
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                failures.push(format!("attempt {attempt} on port {port}: {why}\n{log}"));
            }
        }
    }
    panic!("the test PostgreSQL did not start:\n{}", failures.join("\n"));
}

/// A fresh data directory (initdb) under the system temp dir, owned by the
/// account the server runs as; swept once this process is gone.
fn init_data_dir() -> (PathBuf, Option<(u32, u32)>) {
    let bin = Path::new(PG_BIN);
    assert!(
        bin.join("postgres").exists(),
        "PostgreSQL 15 is not installed at {PG_BIN}: install it, or set TEST_DATABASE_URL to a server URL"
    );
    let root = std::env::temp_dir().join("cloud-test-pg");
    fs::create_dir_all(&root).unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
    sweep_dead(&root);
    let dir = root.join(format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let account = server_account();
    if let Some((uid, gid)) = account {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("cannot hand {} to the postgres user: {e}", dir.display()));
    }
    let data = dir.join("data");
    let mut initdb = Command::new(bin.join("initdb"));
    initdb.arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync"]);
    let out = as_account(&mut initdb, account, &dir).output().unwrap_or_else(|e| panic!("cannot run initdb: {e}"));
    assert!(
        out.status.success(),
        "initdb failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, account)
}

/// Spawns `postgres` from a thread that then waits on it for the rest of the process:
/// the parent-death signal fires when the spawning *thread* ends, so it must outlive
/// every test. Returns the server's pid and a receiver that reports its exit, if it
/// ever exits.
fn spawn_keeper(
    bin: &Path,
    data: &Path,
    socket_dir: &Path,
    port: u16,
    log_path: &Path,
    account: Option<(u32, u32)>,
) -> (u32, Receiver<std::io::Result<ExitStatus>>) {
    let log = File::create(log_path).unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
    let err_log = log.try_clone().unwrap_or_else(|e| panic!("cannot share the log file: {e}"));
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("-D").arg(data).arg("-p").arg(port.to_string());
    for setting in [
        "listen_addresses=127.0.0.1".to_owned(),
        format!("unix_socket_directories={}", socket_dir.display()),
        "fsync=off".into(),
        "synchronous_commit=off".into(),
        "full_page_writes=off".into(),
        "max_connections=300".into(),
    ] {
        cmd.arg("-c").arg(setting);
    }
    cmd.stdin(Stdio::null()).stdout(log).stderr(err_log);
    as_account(&mut cmd, account, socket_dir);
    quit_with_parent(&mut cmd);
    let (tx, rx) = mpsc::channel();
    let (pid_tx, pid_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("postgres-{port}"))
        .spawn(move || {
            let result = cmd.spawn().and_then(|mut child| {
                let _ = pid_tx.send(child.id());
                child.wait()
            });
            let _ = tx.send(result);
        })
        .unwrap_or_else(|e| panic!("cannot start the postgres keeper thread: {e}"));
    // 0 when the spawn failed: the exit receiver then says why.
    (pid_rx.recv().unwrap_or(0), rx)
}

/// Polls `pg_isready` until the server accepts connections, it exits, or time runs out.
fn wait_ready(bin: &Path, port: u16, exited: &Receiver<std::io::Result<ExitStatus>>) -> Result<(), String> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Ok(result) = exited.try_recv() {
            return Err(match result {
                Ok(status) => format!("postgres exited with {status}"),
                Err(e) => format!("cannot spawn postgres: {e}"),
            });
        }
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-p", &port.to_string()])
            .status()
            .map_err(|e| format!("cannot run pg_isready: {e}"))?;
        if ready.success() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not accepting connections after {READY_WITHIN:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Makes the server quit (SIGQUIT: immediate shutdown, backends included) when the
/// thread that spawned it dies, i.e. when the test process ends however it ends.
#[allow(unsafe_code)]
fn quit_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child just before exec and only calls
    // prctl(2), which is async-signal-safe: no allocation, no lock. std applies the uid
    // and gid switch before it, and a credential change would clear the setting.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGQUIT).map_err(std::io::Error::from)
        });
    }
}

/// initdb and postgres refuse to run as root: as root, run them as the `postgres` user.
fn server_account() -> Option<(u32, u32)> {
    if effective_uid() != Some(0) {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres") && fields.len() > 3)
        .unwrap_or_else(|| panic!("running as root but there is no postgres user to run PostgreSQL as"));
    let parse = |field: &str| field.parse::<u32>().unwrap_or_else(|e| panic!("bad id {field:?} in /etc/passwd: {e}"));
    Some((parse(entry[2]), parse(entry[3])))
}

/// Runs `cmd` as the server's account, from a directory that account may enter (initdb
/// fails when it cannot resolve its working directory).
/// The effective uid, from `/proc/self/status` ("Uid: real effective saved fs").
fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn as_account<'c>(cmd: &'c mut Command, account: Option<(u32, u32)>, dir: &Path) -> &'c mut Command {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = account {
        cmd.uid(uid).gid(gid);
    }
    cmd.current_dir(dir)
}

/// Removes the directories of test servers whose process (the dir's name prefix) is gone.
fn sweep_dead(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !PathBuf::from(format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
