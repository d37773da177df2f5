//! SQLite backend of [`Store`]: one database file in WAL mode, one writer connection
//! and a small pool of read-only connections.
//!
//! Every write goes through a pool of exactly one connection and starts with
//! `BEGIN IMMEDIATE`, so concurrent writers queue in the pool instead of failing with
//! `SQLITE_BUSY` half-way through a transaction; in WAL mode readers never block the
//! writer nor each other. `synchronous=FULL` syncs the WAL at every commit, so an
//! acknowledged change survives a crash, a SIGKILL or a power cut. WAL checkpoints run
//! beside the writer ([`checkpoint`]), not inside its commits. The database is
//! private to the service ([`private`]): directories 0700, files 0600.

mod checkpoint;
mod private;

/// The shared queries, compiled for this store (and once more for the other).
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "instantiated once per backend on purpose")]
mod sql;
type Here = SqliteStore;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cloud_protocol::{Event, FileProgress};
use sqlx::migrate::Migrator;
use sqlx::query_builder::Separated;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::StoreResult;
use super::backend::{Backend, Dialect, ON_FILE_CONFLICT, ON_PROGRESS_CONFLICT, Stamp};
use super::plan::{Delete, Upsert};
use super::rows::size_to_db;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits on a lock held by another process (another `cloud`, the
/// `sqlite3` shell) before giving up. Inside this process the write pool already queues.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers: enough for concurrent page loads and backlogs on a small machine.
const READERS: u32 = 4;
/// The writer checkpoints by itself only past this many WAL pages (16 MiB): the bound
/// on the WAL should the background checkpoints fall behind.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 4000;
/// SQLite's default cap on bound parameters per statement (`SQLITE_MAX_VARIABLE_NUMBER`).
const MAX_BINDS: usize = 32766;

/// SQLite-backed store. Cheap to share behind an `Arc`; the pools are internally shared.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    checkpointer: Arc<checkpoint::Checkpointer>,
}

/// The writer connection's durability settings, as SQLite reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteDurability {
    /// `wal` when open.
    pub journal_mode: String,
    /// 2 (`FULL`) when open.
    pub synchronous: i64,
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if needed) the database at `path` and
    /// brings its schema up to date.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        private::prepare(path).await.map_err(sqlx::Error::Io)?;
        let base = SqliteConnectOptions::new().filename(path).busy_timeout(BUSY_TIMEOUT).foreign_keys(true);
        let write_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string());
        // One connection that never expires: the single writer the whole design relies on.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(write_options)
            .await?;
        MIGRATOR.run(&write).await?;
        let checkpointer = checkpoint::Checkpointer::start(&base.clone().synchronous(SqliteSynchronous::Full)).await?;
        // Opened after the writer switched the file to WAL, which read-only connections
        // cannot do themselves.
        let read = SqlitePoolOptions::new().max_connections(READERS).connect_with(base.read_only(true)).await?;
        // The WAL and its index exist now; they take the database's mode, but a
        // file left by an older version may not have had it.
        private::tighten(path).await.map_err(sqlx::Error::Io)?;
        Ok(SqliteStore { write, read, checkpointer: Arc::new(checkpointer) })
    }

    /// Opens `dir/cloud.db` (the `--data-dir` layout).
    pub async fn open_in(dir: &Path) -> StoreResult<Self> {
        Self::open(&dir.join("cloud.db")).await
    }

    /// The writer's journal mode and synchronous level, to check (and log) durability.
    pub async fn durability(&self) -> StoreResult<SqliteDurability> {
        let mut conn = self.write.acquire().await?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await?;
        Ok(SqliteDurability { journal_mode, synchronous })
    }

    /// Closes both pools, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.checkpointer.stop();
        self.read.close().await;
        self.write.close().await;
    }
}

impl Backend for SqliteStore {
    type Db = Sqlite;
    /// SQLite compares text byte by byte unless told otherwise; the single writer takes
    /// the database's write lock up front; in WAL mode any transaction reads one snapshot.
    const DIALECT: Dialect = Dialect { byte_order: "", begin_write: "BEGIN IMMEDIATE", begin_snapshot: "BEGIN" };

    fn pools(&self) -> (&SqlitePool, &SqlitePool) {
        (&self.read, &self.write)
    }

