//! Rows as both backends read them, and their conversion to the wire types.
//!
//! The two schemas use the same column names and the same representations (UUIDs as
//! text, times as integer milliseconds), so one set of `FromRow` structs serves both.
//! Nothing the database hands back is trusted: a UUID column that does not parse
//! fails the row's decoding (`#[sqlx(try_from)]`), any other field that does not is
//! reported as [`StoreError::Corrupt`].

use cloud_protocol::{Change, Event, FileProgress, Member, RemoteFile, ReportedFile, Role, UpdateFilesResponse};
use uuid::Uuid;

use super::{Access, AppendOutcome, ProjectRow, StoreError, StoreResult, rfc3339};

/// Parses a UUID read back from a text column.
pub(crate) fn parse_uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("bad uuid {text:?}: {e}")))
}

/// File sizes are `u64` on the wire but databases only have signed 64-bit integers.
/// The bits are stored as they are, so every `u64` round-trips exactly (sizes above
/// `i64::MAX`, 8 EiB, cannot occur in practice and would merely read as negative in SQL).
pub(crate) fn size_to_db(size: u64) -> i64 {
    size as i64
}

/// Inverse of [`size_to_db`].
pub(crate) fn size_from_db(size: i64) -> u64 {
    size as u64
}

/// Parses a wire enum (`Op`, `MemberStatus`, `FileState`) stored as its wire name, so
/// the database holds exactly the names the protocol speaks.
fn wire<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    use serde::de::IntoDeserializer;
    T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(text))
        .map_err(|_| StoreError::Corrupt(format!("unknown {what} {text:?}")))
}

/// A project and, if any, the caller's membership status in it.
#[derive(sqlx::FromRow)]
pub(crate) struct AccessRow {
    #[sqlx(flatten)]
    pub project: ProjectRow,
    pub member_status: Option<String>,
}

impl AccessRow {
    /// The caller's access: owners own, accepted members read; invited and revoked
    /// members, like strangers, get nothing.
    pub fn into_access(self, user: Uuid) -> Option<Access> {
        let role = if self.project.owner_id == user {
            Role::Owner
        } else if self.member_status.as_deref() == Some("accepted") {
            Role::Member
        } else {
            return None;
        };
        Some(Access { project: self.project, role })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    #[sqlx(try_from = "String")]
    pub project_id: Uuid,
    #[sqlx(try_from = "String")]
    pub user_id: Uuid,
    pub name: String,
    pub status: String,
    pub joined_at: i64,
}

impl MemberRow {
    pub fn into_member(self) -> StoreResult<Member> {
        Ok(Member {
            project_id: self.project_id,
            user_id: self.user_id,
            name: self.name,
            status: wire(&self.status, "member status")?,
            joined_at: rfc3339(self.joined_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub seq: i64,
    pub path: String,
    pub op: String,
    pub hash: Option<String>,
    pub size: Option<i64>,
    pub mtime: Option<i64>,
    pub created_at: i64,
}

impl EventRow {
    pub fn into_event(self) -> StoreResult<Event> {
        let change = Change {
            path: self.path,
            op: wire(&self.op, "op")?,
            hash: self.hash,
            size: self.size.map(size_from_db),
            mtime: self.mtime,
        };
        Ok(Event { seq: self.seq, change, created_at: rfc3339(self.created_at) })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct FileRow {
    pub path: String,
    pub size: i64,
    pub hash: String,
    pub mtime: i64,
    pub version: i64,
    pub seq: i64,
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
}

impl FileRow {
    pub fn into_file(self) -> StoreResult<RemoteFile> {
        Ok(RemoteFile {
            path: self.path,
            size: size_from_db(self.size),
            hash: self.hash,
            mtime: self.mtime,
            version: self.version,
            seq: self.seq,
            deleted_at: self.deleted_at.map(rfc3339),
            deleted_by: self.deleted_by.as_deref().map(parse_uuid).transpose()?,
        })
    }
}

/// The stored answer of a batch, for replays.
#[derive(sqlx::FromRow)]
pub(crate) struct BatchRow {
    pub digest: Vec<u8>,
    pub first_seq: i64,
    pub last_seq: i64,
    pub synced: i64,
}

impl BatchRow {
    /// The answer to a batch id seen before: its first answer if the content is the
    /// same, a conflict otherwise.
    pub fn replay(self, batch_id: Uuid, digest: &[u8; 32]) -> StoreResult<AppendOutcome> {
        if self.digest.as_slice() != digest.as_slice() {
            return Err(StoreError::BatchConflict(batch_id));
        }
        let synced = u32::try_from(self.synced)
            .map_err(|_| StoreError::Corrupt(format!("batch {batch_id} has synced = {}", self.synced)))?;
        Ok(AppendOutcome::Replayed(UpdateFilesResponse { first_seq: self.first_seq, last_seq: self.last_seq, synced }))
    }
}

/// One member's report on one file, joined with the member's name.
#[derive(sqlx::FromRow)]
pub(crate) struct ProgressRow {
    #[sqlx(try_from = "String")]
    pub user_id: Uuid,
    pub name: String,
    pub path: String,
    pub state: String,
    pub percent: f64,
    pub local_hash: Option<String>,
    pub error: Option<String>,
    pub reported_at: i64,
}

impl ProgressRow {
    pub fn into_reported(self) -> StoreResult<(Uuid, String, ReportedFile)> {
        let state = wire(&self.state, "file state")?;
        let file = ReportedFile {
            progress: FileProgress {
                path: self.path,
                state,
                percent: self.percent,
                local_hash: self.local_hash,
                error: self.error,
            },
            reported_at: rfc3339(self.reported_at),
        };
        Ok((self.user_id, self.name, file))
    }
}

/// Keeps the last report of each path (a client may name a file twice in one message),
/// in the order those last reports came.
pub(crate) fn latest_per_path(files: &[FileProgress]) -> Vec<&FileProgress> {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<&FileProgress> = files.iter().rev().filter(|f| seen.insert(f.path.as_str())).collect();
    kept.reverse();
    kept
}

/// Maps a unique-constraint failure to `on_unique`, anything else to a database error.
pub(crate) fn unique_or(err: sqlx::Error, on_unique: impl FnOnce() -> StoreError) -> StoreError {
    match err.as_database_error() {
        Some(db) if db.is_unique_violation() => on_unique(),
        _ => StoreError::Database(err),
    }
}

/// An unknown owner shows up as a foreign-key failure: the user does not exist.
pub(crate) fn not_found_on_foreign_key(err: sqlx::Error) -> StoreError {
    match err.as_database_error() {
        Some(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => StoreError::Database(err),
    }
}
