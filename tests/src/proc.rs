//! A child process with its output in a log file, stopped gracefully
//! (SIGTERM, then SIGKILL after a grace period) and never left behind.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// A running child process.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    /// Spawns `cmd` with stdout and stderr appended to `log`. The child is killed
    /// if this handle is dropped without [`Proc::stop`].
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> anyhow::Result<Proc> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open log {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err)).stdin(Stdio::null()).kill_on_drop(true);
        // Own process group: a Ctrl-C in the terminal reaches only the parent, which
        // then stops the children in order.
        cmd.process_group(0);
        let child = cmd.spawn().with_context(|| format!("cannot start {name}"))?;
        Ok(Proc { name: name.to_owned(), log: log.to_owned(), child })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the process has exited (and how), without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends a signal (e.g. SIGKILL for crash tests).
    pub fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let pid = self.pid().context("process already reaped")?;
        kill(Pid::from_raw(pid as i32), signal).with_context(|| format!("cannot signal {}", self.name))
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status.
    pub async fn stop(&mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.try_exit() {
            return Ok(status);
        }
        self.signal(Signal::SIGTERM)?;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                self.child.start_kill()?;
                Ok(self.child.wait().await?)
            }
        }
    }

    /// Waits for the process to exit by itself.
    pub async fn wait(&mut self) -> anyhow::Result<ExitStatus> {
        Ok(self.child.wait().await?)
    }

    /// The last `lines` lines of the log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }
}

/// The last `lines` lines of a file, or a note that it can't be read.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
