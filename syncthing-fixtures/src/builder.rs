//! [`ClusterBuilder`]: what to start (nodes, folders, knobs) and the setup
//! that turns it into running, paired nodes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::binary::{check_binary, syncthing_binary};
use crate::config::{self, FolderEntry, NodeSettings, PeerEntry};
use crate::node::{NodeSetup, api_key_for};
use crate::ports::free_ports;
use crate::{Cluster, FixtureError, Node, syncthing_version_of};

/// Syncthing's folder types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FolderType {
    SendReceive,
    SendOnly,
    ReceiveOnly,
}

impl FolderType {
    /// The name Syncthing uses in config.xml and the REST API.
    pub fn as_str(self) -> &'static str {
        match self {
            FolderType::SendReceive => "sendreceive",
            FolderType::SendOnly => "sendonly",
            FolderType::ReceiveOnly => "receiveonly",
        }
    }
}

impl fmt::Display for FolderType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FolderType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "sendreceive" => Ok(FolderType::SendReceive),
            "sendonly" => Ok(FolderType::SendOnly),
            "receiveonly" => Ok(FolderType::ReceiveOnly),
            _ => Err(format!("unknown folder type {s:?} (expected sendreceive, sendonly or receiveonly)")),
        }
    }
}

/// Syncthing's own default for `fsWatcherDelayS`.
pub const DEFAULT_FS_WATCHER_DELAY_S: u32 = 10;
/// Folder shared when the builder names none.
pub const DEFAULT_FOLDER_ID: &str = "proj";
/// Default deadline for [`Cluster::wait_ready`].
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct FolderSpec {
    id: String,
    types: Vec<FolderType>,
    fs_watcher_delay_s: Option<u32>,
}

