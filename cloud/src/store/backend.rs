//! What differs between the two databases, and nothing else: the trait each store
//! implements for the queries in `sql/`, which are written once.

use cloud_protocol::{Event, FileProgress};
use sqlx::{Database, Pool, Transaction};

use super::StoreResult;
use super::plan::{Delete, Upsert};

/// A connection of the backend's database.
pub(crate) type Conn<B> = <<B as Backend>::Db as Database>::Connection;
/// A transaction of the backend's database.
pub(crate) type Tx<B> = Transaction<'static, <B as Backend>::Db>;

/// The bits of SQL that differ.
pub(crate) struct Dialect {
    /// Appended to a text column, makes comparisons and `ORDER BY` byte order, the
    /// order progress cursors rely on.
    pub byte_order: &'static str,
    /// Starts a write transaction: what keeps writers of one project in line.
    pub begin_write: &'static str,
    /// Starts a read-only transaction whose statements all see one snapshot.
    pub begin_snapshot: &'static str,
}

/// Who writes, to which project and when: what every row of a bulk write shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp<'a> {
    pub project: &'a str,
    /// The actor of a batch (`deleted_by`), the member of a progress report.
    pub who: &'a str,
    pub now_ms: i64,
}

pub(crate) trait Backend: Send + Sync + 'static {
    type Db: Database;
    const DIALECT: Dialect;

    /// Where reads go, and where writes go.
    fn pools(&self) -> (&Pool<Self::Db>, &Pool<Self::Db>);
    /// A batch or a progress report was committed (SQLite's checkpointer listens).
    fn wrote(&self) {}

    // Bulk reads and writes: one statement (or a few) whatever the number of rows.

    /// Which of `paths` the project has a file row for (live or deleted).
    async fn existing_paths(conn: &mut Conn<Self>, project: &str, paths: &[&str]) -> StoreResult<Vec<String>>;
    async fn insert_events(conn: &mut Conn<Self>, at: Stamp<'_>, events: &[Event]) -> StoreResult<()>;
    /// Creates or updates `remote_files` rows, ending with [`ON_FILE_CONFLICT`].
    async fn upsert_files(conn: &mut Conn<Self>, project: &str, upserts: &[Upsert<'_>]) -> StoreResult<()>;
    /// Marks known paths deleted, keeping when and by whom they were first deleted; a
    /// path never seen keeps no row, only its event.
    async fn delete_files(conn: &mut Conn<Self>, at: Stamp<'_>, deletes: &[Delete<'_>]) -> StoreResult<()>;
    /// Upserts one member's reports (one per path), ending with [`ON_PROGRESS_CONFLICT`].
    async fn upsert_progress(conn: &mut Conn<Self>, at: Stamp<'_>, files: &[&FileProgress]) -> StoreResult<()>;
}

/// How an upsert changes a `remote_files` row: the version moves only when the
/// content (hash) does, and a re-created path is no longer deleted.
pub(crate) const ON_FILE_CONFLICT: &str = " ON CONFLICT (project_id, path) DO UPDATE SET size = excluded.size, \
    hash = excluded.hash, mtime = excluded.mtime, seq = excluded.seq, version = CASE \
    WHEN remote_files.hash <> excluded.hash THEN remote_files.version + 1 ELSE remote_files.version END, \
    deleted_at = NULL, deleted_by = NULL";

/// A member's newer report on a file replaces the older one.
pub(crate) const ON_PROGRESS_CONFLICT: &str = " ON CONFLICT (project_id, user_id, path) DO UPDATE SET \
    state = excluded.state, percent = excluded.percent, local_hash = excluded.local_hash, \
    error = excluded.error, reported_at = excluded.reported_at";
