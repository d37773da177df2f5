//! The one `companion` process harness of the workspace: one companion
//! "installation" (its config file and state directory, bound to one
//! Syncthing) running one-shot commands and the `companion run` daemon. The
//! companion's own tests, its benches, the e2e tests and the demo all drive
//! the binary through here.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use syncthing_fixtures::Node;
use syncthing_fixtures::poll::try_eventually_async;
use tempfile::TempDir;
use uuid::Uuid;

use crate::bins;
use crate::proc::Proc;

/// How long `companion run` may take to stop after SIGTERM.
const STOP_WITHIN: Duration = Duration::from_secs(20);

/// A companion's files, side by side with others in tests, and its daemon
/// while it runs. Dropping it kills the daemon (and prints its log if the
/// test is panicking).
#[derive(Debug)]
pub struct Companion {
    pub name: String,
    dir: PathBuf,
    // Kept as long as the companion: its files live there.
    _temp: Option<TempDir>,
    /// The flags that say which Syncthing it talks to.
    syncthing: Vec<String>,
    /// Extra environment of every command (after the caller's `COMPANION_*` are removed).
    env: Vec<(String, String)>,
    daemon: Option<Proc>,
    runs: u32,
}

impl Companion {
    /// In a fresh temp dir, talking to `node`'s REST API.
    pub fn new(node: &Node) -> Companion {
        let temp = tempfile::tempdir().expect("temp dir");
        let syncthing =
            vec!["--syncthing-url".into(), node.api_url.clone(), "--syncthing-api-key".into(), node.api_key.clone()];
        Companion::with(String::from("companion"), temp.path().to_owned(), Some(temp), syncthing)
    }

