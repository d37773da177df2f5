//! The manifest's tables and their migrations, versioned by `PRAGMA user_version`.
//!
//! Migration N (1-based) takes the schema from version N-1 to N inside one
//! transaction that also sets `user_version`, so a crash mid-migration leaves
//! the previous version intact. Append new migrations; never edit old ones.

use std::path::Path;

use rusqlite::Connection;

use super::{ManifestError, open_error};

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE projects (
        project_id  TEXT PRIMARY KEY,
        cloud_url   TEXT NOT NULL,
        name        TEXT NOT NULL,
        folder_id   TEXT NOT NULL,
        folder_path TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('owner', 'member')),
        -- invitee: seq of the last event applied to remote_files
        last_seq    INTEGER NOT NULL DEFAULT 0,
        -- owner: highest seq the cloud gave one of our batches
        acked_seq   INTEGER NOT NULL DEFAULT 0,
        status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
        created_at  TEXT NOT NULL
    );
    CREATE INDEX projects_folder ON projects (folder_id);

    CREATE TABLE local_files (
        project_id     TEXT NOT NULL REFERENCES projects (project_id) ON DELETE CASCADE,
        path           TEXT NOT NULL,
        size           INTEGER NOT NULL,
        mtime_ms       INTEGER NOT NULL,
        hash           TEXT NOT NULL,
        -- what the cloud acknowledged or is queued to receive; NULL: nothing
        last_sent_hash TEXT,
        -- the file is gone and its delete was queued
        deleted        INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (project_id, path)
    ) WITHOUT ROWID;

    CREATE TABLE outbox (
        -- the queue order: a split batch keeps its id, hence its place
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id        TEXT NOT NULL REFERENCES projects (project_id) ON DELETE CASCADE,
        batch_id          TEXT NOT NULL UNIQUE,
        changes           TEXT NOT NULL,
        change_count      INTEGER NOT NULL,
        created_at        TEXT NOT NULL,
        attempts          INTEGER NOT NULL DEFAULT 0,
        last_error        TEXT,
        state             TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'quarantined')),
        quarantine_reason TEXT,
        quarantined_at    TEXT
    );
    CREATE INDEX outbox_queue ON outbox (project_id, state, id);

    CREATE TABLE remote_files (
        project_id TEXT NOT NULL REFERENCES projects (project_id) ON DELETE CASCADE,
        path       TEXT NOT NULL,
        size       INTEGER NOT NULL,
        hash       TEXT NOT NULL,
        mtime      INTEGER NOT NULL,
        version    INTEGER NOT NULL,
        seq        INTEGER NOT NULL,
        deleted    INTEGER NOT NULL DEFAULT 0,
        deleted_at TEXT,
        PRIMARY KEY (project_id, path)
    ) WITHOUT ROWID;

    CREATE TABLE file_states (
        project_id TEXT NOT NULL REFERENCES projects (project_id) ON DELETE CASCADE,
        path       TEXT NOT NULL,
        state      TEXT NOT NULL,
        percent    REAL NOT NULL,
        local_hash TEXT,
        error      TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (project_id, path)
    ) WITHOUT ROWID;

    CREATE TABLE kv (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: the badge engine's stamps and report marks; what members reported (owner side).
    r#"
    -- size+mtime of the file when local_hash was taken: a restart skips
    -- re-reading files whose stamp did not change
    ALTER TABLE file_states ADD COLUMN stamp_size INTEGER;
    ALTER TABLE file_states ADD COLUMN stamp_mtime INTEGER;
    -- 0 until the state was sent to the cloud as a `progress` message
    ALTER TABLE file_states ADD COLUMN reported INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX file_states_unreported ON file_states (project_id, reported);

    CREATE TABLE member_progress (
        project_id  TEXT NOT NULL REFERENCES projects (project_id) ON DELETE CASCADE,
        user_id     TEXT NOT NULL,
        member_name TEXT NOT NULL,
        path        TEXT NOT NULL,
        state       TEXT NOT NULL,
        percent     REAL NOT NULL,
        local_hash  TEXT,
        error       TEXT,
        -- when the member reported it (the cloud's clock, RFC 3339)
        reported_at TEXT NOT NULL,
        PRIMARY KEY (project_id, user_id, path)
    ) WITHOUT ROWID;
    "#,
    // 3: the inode of a badge's hash, so an unchanged file (size, mtime and
    // inode) is not read again when its path is announced again.
    r#"
    ALTER TABLE file_states ADD COLUMN stamp_inode INTEGER;
    "#,
    // 4 (owner side): when each member was last heard from through the
    // cloud (a report, or "still here, nothing changed"), by this
    // machine's clock: how current their report is, and whether they are online.
    r#"
    CREATE TABLE member_heard (
        project_id  TEXT NOT NULL REFERENCES projects (project_id) ON DELETE CASCADE,
        user_id     TEXT NOT NULL,
        member_name TEXT NOT NULL,
        heard_at    TEXT NOT NULL,
        PRIMARY KEY (project_id, user_id)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database at `path` up to [`SCHEMA_VERSION`].
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), ManifestError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| open_error(path, e))?;
    if found > SCHEMA_VERSION {
        return Err(ManifestError::TooNew { path: path.to_path_buf(), found, known: SCHEMA_VERSION });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
        let version = index as i64 + 1;
        let tx = conn.transaction().map_err(|e| open_error(path, e))?;
        tx.execute_batch(sql).map_err(|e| open_error(path, e))?;
        tx.pragma_update(None, "user_version", version).map_err(|e| open_error(path, e))?;
        tx.commit().map_err(|e| open_error(path, e))?;
        tracing::info!(manifest = %path.display(), version, "manifest schema migrated");
    }
    Ok(())
}
