//! The `remote_files` table (invitee side): the state the cloud announced,
//! which the badge engine compares with the disk.
//!
//! Events apply strictly in seq order, in one transaction that also moves
//! the project's `last_seq` cursor, so the table and the cursor always agree:
//! after a crash we ask the cloud for `since_seq = last_seq` and resume.

use cloud_protocol::{Event, FilesSnapshot, Op, RemoteFile};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::{Manifest, ManifestError, Result, size_from_sql, size_to_sql};

/// One path as the cloud announced it: the cloud's own [`RemoteFile`], kept as
/// it came (`deleted_by` is not kept: nothing on the invitee side reads it).
/// A path is deleted when it has a `deleted_at`.
pub type RemoteFileRow = RemoteFile;

const COLUMNS: &str = "path, size, hash, mtime, version, seq, deleted_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<RemoteFileRow> {
    Ok(RemoteFile {
        path: row.get(0)?,
        size: size_from_sql(row.get(1)?),
        hash: row.get(2)?,
        mtime: row.get(3)?,
        version: row.get(4)?,
        seq: row.get(5)?,
        deleted_at: row.get(6)?,
        deleted_by: None,
    })
}

fn get(conn: &Connection, project: Uuid, path: &str) -> Result<Option<RemoteFileRow>> {
    let sql = format!("SELECT {COLUMNS} FROM remote_files WHERE project_id = ?1 AND path = ?2");
    Ok(conn.query_row(&sql, params![project.to_string(), path], from_row).optional()?)
}

fn last_seq(conn: &Connection, project: Uuid) -> Result<i64> {
    conn.query_row("SELECT last_seq FROM projects WHERE project_id = ?1", [project.to_string()], |r| r.get(0))
        .optional()?
        .ok_or(ManifestError::UnknownProject(project))
}

fn put(conn: &Connection, project: Uuid, f: &RemoteFileRow) -> Result<()> {
    conn.execute(
        &format!(
            "INSERT OR REPLACE INTO remote_files (project_id, {COLUMNS}, deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        params![
            project.to_string(),
            f.path,
            size_to_sql(f.size),
            f.hash,
            f.mtime,
            f.version,
            f.seq,
            f.deleted_at,
            f.deleted_at.is_some()
        ],
    )?;
    Ok(())
}

/// Applies one event whose seq is known to be next.
fn apply(conn: &Connection, project: Uuid, event: &Event) -> Result<()> {
    let invalid = |reason: String| ManifestError::InvalidEvent { project, seq: event.seq, reason };
    // The cloud is trusted for order, not for paths: a bad path must never
    // reach the badge engine, which joins it onto the folder root.
    event.change.validate().map_err(|e| invalid(e.to_string()))?;
    let change = &event.change;
    let known = get(conn, project, &change.path)?;
    match change.op {
        Op::Create | Op::Update => {
            let (Some(hash), Some(size), Some(mtime)) = (&change.hash, change.size, change.mtime) else {
                return Err(invalid("create/update without hash, size or mtime".into()));
            };
            let version = match &known {
                Some(k) if k.hash == *hash && k.deleted_at.is_none() => k.version,
                // The version came from the cloud: at the top it stays there
                // rather than overflow (a panic in debug builds).
                Some(k) => k.version.saturating_add(1),
                None => 1,
            };
            let row = RemoteFile {
                path: change.path.clone(),
                size,
                hash: hash.clone(),
                mtime,
                version,
                seq: event.seq,
                deleted_at: None,
                deleted_by: None,
            };
            put(conn, project, &row)
        }
        // A delete of a path we never heard of leaves nothing to expect.
        Op::Delete => match known {
            None => Ok(()),
            Some(k) => {
                put(conn, project, &RemoteFile { seq: event.seq, deleted_at: Some(event.created_at.clone()), ..k })
            }
        },
    }
}

impl Manifest {
    /// Applies events in order and moves the project's cursor, in one
    /// transaction. Events at or below the cursor are skipped (a replay is
    /// harmless); any other seq than cursor + 1 refuses the whole call with
    /// `Gap`, as does an invalid change (`InvalidEvent`). Returns the cursor.
    pub fn apply_events(&mut self, project: Uuid, events: &[Event]) -> Result<i64> {
        let tx = self.conn.transaction()?;
        let mut cursor = last_seq(&tx, project)?;
        for event in events {
            if event.seq <= cursor {
                continue;
            }
            if event.seq != cursor + 1 {
                return Err(ManifestError::Gap { project, expected: cursor + 1, got: event.seq });
            }
            apply(&tx, project, event)?;
            cursor = event.seq;
        }
        tx.execute("UPDATE projects SET last_seq = ?2 WHERE project_id = ?1", params![project.to_string(), cursor])?;
        tx.commit()?;
        Ok(cursor)
    }

    /// Replaces the project's remote files with a snapshot and sets its
    /// cursor to `as_of_seq`, in one transaction.
    pub fn load_snapshot(&mut self, project: Uuid, snapshot: &FilesSnapshot) -> Result<()> {
        let tx = self.conn.transaction()?;
        last_seq(&tx, project)?;
        tx.execute("DELETE FROM remote_files WHERE project_id = ?1", [project.to_string()])?;
        for f in &snapshot.files {
            cloud_protocol::validate_path(&f.path).map_err(|e| ManifestError::InvalidEvent {
                project,
                seq: f.seq,
                reason: format!("snapshot path {:?}: {e}", f.path),
            })?;
            put(&tx, project, f)?;
        }
        tx.execute(
            "UPDATE projects SET last_seq = ?2 WHERE project_id = ?1",
            params![project.to_string(), snapshot.as_of_seq],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every announced path of a project (deleted ones included), by path.
    pub fn remote_files(&self, project: Uuid) -> Result<Vec<RemoteFileRow>> {
        let mut stmt =
            self.conn.prepare(&format!("SELECT {COLUMNS} FROM remote_files WHERE project_id = ?1 ORDER BY path"))?;
        let rows = stmt.query_map([project.to_string()], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One announced path.
    pub fn remote_file(&self, project: Uuid, path: &str) -> Result<Option<RemoteFileRow>> {
        get(&self.conn, project, path)
    }
}
