//! The `projects` table: which cloud projects this machine takes part in,
//! bound to which Syncthing folder, and how far each one's events are applied.

use std::path::PathBuf;

use cloud_protocol::Role;
use rusqlite::{OptionalExtension, Row, params};
use uuid::Uuid;

use super::{Manifest, ManifestError, Result, now, parse_uuid};

/// Whether this machine still takes part in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProjectStatus {
    Active,
    /// The owner revoked our membership; kept for the record.
    Revoked,
}

impl ProjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Active => "active",
            ProjectStatus::Revoked => "revoked",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(ProjectStatus::Active),
            "revoked" => Ok(ProjectStatus::Revoked),
            other => Err(ManifestError::Decode(format!("unknown project status {other:?}"))),
        }
    }
}

/// One project as this machine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    pub project_id: Uuid,
    pub cloud_url: String,
    pub name: String,
    pub folder_id: String,
    /// The Syncthing folder's local path.
    pub folder_path: PathBuf,
    pub role: Role,
    /// Invitee: seq of the last event applied to `remote_files`.
    pub last_seq: i64,
    /// Owner: highest seq the cloud gave one of our batches.
    pub acked_seq: i64,
    pub status: ProjectStatus,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl ProjectRow {
    /// A new active project with its cursors at 0, created now.
    pub fn new(
        project_id: Uuid,
        cloud_url: impl Into<String>,
        name: impl Into<String>,
        folder_id: impl Into<String>,
        folder_path: impl Into<PathBuf>,
        role: Role,
    ) -> Self {
        ProjectRow {
            project_id,
            cloud_url: cloud_url.into(),
            name: name.into(),
            folder_id: folder_id.into(),
            folder_path: folder_path.into(),
            role,
            last_seq: 0,
            acked_seq: 0,
            status: ProjectStatus::Active,
            created_at: now(),
        }
    }
}

const COLUMNS: &str =
    "project_id, cloud_url, name, folder_id, folder_path, role, last_seq, acked_seq, status, created_at";

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Member => "member",
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Result<ProjectRow>> {
    let id: String = row.get(0)?;
    let role: String = row.get(5)?;
    let status: String = row.get(8)?;
    let folder_path: String = row.get(4)?;
    let (cloud_url, name, folder_id) = (row.get(1)?, row.get(2)?, row.get(3)?);
    let (last_seq, acked_seq, created_at) = (row.get(6)?, row.get(7)?, row.get(9)?);
    // Decoding errors are ours, not SQLite's: pass them out separately.
    Ok((|| {
        let role = match role.as_str() {
            "owner" => Role::Owner,
            "member" => Role::Member,
            other => return Err(ManifestError::Decode(format!("unknown role {other:?}"))),
        };
        Ok(ProjectRow {
            project_id: parse_uuid(&id)?,
            cloud_url,
            name,
            folder_id,
            folder_path: PathBuf::from(folder_path),
            role,
            last_seq,
            acked_seq,
            status: ProjectStatus::parse(&status)?,
            created_at,
        })
    })())
}

impl Manifest {
    /// Adds a project; refuses one whose id is already there.
    pub fn insert_project(&mut self, p: &ProjectRow) -> Result<()> {
        let folder_path = p.folder_path.to_str().ok_or_else(|| ManifestError::NonUtf8Path(p.folder_path.clone()))?;
        let inserted = self.conn.execute(
            &format!("INSERT OR IGNORE INTO projects ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            params![
                p.project_id.to_string(),
                p.cloud_url,
                p.name,
                p.folder_id,
                folder_path,
                role_str(p.role),
                p.last_seq,
                p.acked_seq,
                p.status.as_str(),
                p.created_at
            ],
        )?;
        if inserted == 0 {
            return Err(ManifestError::DuplicateProject(p.project_id));
        }
        Ok(())
    }

    /// One project, if present.
    pub fn project(&self, id: Uuid) -> Result<Option<ProjectRow>> {
        self.conn
            .query_row(&format!("SELECT {COLUMNS} FROM projects WHERE project_id = ?1"), [id.to_string()], from_row)
            .optional()?
            .transpose()
    }

    /// Every project, oldest first.
    pub fn projects(&self) -> Result<Vec<ProjectRow>> {
        let mut stmt = self.conn.prepare(&format!("SELECT {COLUMNS} FROM projects ORDER BY created_at, project_id"))?;
        let rows = stmt.query_map([], from_row)?;
        rows.map(|r| r?).collect()
    }

    /// The projects bound to a Syncthing folder, oldest first.
    pub fn projects_for_folder(&self, folder_id: &str) -> Result<Vec<ProjectRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM projects WHERE folder_id = ?1 ORDER BY created_at, project_id"))?;
        let rows = stmt.query_map([folder_id], from_row)?;
        rows.map(|r| r?).collect()
    }

    /// Marks a project active or revoked.
    pub fn set_project_status(&mut self, id: Uuid, status: ProjectStatus) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE projects SET status = ?2 WHERE project_id = ?1",
            params![id.to_string(), status.as_str()],
        )?;
        if n == 0 { Err(ManifestError::UnknownProject(id)) } else { Ok(()) }
    }

    /// Removes a project and everything recorded for it. False if it was not there.
    pub fn delete_project(&mut self, id: Uuid) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM projects WHERE project_id = ?1", [id.to_string()])? > 0)
    }

    /// Fails with `UnknownProject` unless the project exists.
    pub(super) fn require_project(conn: &rusqlite::Connection, id: Uuid) -> Result<()> {
        let found: Option<i64> = conn
            .query_row("SELECT 1 FROM projects WHERE project_id = ?1", [id.to_string()], |r| r.get(0))
            .optional()?;
        found.map(|_| ()).ok_or(ManifestError::UnknownProject(id))
    }
}