    fn wrote(&self) {
        self.checkpointer.wrote();
    }

    async fn existing_paths(conn: &mut SqliteConnection, project: &str, paths: &[&str]) -> StoreResult<Vec<String>> {
        let mut known = Vec::new();
        for chunk in paths.chunks(MAX_BINDS - 1) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT path FROM remote_files WHERE project_id = ");
            q.push_bind(project).push(" AND path IN (");
            let mut list = q.separated(", ");
            for path in chunk {
                list.push_bind(*path);
            }
            q.push(")");
            known.extend(q.build_query_scalar::<String>().fetch_all(&mut *conn).await?);
        }
        Ok(known)
    }

    async fn insert_events(conn: &mut SqliteConnection, at: Stamp<'_>, events: &[Event]) -> StoreResult<()> {
        let sql = "INSERT INTO project_events (project_id, seq, path, op, hash, size, mtime, created_at) ";
        insert_rows(conn, sql, events, 8, "", |row, Event { seq, change, .. }| {
            row.push_bind(at.project).push_bind(*seq).push_bind(change.path.as_str()).push_bind(change.op.as_str());
            row.push_bind(change.hash.as_deref()).push_bind(change.size.map(size_to_db));
            row.push_bind(change.mtime).push_bind(at.now_ms);
        })
        .await
    }

    async fn upsert_files(conn: &mut SqliteConnection, project: &str, upserts: &[Upsert<'_>]) -> StoreResult<()> {
        let sql = "INSERT INTO remote_files (project_id, path, size, hash, mtime, seq, version) ";
        insert_rows(conn, sql, upserts, 6, ON_FILE_CONFLICT, |row, u| {
            row.push_bind(project).push_bind(u.path).push_bind(u.size).push_bind(u.hash).push_bind(u.mtime);
            row.push_bind(u.seq).push("1");
        })
        .await
    }

    async fn delete_files(conn: &mut SqliteConnection, at: Stamp<'_>, deletes: &[Delete<'_>]) -> StoreResult<()> {
        for chunk in deletes.chunks((MAX_BINDS - 3) / 2) {
            let mut q = QueryBuilder::<Sqlite>::new("WITH gone (path, seq) AS (");
            q.push_values(chunk, |mut row, d| {
                row.push_bind(d.path).push_bind(d.seq);
            });
            q.push(") UPDATE remote_files SET deleted_by = CASE WHEN deleted_at IS NULL THEN ")
                .push_bind(at.who)
                .push(" ELSE deleted_by END, deleted_at = COALESCE(deleted_at, ")
                .push_bind(at.now_ms)
                .push("), seq = gone.seq FROM gone WHERE remote_files.project_id = ")
                .push_bind(at.project)
                .push(" AND remote_files.path = gone.path");
            q.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn upsert_progress(conn: &mut SqliteConnection, at: Stamp<'_>, files: &[&FileProgress]) -> StoreResult<()> {
        let sql =
            "INSERT INTO member_progress (project_id, user_id, path, state, percent, local_hash, error, reported_at) ";
        insert_rows(conn, sql, files, 8, ON_PROGRESS_CONFLICT, |row, f| {
            row.push_bind(at.project).push_bind(at.who).push_bind(f.path.as_str()).push_bind(f.state.as_str());
            row.push_bind(f.percent).push_bind(f.local_hash.as_deref()).push_bind(f.error.as_deref());
            row.push_bind(at.now_ms);
        })
        .await
    }
}

/// Bulk writes are multi-row statements: `insert` `VALUES` (one row per item, of
/// `columns` binds) `tail`, in chunks under SQLite's bound-parameter cap.
async fn insert_rows<'a, T>(
    conn: &mut SqliteConnection,
    insert: &str,
    items: &'a [T],
    columns: usize,
    tail: &str,
    mut push: impl FnMut(&mut Separated<'_, Sqlite, &'static str>, &'a T),
) -> StoreResult<()> {
    for chunk in items.chunks(MAX_BINDS / columns) {
        let mut q = QueryBuilder::<Sqlite>::new(insert);
        q.push_values(chunk, |mut row, item| push(&mut row, item));
        q.push(tail).build().execute(&mut *conn).await?;
    }
    Ok(())
}