    /// Living in `dir`, talking to the Syncthing whose home is `syncthing_home`.
    pub fn in_dir(name: &str, dir: &Path, syncthing_home: &Path) -> anyhow::Result<Companion> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let syncthing = vec!["--syncthing-home".into(), syncthing_home.display().to_string()];
        Ok(Companion::with(name.to_owned(), dir.to_owned(), None, syncthing))
    }

    fn with(name: String, dir: PathBuf, temp: Option<TempDir>, syncthing: Vec<String>) -> Companion {
        Companion { name, dir, _temp: temp, syncthing, env: Vec::new(), daemon: None, runs: 0 }
    }

    /// Sets `key` for every later command of this companion.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.into(), value.into()));
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// `companion --config … --state-dir … <syncthing> ARGS`, with an
    /// environment of its own: no inherited `COMPANION_*`, the dashboard on a
    /// free port (companions run side by side).
    pub fn command(&self, args: &[&str]) -> anyhow::Result<tokio::process::Command> {
        Ok(self.std_command(args)?.into())
    }

    fn std_command(&self, args: &[&str]) -> anyhow::Result<std::process::Command> {
        let mut cmd = std::process::Command::new(bins::bin("companion")?);
        cmd.arg("--config").arg(self.config_path()).arg("--state-dir").arg(self.state_dir());
        cmd.args(&self.syncthing).args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("COMPANION_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("COMPANION_DASHBOARD_LISTEN", "127.0.0.1:0");
        let log = std::env::var("COMPANION_TEST_LOG").or_else(|_| std::env::var("RUST_LOG"));
        cmd.env("RUST_LOG", log.unwrap_or_else(|_| "companion=info".into()));
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        Ok(cmd)
    }

    /// Runs a command to the end (blocking) and returns how it went.
    pub fn output(&self, args: &[&str]) -> Output {
        self.std_command(args).expect("the companion binary").output().expect("companion runs")
    }

    /// Runs a command to the end (blocking); panics with its output unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(out.status.success(), "companion {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a one-shot command and returns its trimmed stdout; a failure carries its stderr.
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.command(args)?.output().await.with_context(|| format!("cannot run companion {args:?}"))?;
        if !out.status.success() {
            bail!(
                "{}: companion {} failed ({}): {}",
                self.name,
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `login` then `share folder`: the new project's id.
    pub fn login_and_share(&self, cloud_url: &str, token: &str, folder: &str) -> Uuid {
        self.ok(&["login", "--cloud", cloud_url, "--token", token]);
        self.share(folder)
    }

    pub fn share(&self, folder: &str) -> Uuid {
        let out = self.ok(&["share", folder]);
        Uuid::parse_str(out.trim()).unwrap_or_else(|e| panic!("share printed {out:?}: {e}"))
    }

    /// Starts `companion run` in the background (its log in [`log_path`](Self::log_path)).
    pub fn start(&mut self) {
        self.spawn_daemon().expect("companion run starts");
    }

    /// [`start`](Self::start), with an error instead of a panic.
    pub fn spawn_daemon(&mut self) -> anyhow::Result<()> {
        assert!(self.daemon.is_none(), "already running");
        self.runs += 1;
        // A stale URL from an earlier run must not be mistaken for this one's.
        let _ = std::fs::remove_file(self.state_dir().join("dashboard.url"));
        let cmd = self.command(&["run"])?;
        self.daemon = Some(Proc::spawn(&format!("companion run ({})", self.name), cmd, &self.log_path())?);
        Ok(())
    }

    /// `None` while `companion run` is alive (or not started), else how it ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.daemon.as_mut().and_then(Proc::try_exit)
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().and_then(Proc::pid)
    }

    /// The current run's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("run-{}.log", self.runs))
    }

    /// The current run's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL: no chance to clean up.
    pub async fn kill(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.signal(Signal::SIGKILL).expect("SIGKILL");
            daemon.wait().await.expect("reaped");
        }
    }

    /// SIGTERM; panics unless it exits cleanly in time.
    pub async fn stop(&mut self) {
        let status = self.try_stop(STOP_WITHIN).await.expect("companion run stops");
        if let Some(status) = status {
            assert!(status.success(), "companion run exited with {status}: {}", self.log());
        }
    }

    /// SIGTERM, then SIGKILL after `grace`: how it ended (`None` if it was not running).
    pub async fn try_stop(&mut self, grace: Duration) -> anyhow::Result<Option<ExitStatus>> {
        match self.daemon.take() {
            Some(mut daemon) => Ok(Some(daemon.stop(grace).await?)),
            None => Ok(None),
        }
    }

    /// `companion status --json`.
    pub async fn status_json(&self) -> anyhow::Result<serde_json::Value> {
        let out = self.run(&["status", "--json"]).await?;
        serde_json::from_str(&out).with_context(|| format!("status --json printed no JSON: {out}"))
    }

    /// The dashboard URL the running daemon wrote (waits for it).
    pub async fn dashboard_url(&self) -> anyhow::Result<String> {
        let path = self.state_dir().join("dashboard.url");
        let what = format!("{}'s dashboard URL in {}", self.name, path.display());
        let url = try_eventually_async(&what, Duration::from_secs(30), || {
            let text = std::fs::read_to_string(&path).ok();
            async move { text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) }
        })
        .await?;
        Ok(url)
    }
}

impl Drop for Companion {
    fn drop(&mut self) {
        // The daemon is killed as its handle drops (`kill_on_drop`).
        if self.daemon.is_some() && std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log());
        }
    }
}

/// Reads a dashboard's `/api/status` the way a browser does: the URL's key is
/// traded for a cookie, which then opens the API.
pub async fn dashboard_status(url: &str) -> anyhow::Result<serde_json::Value> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let first = http.get(url).send().await.with_context(|| format!("cannot open {url}"))?;
    let cookie = first
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .with_context(|| format!("the dashboard gave no cookie for {url} ({})", first.status()))?;
    let base = url.split("/?").next().unwrap_or(url);
    let resp = http.get(format!("{base}/api/status")).header(reqwest::header::COOKIE, cookie).send().await?;
    if !resp.status().is_success() {
        bail!("dashboard /api/status answered {}", resp.status());
    }
    Ok(resp.json().await?)
}

/// The entry of `path` in the first project of a `status --json` report.
pub fn file_entry<'a>(status: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    status["projects"].get(0)?["files"].as_array()?.iter().find(|f| f["path"] == path)
}
