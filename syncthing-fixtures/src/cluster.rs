//! [`Cluster`]: the running nodes, the operations tests perform on them
//! (pause, limit, restart, config patches), and the cleanup on drop.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::rest::encode;
use crate::{ClusterBuilder, FixtureError, Node, SyncthingVersion, ready};

/// Set this (to anything) to keep every cluster's homes and logs.
pub const KEEP_LOGS_ENV: &str = "KEEP_SYNCTHING_LOGS";

/// Running Syncthing nodes, paired and sharing folders. Dropping it stops
/// exactly the processes it started and removes their homes, unless the
/// thread is panicking, [`KEEP_LOGS_ENV`] is set or [`Cluster::keep_logs`]
/// was called: then the homes stay and each log path is printed.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
    root: Option<TempDir>,
    ready_timeout: Duration,
    keep_logs: bool,
}

impl Cluster {
    /// Same as [`ClusterBuilder::new`].
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::new()
    }

    pub(crate) fn new(nodes: Vec<Node>, root: TempDir, ready_timeout: Duration, keep_logs: bool) -> Self {
        Cluster { nodes, root: Some(root), ready_timeout, keep_logs }
    }

    /// Starts the nodes one after the other, each once the previous one
    /// answers REST, so that a later node's dial at startup finds the
    /// earlier nodes already listening (a refused first dial costs 5 s).
    /// Then waits until the cluster is ready and tells earlier nodes the
    /// addresses of later ones (see the builder: only later nodes dial at
    /// first start, to avoid 1.19's simultaneous-dial stall).
    pub(crate) async fn start_all(&mut self) -> Result<(), FixtureError> {
        let deadline = Instant::now() + self.ready_timeout;
        for node in &self.nodes {
            node.spawn()?;
            node.wait_rest_up(deadline, self.ready_timeout).await?;
        }
        self.wait_ready().await?;
        for (i, node) in self.nodes.iter().enumerate() {
            for peer in &self.nodes[i + 1..] {
                let path = format!("/rest/config/devices/{}", encode(&peer.device_id));
                node.patch_json(&path, &json!({"addresses": [peer.sync_address()]})).await?;
            }
        }
        self.wait_ready().await
    }

    /// Node `i`. Panics if `i` is out of range, like slice indexing; use
    /// [`Cluster::try_node`] for a `Result`.
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// Node `i`, or [`FixtureError::NoSuchNode`].
    pub fn try_node(&self, i: usize) -> Result<&Node, FixtureError> {
        self.nodes.get(i).ok_or(FixtureError::NoSuchNode { index: i, len: self.nodes.len() })
    }

    /// The Syncthing release the nodes run (all run the same binary).
    pub fn syncthing_version(&self) -> SyncthingVersion {
        self.nodes[0].version
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The temporary directory holding every node's home and folders.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_ref().map(TempDir::path)
    }

    /// Polls until every running node answers REST, every pair of running
    /// nodes is connected (both ways) and every folder is idle on every
    /// running node, within the builder's `ready_timeout` (60 s default).
    /// Stopped nodes are left out; a paused pair never becomes ready.
    pub async fn wait_ready(&self) -> Result<(), FixtureError> {
        self.wait_ready_within(self.ready_timeout).await
    }

    /// [`Cluster::wait_ready`] with an explicit deadline.
    pub async fn wait_ready_within(&self, budget: Duration) -> Result<(), FixtureError> {
        ready::wait_cluster_ready(&self.nodes, budget).await
    }

    /// Pauses device `peer` on node `on` (`POST /rest/system/pause`). Only
    /// `on` stops talking to `peer`; `peer` merely sees the connection drop.
    pub async fn pause_device(&self, on: usize, peer: usize) -> Result<(), FixtureError> {
        let peer_id = &self.try_node(peer)?.device_id;
        self.running(on)?.post(&format!("/rest/system/pause?device={}", encode(peer_id))).await
    }

    /// Resumes device `peer` on node `on` (`POST /rest/system/resume`).
    pub async fn resume_device(&self, on: usize, peer: usize) -> Result<(), FixtureError> {
        let peer_id = &self.try_node(peer)?.device_id;
        self.running(on)?.post(&format!("/rest/system/resume?device={}", encode(peer_id))).await
    }

    /// Limits node `node`'s total receive rate to `kib` KiB/s (0 = no
    /// limit), live, via `options.maxRecvKbps` (KiB/s despite the name).
    /// `limitBandwidthInLan` is sent too, because loopback counts as LAN.
    pub async fn set_recv_limit_kibps(&self, node: usize, kib: u32) -> Result<(), FixtureError> {
        self.patch_options(node, json!({"maxRecvKbps": kib, "limitBandwidthInLan": true})).await
    }

    /// `PATCH /rest/config/folders/{folder}` on node `node` with any JSON,
    /// e.g. `{"minDiskFree": {"value": 99, "unit": "%"}}` or
    /// `{"fsWatcherDelayS": 1}`. Syncthing restarts the folder to apply it.
    pub async fn patch_folder(&self, node: usize, folder: &str, patch: Value) -> Result<(), FixtureError> {
        self.running(node)?.patch_json(&format!("/rest/config/folders/{}", encode(folder)), &patch).await
    }

    /// `PATCH /rest/config/options` on node `node` with any JSON.
    pub async fn patch_options(&self, node: usize, patch: Value) -> Result<(), FixtureError> {
        self.running(node)?.patch_json("/rest/config/options", &patch).await
    }

    /// `PATCH /rest/config/devices/{peer}` on node `node`: per-device
    /// settings such as `maxRecvKbps` for one peer.
    pub async fn patch_device(&self, node: usize, peer: usize, patch: Value) -> Result<(), FixtureError> {
        let peer_id = &self.try_node(peer)?.device_id;
        self.running(node)?.patch_json(&format!("/rest/config/devices/{}", encode(peer_id)), &patch).await
    }

    /// Stops node `i` and starts it again with the same home and ports;
    /// returns once its REST API answers (it may not be connected yet:
    /// call [`Cluster::wait_ready`] for that).
    pub async fn restart_node(&mut self, i: usize) -> Result<(), FixtureError> {
        self.stop_node(i).await?;
        self.start_node(i).await
    }

    /// SIGTERM, up to 5 s to exit, then SIGKILL. The home stays.
    pub async fn stop_node(&mut self, i: usize) -> Result<(), FixtureError> {
        self.try_node(i)?.stop().await
    }

    /// Starts a stopped node again and waits for its REST API.
    pub async fn start_node(&mut self, i: usize) -> Result<(), FixtureError> {
        let node = self.try_node(i)?;
        node.spawn()?;
        node.wait_rest_up(Instant::now() + self.ready_timeout, self.ready_timeout).await
    }

    /// Don't delete the homes on drop; print the log paths instead.
    pub fn keep_logs(&mut self) {
        self.keep_logs = true;
    }

    fn running(&self, i: usize) -> Result<&Node, FixtureError> {
        let node = self.try_node(i)?;
        if node.is_running() { Ok(node) } else { Err(FixtureError::NotRunning(node.name.clone())) }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGTERM everyone first, so the nodes shut down in parallel.
        let children: Vec<_> = self.nodes.iter().map(Node::begin_stop).collect();
        for (node, child) in self.nodes.iter().zip(children) {
            if let Some(child) = child
                && let Err(e) = crate::node::wait_blocking(child)
            {
                eprintln!("syncthing-fixtures: stopping node {}: {e}", node.name);
            }
        }
        let keep = self.keep_logs || std::thread::panicking() || std::env::var_os(KEEP_LOGS_ENV).is_some();
        let Some(root) = self.root.take() else { return };
        if keep {
            let path = root.keep();
            eprintln!("syncthing-fixtures: kept the cluster in {}", path.display());
            for node in &self.nodes {
                eprintln!("syncthing-fixtures: node {} log: {}", node.name, node.log_path().display());
            }
        } else if let Err(e) = root.close() {
            eprintln!("syncthing-fixtures: removing the cluster's homes: {e}");
        }
    }
}
