//! The badge engine's vocabulary: what it is told (the cloud's expectation,
//! disk facts), what it asks for ([`Action`]), and what it reports
//! (per-file [`FileProgress`] and the byte-weighted [`crate::live::FolderProgress`]).

use std::sync::Arc;

use cloud_protocol::FileState;

use crate::hash::FileStamp;
use crate::manifest::RemoteFileRow;

/// What the cloud says a path should be (the owner's version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub size: u64,
    /// `blake3:<hex>`; empty for a delete never preceded by content. Shared
    /// (`Arc`) with the disk fact and the badge when they agree, so a synced
    /// file keeps one copy of its hash (100,000 files must fit in little memory).
    pub hash: Arc<str>,
    /// The owner's mtime, ms since the epoch: matched against Syncthing's
    /// global version to tell "Syncthing has this version" from "an older one".
    pub mtime_ms: i64,
    pub deleted: bool,
}

impl From<&RemoteFileRow> for Expected {
    fn from(row: &RemoteFileRow) -> Self {
        Expected {
            size: row.size,
            hash: row.hash.as_str().into(),
            mtime_ms: row.mtime,
            deleted: row.deleted_at.is_some(),
        }
    }
}

/// What we know of the file on this disk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DiskFact {
    /// Not looked at since the last reason to (a hash is asked for).
    #[default]
    Unknown,
    Missing,
    Present {
        hash: Arc<str>,
        stamp: FileStamp,
        /// The file's inode when hashed, if known: with the stamp, what lets
        /// a later look skip the read (a file replaced by another one with
        /// the same size and mtime has another inode).
        inode: Option<u64>,
    },
    /// The path is one this machine's Syncthing does not sync (its own
    /// files, temporary files, or ignored in this folder's `.stignore`):
    /// never read, never reported with a hash.
    IgnoredHere,
    /// It exists but cannot be read (kept as words for the badge).
    Unreadable(String),
}

/// The result of an [`Action::Hash`], as the driver feeds it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOutcome {
    Hashed {
        hash: String,
        stamp: FileStamp,
        /// The inode of what was read, when it could be told for sure.
        inode: Option<u64>,
    },
    /// Stamp and inode equal the `known` ones of the request: the file was
    /// not read, the old hash stands.
    Unchanged,
    Missing,
    Failed(String),
}

/// Work the engine wants done; the driver does it and feeds the answer back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Hash the file (answer: [`crate::invitee::badge::Engine::hashed`]). With
    /// `known`, an unchanged size+mtime (+inode, when known) skips the read:
    /// used when rebuilding after a restart and when a path is announced
    /// again; after a pull or a local change we always read.
    Hash { path: String, known: Option<Verified> },
    /// `GET /rest/db/file` (answer: `Engine::db_file`).
    QueryFile { path: String },
    /// `GET /rest/db/need` (answer: `Engine::need`).
    QueryNeed,
    /// `GET /rest/db/status` (answer: `Engine::folder_status`).
    QueryFolderStatus,
    /// List every `.sync-conflict-` copy in the folder (answer: `Engine::conflict_copies`).
    ListConflictCopies,
    /// Does this conflict copy exist? (answer: `Engine::copy_seen`).
    CheckCopy { path: String },
}

/// What a file looked like when its hash was last taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verified {
    pub stamp: FileStamp,
    /// `None` for badges saved before inodes were kept: the stamp alone decides.
    pub inode: Option<u64>,
}

/// A badge as persisted and reported before the restart, used until the
/// disk has been looked at again so a restart does not flicker to pending.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    pub state: FileState,
    pub percent: f64,
    pub local_hash: Option<String>,
    pub error: Option<String>,
    /// The stamp the file had when `local_hash` was taken.
    pub stamp: Option<FileStamp>,
    /// Its inode then, when known.
    pub inode: Option<u64>,
}

/// Badge percentages are kept to 0.1 so that a changed estimate below
/// that does not count as a change worth persisting or reporting.
pub fn round_percent(p: f64) -> f64 {
    if p.is_finite() { (p.clamp(0.0, 100.0) * 10.0).round() / 10.0 } else { 0.0 }
}
