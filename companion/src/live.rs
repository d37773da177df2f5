//! Live badge news inside the daemon: the invitee's badge drivers and the
//! owner's view of members publish [`LiveUpdate`]s, the dashboard forwards
//! them to browsers. A broadcast channel: a slow reader lags and reloads the
//! whole state, it never blocks a driver. The folder summary a driver
//! publishes ([`FolderProgress`], [`StateCounts`]) is defined here so that
//! both roles can use the channel without depending on each other.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloud_protocol::{FileProgress, FileState, ReportedFile};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Updates buffered per reader before it lags.
const CAPACITY: usize = 4096;

/// How many files are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct StateCounts {
    pub synced: usize,
    pub syncing: usize,
    pub pending: usize,
    pub conflict: usize,
    pub error: usize,
    pub deleted: usize,
    /// Announced paths this machine does not sync (`ignored here`).
    #[serde(default)]
    pub ignored: usize,
}

impl StateCounts {
    pub fn add(&mut self, state: FileState) {
        match state {
            FileState::Synced => self.synced += 1,
            FileState::Syncing => self.syncing += 1,
            FileState::Pending => self.pending += 1,
            FileState::Conflict => self.conflict += 1,
            FileState::Error => self.error += 1,
            FileState::Deleted => self.deleted += 1,
            FileState::IgnoredHere => self.ignored += 1,
        }
    }
}

/// The folder as a whole: byte-weighted percent and the measured rate. Stored
/// as the first fields of [`FolderLive`], where the ETA is whole seconds (`eta_s`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FolderProgress {
    /// 0..=100, weighted by each live (not deleted, not ignored here) file's size.
    pub percent: f64,
    pub bytes_total: u64,
    pub bytes_done: u64,
    /// Bytes per second over the last few seconds of pulling, when measured.
    pub rate_bps: Option<f64>,
    /// Time left at that rate, when there is one and something is left.
    #[serde(default, rename = "eta_s", with = "whole_seconds")]
    pub eta: Option<Duration>,
    pub counts: StateCounts,
    /// Syncthing's folder error, if the folder is stopped by one.
    pub folder_error: Option<String>,
}

/// An optional [`Duration`] as a number of whole seconds.
mod whole_seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

/// A folder's summary as shown live (and stored for `companion status`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FolderLive {
    #[serde(flatten)]
    pub folder: FolderProgress,
    /// Per file being pulled: seconds left at its measured rate.
    pub file_eta_s: BTreeMap<String, u64>,
    /// The `.sync-conflict-` copies on this disk, by the path of their
    /// original (for `status`, which names the link).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conflict_copies: BTreeMap<String, Vec<String>>,
    /// RFC 3339, UTC.
    pub at: String,
}

impl FolderLive {
    pub fn new(folder: &FolderProgress, file_eta_s: BTreeMap<String, u64>) -> FolderLive {
        // As stored: the rate rounded, the ETA in whole seconds (so that
        // `same_as` sees no change where the stored row would show none).
        let folder = FolderProgress {
            rate_bps: folder.rate_bps.map(|r| r.round()),
            eta: folder.eta.map(|d| Duration::from_secs(d.as_secs())),
            ..folder.clone()
        };
        FolderLive { folder, file_eta_s, conflict_copies: BTreeMap::new(), at: now() }
    }

    /// The same, naming the conflict copies on disk by original.
    pub fn with_conflict_copies(mut self, copies: BTreeMap<String, Vec<String>>) -> FolderLive {
        self.conflict_copies = copies;
        self
    }

    /// Equal but for the time stamp.
    pub fn same_as(&self, other: &FolderLive) -> bool {
        FolderLive { at: String::new(), ..self.clone() } == FolderLive { at: String::new(), ..other.clone() }
    }
}

/// One piece of news.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveUpdate {
    /// Badges that changed on this machine.
    Files { project_id: Uuid, files: Vec<FileProgress> },
    /// The folder's percent, rate and ETA.
    Folder { project_id: Uuid, folder: FolderLive },
    /// Owner side: a member reported progress.
    Members { project_id: Uuid, user_id: Uuid, name: String, files: Vec<ReportedFile> },
    /// A project was added, revoked or changed otherwise: reload it.
    Project { project_id: Uuid },
}

/// The daemon's live channel. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Live {
    tx: broadcast::Sender<LiveUpdate>,
    folders: Arc<Mutex<HashMap<Uuid, FolderLive>>>,
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        Live { tx: broadcast::channel(CAPACITY).0, folders: Arc::default() }
    }

    /// Sends news to every reader (none is fine).
    pub fn publish(&self, update: LiveUpdate) {
        if let LiveUpdate::Folder { project_id, folder } = &update {
            self.lock().insert(*project_id, folder.clone());
        }
        let _ = self.tx.send(update);
    }

    /// News from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveUpdate> {
        self.tx.subscribe()
    }

    /// The last folder summary of a project, if a driver published one.
    pub fn folder(&self, project: Uuid) -> Option<FolderLive> {
        self.lock().get(&project).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, FolderLive>> {
        self.folders.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `kv` key under which a driver keeps its folder summary for
/// `companion status` (another process).
pub fn folder_key(project: Uuid) -> String {
    format!("progress.folder.{project}")
}

fn now() -> String {
    crate::clock::now_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder summary stored in the manifest's kv table by an earlier build
    /// reads back, and is written again, byte for byte.
    #[test]
    fn the_stored_folder_summary_keeps_its_bytes() {
        let rows = [
            r#"{"percent":42.5,"bytes_total":1000,"bytes_done":425,"rate_bps":1234.0,"eta_s":65,"counts":{"synced":1,"syncing":2,"pending":3,"conflict":0,"error":0,"deleted":0,"ignored":4},"folder_error":null,"file_eta_s":{"big.bin":65},"at":"2026-11-30T21:41:53Z"}"#,
            r#"{"percent":0.0,"bytes_total":0,"bytes_done":0,"rate_bps":null,"eta_s":null,"counts":{"synced":0,"syncing":0,"pending":0,"conflict":1,"error":0,"deleted":0,"ignored":0},"folder_error":"folder path missing","file_eta_s":{},"conflict_copies":{"a.txt":["a.sync-conflict-20261130-214153-ABCDEFG.txt"]},"at":"2026-11-30T21:41:53Z"}"#,
        ];
        for row in rows {
            let live: FolderLive = serde_json::from_str(row).unwrap();
            assert_eq!(serde_json::to_string(&live).unwrap(), row);
        }
        // Rows from before `ignored` was counted still read.
        let old = r#"{"percent":0.0,"bytes_total":0,"bytes_done":0,"rate_bps":null,"eta_s":7,"counts":{"synced":0,"syncing":0,"pending":0,"conflict":0,"error":0,"deleted":0},"folder_error":null,"file_eta_s":{},"at":"x"}"#;
        let live: FolderLive = serde_json::from_str(old).unwrap();
        assert_eq!(live.folder.counts.ignored, 0);
        assert_eq!(live.folder.eta, Some(Duration::from_secs(7)));
    }
}
