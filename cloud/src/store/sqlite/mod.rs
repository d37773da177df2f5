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

mod accounts;
mod batch;
mod checkpoint;
mod members;
mod private;
mod progress;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashSet;

use async_trait::async_trait;
use cloud_protocol::{FileProgress, FilesSnapshot, Member, ProgressReport, ReportedFile};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use super::{Access, AppendOutcome, BatchInput, NewInvite, ProgressQuery, ProjectRow, Store, StoreResult, User};

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
pub(super) const MAX_BINDS: usize = 32766;

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

    /// The single writer, with the database write lock taken up front.
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn create_user(&self, name: &str, token_hash: [u8; 32], now_ms: i64) -> StoreResult<User> {
        accounts::create_user(self.begin_write().await?, name, token_hash, now_ms).await
    }

    async fn user_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<User>> {
        accounts::user_by_token(&self.read, token_hash).await
    }

    async fn create_project(&self, owner: Uuid, name: &str, folder_id: &str, now_ms: i64) -> StoreResult<ProjectRow> {
        accounts::create_project(&self.write, owner, name, folder_id, now_ms).await
    }

    async fn access(&self, project: Uuid, user: Uuid) -> StoreResult<Option<Access>> {
        accounts::access(&self.read, project, user).await
    }

    async fn list_projects(&self, user: Uuid) -> StoreResult<Vec<Access>> {
        accounts::list_projects(&self.read, user).await
    }

    async fn create_invite(&self, invite: NewInvite, now_ms: i64) -> StoreResult<()> {
        members::create_invite(self.begin_write().await?, invite, now_ms).await
    }

    async fn accept_invite(&self, code_hash: [u8; 32], user: Uuid, now_ms: i64) -> StoreResult<Member> {
        members::accept_invite(self.begin_write().await?, code_hash, user, now_ms).await
    }

    async fn list_members(&self, project: Uuid) -> StoreResult<Vec<Member>> {
        members::list_members(&self.read, project).await
    }

    async fn revoke_member(&self, project: Uuid, user: Uuid, now_ms: i64) -> StoreResult<Member> {
        members::revoke_member(self.begin_write().await?, project, user, now_ms).await
    }

    async fn append_batch(&self, input: BatchInput<'_>) -> StoreResult<AppendOutcome> {
        let outcome = batch::append(self.begin_write().await?, input).await?;
        self.checkpointer.wrote();
        Ok(outcome)
    }

    async fn events_since(&self, project: Uuid, since_seq: i64, limit: u32) -> StoreResult<Vec<cloud_protocol::Event>> {
        batch::events_since(&self.read, project, since_seq, limit).await
    }

    async fn files_snapshot(&self, project: Uuid) -> StoreResult<FilesSnapshot> {
        batch::files_snapshot(&self.read, project).await
    }

    async fn record_progress(
        &self,
        project: Uuid,
        user: Uuid,
        files: &[FileProgress],
        now_ms: i64,
    ) -> StoreResult<Vec<ReportedFile>> {
        let stored = progress::record(&self.write, project, user, files, now_ms).await?;
        self.checkpointer.wrote();
        Ok(stored)
    }

    async fn progress(&self, project: Uuid, query: &ProgressQuery) -> StoreResult<ProgressReport> {
        progress::report(&self.read, project, query).await
    }

    async fn known_paths(&self, project: Uuid, paths: &[&str]) -> StoreResult<HashSet<String>> {
        progress::known_paths(&self.read, project, paths).await
    }
}
