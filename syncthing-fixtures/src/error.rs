//! The one error type of this crate: every failure of setting up, driving or
//! querying the Syncthing nodes ends up here, with enough context (node, URL,
//! log tail) that a failing test explains itself.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while running Syncthing fixtures.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// No usable `syncthing` executable. The message always carries the
    /// install hint, because that is the fix in nearly every case.
    #[error(
        "syncthing binary not found ({detail}); install it with `apt-get install -y syncthing` \
         or point SYNCTHING_BIN at an executable"
    )]
    BinaryNotFound { detail: String },

    /// A filesystem or process-spawn operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A helper invocation of the binary (e.g. `syncthing generate`) failed.
    #[error("`{command}` failed with {status}: {output}")]
    Command { command: String, status: String, output: String },

    /// The builder was given something inconsistent (wrong number of folder
    /// types, a bad node index in a knob, ...).
    #[error("invalid fixture setup: {0}")]
    Setup(String),

    /// The config.xml written by `syncthing generate` did not look like the
    /// one we know how to edit (a different Syncthing version, most likely).
    #[error("cannot edit {path}: {detail}")]
    ConfigXml { path: PathBuf, detail: String },

    /// A REST call failed: transport error, non-2xx status or bad JSON.
    #[error("{method} {url}: {detail}")]
    Rest { method: &'static str, url: String, detail: String },

    /// A polled condition did not become true before its deadline. `what`
    /// lists what was still missing at the last poll.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },

    /// A node's process exited while we expected it to run.
    #[error("syncthing node {node} exited unexpectedly ({status}); log {}:\n{tail}", log.display())]
    Exited { node: String, status: String, log: PathBuf, tail: String },

    /// A node index outside the cluster.
    #[error("no node with index {index} (the cluster has {len})")]
    NoSuchNode { index: usize, len: usize },

    /// The operation needs a running node, and this one is stopped.
    #[error("node {0} is not running")]
    NotRunning(String),

    /// `start_node` on a node that is already running.
    #[error("node {0} is already running")]
    AlreadyRunning(String),

    /// Sending a signal to a node's process failed.
    #[error("sending {signal} to pid {pid}: {source}")]
    Signal {
        signal: &'static str,
        pid: u32,
        #[source]
        source: nix::errno::Errno,
    },
}

impl FixtureError {
    /// Adapter for `map_err` on `std::io::Result`, naming what we were doing.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> FixtureError {
        let context = context.into();
        move |source| FixtureError::Io { context, source }
    }
}
