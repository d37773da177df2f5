//! A `cloud serve` child process on a free loopback port, and `cloud user add`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::proc::Proc;
use syncthing_fixtures::poll::try_eventually_async;
use syncthing_fixtures::ports::free_port;

use crate::bins;

/// Where the cloud keeps its data.
#[derive(Debug, Clone)]
pub enum CloudDb {
    /// Embedded SQLite in this directory (the default of `cloud serve`).
    DataDir(PathBuf),
    /// A PostgreSQL database URL.
    Postgres(String),
}

impl CloudDb {
    fn args(&self) -> Vec<String> {
        match self {
            CloudDb::DataDir(dir) => vec!["--data-dir".into(), dir.display().to_string()],
            CloudDb::Postgres(url) => vec!["--database-url".into(), url.clone()],
        }
    }

    /// Says where the data is, for people.
    pub fn describe(&self) -> String {
        match self {
            CloudDb::DataDir(dir) => format!("SQLite in {}", dir.display()),
            CloudDb::Postgres(url) => format!("PostgreSQL at {url}"),
        }
    }
}

/// A user created with `cloud user add`.
#[derive(Debug, Clone)]
pub struct CloudUser {
    pub user_id: String,
    pub name: String,
    pub token: String,
}

/// A running `cloud serve`.
#[derive(Debug)]
pub struct CloudProc {
    pub url: String,
    pub db: CloudDb,
    pub proc: Proc,
}

impl CloudProc {
    /// Starts `cloud serve` on a free port and waits until `/readyz` answers.
    pub async fn start(db: CloudDb, log_dir: &Path) -> anyhow::Result<CloudProc> {
        Self::start_on(db, log_dir, free_port()?).await
    }

    /// Starts `cloud serve` on `port` (a restart reuses the port, so clients reconnect).
    pub async fn start_on(db: CloudDb, log_dir: &Path, port: u16) -> anyhow::Result<CloudProc> {
        let mut cmd = Command::new(bins::bin("cloud")?);
        cmd.arg("serve").arg("--listen").arg(format!("127.0.0.1:{port}")).args(db.args());
        cmd.env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
        let mut proc = Proc::spawn("cloud", cmd, &log_dir.join("cloud.log"))?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let ready = format!("{url}/readyz");
        let waited = try_eventually_async("the cloud to answer /readyz", Duration::from_secs(30), || {
            let ready = ready.clone();
            let http = http.clone();
            let exited = proc.try_exit();
            async move {
                if let Some(status) = exited {
                    return Ok(Err(status));
                }
                match http.get(&ready).send().await {
                    Ok(r) if r.status().is_success() => Ok(Ok(())),
                    Ok(r) => Err(format!("/readyz answered {}", r.status())),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        match waited {
            Ok(Ok(())) => Ok(CloudProc { url, db, proc }),
            Ok(Err(status)) => bail!("cloud serve exited ({status}) before it was ready:\n{}", proc.log_tail(20)),
            Err(e) => bail!("{e}:\n{}", proc.log_tail(20)),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0)
    }
}

/// Creates a user with `cloud user add NAME --json` on the given database.
pub async fn add_user(db: &CloudDb, name: &str) -> anyhow::Result<CloudUser> {
    let out = Command::new(bins::bin("cloud")?)
        .args(["user", "add", name, "--json"])
        .args(db.args())
        .output()
        .await
        .context("cannot run `cloud user add`")?;
    if !out.status.success() {
        bail!("cloud user add {name} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("cloud user add printed no JSON")?;
    let field = |k: &str| v[k].as_str().map(str::to_owned).with_context(|| format!("no {k} in {v}"));
    Ok(CloudUser { user_id: field("user_id")?, name: name.to_owned(), token: field("token")? })
}
