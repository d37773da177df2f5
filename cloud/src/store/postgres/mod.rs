//! PostgreSQL backend of [`Store`]: one connection pool, for one or several cloud nodes
//! sharing a database.
//!
//! Sequencing relies on the row lock that bumping `projects.last_seq` takes: writers of
//! one project queue on it, so seqs are dense and commit in order, whichever node writes.
//! Migrations run at connect under sqlx's advisory lock, so nodes may start together.

mod accounts;
mod batch;
mod members;
mod progress;

use std::time::Duration;

use std::collections::HashSet;

use async_trait::async_trait;
use cloud_protocol::{Event, FileProgress, FilesSnapshot, Member, ProgressReport, ReportedFile};
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use uuid::Uuid;

use super::{Access, AppendOutcome, BatchInput, NewInvite, ProgressQuery, ProjectRow, Store, StoreResult, User};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per node: requests are short, and PostgreSQL's default limit (100) must
/// leave room for several nodes and the push listener.
const MAX_CONNECTIONS: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the first connection may take before start-up gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL-backed store. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`) and brings the schema up
    /// to date.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        // One direct connection first, so an unreachable server or a bad password fails
        // in seconds with the real cause; the pool would retry for its whole acquire timeout.
        let probe =
            tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await.map_err(|_| {
                sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer from PostgreSQL within {CONNECT_TIMEOUT:?}"),
                ))
            })??;
        probe.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// The pool, for what the store does not cover (LISTEN/NOTIFY between nodes).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_user(&self, name: &str, token_hash: [u8; 32], now_ms: i64) -> StoreResult<User> {
        accounts::create_user(&self.pool, name, token_hash, now_ms).await
    }

    async fn user_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<User>> {
        accounts::user_by_token(&self.pool, token_hash).await
    }

    async fn create_project(&self, owner: Uuid, name: &str, folder_id: &str, now_ms: i64) -> StoreResult<ProjectRow> {
        accounts::create_project(&self.pool, owner, name, folder_id, now_ms).await
    }

    async fn access(&self, project: Uuid, user: Uuid) -> StoreResult<Option<Access>> {
        accounts::access(&self.pool, project, user).await
    }

    async fn list_projects(&self, user: Uuid) -> StoreResult<Vec<Access>> {
        accounts::list_projects(&self.pool, user).await
    }

    async fn create_invite(&self, invite: NewInvite, now_ms: i64) -> StoreResult<()> {
        members::create_invite(&self.pool, invite, now_ms).await
    }

    async fn accept_invite(&self, code_hash: [u8; 32], user: Uuid, now_ms: i64) -> StoreResult<Member> {
        members::accept_invite(&self.pool, code_hash, user, now_ms).await
    }

    async fn list_members(&self, project: Uuid) -> StoreResult<Vec<Member>> {
        members::list_members(&self.pool, project).await
    }

    async fn revoke_member(&self, project: Uuid, user: Uuid, now_ms: i64) -> StoreResult<Member> {
        members::revoke_member(&self.pool, project, user, now_ms).await
    }

    async fn append_batch(&self, input: BatchInput<'_>) -> StoreResult<AppendOutcome> {
        batch::append(&self.pool, input).await
    }

    async fn events_since(&self, project: Uuid, since_seq: i64, limit: u32) -> StoreResult<Vec<Event>> {
        batch::events_since(&self.pool, project, since_seq, limit).await
    }

    async fn files_snapshot(&self, project: Uuid) -> StoreResult<FilesSnapshot> {
        batch::files_snapshot(&self.pool, project).await
    }

    async fn record_progress(
        &self,
        project: Uuid,
        user: Uuid,
        files: &[FileProgress],
        now_ms: i64,
    ) -> StoreResult<Vec<ReportedFile>> {
        progress::record(&self.pool, project, user, files, now_ms).await
    }

    async fn progress(&self, project: Uuid, query: &ProgressQuery) -> StoreResult<ProgressReport> {
        progress::report(&self.pool, project, query).await
    }

    async fn known_paths(&self, project: Uuid, paths: &[&str]) -> StoreResult<HashSet<String>> {
        progress::known_paths(&self.pool, project, paths).await
    }
}
