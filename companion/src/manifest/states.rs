//! Small tables: `file_states`, the badge engine's per-file results
//! (invitee side), and `kv`, for single values that must survive a restart.
//!
//! No Syncthing event cursor is kept across restarts, on purpose: events
//! only tell the badge engine when to look again, they are never the
//! evidence of a badge. On start it asks Syncthing's REST API (folder
//! status, what is needed, `db/file`) and the disk about every path, which
//! is the state as of now. Replaying events from a saved cursor would add
//! nothing to that and would bring back `DownloadProgress` and
//! `ItemStarted` of transfers that are over, which cannot be told from
//! live ones; and Syncthing keeps only its last events, numbered afresh
//! on each of its restarts, so a saved cursor is often void anyway. The
//! stream keeps its cursor in memory, across reconnects within one run.

use cloud_protocol::{FileProgress, FileState};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::{Manifest, ManifestError, Result, now};

/// One file's badge as last computed, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct FileStateRow {
    pub progress: FileProgress,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

impl Manifest {
    /// Stores badge states (insert or replace by path), in one transaction.
    pub fn upsert_file_states(&mut self, project: Uuid, files: &[FileProgress]) -> Result<()> {
        let tx = self.conn.transaction()?;
        Manifest::require_project(&tx, project)?;
        let at = now();
        for f in files {
            tx.execute(
                "INSERT OR REPLACE INTO file_states (project_id, path, state, percent, local_hash, error, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![project.to_string(), f.path, f.state.as_str(), f.percent, f.local_hash, f.error, at],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A project's badge states, by path.
    pub fn file_states(&self, project: Uuid) -> Result<Vec<FileStateRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT path, state, percent, local_hash, error, updated_at FROM file_states
             WHERE project_id = ?1 ORDER BY path",
        )?;
        let rows = stmt.query_map([project.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })?;
        rows.map(|row| {
            let (path, state, percent, local_hash, error, updated_at) = row?;
            let state = FileState::parse(&state)
                .ok_or_else(|| ManifestError::Decode(format!("unknown file state {state:?} for {path:?}")))?;
            Ok(FileStateRow { progress: FileProgress { path, state, percent, local_hash, error }, updated_at })
        })
        .collect()
    }

    /// Forgets one path's badge. False if there was none.
    pub fn remove_file_state(&mut self, project: Uuid, path: &str) -> Result<bool> {
        super::delete_path(&self.conn, "file_states", project, path)
    }

    /// A stored value.
    pub fn kv_get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// Stores a value, replacing any old one.
    pub fn kv_set(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)", [key, value])?;
        Ok(())
    }

    /// Removes a value. False if there was none.
    pub fn kv_remove(&mut self, key: &str) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM kv WHERE key = ?1", [key])? > 0)
    }
}
