//! HTTP request and answer bodies of the cloud API, and its error body.
//!
//! Timestamps are RFC 3339 strings in UTC (`2026-11-29T05:30:00.123Z`); ids are UUIDs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Change, MAX_PROGRESS_ERROR_BYTES, PathError, validate_hash, validate_path};

/// `POST /api/projects/{id}/files/update` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateFilesRequest {
    /// Made once by the sender and kept with the batch, so a retry is recognised.
    pub batch_id: Uuid,
    /// 1 to 1000 (`MAX_BATCH_CHANGES`): an empty batch is `400 empty_batch`, a
    /// bigger one `413 too_many_changes`.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub changes: Vec<Change>,
}

/// Answer to an accepted batch: the seqs it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateFilesResponse {
    pub first_seq: i64,
    pub last_seq: i64,
    pub synced: u32,
}

/// One sequenced change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub seq: i64,
    pub change: Change,
    pub created_at: String,
}

/// `GET /api/projects/{id}/events?since_seq=N&limit=L` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventsPage {
    pub events: Vec<Event>,
    /// The `since_seq` to ask for next (the last seq returned, or the one asked for).
    pub next_seq: i64,
    pub has_more: bool,
}

/// Current state of one path of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteFile {
    pub path: String,
    pub size: u64,
    pub hash: String,
    pub mtime: i64,
    /// Starts at 1, bumped each time the hash changes.
    pub version: i64,
    /// Seq of the last event that touched this path.
    pub seq: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<Uuid>,
}

/// `GET /api/projects/{id}/files` answer: a snapshot as of one seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FilesSnapshot {
    pub files: Vec<RemoteFile>,
    pub as_of_seq: i64,
}

/// `GET /api/me` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub user_id: Uuid,
    pub name: String,
}

/// `POST /api/projects` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    /// A label for people: at most 200 characters, not blank, no control characters.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub name: String,
    /// Syncthing's folder id, byte for byte: at most 256 characters, no control
    /// characters, no whitespace at either end.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub folder_id: String,
}

/// The caller's relation to a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Member,
}

/// A project as its owner or a member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub folder_id: String,
    pub owner_id: Uuid,
    pub role: Role,
    pub last_seq: i64,
    pub created_at: String,
}

/// `GET /api/projects` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectList {
    pub projects: Vec<Project>,
}

/// `POST /api/projects/{id}/invites` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invite {
    pub code: String,
    pub project_id: Uuid,
    pub expires_at: String,
}

/// Where a member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Invited,
    Accepted,
    Revoked,
}

/// One membership of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub project_id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub status: MemberStatus,
    pub joined_at: String,
}

/// `GET /api/projects/{id}/members` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// A file's badge state (docs/badges.md#the-states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    Synced,
    Syncing,
    Pending,
    Conflict,
    Error,
    Deleted,
    /// The member's Syncthing does not sync this path (its own ignore
    /// patterns, Syncthing's internal or temporary files): never hashed,
    /// not counted in the member's percent.
    IgnoredHere,
}

impl FileState {
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Synced => "synced",
            FileState::Syncing => "syncing",
            FileState::Pending => "pending",
            FileState::Conflict => "conflict",
            FileState::Error => "error",
            FileState::Deleted => "deleted",
            FileState::IgnoredHere => "ignored_here",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "synced" => FileState::Synced,
            "syncing" => FileState::Syncing,
            "pending" => FileState::Pending,
            "conflict" => FileState::Conflict,
            "error" => FileState::Error,
            "deleted" => FileState::Deleted,
            "ignored_here" => FileState::IgnoredHere,
            _ => return None,
        })
    }
}

