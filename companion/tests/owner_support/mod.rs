//! Shared parts of the owner tests: the workspace's in-process test cloud
//! (`cloud::testing`, restartable on the same port and database), the real
//! `companion` binary run as a child with its own config and state dir, and
//! event-log probes.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cloud::state::Settings;
use cloud_protocol::{Change, Event, Op};
use companion::cloud_client::api::CloudClient;
use companion::manifest::Manifest;
use syncthing_fixtures::poll::eventually_async;
use syncthing_fixtures::{Cluster, ClusterBuilder, FolderType, Node};
use tempfile::TempDir;
use uuid::Uuid;

/// How long any one expected thing may take on a loaded 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub use cloud::testing::TestCloud;

/// The shared test cloud on SQLite, without the per-client rate limit (the
/// companions of one test all call from 127.0.0.1); restartable with
/// `down`/`up` on the same port and database.
pub async fn start_cloud() -> TestCloud {
    TestCloud::start_sqlite_with(Settings { rate_limit_per_s: 0, ..Settings::default() }).await
}

/// The companion's own typed client for a [`TestCloud`].
pub trait ClientOf {
    fn client(&self, token: &str) -> CloudClient;
}

impl ClientOf for TestCloud {
    fn client(&self, token: &str) -> CloudClient {
        CloudClient::new(&self.url(), token).expect("client")
    }
}

/// A Syncthing pair sharing `folders` (send-receive on both sides).
pub async fn pair(folders: &[&str], watcher_delay_s: u32) -> Cluster {
    let mut b = ClusterBuilder::new().nodes(2).fs_watcher_delay_s(watcher_delay_s);
    for f in folders {
        b = b.folder(f, &[FolderType::SendReceive, FolderType::SendReceive]);
    }
    b.start().await.expect("a Syncthing pair starts")
}

/// One companion: its own config file and state dir, pointed at one Syncthing node.
pub struct Companion {
    dir: TempDir,
    st_url: String,
    st_key: String,
    run: Option<Child>,
    runs: u32,
    /// Extra environment of every command (after the `COMPANION_*` of the test's own are removed).
    env: Vec<(String, String)>,
}

impl Companion {
    pub fn new(node: &Node) -> Companion {
        Companion {
            dir: tempfile::tempdir().expect("temp dir"),
            st_url: node.api_url.clone(),
            st_key: node.api_key.clone(),
            run: None,
            runs: 0,
            env: Vec::new(),
        }
    }

    /// Sets `key` for every later command of this companion.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.into(), value.into()));
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_companion"));
        cmd.arg("--config").arg(self.config_path()).arg("--state-dir").arg(self.state_dir());
        cmd.args(["--syncthing-url", &self.st_url, "--syncthing-api-key", &self.st_key]);
        cmd.args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("COMPANION_") {
                cmd.env_remove(k);
            }
        }
        // Companions run side by side: each dashboard on a free port.
        cmd.env("COMPANION_DASHBOARD_LISTEN", "127.0.0.1:0");
        cmd.env("RUST_LOG", std::env::var("COMPANION_TEST_LOG").unwrap_or_else(|_| "companion=info".into()));
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs a command to the end; panics with its output unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(out.status.success(), "companion {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("companion runs")
    }

    /// `login` then `share folder`: the new project's id.
    pub fn login_and_share(&self, cloud: &TestCloud, token: &str, folder: &str) -> Uuid {
        self.ok(&["login", "--cloud", &cloud.url(), "--token", token]);
        self.share(folder)
    }

    pub fn share(&self, folder: &str) -> Uuid {
        let out = self.ok(&["share", folder]);
        Uuid::parse_str(out.trim()).unwrap_or_else(|e| panic!("share printed {out:?}: {e}"))
    }

    /// Starts `companion run` in the background (log in the temp dir).
    pub fn start(&mut self) {
        assert!(self.run.is_none(), "already running");
        self.runs += 1;
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let child = self
            .command(&["run"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("companion run starts");
        self.run = Some(child);
    }

    /// `None` while `companion run` is alive, else how it ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.run.as_mut().and_then(|child| child.try_wait().expect("try_wait"))
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("run-{}.log", self.runs))
    }

    /// The current run's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.run.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.run.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = child.try_wait().expect("try_wait") {
                    assert!(status.success(), "companion run exited with {status}: {}", self.log());
                    return;
                }
                assert!(Instant::now() < deadline, "companion run did not stop on SIGTERM: {}", self.log());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The manifest (read only use, while `run` may be writing it).
    pub fn manifest(&self) -> Manifest {
        Manifest::open_in(&self.state_dir()).expect("manifest opens")
    }
}

impl Drop for Companion {
    fn drop(&mut self) {
        if let Some(mut child) = self.run.take() {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!("--- companion log ---\n{}", self.log());
            }
        }
    }
}

/// Every event of a project, in seq order.
pub async fn all_events(client: &CloudClient, project: Uuid) -> Vec<Event> {
    let (mut all, mut since) = (Vec::new(), 0);
    loop {
        let page = client.events(project, since, None).await.expect("events");
        all.extend(page.events);
        since = page.next_seq;
        if !page.has_more {
            return all;
        }
    }
}

/// Polls the event log until `done` accepts it; panics with the log after `DEADLINE`.
pub async fn wait_events(
    client: &CloudClient,
    project: Uuid,
    what: &str,
    done: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    eventually_async(what, DEADLINE, || async {
        let events = all_events(client, project).await;
        if done(&events) { Ok(events) } else { Err(show(&events)) }
    })
    .await
}

/// Waits until the log has at least `n` events.
pub async fn wait_count(client: &CloudClient, project: Uuid, n: usize) -> Vec<Event> {
    wait_events(client, project, &format!("{n} events"), |e| e.len() >= n).await
}

/// Checks that nothing more arrives for `quiet` (a bounded wait for an absence).
pub async fn assert_quiet(client: &CloudClient, project: Uuid, count: usize, quiet: Duration) {
    let until = Instant::now() + quiet;
    while Instant::now() < until {
        let events = all_events(client, project).await;
        assert_eq!(events.len(), count, "unexpected extra events: {}", show(&events[count.min(events.len())..]));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `op path hash` per event, for failure messages.
pub fn show(events: &[Event]) -> String {
    let lines: Vec<String> = events
        .iter()
        .map(|e| {
            format!("#{} {} {} {}", e.seq, e.change.op.as_str(), e.change.path, e.change.hash.as_deref().unwrap_or(""))
        })
        .collect();
    format!("[{}]", lines.join(", "))
}

/// The hash an independent reader gets for the file now.
pub fn blake3_of(path: &Path) -> String {
    format!("blake3:{}", blake3::hash(&std::fs::read(path).expect("read file")).to_hex())
}

/// Asserts a change is `op` of `path` with the file's current content.
pub fn assert_upsert(change: &Change, op: Op, path: &str, file: &Path) {
    assert_eq!((change.op, change.path.as_str()), (op, path), "{change:?}");
    assert_eq!(change.hash.as_deref(), Some(blake3_of(file).as_str()), "hash of {path}");
    assert_eq!(change.size, Some(std::fs::metadata(file).unwrap().len()), "size of {path}");
}
