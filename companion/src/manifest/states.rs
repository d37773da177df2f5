//! Small tables: `file_states`, the badge engine's per-file results
//! (invitee side), and `kv`, for single values such as the Syncthing event
//! cursor that must survive a restart.

use cloud_protocol::{FileProgress, FileState};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Manifest, ManifestError, Result, now};

/// One file's badge as last computed, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct FileStateRow {
    pub progress: FileProgress,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// Where we are in a Syncthing event stream. Syncthing restarts its ids at 1
/// on restart, so `since` only means something with the same `start_time`
/// and `my_id` (from `/rest/system/status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCursor {
    pub since: u64,
    pub start_time: String,
    pub my_id: String,
}

fn cursor_key(scope: &str) -> String {
    format!("syncthing.events.{scope}")
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
        let n = self.conn.execute(
            "DELETE FROM file_states WHERE project_id = ?1 AND path = ?2",
            params![project.to_string(), path],
        )?;
        Ok(n > 0)
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

    /// The saved event cursor of one subscription (`scope`: a folder id, or
    /// whatever names the subscription).
    pub fn event_cursor(&self, scope: &str) -> Result<Option<EventCursor>> {
        let Some(text) = self.kv_get(&cursor_key(scope))? else { return Ok(None) };
        serde_json::from_str(&text).map(Some).map_err(|e| ManifestError::Decode(format!("event cursor {scope:?}: {e}")))
    }

    /// Saves the event cursor of one subscription.
    pub fn set_event_cursor(&mut self, scope: &str, cursor: &EventCursor) -> Result<()> {
        let text =
            serde_json::to_string(cursor).map_err(|e| ManifestError::Decode(format!("event cursor {scope:?}: {e}")))?;
        self.kv_set(&cursor_key(scope), &text)
    }
}