/// One file's progress as a member reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FileProgress {
    pub path: String,
    pub state: FileState,
    /// 0.0 ..= 100.0
    pub percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FileProgress {
    /// What the cloud accepts from a member: a valid path, a percent within
    /// 0..=100, a wire hash, an error of at most [`MAX_PROGRESS_ERROR_BYTES`].
    pub fn validate(&self) -> Result<(), ProgressError> {
        validate_path(&self.path)?;
        if !(0.0..=100.0).contains(&self.percent) {
            return Err(ProgressError::Percent);
        }
        if let Some(hash) = &self.local_hash {
            validate_hash(hash).map_err(|_| ProgressError::Hash)?;
        }
        match &self.error {
            Some(error) if error.len() > MAX_PROGRESS_ERROR_BYTES => Err(ProgressError::ErrorTooLong(error.len())),
            _ => Ok(()),
        }
    }
}

/// Why a reported file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgressError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("percent must be between 0 and 100")]
    Percent,
    #[error("local_hash must be \"blake3:\" followed by 64 lowercase hex digits")]
    Hash,
    #[error("error is {0} bytes, more than the {MAX_PROGRESS_ERROR_BYTES} allowed")]
    ErrorTooLong(usize),
}

/// One file's progress as the cloud stored it, with when it was reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportedFile {
    #[serde(flatten)]
    pub progress: FileProgress,
    pub reported_at: String,
}

/// A member's last reported state of each file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberFiles {
    pub user_id: Uuid,
    pub name: String,
    pub files: Vec<ReportedFile>,
}

