//! One Syncthing node: its identity, ports and paths, its REST client, and
//! the one process we started for it.
//!
//! The child is started with `STMONITORED=1`, so Syncthing 1.19 skips its
//! monitor parent and the PID we hold is the server itself: SIGTERM reaches
//! the server directly and SIGKILL cannot orphan anything. We keep the
//! `Child` unreaped until we stop it, so its PID cannot be reused by an
//! unrelated process while we might still signal it.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::rest::{Rest, encode};
use crate::{FixtureError, SyncthingVersion};

/// How long a node gets to exit after SIGTERM before it is killed
/// (docs/syncthing.md §0: it normally exits in under 3 s).
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);
const EXIT_POLL: Duration = Duration::from_millis(20);
const REST_POLL: Duration = Duration::from_millis(50);

/// Environment variables that would override the config we wrote.
const OVERRIDING_ENV: &[&str] =
    &["STGUIADDRESS", "STGUIAPIKEY", "STNODEFAULTFOLDER", "STHOMEDIR", "STCONFDIR", "STDATADIR", "STLOGFILE"];

/// Everything [`Node::new`] needs.
pub(crate) struct NodeSetup {
    pub name: String,
    pub device_id: String,
    pub home: PathBuf,
    pub data_dir: PathBuf,
    pub gui_port: u16,
    pub sync_port: u16,
    pub folder_ids: Vec<String>,
    pub binary: PathBuf,
    pub version: SyncthingVersion,
}

/// The known API key of node `name`: predictable, so a person reading a
/// test log can use it with curl right away.
pub(crate) fn api_key_for(name: &str) -> String {
    format!("fixture-apikey-{}", name.to_lowercase())
}

/// A Syncthing node of a [`Cluster`](crate::Cluster).
#[derive(Debug)]
pub struct Node {
    /// "A", "B", ... (also the device name in every config).
    pub name: String,
    /// `http://127.0.0.1:PORT`, the GUI and REST base URL.
    pub api_url: String,
    /// The API key written to config.xml (`X-API-Key`).
    pub api_key: String,
    /// The full device ID (`XXXXXXX-...`, 63 chars).
    pub device_id: String,
    /// The `--home` directory: config.xml, keys, database, log.
    pub home: PathBuf,
    /// Port of the sync listener `tcp://127.0.0.1:PORT`.
    pub sync_port: u16,
    /// Port of the GUI/REST listener.
    pub gui_port: u16,
    /// The Syncthing release this node runs.
    pub version: SyncthingVersion,
    data_dir: PathBuf,
    folder_ids: Vec<String>,
    binary: PathBuf,
    rest: Rest,
    process: Mutex<Option<Child>>,
}

impl Node {
    /// A node that is configured but not started yet.
    pub(crate) fn new(setup: NodeSetup) -> Result<Self, FixtureError> {
        let NodeSetup { name, device_id, home, data_dir, gui_port, sync_port, folder_ids, binary, version } = setup;
        let api_url = format!("http://127.0.0.1:{gui_port}");
        let api_key = api_key_for(&name);
        let rest = Rest::new(api_url.clone(), api_key.clone())?;
        Ok(Node {
            name,
            api_url,
            api_key,
            device_id,
            home,
            sync_port,
            gui_port,
            version,
            data_dir,
            folder_ids,
            binary,
            rest,
            process: Mutex::new(None),
        })
    }

    /// Where this node keeps the folder `folder_id` (created, with its
    /// `.stfolder` marker, for every configured folder).
    pub fn folder_path(&self, folder_id: &str) -> PathBuf {
        self.data_dir.join(folder_id)
    }

    /// IDs of the folders this node shares.
    pub fn folder_ids(&self) -> &[String] {
        &self.folder_ids
    }

