//! One companion "installation": its config file and state directory, bound to
//! one Syncthing home; runs one-shot commands and the `companion run` daemon.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::proc::Proc;
use syncthing_fixtures::poll::try_eventually_async;

use crate::bins;

/// A companion's files, side by side with others in tests.
#[derive(Debug, Clone)]
pub struct CompanionHome {
    pub name: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub state: PathBuf,
    pub syncthing_home: PathBuf,
}

impl CompanionHome {
    /// A companion living in `dir`, talking to the Syncthing whose home is `syncthing_home`.
    pub fn new(name: &str, dir: &Path, syncthing_home: &Path) -> anyhow::Result<CompanionHome> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(CompanionHome {
            name: name.to_owned(),
            dir: dir.to_owned(),
            config: dir.join("config.toml"),
            state: dir.join("state"),
            syncthing_home: syncthing_home.to_owned(),
        })
    }

    /// `companion --config … --state-dir … --syncthing-home … ARGS`.
    pub fn command(&self, args: &[&str]) -> anyhow::Result<Command> {
        let mut cmd = Command::new(bins::bin("companion")?);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state)
            .arg("--syncthing-home")
            .arg(&self.syncthing_home)
            .args(args)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
        Ok(cmd)
    }

    /// Runs a one-shot command and returns its stdout; a failure carries its stderr.
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

    /// Starts `companion run` with its log in `dir/companion.log`; the dashboard
    /// listens on a random loopback port.
    pub fn spawn_daemon(&self) -> anyhow::Result<Proc> {
        let mut cmd = self.command(&["run"])?;
        cmd.env("COMPANION_DASHBOARD_LISTEN", "127.0.0.1:0");
        // A stale URL from an earlier run must not be mistaken for this one's.
        let _ = std::fs::remove_file(self.state.join("dashboard.url"));
        Proc::spawn(&format!("companion run ({})", self.name), cmd, &self.dir.join("companion.log"))
    }

    /// `companion status --json`.
    pub async fn status_json(&self) -> anyhow::Result<serde_json::Value> {
        let out = self.run(&["status", "--json"]).await?;
        serde_json::from_str(&out).with_context(|| format!("status --json printed no JSON: {out}"))
    }

    /// The dashboard URL the running daemon wrote (waits for it).
    pub async fn dashboard_url(&self) -> anyhow::Result<String> {
        let path = self.state.join("dashboard.url");
        let what = format!("{}'s dashboard URL in {}", self.name, path.display());
        let url = try_eventually_async(&what, Duration::from_secs(30), || {
            let text = std::fs::read_to_string(&path).ok();
            async move { text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) }
        })
        .await?;
        Ok(url)
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
