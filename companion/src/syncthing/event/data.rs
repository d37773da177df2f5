//! The `data` payloads of Syncthing's events (docs/syncthing.md §5), one struct per shape.

use crate::syncthing::types::{Completion, DbStatus, FolderState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `Starting`: the first event of a Syncthing process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartingData {
    pub home: String,
    #[serde(rename = "myID")]
    pub my_id: String,
}

/// `StartupComplete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartupCompleteData {
    #[serde(rename = "myID")]
    pub my_id: String,
}

/// `ListenAddressesChanged`: Go `url.URL`s, of which only a few fields matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenAddressesChangedData {
    pub address: GoUrl,
    #[serde(default, deserialize_with = "crate::syncthing::types::null_as_empty")]
    pub lan: Vec<GoUrl>,
    #[serde(default, deserialize_with = "crate::syncthing::types::null_as_empty")]
    pub wan: Vec<GoUrl>,
}

/// A Go `url.URL` as JSON (capitalised field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct GoUrl {
    #[serde(rename = "Scheme")]
    pub scheme: String,
    #[serde(rename = "Host")]
    pub host: String,
    #[serde(rename = "Path")]
    pub path: String,
}

/// `DeviceConnected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceConnectedData {
    pub id: String,
    /// Absent when the connection has no remote address (2.x
    /// lib/model/model.go, `AddConnection`, sets it only `if addr != nil`).
    /// 2.x also sends one event per connection, up to 3 per device.
    #[serde(default)]
    pub addr: Option<String>,
    #[serde(default)]
    pub client_name: String,
    #[serde(default)]
    pub client_version: String,
    #[serde(default)]
    pub device_name: String,
    #[serde(rename = "type", default)]
    pub connection_type: String,
}

/// `DeviceDisconnected`; `error` says why ("device is paused", a reset, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDisconnectedData {
    pub id: String,
    #[serde(default)]
    pub error: String,
}

/// `DevicePaused` and `DeviceResumed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRef {
    pub device: String,
}

/// `StateChanged`. `duration` is absent on the first change and wrong
/// anyway (measured from a second-truncated timestamp, docs/syncthing.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChangedData {
    pub folder: String,
    pub from: FolderState,
    pub to: FolderState,
    #[serde(default)]
    pub duration: Option<f64>,
}

/// What a disk change did. New files say `Modified` too: there is no "added".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ChangeAction {
    Modified,
    Deleted,
    Other(String),
}

impl From<String> for ChangeAction {
    fn from(s: String) -> Self {
        match s.as_str() {
            "modified" => Self::Modified,
            "deleted" => Self::Deleted,
            _ => Self::Other(s),
        }
    }
}

impl From<ChangeAction> for String {
    fn from(a: ChangeAction) -> Self {
        match a {
            ChangeAction::Modified => "modified".into(),
            ChangeAction::Deleted => "deleted".into(),
            ChangeAction::Other(s) => s,
        }
    }
}

/// `LocalChangeDetected` and `RemoteChangeDetected`. A rename shows up as
/// `Modified(new)` plus `Deleted(old)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeDetectedData {
    pub action: ChangeAction,
    /// `file`, `dir`, `symlink`.
    #[serde(rename = "type")]
    pub item_type: String,
    pub path: String,
    pub folder: String,
    #[serde(rename = "folderID", default)]
    pub folder_id: String,
    #[serde(default)]
    pub label: String,
    /// Short device id.
    #[serde(default)]
    pub modified_by: String,
}

/// `LocalIndexUpdated`: a local scan or pull changed these files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalIndexUpdatedData {
    pub folder: String,
    pub items: i64,
    #[serde(default, deserialize_with = "crate::syncthing::types::null_as_empty")]
    pub filenames: Vec<String>,
    #[serde(default)]
    pub sequence: i64,
    #[serde(default)]
    pub version: i64,
}

/// `RemoteIndexUpdated`: a peer announced changes. No file names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteIndexUpdatedData {
    pub device: String,
    pub folder: String,
    pub items: i64,
    #[serde(default)]
    pub sequence: i64,
    #[serde(default)]
    pub version: i64,
}

/// `ItemStarted`; `action` is `update`, `delete` or `metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemStartedData {
    pub folder: String,
    pub item: String,
    #[serde(rename = "type")]
    pub item_type: String,
    pub action: String,
}

/// `ItemFinished`; `error: None` means the item is done (treat as 100 %).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFinishedData {
    pub folder: String,
    pub item: String,
    #[serde(rename = "type")]
    pub item_type: String,
    pub action: String,
    #[serde(default)]
    pub error: Option<String>,
}

/// `DownloadProgress` (puller side): folder → file → counters. An empty map
/// means nothing is in progress any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct DownloadProgressData(pub BTreeMap<String, BTreeMap<String, PullerProgress>>);

/// Progress of one file being pulled, counted in blocks (docs/syncthing.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct PullerProgress {
    pub total: i64,
    pub reused: i64,
    pub copied_from_origin: i64,
    pub copied_from_origin_shifted: i64,
    pub copied_from_elsewhere: i64,
    pub pulled: i64,
    pub pulling: i64,
    /// An estimate; use `blocks_done()/total` for the ratio.
    pub bytes_done: i64,
    /// An estimate, one block short when the size is a block multiple.
    pub bytes_total: i64,
}

impl PullerProgress {
    /// Blocks in place: reused + copied (origin, elsewhere) + pulled.
    pub fn blocks_done(&self) -> i64 {
        self.reused + self.copied_from_origin + self.copied_from_elsewhere + self.pulled
    }
}

/// `RemoteDownloadProgress` (sender side): blocks the peer has per file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteDownloadProgressData {
    pub device: String,
    pub folder: String,
    #[serde(default)]
    pub state: BTreeMap<String, i64>,
}

/// `FolderSummary`: the folder's `db/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderSummaryData {
    pub folder: String,
    pub summary: DbStatus,
}

/// `FolderCompletion`: how complete a connected peer is for a folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderCompletionData {
    pub folder: String,
    pub device: String,
    #[serde(flatten)]
    pub completion: Completion,
}

/// `FolderErrors`: per-item pull errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderErrorsData {
    pub folder: String,
    #[serde(default, deserialize_with = "crate::syncthing::types::null_as_empty")]
    pub errors: Vec<FileError>,
}

/// One entry of [`FolderErrorsData`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    pub path: String,
    pub error: String,
}

/// `FolderScanProgress`: bytes hashed so far in a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderScanProgressData {
    pub folder: String,
    pub current: i64,
    pub total: i64,
    #[serde(default)]
    pub rate: f64,
}

/// `FolderPaused` and `FolderResumed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderRef {
    pub id: String,
    #[serde(default)]
    pub label: String,
}