/// Describes a cluster to start; see [`Cluster::builder`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    nodes: usize,
    folders: Vec<FolderSpec>,
    fs_watcher_delay_s: u32,
    progress_update_interval_s: Option<u32>,
    reconnection_interval_s: Option<u32>,
    recv_limits: Vec<(usize, u32)>,
    ready_timeout: Duration,
    binary: Option<PathBuf>,
    keep_logs: bool,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClusterBuilder {
    /// Two nodes; if no folder is added, one sendreceive folder `proj`.
    pub fn new() -> Self {
        ClusterBuilder {
            nodes: 2,
            folders: Vec::new(),
            fs_watcher_delay_s: DEFAULT_FS_WATCHER_DELAY_S,
            progress_update_interval_s: None,
            reconnection_interval_s: None,
            recv_limits: Vec::new(),
            ready_timeout: DEFAULT_READY_TIMEOUT,
            binary: None,
            keep_logs: false,
        }
    }

    /// Number of nodes, named "A", "B", ... in order.
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    /// Shares folder `id` among all nodes; `types[i]` is its type on node
    /// `i`. A single type applies to every node.
    pub fn folder(mut self, id: &str, types: &[FolderType]) -> Self {
        self.folders.push(FolderSpec { id: id.to_string(), types: types.to_vec(), fs_watcher_delay_s: None });
        self
    }

    /// `fsWatcherDelayS` of every folder (Syncthing's default is 10; tests
    /// usually want 1).
    pub fn fs_watcher_delay_s(mut self, s: u32) -> Self {
        self.fs_watcher_delay_s = s;
        self
    }

    /// `fsWatcherDelayS` of one folder, overriding [`Self::fs_watcher_delay_s`].
    /// Call it after [`Self::folder`]; an unknown folder is an error at start.
    pub fn folder_fs_watcher_delay_s(mut self, id: &str, s: u32) -> Self {
        match self.folders.iter_mut().find(|f| f.id == id) {
            Some(folder) => folder.fs_watcher_delay_s = Some(s),
            // Recorded as an invalid spec so start() reports it.
            None => {
                self.folders.push(FolderSpec { id: id.to_string(), types: Vec::new(), fs_watcher_delay_s: Some(s) })
            }
        }
        self
    }

    /// `options.progressUpdateIntervalS` on every node (Syncthing's default
    /// is 5; it paces `DownloadProgress` events).
    pub fn progress_update_interval_s(mut self, s: u32) -> Self {
        self.progress_update_interval_s = Some(s);
        self
    }

    /// `options.reconnectionIntervalS` on every node (default 60). Lower it
    /// in tests that pause/resume or stop nodes and want fast redials.
    pub fn reconnection_interval_s(mut self, s: u32) -> Self {
        self.reconnection_interval_s = Some(s);
        self
    }

    /// Receive limit in KiB/s on node `node` from the first start (applied
    /// as `options.maxRecvKbps`; `limitBandwidthInLan` is always on).
    pub fn recv_limit_kibps(mut self, node: usize, kib: u32) -> Self {
        self.recv_limits.push((node, kib));
        self
    }

    /// Deadline for readiness at start and for [`Cluster::wait_ready`].
    pub fn ready_timeout(mut self, d: Duration) -> Self {
        self.ready_timeout = d;
        self
    }

    /// Use this binary instead of `$SYNCTHING_BIN` / `PATH`.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Keep the homes (and print the log paths) when the cluster is dropped.
    pub fn keep_logs(mut self) -> Self {
        self.keep_logs = true;
        self
    }

    /// Generates, configures and starts every node, then waits until the
    /// cluster is ready (see [`Cluster::wait_ready`]). If readiness fails,
    /// the nodes are stopped but their homes are kept for the logs.
    pub async fn start(self) -> Result<Cluster, FixtureError> {
        let binary = match &self.binary {
            Some(path) => check_binary(path)?,
            None => syncthing_binary()?,
        };
        let version = syncthing_version_of(&binary)?;
        let folders = self.folder_specs()?;
        let root = tempfile::Builder::new()
            .prefix("st-fixture-")
            .tempdir()
            .map_err(FixtureError::io("creating the cluster's temporary directory"))?;
        let ports = free_ports(self.nodes * 2).map_err(FixtureError::io("choosing free loopback ports"))?;

        let mut names = Vec::new();
        let mut ids = Vec::new();
        for i in 0..self.nodes {
            let name = node_name(i);
            let home = root.path().join(&name).join("home");
            std::fs::create_dir_all(&home).map_err(FixtureError::io(format!("creating {}", home.display())))?;
            ids.push(config::generate(&binary, &home).await?);
            names.push(name);
        }

        let folder_ids: Vec<String> = folders.iter().map(|f| f.id.clone()).collect();
        let mut nodes = Vec::new();
        for i in 0..self.nodes {
            let dir = root.path().join(&names[i]);
            let setup = NodeSetup {
                name: names[i].clone(),
                device_id: ids[i].clone(),
                home: dir.join("home"),
                data_dir: dir.join("sync"),
                gui_port: ports[2 * i],
                sync_port: ports[2 * i + 1],
                folder_ids: folder_ids.clone(),
                binary: binary.clone(),
                version,
            };
            self.write_config(i, &setup, &names, &ids, &ports, &folders)?;
            nodes.push(Node::new(setup)?);
        }

        let mut cluster = Cluster::new(nodes, root, self.ready_timeout, self.keep_logs);
        let started = cluster.start_all().await;
        if started.is_err() {
            // The caller gets only the error; the logs are what explains it.
            cluster.keep_logs();
        }
        started.map(|()| cluster)
    }

    /// Validated folders with one type per node; the default folder if none.
    fn folder_specs(&self) -> Result<Vec<FolderSpec>, FixtureError> {
        if self.nodes == 0 {
            return Err(FixtureError::Setup("a cluster needs at least one node".into()));
        }
        if let Some(&(node, _)) = self.recv_limits.iter().find(|(node, _)| *node >= self.nodes) {
            return Err(FixtureError::Setup(format!("recv_limit_kibps for node {node}, but there are {}", self.nodes)));
        }
        if self.folders.is_empty() {
            let types = vec![FolderType::SendReceive; self.nodes];
            return Ok(vec![FolderSpec { id: DEFAULT_FOLDER_ID.into(), types, fs_watcher_delay_s: None }]);
        }
        let mut specs = Vec::new();
        for spec in &self.folders {
            let valid_id = !spec.id.is_empty() && !spec.id.contains(['/', '\\']) && spec.id != "." && spec.id != "..";
            if !valid_id {
                return Err(FixtureError::Setup(format!("folder id {:?} cannot be used as a directory name", spec.id)));
            }
            if specs.iter().any(|s: &FolderSpec| s.id == spec.id) {
                return Err(FixtureError::Setup(format!("folder {:?} added twice", spec.id)));
            }
            let types = match spec.types.len() {
                0 => {
                    return Err(FixtureError::Setup(format!(
                        "folder {:?} has no types (call .folder() before .folder_fs_watcher_delay_s())",
                        spec.id
                    )));
                }
                1 => vec![spec.types[0]; self.nodes],
                n if n == self.nodes => spec.types.clone(),
                n => {
                    return Err(FixtureError::Setup(format!(
                        "folder {:?} has {n} types for {} nodes (give one per node, or one for all)",
                        spec.id, self.nodes
                    )));
                }
            };
            specs.push(FolderSpec { types, ..spec.clone() });
        }
        Ok(specs)
    }

    /// Edits node `i`'s generated config.xml and creates its folder roots.
    fn write_config(
        &self,
        i: usize,
        setup: &NodeSetup,
        names: &[String],
        ids: &[String],
        ports: &[u16],
        folders: &[FolderSpec],
    ) -> Result<(), FixtureError> {
        let api_key = api_key_for(&setup.name);
        let settings = NodeSettings {
            name: &setup.name,
            api_key: &api_key,
            gui_port: setup.gui_port,
            sync_port: setup.sync_port,
            progress_update_interval_s: self.progress_update_interval_s,
            max_recv_kibps: self.recv_limits.iter().rev().find(|(n, _)| *n == i).map_or(0, |(_, kib)| *kib),
            reconnection_interval_s: self.reconnection_interval_s,
        };
        // Only later nodes dial earlier ones at first start: when two 1.19
        // nodes dial each other at the same moment, each handles its
        // connections' Hello exchange one at a time, each waits on the
        // connection the other is not handling yet, and both stall for the
        // 20 s Hello timeout (seen in 2 of 8 cold starts). Once connected,
        // Cluster::start_all gives every node every peer's address.
        let peers: Vec<PeerEntry<'_>> = (0..names.len())
            .filter(|&j| j != i)
            .map(|j| PeerEntry {
                name: &names[j],
                device_id: &ids[j],
                address: (j < i).then(|| format!("tcp://127.0.0.1:{}", ports[2 * j + 1])),
            })
            .collect();
        let paths: Vec<PathBuf> = folders.iter().map(|f| setup.data_dir.join(&f.id)).collect();
        for path in &paths {
            // Syncthing refuses to use a folder root without its marker.
            let marker = path.join(".stfolder");
            std::fs::create_dir_all(&marker).map_err(FixtureError::io(format!("creating {}", marker.display())))?;
        }
        let entries: Vec<FolderEntry<'_>> = folders
            .iter()
            .zip(&paths)
            .map(|(f, path)| FolderEntry {
                id: &f.id,
                path,
                folder_type: f.types[i].as_str(),
                fs_watcher_delay_s: f.fs_watcher_delay_s.unwrap_or(self.fs_watcher_delay_s),
                device_ids: ids,
            })
            .collect();
        let path = setup.home.join("config.xml");
        let xml = std::fs::read_to_string(&path).map_err(FixtureError::io(format!("reading {}", path.display())))?;
        let edited = config::edit_config(&xml, &setup.device_id, &settings, &peers, &entries)
            .map_err(|detail| FixtureError::ConfigXml { path: path.clone(), detail })?;
        write_file(&path, &edited)
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), FixtureError> {
    std::fs::write(path, text).map_err(FixtureError::io(format!("writing {}", path.display())))
}

/// "A".."Z", then "N26", "N27", ...
fn node_name(i: usize) -> String {
    match u8::try_from(i) {
        Ok(i) if i < 26 => char::from(b'A' + i).to_string(),
        _ => format!("N{i}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_type_round_trips() {
        for t in [FolderType::SendReceive, FolderType::SendOnly, FolderType::ReceiveOnly] {
            assert_eq!(t.as_str().parse::<FolderType>(), Ok(t));
        }
        assert_eq!("send-only".parse::<FolderType>(), Ok(FolderType::SendOnly));
        assert!("both".parse::<FolderType>().is_err());
    }

    #[test]
    fn node_names() {
        assert_eq!(node_name(0), "A");
        assert_eq!(node_name(25), "Z");
        assert_eq!(node_name(26), "N26");
    }

    #[test]
    fn folder_types_must_match_node_count() {
        let b = ClusterBuilder::new().nodes(3).folder("f", &[FolderType::SendOnly, FolderType::ReceiveOnly]);
        assert!(matches!(b.folder_specs(), Err(FixtureError::Setup(_))));
        let b = ClusterBuilder::new().nodes(3).folder("f", &[FolderType::SendOnly]);
        assert_eq!(b.folder_specs().unwrap()[0].types, vec![FolderType::SendOnly; 3]);
        let b = ClusterBuilder::new().folder_fs_watcher_delay_s("nope", 1);
        assert!(b.folder_specs().is_err());
        assert_eq!(ClusterBuilder::new().folder_specs().unwrap()[0].id, DEFAULT_FOLDER_ID);
    }
}
