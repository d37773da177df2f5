//! Storage: the `Store` trait the API talks to, and its SQLite and PostgreSQL backends.
//!
//! The trait speaks in wire types where it can (`cloud_protocol`), so the API layer
//! does no mapping. Timestamps are stored as integer milliseconds since the Unix epoch
//! in both backends and formatted as RFC 3339 at the edge ([`rfc3339`]); ids are
//! UUIDs stored as text, so the SQL stays the same on both databases.
//!
//! Layout: `sql/` holds every query once (`sql/sequence.rs` is the sequencer, which
//! hands out each project's seqs) and is compiled for each backend; `sqlite.rs` and
//! `postgres.rs` open their database and implement [`backend::Backend`], the little
//! that differs; `plan.rs`, `rows.rs` and `paging.rs` are plain Rust both share.

mod backend;
mod paging;
mod plan;
mod postgres;
mod rows;
mod sqlite;

use std::collections::HashSet;

use async_trait::async_trait;
use cloud_protocol::{
    Change, Event, FileProgress, FilesSnapshot, Member, ProgressReport, ReportedFile, Role, UpdateFilesResponse,
};
use uuid::Uuid;

pub use paging::{ProgressCursor, ProgressQuery};
pub use postgres::PostgresStore;
pub use sqlite::{SqliteDurability, SqliteStore};

/// A user account. Read straight from its row: ids are stored as text, so they are
/// parsed on the way in and a row that does not parse is a decode error.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    #[sqlx(try_from = "String")]
    pub id: Uuid,
    pub name: String,
}

/// A project row, read straight from the database like [`User`].
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProjectRow {
    #[sqlx(try_from = "String")]
    pub id: Uuid,
    pub name: String,
    pub folder_id: String,
    #[sqlx(try_from = "String")]
    pub owner_id: Uuid,
    pub last_seq: i64,
    #[sqlx(rename = "created_at")]
    pub created_at_ms: i64,
}

/// A project together with the caller's role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub project: ProjectRow,
    pub role: Role,
}

/// A freshly created invite. Only the digest of the code is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    pub project_id: Uuid,
    /// SHA-256 of the code the owner hands out.
    pub code_hash: [u8; 32],
    /// If set, the invite is addressed to this user, who shows as `invited` until accepting.
    pub invitee: Option<Uuid>,
    pub expires_at_ms: i64,
}

/// What `append_batch` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The batch was sequenced now; `events` are what to push.
    Applied { response: UpdateFilesResponse, events: Vec<Event> },
    /// The batch id was seen before with the same content: the first answer, nothing written.
    Replayed(UpdateFilesResponse),
}

/// One batch to sequence.
#[derive(Debug, Clone, Copy)]
pub struct BatchInput<'a> {
    pub project_id: Uuid,
    /// Who wrote it (recorded as `deleted_by` on deletes).
    pub actor: Uuid,
    pub batch_id: Uuid,
    /// SHA-256 of the batch's canonical JSON: a reused id with other content is a conflict.
    pub digest: [u8; 32],
    pub changes: &'a [Change],
    pub now_ms: i64,
    /// Most paths (live and deleted) the project may hold after this batch.
    pub max_paths: u64,
}

/// One member's report on some files of a project, as [`Store::record_progress`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct ProgressInput<'a> {
    pub project_id: Uuid,
    /// The member who reported.
    pub user: Uuid,
    /// Their states, in the order sent (a later entry for a path wins).
    pub files: &'a [FileProgress],
    pub now_ms: i64,
}

/// Storage errors. `Conflict`-like variants are expected outcomes the API maps to 4xx.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("batch {0} was already used with different changes")]
    BatchConflict(Uuid),
    #[error("a user named {0:?} already exists")]
    UserExists(String),
    #[error("invite code is unknown")]
    InviteUnknown,
    #[error("invite has expired")]
    InviteExpired,
    #[error("invite was already used")]
    InviteUsed,
    #[error("invite is addressed to another user")]
    InviteForSomeoneElse,
    #[error("the owner cannot join their own project")]
    OwnerCannotJoin,
    /// The batch would bring the project past its path quota; nothing was written.
    #[error("the batch would bring the project to {would} paths, more than the {max} allowed")]
    QuotaExceeded { would: u64, max: u64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the cloud keeps. Both backends pass the same story test.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    /// A new user with one token (given as its SHA-256 digest).
    async fn create_user(&self, name: &str, token_hash: [u8; 32], now_ms: i64) -> StoreResult<User>;
    /// The user a token digest belongs to.
    async fn user_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<User>>;

    async fn create_project(&self, owner: Uuid, name: &str, folder_id: &str, now_ms: i64) -> StoreResult<ProjectRow>;
    /// The project if `user` owns it or is an accepted member; `None` otherwise (also for
    /// unknown projects: existence is not revealed).
    async fn access(&self, project: Uuid, user: Uuid) -> StoreResult<Option<Access>>;
    /// Projects the user owns or is an accepted member of, oldest first.
    async fn list_projects(&self, user: Uuid) -> StoreResult<Vec<Access>>;

    async fn create_invite(&self, invite: NewInvite, now_ms: i64) -> StoreResult<()>;
    /// Uses the invite (single use) and makes `user` an accepted member.
    async fn accept_invite(&self, code_hash: [u8; 32], user: Uuid, now_ms: i64) -> StoreResult<Member>;
    async fn list_members(&self, project: Uuid) -> StoreResult<Vec<Member>>;
    /// Marks the member revoked. `NotFound` if they were never a member.
    async fn revoke_member(&self, project: Uuid, user: Uuid, now_ms: i64) -> StoreResult<Member>;

    /// Sequences a validated batch in one transaction: bumps `projects.last_seq`, inserts
    /// the events, upserts `remote_files`, records the batch id. All or nothing.
    async fn append_batch(&self, batch: BatchInput<'_>) -> StoreResult<AppendOutcome>;
    /// Events with seq > `since_seq`, in order, at most `limit`.
    async fn events_since(&self, project: Uuid, since_seq: i64, limit: u32) -> StoreResult<Vec<Event>>;
    /// Every path's current state and the seq it is current as of (one consistent read).
    async fn files_snapshot(&self, project: Uuid) -> StoreResult<FilesSnapshot>;

    /// Stores a member's reported file states (latest per file wins); returns them as stored.
    async fn record_progress(&self, report: ProgressInput<'_>) -> StoreResult<Vec<ReportedFile>>;
    /// Latest reported state per member and file (current members only), one
    /// page in (member name, path) order.
    async fn progress(&self, project: Uuid, query: &ProgressQuery) -> StoreResult<ProgressReport>;
    /// Which of `paths` the project has a file row for (live or deleted).
    async fn known_paths(&self, project: Uuid, paths: &[&str]) -> StoreResult<HashSet<String>>;
}

/// Formats milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(f).unwrap_or_default()
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
