//! `/rest/db/*` answers: folder status, completion, file info, need lists, ignores.

use super::FolderState;
use serde::{Deserialize, Serialize};

/// `GET /rest/db/status?folder=`, also the `summary` of a `FolderSummary` event.
///
/// On the downloading node `need_bytes`/`in_sync_bytes` move every second
/// during a pull (docs/syncthing.md §6), so they are a live, if glitchy, progress signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct DbStatus {
    pub errors: i64,
    pub pull_errors: i64,
    pub invalid: String,
    pub ignore_patterns: bool,
    pub state: FolderState,
    /// Whole seconds, RFC 3339.
    pub state_changed: String,
    pub error: Option<String>,
    pub sequence: i64,
    pub version: i64,
    pub global_bytes: i64,
    pub global_deleted: i64,
    pub global_directories: i64,
    pub global_files: i64,
    pub global_symlinks: i64,
    pub global_total_items: i64,
    pub local_bytes: i64,
    pub local_deleted: i64,
    pub local_directories: i64,
    pub local_files: i64,
    pub local_symlinks: i64,
    pub local_total_items: i64,
    pub need_bytes: i64,
    pub need_deletes: i64,
    pub need_directories: i64,
    pub need_files: i64,
    pub need_symlinks: i64,
    pub need_total_items: i64,
    pub in_sync_bytes: i64,
    pub in_sync_files: i64,
    /// Receive-only folders only; zero elsewhere.
    pub receive_only_changed_bytes: i64,
    pub receive_only_changed_deletes: i64,
    pub receive_only_changed_directories: i64,
    pub receive_only_changed_files: i64,
    pub receive_only_changed_symlinks: i64,
    pub receive_only_total_items: i64,
}

/// `GET /rest/db/completion?folder=&device=`, also the body of `FolderCompletion`.
///
/// Traps (docs/syncthing.md §2, §3, §6): an unknown but well-formed device gets
/// `completion: 100` with all counts 0, and `sequence == 0` means the remote
/// never announced anything yet, so 100 % is not to be trusted then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Completion {
    pub completion: f64,
    pub global_bytes: i64,
    pub need_bytes: i64,
    pub global_items: i64,
    pub need_items: i64,
    pub need_deletes: i64,
    pub sequence: i64,
    /// Added in 1.20; absent on 1.19. `valid`, `notSharing`, `paused` or
    /// `unknown` (2.x lib/model/folderstate.go, `remoteFolderState`).
    pub remote_state: Option<String>,
}

impl Completion {
    /// Whether this is a real figure for a *remote* device. 1.20+ say it in
    /// `remoteState` (only `valid` counts: a peer that never announced the
    /// folder shows ~0 % on 2.x); 1.19 has no such field and shows a false
    /// 100 % with `sequence` 0, so there only a non-zero sequence counts.
    /// (For the local device 2.x says `unknown`; ask `db/status` instead.)
    pub fn is_known_for_peer(&self) -> bool {
        match self.remote_state.as_deref() {
            Some(state) => state == "valid",
            None => self.sequence > 0,
        }
    }
}

/// `GET /rest/db/file?folder=&file=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DbFile {
    pub global: FileInfo,
    /// A file not present locally is a zero `FileInfo` (empty name).
    pub local: FileInfo,
    /// Who has it. On the sender during a pull, the puller shows up with
    /// `from_temporary: true` (docs/syncthing.md §3).
    #[serde(deserialize_with = "super::null_as_empty")]
    pub availability: Vec<Availability>,
    /// 1.x only; 2.x has no `mtime` object (2.x lib/api/api.go, `getDBFile`).
    pub mtime: Option<MtimeInfo>,
}

/// One entry of [`DbFile::availability`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Availability {
    pub id: String,
    pub from_temporary: bool,
}

/// `mtime` of [`DbFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MtimeInfo {
    pub err: Option<String>,
    pub value: MtimeValue,
}

/// `mtime.value` of [`DbFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MtimeValue {
    pub real: String,
    #[serde(rename = "virtual")]
    pub virtual_: String,
}

