//! The `local_files` table (owner side): per path, what we last saw on disk
//! (size, mtime, hash) and what the cloud was last sent.
//!
//! It lets the scanner and the watcher skip the hash of a file whose stamp is
//! unchanged, drop a second report of the same content (key: path + hash),
//! and find, at start-up, the files deleted while the companion was down.

use cloud_protocol::{Change, Op};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::{Manifest, Result, size_from_sql, size_to_sql};
use crate::hash::FileStamp;

/// What the manifest knows about one local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub path: String,
    pub size: u64,
    pub mtime_ms: i64,
    /// Hash of the content that had this size and mtime.
    pub hash: String,
    /// Hash the cloud acknowledged or is queued to receive; `None`: nothing sent.
    pub last_sent_hash: Option<String>,
    /// The file is gone and its delete was queued.
    pub deleted: bool,
}

impl LocalFile {
    pub fn stamp(&self) -> FileStamp {
        FileStamp { size: self.size, mtime_ms: self.mtime_ms }
    }

    /// True when the cloud has (or will have) this path with this hash.
    pub fn is_sent(&self, hash: &str) -> bool {
        !self.deleted && self.last_sent_hash.as_deref() == Some(hash)
    }
}

/// The part of a [`LocalFile`] the start-up scan reads for every path: enough
/// to tell an unchanged file (same stamp, hash already sent) from one to look
/// at, without copying two hashes per row out of SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalStamp {
    pub path: String,
    pub size: u64,
    pub mtime_ms: i64,
    pub deleted: bool,
    /// [`LocalFile::is_sent`] of the recorded hash: the cloud has (or is
    /// queued to get) the content this stamp stands for.
    pub hash_sent: bool,
}

impl LocalStamp {
    pub fn stamp(&self) -> FileStamp {
        FileStamp { size: self.size, mtime_ms: self.mtime_ms }
    }
}

const COLUMNS: &str = "path, size, mtime_ms, hash, last_sent_hash, deleted";

fn from_row(row: &Row<'_>) -> rusqlite::Result<LocalFile> {
    Ok(LocalFile {
        path: row.get(0)?,
        size: size_from_sql(row.get(1)?),
        mtime_ms: row.get(2)?,
        hash: row.get(3)?,
        last_sent_hash: row.get(4)?,
        deleted: row.get(5)?,
    })
}

fn get(conn: &Connection, project: Uuid, path: &str) -> Result<Option<LocalFile>> {
    let sql = format!("SELECT {COLUMNS} FROM local_files WHERE project_id = ?1 AND path = ?2");
    Ok(conn.query_row(&sql, params![project.to_string(), path], from_row).optional()?)
}

fn record_stamp(conn: &Connection, project: Uuid, path: &str, stamp: FileStamp, hash: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO local_files (project_id, path, size, mtime_ms, hash) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (project_id, path) DO UPDATE SET size = ?3, mtime_ms = ?4, hash = ?5",
        params![project.to_string(), path, size_to_sql(stamp.size), stamp.mtime_ms, hash],
    )?;
    Ok(())
}

/// Records in `local_files` that `change` is being sent, inside the caller's
/// transaction. Returns the change to queue, with its op fixed from what the
/// cloud already has, or `None` when the cloud already has (or is about to
/// get) exactly this (the second report of one content change).
pub(super) fn note_sending(conn: &Connection, project: Uuid, change: &Change) -> Result<Option<Change>> {
    let known = get(conn, project, &change.path)?;
    match change.op {
        Op::Create | Op::Update => {
            // `validate` guaranteed these are present.
            let (Some(hash), Some(size), Some(mtime)) = (&change.hash, change.size, change.mtime) else {
                return Ok(None);
            };
            let stamp = FileStamp { size, mtime_ms: mtime };
            if known.as_ref().is_some_and(|k| k.is_sent(hash)) {
                record_stamp(conn, project, &change.path, stamp, hash)?;
                return Ok(None);
            }
            // "update" only for a path the cloud has; else "create".
            let op = match &known {
                Some(k) if !k.deleted && k.last_sent_hash.is_some() => Op::Update,
                _ => Op::Create,
            };
            conn.execute(
                "INSERT INTO local_files (project_id, path, size, mtime_ms, hash, last_sent_hash, deleted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0)
                 ON CONFLICT (project_id, path) DO UPDATE
                 SET size = ?3, mtime_ms = ?4, hash = ?5, last_sent_hash = ?5, deleted = 0",
                params![project.to_string(), change.path, size_to_sql(size), mtime, hash],
            )?;
            Ok(Some(Change { op, ..change.clone() }))
        }
        Op::Delete => match known {
            // Gone already, or never sent: the cloud has nothing to delete.
            None => Ok(None),
            Some(k) if k.deleted => Ok(None),
            Some(k) => {
                conn.execute(
                    "UPDATE local_files SET deleted = 1, last_sent_hash = NULL WHERE project_id = ?1 AND path = ?2",
                    params![project.to_string(), change.path],
                )?;
                Ok(k.last_sent_hash.is_some().then(|| change.clone()))
            }
        },
    }
}

impl Manifest {
    /// Every path recorded for a project (deleted ones included), by path.
    pub fn local_files(&self, project: Uuid) -> Result<Vec<LocalFile>> {
        let mut stmt =
            self.conn.prepare(&format!("SELECT {COLUMNS} FROM local_files WHERE project_id = ?1 ORDER BY path"))?;
        let rows = stmt.query_map([project.to_string()], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// [`Manifest::local_files`], lean: the stamps and whether each recorded
    /// hash was sent, in no particular order.
    pub(crate) fn local_stamps(&self, project: Uuid) -> Result<Vec<LocalStamp>> {
        let mut stmt = self.conn.prepare(
            "SELECT path, size, mtime_ms, deleted, deleted = 0 AND last_sent_hash IS hash
             FROM local_files WHERE project_id = ?1",
        )?;
        let rows = stmt.query_map([project.to_string()], |row| {
            Ok(LocalStamp {
                path: row.get(0)?,
                size: size_from_sql(row.get(1)?),
                mtime_ms: row.get(2)?,
                deleted: row.get(3)?,
                hash_sent: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One recorded path.
    pub fn local_file(&self, project: Uuid, path: &str) -> Result<Option<LocalFile>> {
        get(&self.conn, project, path)
    }

    /// Records a file's stamp and hash without sending anything: for a file
    /// touched but not changed, so its next check skips the hash.
    pub fn record_stamp(&mut self, project: Uuid, path: &str, stamp: FileStamp, hash: &str) -> Result<()> {
        Manifest::require_project(&self.conn, project)?;
        record_stamp(&self.conn, project, path, stamp, hash)
    }

    /// [`Manifest::record_stamp`] for many files in one transaction.
    pub fn record_stamps(&mut self, project: Uuid, files: &[(String, FileStamp, String)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        Manifest::require_project(&tx, project)?;
        for (path, stamp, hash) in files {
            record_stamp(&tx, project, path, *stamp, hash)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets a path entirely (say, it became ignored). False if it was not there.
    pub fn forget_local_file(&mut self, project: Uuid, path: &str) -> Result<bool> {
        super::delete_path(&self.conn, "local_files", project, path)
    }
}
