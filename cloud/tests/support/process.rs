//! A `cloud serve` child process started on a free port: its address is read
//! from its JSON "listening" log line, and its log is kept for failure messages.
#![allow(dead_code)] // each test binary uses its own part of the support code

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::server::{Client, DEADLINE};
use syncthing_fixtures::poll::eventually_async;

/// A running `cloud serve` child and the log lines it has written.
pub struct Served {
    pub child: Child,
    pub url: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// Spawns `cmd` — a `cloud … serve --listen 127.0.0.1:0` with `--log-format json` —
    /// and waits until it logs where it listens and answers `/readyz`.
    pub async fn spawn(mut cmd: Command) -> Served {
        let mut child =
            cmd.stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true).spawn().expect("spawn cloud serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let addr = tokio::time::timeout(DEADLINE, async {
            while let Some(line) = lines.next_line().await.expect("read the log") {
                log.lock().unwrap().push(line.clone());
                let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
                if v["fields"]["message"] == "listening" {
                    return v["fields"]["addr"].as_str().expect("addr").to_owned();
                }
            }
            panic!("cloud serve exited before listening: {:#?}", log.lock().unwrap());
        })
        .await
        .expect("cloud serve listens in time");
        // Keep draining stderr so the child never blocks on a full pipe.
        let sink = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let url = format!("http://{addr}");
        let anonymous = Client::new(&url, None);
        eventually_async("readyz", DEADLINE, || async {
            anonymous.get("/readyz").await.status().is_success().then_some(())
        })
        .await;
        Served { child, url, log }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id().expect("running")).expect("pid"));
        kill(pid, signal).expect("signal cloud serve");
    }

    /// The log so far, one line per entry.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// `cloud` with an environment of its own: no inherited database or cloud
/// settings, XDG data under `home`.
pub fn cloud_command(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloud"));
    for (var, _) in std::env::vars() {
        if var.starts_with("CLOUD_") || var == "DATABASE_URL" || var == "RUST_LOG" {
            cmd.env_remove(var);
        }
    }
    cmd.env("XDG_DATA_HOME", home).env("HOME", home).stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// `cloud user add NAME --json` with `db` args: `(user_id, token)`.
pub async fn add_user(home: &std::path::Path, db: &[String], name: &str) -> (String, String) {
    let mut cmd = cloud_command(home);
    cmd.args(["user", "add", name, "--json"]).args(db);
    let out = tokio::time::timeout(DEADLINE, cmd.output()).await.expect("user add finishes").expect("user add runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "user add failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("--json output ({e}): {stdout}"));
    (v["user_id"].as_str().expect("user_id").to_owned(), v["token"].as_str().expect("token").to_owned())
}

/// `cloud serve` on a free port with JSON logs, `db` and `extra` args.
pub async fn serve(home: &std::path::Path, db: &[String], extra: &[&str]) -> Served {
    let mut cmd = cloud_command(home);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"]).args(db).args(extra);
    Served::spawn(cmd).await
}