    /// PID of the running server, `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        self.process().as_ref().map(Child::id)
    }

    /// Whether we started the node and have not stopped it.
    pub fn is_running(&self) -> bool {
        self.pid().is_some()
    }

    /// stdout+stderr of every run of this node, appended.
    pub fn log_path(&self) -> PathBuf {
        self.home.join("syncthing.log")
    }

    pub fn config_xml(&self) -> PathBuf {
        self.home.join("config.xml")
    }

    /// `tcp://127.0.0.1:PORT`, the address peers dial.
    pub fn sync_address(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.sync_port)
    }

    /// `GET {api_url}{path_and_query}` with the API key, parsed as JSON.
    pub async fn get_json(&self, path_and_query: &str) -> Result<Value, FixtureError> {
        self.rest.get_json(path_and_query).await
    }

    /// `POST {api_url}{path_and_query}` with an empty body.
    pub async fn post(&self, path_and_query: &str) -> Result<(), FixtureError> {
        self.rest.post(path_and_query).await
    }

    /// `PATCH {api_url}{path_and_query}` with a JSON body.
    pub async fn patch_json(&self, path_and_query: &str, body: &Value) -> Result<(), FixtureError> {
        self.rest.patch_json(path_and_query, body).await
    }

    /// `GET /rest/system/ping`.
    pub async fn ping(&self) -> Result<(), FixtureError> {
        self.rest.ping().await
    }

    /// The folder's `state` from `/rest/db/status` ("idle", "scanning", ...).
    pub async fn folder_state(&self, folder_id: &str) -> Result<String, FixtureError> {
        let status = self.get_json(&format!("/rest/db/status?folder={}", encode(folder_id))).await?;
        Ok(status["state"].as_str().unwrap_or("").to_string())
    }

    /// Whether `/rest/system/connections` lists `device_id` as connected.
    pub async fn is_connected_to(&self, device_id: &str) -> Result<bool, FixtureError> {
        let connections = self.get_json("/rest/system/connections").await?;
        Ok(connections["connections"][device_id]["connected"].as_bool().unwrap_or(false))
    }

    fn process(&self) -> MutexGuard<'_, Option<Child>> {
        // A panic while holding this lock cannot leave the Option invalid.
        self.process.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts `syncthing serve` for this home; output is appended to the log.
    pub(crate) fn spawn(&self) -> Result<(), FixtureError> {
        let mut process = self.process();
        if process.is_some() {
            return Err(FixtureError::AlreadyRunning(self.name.clone()));
        }
        let log_path = self.log_path();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(FixtureError::io(format!("opening {}", log_path.display())))?;
        // A visible separator between runs makes restarts easy to find.
        writeln!(log, "===== syncthing-fixtures: starting node {} (Syncthing {}) =====", self.name, self.version)
            .map_err(FixtureError::io(format!("writing {}", log_path.display())))?;
        let stderr = log.try_clone().map_err(FixtureError::io(format!("duplicating {}", log_path.display())))?;
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .arg("--home")
            .arg(&self.home)
            .args(["--no-browser", "--no-restart", "--no-upgrade", "--logflags=7"])
            // Hidden switch: without it 1.19 runs a monitor parent, and the
            // PID we hold would not be the server (docs/syncthing.md §0).
            .env("STMONITORED", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        for var in OVERRIDING_ENV {
            command.env_remove(var);
        }
        if std::env::var_os("STHASHING").is_none() {
            // Skips the ~1 s CPU-bound SHA256 benchmark at every start (it
            // picks minio/sha256-simd anyway, which falls back to Go's own
            // implementation on CPUs without SHA extensions).
            command.env("STHASHING", "minio");
        }
        let child = command.spawn().map_err(FixtureError::io(format!("starting {}", self.binary.display())))?;
        tracing::debug!(node = %self.name, pid = child.id(), "syncthing started");
        *process = Some(child);
        Ok(())
    }

    /// Errors with the log tail if the process we started has exited.
    pub(crate) fn check_alive(&self) -> Result<(), FixtureError> {
        let mut process = self.process();
        let Some(child) = process.as_mut() else {
            return Err(FixtureError::NotRunning(self.name.clone()));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                *process = None;
                Err(self.exited(status.to_string()))
            }
            Err(e) => Err(FixtureError::io(format!("waiting for node {}", self.name))(e)),
        }
    }

    fn exited(&self, status: String) -> FixtureError {
        FixtureError::Exited { node: self.name.clone(), status, log: self.log_path(), tail: log_tail(&self.log_path()) }
    }

    /// Polls until the REST API answers a ping, or the process dies, or
    /// `deadline` passes.
    pub(crate) async fn wait_rest_up(&self, deadline: Instant, budget: Duration) -> Result<(), FixtureError> {
        loop {
            self.check_alive()?;
            let last = match self.ping().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                let what = format!("REST API of node {} at {} (last error: {last})", self.name, self.api_url);
                return Err(FixtureError::Timeout { what, after: budget });
            }
            tokio::time::sleep(REST_POLL).await;
        }
    }

    /// SIGTERM, wait up to [`STOP_GRACE`], then SIGKILL. Async version.
    pub(crate) async fn stop(&self) -> Result<(), FixtureError> {
        let Some(mut child) = self.process().take() else {
            return Err(FixtureError::NotRunning(self.name.clone()));
        };
        if let Some(status) = terminate(&mut child)? {
            return self.unexpected_exit(status);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if try_wait(&mut child)?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
        force_kill(&mut child)
    }

    /// Sends SIGTERM without waiting, so several nodes can stop in parallel.
    pub(crate) fn begin_stop(&self) -> Option<Child> {
        let mut child = self.process().take()?;
        let _ = terminate(&mut child);
        Some(child)
    }

    fn unexpected_exit(&self, status: ExitStatus) -> Result<(), FixtureError> {
        // It had already died before we asked it to stop: worth reporting.
        Err(self.exited(status.to_string()))
    }
}