/// Syncthing's view of one file version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct FileInfo {
    pub name: String,
    /// `FILE_INFO_TYPE_FILE`, `FILE_INFO_TYPE_DIRECTORY`, …
    #[serde(rename = "type")]
    pub file_type: String,
    pub size: i64,
    /// RFC 3339 with nanoseconds.
    pub modified: String,
    /// Short device id of the last modifier.
    pub modified_by: String,
    pub deleted: bool,
    pub invalid: bool,
    pub ignored: bool,
    pub no_permissions: bool,
    pub must_rescan: bool,
    /// Bits of [`LocalFlags`]; 8 marks a local change in a receive-only folder.
    pub local_flags: i64,
    /// `null` in need lists (docs/syncthing.md §3).
    pub num_blocks: Option<i64>,
    /// `"0644"`; 2.x leaves it out when the file carries no permission bits
    /// (2.x lib/api/api.go, `fileIntfJSONMap`).
    pub permissions: Option<String>,
    pub sequence: i64,
    /// Version vector entries, `SHORTID:counter`.
    #[serde(deserialize_with = "super::null_as_empty")]
    pub version: Vec<String>,
}

impl FileInfo {
    /// The `localFlags` bits, unknown ones kept.
    pub fn flags(&self) -> LocalFlags {
        LocalFlags(self.local_flags)
    }
}

/// `FileInfo.localFlags`: what this device alone knows about a file (2.x
/// lib/protocol/bep_fileinfo.go, `FlagLocal*`; 1.19 has the first four).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalFlags(pub i64);

impl LocalFlags {
    pub const UNSUPPORTED: i64 = 1;
    pub const IGNORED: i64 = 1 << 1;
    pub const MUST_RESCAN: i64 = 1 << 2;
    /// A local change in a receive-only folder.
    pub const RECEIVE_ONLY: i64 = 1 << 3;
    /// 2.x: this entry is the global version.
    pub const GLOBAL: i64 = 1 << 4;
    /// 2.x: this device needs the file.
    pub const NEEDED: i64 = 1 << 5;
    /// 2.x: a remote marked it invalid.
    pub const REMOTE_INVALID: i64 = 1 << 6;

    pub fn has(self, bit: i64) -> bool {
        self.0 & bit != 0
    }

    /// Changed here in a receive-only folder (so not the owner's version).
    pub fn is_receive_only_change(self) -> bool {
        self.has(Self::RECEIVE_ONLY)
    }

    /// Set for reasons other than this device's content: ignored here,
    /// unsupported here, or invalid at a remote.
    pub fn is_unusable_here(self) -> bool {
        self.has(Self::IGNORED | Self::UNSUPPORTED | Self::REMOTE_INVALID)
    }
}

/// `GET /rest/db/need?folder=`: what this device still needs, in pull order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Need {
    /// Being pulled now.
    #[serde(deserialize_with = "super::null_as_empty")]
    pub progress: Vec<FileInfo>,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub queued: Vec<FileInfo>,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub rest: Vec<FileInfo>,
    pub page: i64,
    pub perpage: i64,
}

impl Need {
    /// Every needed file, in Syncthing's order.
    pub fn files(&self) -> impl Iterator<Item = &FileInfo> {
        self.progress.iter().chain(&self.queued).chain(&self.rest)
    }
}

/// `GET /rest/db/remoteneed` and `/rest/db/localchanged`: a page of files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FileList {
    #[serde(deserialize_with = "super::null_as_empty")]
    pub files: Vec<FileInfo>,
    pub page: i64,
    pub perpage: i64,
}

/// `GET /rest/db/ignores?folder=`: the `.stignore` lines and their expansion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Ignores {
    #[serde(deserialize_with = "super::null_as_empty")]
    pub ignore: Vec<String>,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub expanded: Vec<String>,
    /// A parse error in `.stignore`, if any.
    pub error: Option<String>,
}

/// One entry of `GET /rest/db/browse?folder=` (a list in 1.19).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct BrowseEntry {
    pub name: String,
    pub mod_time: String,
    pub size: i64,
    #[serde(rename = "type")]
    pub file_type: String,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub children: Vec<BrowseEntry>,
}
