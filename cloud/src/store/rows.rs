//! Rows as both backends read them, and their conversion to the wire types.
//!
//! The two schemas use the same column names and the same representations (UUIDs as
//! text, times as integer milliseconds), so one set of `FromRow` structs serves both;
//! anything the database hands back that does not parse is reported as
//! [`StoreError::Corrupt`] rather than trusted.

use cloud_protocol::{
    Change, Event, FileProgress, FileState, Member, MemberStatus, Op, RemoteFile, ReportedFile, Role,
    UpdateFilesResponse,
};
use uuid::Uuid;

use super::{Access, AppendOutcome, ProjectRow, StoreError, StoreResult, User, rfc3339};

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

fn parse_member_status(text: &str) -> StoreResult<MemberStatus> {
    match text {
        "invited" => Ok(MemberStatus::Invited),
        "accepted" => Ok(MemberStatus::Accepted),
        "revoked" => Ok(MemberStatus::Revoked),
        other => Err(StoreError::Corrupt(format!("unknown member status {other:?}"))),
    }
}

fn parse_op(text: &str) -> StoreResult<Op> {
    match text {
        "create" => Ok(Op::Create),
        "update" => Ok(Op::Update),
        "delete" => Ok(Op::Delete),
        other => Err(StoreError::Corrupt(format!("unknown op {other:?}"))),
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: String,
    pub name: String,
}

impl UserRow {
    pub fn into_user(self) -> StoreResult<User> {
        Ok(User { id: parse_uuid(&self.id)?, name: self.name })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProjectDbRow {
    pub id: String,
    pub name: String,
    pub folder_id: String,
    pub owner_id: String,
    pub last_seq: i64,
    pub created_at: i64,
}

impl ProjectDbRow {
    pub fn into_project(self) -> StoreResult<ProjectRow> {
        Ok(ProjectRow {
            id: parse_uuid(&self.id)?,
            name: self.name,
            folder_id: self.folder_id,
            owner_id: parse_uuid(&self.owner_id)?,
            last_seq: self.last_seq,
            created_at_ms: self.created_at,
        })
    }
}

/// A project and, if any, the caller's membership status in it.
#[derive(sqlx::FromRow)]
pub(crate) struct AccessRow {
    #[sqlx(flatten)]
    pub project: ProjectDbRow,
    pub member_status: Option<String>,
}

impl AccessRow {
    /// The caller's access: owners own, accepted members read; invited and revoked
    /// members, like strangers, get nothing.
    pub fn into_access(self, user: Uuid) -> StoreResult<Option<Access>> {
        let project = self.project.into_project()?;
        let role = if project.owner_id == user {
            Role::Owner
        } else if self.member_status.as_deref() == Some("accepted") {
            Role::Member
        } else {
            return Ok(None);
        };
        Ok(Some(Access { project, role }))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    pub project_id: String,
    pub user_id: String,
    pub name: String,
    pub status: String,
    pub joined_at: i64,
}

impl MemberRow {
    pub fn into_member(self) -> StoreResult<Member> {
        Ok(Member {
            project_id: parse_uuid(&self.project_id)?,
            user_id: parse_uuid(&self.user_id)?,
            name: self.name,
            status: parse_member_status(&self.status)?,
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
            op: parse_op(&self.op)?,
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
    pub user_id: String,
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
        let state = FileState::parse(&self.state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown file state {:?}", self.state)))?;
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
        Ok((parse_uuid(&self.user_id)?, self.name, file))
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

/// How a reported file is returned once stored.
pub(crate) fn as_reported(files: &[&FileProgress], now_ms: i64) -> Vec<ReportedFile> {
    files.iter().map(|f| ReportedFile { progress: (*f).clone(), reported_at: rfc3339(now_ms) }).collect()
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