/// Waits up to [`STOP_GRACE`] for a signalled child, then SIGKILLs it.
/// Blocking, for `Drop`, which cannot await.
pub(crate) fn wait_blocking(mut child: Child) -> Result<(), FixtureError> {
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if try_wait(&mut child)?.is_some() {
            return Ok(());
        }
        std::thread::sleep(EXIT_POLL);
    }
    force_kill(&mut child)
}

/// Sends SIGTERM unless the child has already exited (then returns its status).
fn terminate(child: &mut Child) -> Result<Option<ExitStatus>, FixtureError> {
    if let Some(status) = try_wait(child)? {
        return Ok(Some(status));
    }
    signal(child, Signal::SIGTERM, "SIGTERM")?;
    Ok(None)
}

fn force_kill(child: &mut Child) -> Result<(), FixtureError> {
    signal(child, Signal::SIGKILL, "SIGKILL")?;
    child.wait().map(drop).map_err(FixtureError::io(format!("waiting for pid {}", child.id())))
}

fn signal(child: &Child, sig: Signal, name: &'static str) -> Result<(), FixtureError> {
    let pid = child.id();
    let raw = i32::try_from(pid).map_err(|_| FixtureError::Setup(format!("pid {pid} out of range")))?;
    // The child is not reaped yet, so this PID is still ours even if the
    // process has exited (a zombie accepts signals).
    kill(Pid::from_raw(raw), sig).map_err(|source| FixtureError::Signal { signal: name, pid, source })
}

fn try_wait(child: &mut Child) -> Result<Option<ExitStatus>, FixtureError> {
    child.try_wait().map_err(FixtureError::io(format!("waiting for pid {}", child.id())))
}

/// The last lines of a log, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    const TAIL_BYTES: u64 = 6 * 1024;
    let mut text = String::new();
    let read = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(())
    })();
    match read {
        Ok(()) => text.lines().rev().take(25).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
        Err(e) => format!("(cannot read log: {e})"),
    }
}
