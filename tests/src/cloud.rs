//! The one `cloud` process harness of the workspace: `cloud serve` as a child
//! process on a free loopback port (its log in a file, stopped gracefully),
//! and `cloud user add`. The cloud's own process tests, the e2e tests and the
//! demo all start the binary through here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::proc::Proc;
use syncthing_fixtures::poll::try_eventually_async;
use syncthing_fixtures::ports::free_port;

use crate::bins;

/// How long `cloud serve` may take to answer `/readyz` on a loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Where the cloud keeps its data.
#[derive(Debug, Clone)]
pub enum CloudDb {
    /// Embedded SQLite in this directory (the default of `cloud serve`).
    DataDir(PathBuf),
    /// A PostgreSQL database URL.
    Postgres(String),
}

impl CloudDb {
    /// The flags that select this database.
    pub fn args(&self) -> Vec<String> {
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

/// `cloud` with an environment of its own: no inherited database or cloud
/// settings (`CLOUD_*`, `DATABASE_URL`, `RUST_LOG`), so only its flags count.
pub fn cloud_command() -> anyhow::Result<Command> {
    wrapped_cloud_command(&[])
}

/// [`cloud_command`] run through `wrapper` (e.g. `prlimit --nofile=256:256 --`).
pub fn wrapped_cloud_command(wrapper: &[&str]) -> anyhow::Result<Command> {
    let bin = bins::bin("cloud")?;
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(bin);
            cmd
        }
        None => Command::new(bin),
    };
    for (var, _) in std::env::vars() {
        if var.starts_with("CLOUD_") || var == "DATABASE_URL" || var == "RUST_LOG" {
            cmd.env_remove(var);
        }
    }
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    Ok(cmd)
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
        let mut cmd = cloud_command()?;
        cmd.env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
        Self::spawn(cmd, db, log_dir, port, &[]).await
    }

    /// Starts `cmd serve --listen 127.0.0.1:PORT DB-FLAGS EXTRA` — `cmd` being a
    /// [`cloud_command`] with any environment or wrapper of the caller — logging
    /// to `log_dir/cloud.log`, and waits until `/readyz` answers.
    pub async fn spawn(
        mut cmd: Command,
        db: CloudDb,
        log_dir: &Path,
        port: u16,
        extra: &[&str],
    ) -> anyhow::Result<CloudProc> {
        cmd.arg("serve").arg("--listen").arg(format!("127.0.0.1:{port}")).args(db.args()).args(extra);
        let mut proc = Proc::spawn("cloud", cmd, &log_dir.join("cloud.log"))?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let ready = format!("{url}/readyz");
        let waited = try_eventually_async("the cloud to answer /readyz", READY_WITHIN, || {
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

    /// `host:port`, for raw TCP clients.
    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    /// Its whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.proc.log).unwrap_or_default()
    }
}

/// Creates a user with `cloud user add NAME --json` on the given database.
pub async fn add_user(db: &CloudDb, name: &str) -> anyhow::Result<CloudUser> {
    let out = cloud_command()?
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
