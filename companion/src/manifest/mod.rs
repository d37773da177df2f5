//! The companion's own durable state: one SQLite file per state directory
//! (`STATE_DIR/manifest.db`).
//!
//! - `projects`: the cloud projects this machine takes part in, and each
//!   one's applied event cursor;
//! - `local_files` (owner): what we last saw on disk and last sent, so an
//!   unchanged file is neither hashed nor sent twice;
//! - `outbox` (owner): batches of changes waiting for the cloud's
//!   acknowledgement, so an outage delays changes but never loses them;
//! - `remote_files` (invitee): the state the cloud announced;
//! - `file_states` (invitee): the badge engine's per-file results;
//! - `member_progress` (owner): what each member last reported, per file,
//!   and `member_heard`: when each member was last heard from;
//! - `kv`: small values such as a folder's last published summary.
//!
//! [`Manifest`] wraps one `rusqlite::Connection`; it is `Send`, so async code
//! uses it from `spawn_blocking` or a dedicated thread. Every multi-row
//! change is one transaction. WAL with `synchronous=NORMAL`: a process crash
//! loses nothing committed; a power cut may lose the last commits, which the
//! start-up scan and the cloud's own sequence recover.

mod badges;
pub mod db;
mod files;
mod members;
mod outbox;
mod projects;
mod remote;
mod schema;
mod states;

pub use badges::BadgeRow;
pub use members::MemberFileRow;
pub use outbox::{OutboxBatch, OutboxCount, QuarantinedBatch};
pub use projects::{ProjectRow, ProjectStatus};
pub use remote::RemoteFileRow;
pub use states::FileStateRow;

pub use files::LocalFile;
pub(crate) use files::LocalStamp;
pub use schema::SCHEMA_VERSION;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};
use uuid::Uuid;

use crate::state_dir::MANIFEST_FILE;

/// How long a write waits for another process (say `companion status`)
/// holding the database before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What went wrong with the manifest. Open-time errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot create the state directory {}: {source}", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the manifest {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the manifest {} is damaged or not a manifest ({source}); move it aside to start afresh", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the manifest {} has schema version {found}, newer than the {known} this companion knows; upgrade the companion", path.display())]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("manifest database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("manifest row is damaged: {0}")]
    Decode(String),
    #[error("project {0} is not in the manifest")]
    UnknownProject(Uuid),
    #[error("project {0} is already in the manifest")]
    DuplicateProject(Uuid),
    #[error("folder path {0:?} is not UTF-8")]
    NonUtf8Path(PathBuf),
    #[error("invalid change for {path:?}: {source}")]
    InvalidChange {
        path: String,
        #[source]
        source: cloud_protocol::ChangeError,
    },
    #[error("outbox batch {0} does not exist or is not pending")]
    UnknownBatch(i64),
    #[error("outbox batch {id} has {len} changes; entry {index} is out of range or repeated")]
    BadIndex { id: i64, index: usize, len: usize },
    #[error("acknowledgement of batch {id} has first_seq {first} > last_seq {last}")]
    BadAck { id: i64, first: i64, last: i64 },
    #[error("event gap in project {project}: expected seq {expected}, got {got}")]
    Gap { project: Uuid, expected: i64, got: i64 },
    #[error("event seq {seq} of project {project} is invalid: {reason}")]
    InvalidEvent { project: Uuid, seq: i64, reason: String },
}

pub type Result<T, E = ManifestError> = std::result::Result<T, E>;

/// The manifest database. See the module docs.
#[derive(Debug)]
pub struct Manifest {
    conn: Connection,
    path: PathBuf,
}

impl Manifest {
    /// Opens (creating if needed) `state_dir/manifest.db`.
    pub fn open_in(state_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(state_dir)
            .map_err(|source| ManifestError::StateDir { path: state_dir.to_path_buf(), source })?;
        Self::open(&state_dir.join(MANIFEST_FILE))
    }

    /// Opens (creating if needed) the manifest at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|source| ManifestError::Open { path: path.to_path_buf(), source })?;
        let mut manifest = Manifest { conn, path: path.to_path_buf() };
        manifest.configure().map_err(|e| manifest.open_error(e))?;
        schema::migrate(&mut manifest.conn, path)?;
        Ok(manifest)
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        // Several connections write (badge driver, member task, outbox
        // sender...) and our transactions read before they write. A deferred
        // one that finds another connection committed since its read fails
        // at once with SQLITE_BUSY, which the busy timeout does not cover;
        // taking the write lock at BEGIN makes writers queue instead.
        self.conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        // journal_mode answers with a row, so read it rather than execute it.
        let _mode: String = self.conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        self.conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        Ok(())
    }

    fn open_error(&self, source: rusqlite::Error) -> ManifestError {
        open_error(&self.path, source)
    }
}

/// A damaged or foreign file says so and names itself; anything else is an open error.
fn open_error(path: &Path, source: rusqlite::Error) -> ManifestError {
    let corrupt = matches!(source.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt));
    let path = path.to_path_buf();
    if corrupt { ManifestError::Corrupt { path, source } } else { ManifestError::Open { path, source } }
}

/// Now, as the RFC 3339 UTC text stored in timestamp columns.
fn now() -> String {
    crate::clock::now_rfc3339()
}

/// Sizes are u64 in Rust and i64 in SQLite; no real file reaches 2^63 bytes.
fn size_to_sql(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

fn size_from_sql(size: i64) -> u64 {
    u64::try_from(size).unwrap_or(0)
}

/// Deletes the row of `project`'s `path` from `table` (a table keyed by both).
/// False if there was none.
fn delete_path(conn: &Connection, table: &str, project: Uuid, path: &str) -> Result<bool> {
    let sql = format!("DELETE FROM {table} WHERE project_id = ?1 AND path = ?2");
    Ok(conn.execute(&sql, rusqlite::params![project.to_string(), path])? > 0)
}

fn parse_uuid(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| ManifestError::Decode(format!("bad project id {text:?}: {e}")))
}
