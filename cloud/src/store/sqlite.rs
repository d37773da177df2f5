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

use serde_json::Value;
use sqlx::Sqlite;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::StoreResult;
use super::backend::{self, Backend, Query};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits on a lock held by another process (another `cloud`, the
/// `sqlite3` shell) before giving up. Inside this process the write pool already queues.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers: enough for concurrent page loads and backlogs on a small machine.
const READERS: u32 = 4;
/// The writer checkpoints by itself only past this many WAL pages (16 MiB): the bound
/// on the WAL should the background checkpoints fall behind.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 4000;

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
    // SQLite compares text byte by byte unless told otherwise (no `BYTE_ORDER`); the
    // single writer takes the database's write lock up front; in WAL mode any
    // transaction reads one snapshot.
    const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
    const BEGIN_SNAPSHOT: &str = "BEGIN";

    fn pools(&self) -> (&SqlitePool, &SqlitePool) {
        (&self.read, &self.write)
    }

    fn wrote(&self) {
        self.checkpointer.wrote();
    }

    /// One parameter, the rows' JSON text, read through `jsonb_each`, which parses it
    /// once and hands out each row in binary (so `->>` does not parse it again per
    /// column); `->>` gives a value as the SQL value it holds (text, integer, real, NULL).
    fn rows(n: usize, alias: &str, columns: &str) -> String {
        let values: Vec<String> =
            backend::columns(columns).enumerate().map(|(i, (name, _))| format!("value ->> {i} AS {name}")).collect();
        format!("(SELECT {} FROM jsonb_each(${n})) AS {alias}", values.join(", "))
    }

    fn bind_rows<'q>(query: Query<'q, Self>, _: &str, rows: Vec<Value>) -> Query<'q, Self> {
        query.bind(Value::Array(rows).to_string())
    }
}