/// `GET /api/projects/{id}/progress` answer: one page of rows (one row per
/// member and file), grouped by member. `next_cursor` is present when more rows
/// follow: pass it back as `?cursor=` for the next page. A member may span two
/// pages (then it appears on both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgressReport {
    pub members: Vec<MemberFiles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The error body: `{"error": {"code", "message", "details"?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// snake_case, stable: clients branch on it.
    pub code: String,
    /// One plain sentence for people.
    pub message: String,
    /// For a refused batch: each bad entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<InvalidChange>,
}

/// One refused entry of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvalidChange {
    pub index: usize,
    pub path: String,
    pub reason: String,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody { error: ErrorDetail { code: code.into(), message: message.into(), invalid: Vec::new() } }
    }
}

/// Validates every change of a batch and names each bad entry.
pub fn validate_batch(changes: &[Change]) -> Result<(), Vec<InvalidChange>> {
    let invalid: Vec<InvalidChange> = changes
        .iter()
        .enumerate()
        .filter_map(|(index, c)| {
            c.validate().err().map(|e| InvalidChange { index, path: c.path.clone(), reason: e.to_string() })
        })
        .collect();
    if invalid.is_empty() { Ok(()) } else { Err(invalid) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Op;
    use serde::de::DeserializeOwned;
    use std::fmt::Debug;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T) {
        let json = serde_json::to_string(&value).unwrap();
        let back: T = serde_json::from_str(&json).unwrap();
        assert_eq!(back, value, "{json}");
    }

    const HASH: &str = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    #[test]
    fn bodies_round_trip() {
        let id = Uuid::new_v4();
        round_trip(UpdateFilesRequest {
            batch_id: id,
            changes: vec![Change::upsert(Op::Update, "a", HASH, 1, 2), Change::delete("b")],
        });
        round_trip(UpdateFilesResponse { first_seq: 1, last_seq: 2, synced: 2 });
        round_trip(EventsPage {
            events: vec![Event { seq: 1, change: Change::delete("x"), created_at: "2026-11-29T00:00:00Z".into() }],
            next_seq: 1,
            has_more: false,
        });
        round_trip(FilesSnapshot {
            files: vec![RemoteFile {
                path: "a".into(),
                size: 1,
                hash: HASH.into(),
                mtime: 3,
                version: 2,
                seq: 7,
                deleted_at: Some("2026-11-29T00:00:00Z".into()),
                deleted_by: Some(id),
            }],
            as_of_seq: 7,
        });
        round_trip(Me { user_id: id, name: "ann".into() });
        round_trip(CreateProjectRequest { name: "p".into(), folder_id: "f".into() });
        round_trip(Project {
            id,
            name: "p".into(),
            folder_id: "f".into(),
            owner_id: id,
            role: Role::Owner,
            last_seq: 0,
            created_at: "t".into(),
        });
        round_trip(Invite { code: "c".into(), project_id: id, expires_at: "t".into() });
        round_trip(MemberList {
            members: vec![Member {
                project_id: id,
                user_id: id,
                name: "bob".into(),
                status: MemberStatus::Revoked,
                joined_at: "t".into(),
            }],
        });
        round_trip(ProgressReport {
            next_cursor: Some("c".into()),
            members: vec![MemberFiles {
                user_id: id,
                name: "bob".into(),
                files: vec![ReportedFile {
                    progress: FileProgress {
                        path: "a".into(),
                        state: FileState::Syncing,
                        percent: 42.5,
                        local_hash: None,
                        error: None,
                    },
                    reported_at: "t".into(),
                }],
            }],
        });
        let mut err = ErrorBody::new("invalid_change", "2 changes are invalid");
        err.error.invalid.push(InvalidChange { index: 0, path: "../x".into(), reason: "dot".into() });
        round_trip(err);
    }

    #[test]
    fn error_body_shape() {
        let v = serde_json::to_value(ErrorBody::new("not_found", "no such project")).unwrap();
        assert_eq!(v, serde_json::json!({"error": {"code": "not_found", "message": "no such project"}}));
    }

    #[test]
    fn batch_validation_names_each_bad_entry() {
        let changes = vec![
            Change::upsert(Op::Create, "ok", HASH, 1, 1),
            Change::delete("/abs"),
            Change::upsert(Op::Create, "a/../b", HASH, 1, 1),
        ];
        let bad = validate_batch(&changes).unwrap_err();
        assert_eq!(bad.iter().map(|b| b.index).collect::<Vec<_>>(), vec![1, 2]);
        assert!(bad[0].reason.contains("relative"), "{}", bad[0].reason);
    }

    #[test]
    fn progress_validation() {
        let ok = FileProgress {
            path: "a".into(),
            state: FileState::Synced,
            percent: 100.0,
            local_hash: Some(format!("blake3:{}", "0".repeat(64))),
            error: Some("e".repeat(MAX_PROGRESS_ERROR_BYTES)),
        };
        assert_eq!(ok.validate(), Ok(()));
        let with = |f: fn(&mut FileProgress)| {
            let mut p = ok.clone();
            f(&mut p);
            p.validate()
        };
        assert_eq!(with(|p| p.path = "C:/x".into()), Err(ProgressError::Path(PathError::DriveLetter("C:".into()))));
        assert_eq!(with(|p| p.percent = f64::NAN), Err(ProgressError::Percent));
        assert_eq!(with(|p| p.local_hash = Some("x".repeat(100_000))), Err(ProgressError::Hash));
        assert_eq!(
            with(|p| p.error = Some("e".repeat(MAX_PROGRESS_ERROR_BYTES + 1))),
            Err(ProgressError::ErrorTooLong(MAX_PROGRESS_ERROR_BYTES + 1))
        );
    }

    /// Found by fuzzing (fuzz/regressions/client_message): serde_json's
    /// default float parser may land one ULP off, so a percent written by
    /// one side read back as another number on the other.
    #[test]
    fn percent_survives_the_wire_exactly() {
        for percent in [100.08888888888889, 99.99999999999999, 42.123456789012345, 1e-7, 0.1 + 0.2] {
            let p =
                FileProgress { path: "a".into(), state: FileState::Syncing, percent, local_hash: None, error: None };
            let json = serde_json::to_string(&p).unwrap();
            let back: FileProgress = serde_json::from_str(&json).unwrap();
            assert_eq!(
                back.percent.to_bits(),
                percent.to_bits(),
                "{percent} read back as {} from {json}",
                back.percent
            );
        }
    }

    #[test]
    fn file_state_strings() {
        for s in [
            FileState::Synced,
            FileState::Syncing,
            FileState::Pending,
            FileState::Conflict,
            FileState::Error,
            FileState::Deleted,
            FileState::IgnoredHere,
        ] {
            assert_eq!(FileState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
    }
}
