//! The badge engine's side of `file_states` (invitee): badges with the file
//! stamp their hash was taken at (so a restart does not re-read unchanged
//! files), and which of them still have to be reported to the cloud.

use cloud_protocol::{FileProgress, FileState};
use rusqlite::params;
use uuid::Uuid;

use super::{Manifest, ManifestError, Result, now, size_from_sql, size_to_sql};
use crate::hash::FileStamp;

/// One persisted badge.
#[derive(Debug, Clone, PartialEq)]
pub struct BadgeRow {
    pub progress: FileProgress,
    /// The file's size and mtime when `progress.local_hash` was taken.
    pub stamp: Option<FileStamp>,
    /// Its inode then (`None` for badges saved before inodes were kept).
    pub inode: Option<u64>,
    /// RFC 3339, UTC: when the badge last changed.
    pub updated_at: String,
    /// Sent to the cloud since it last changed.
    pub reported: bool,
}

const COLUMNS: &str =
    "path, state, percent, local_hash, error, stamp_size, stamp_mtime, updated_at, reported, stamp_inode";

type RawRow =
    (String, String, f64, Option<String>, Option<String>, Option<i64>, Option<i64>, String, bool, Option<i64>);

/// A badge to save: its progress, and the stamp and inode of its hash.
pub type BadgeToSave = (FileProgress, Option<FileStamp>, Option<u64>);

fn decode(raw: RawRow) -> Result<BadgeRow> {
    let (path, state, percent, local_hash, error, size, mtime, updated_at, reported, inode) = raw;
    // Inodes are u64; SQLite keeps their bits in an i64.
    let inode = inode.map(|i| i as u64);
    let state = FileState::parse(&state)
        .ok_or_else(|| ManifestError::Decode(format!("unknown file state {state:?} for {path:?}")))?;
    let stamp = match (size, mtime) {
        (Some(size), Some(mtime_ms)) => Some(FileStamp { size: size_from_sql(size), mtime_ms }),
        _ => None,
    };
    let progress = FileProgress { path, state, percent, local_hash, error };
    Ok(BadgeRow { progress, stamp, inode, updated_at, reported })
}

impl Manifest {
    /// Stores changed badges with their stamps (insert or replace by path),
    /// marked as not yet reported, in one transaction.
    pub fn save_badges(&mut self, project: Uuid, badges: &[(FileProgress, Option<FileStamp>)]) -> Result<()> {
        let with_inodes: Vec<BadgeToSave> = badges.iter().map(|(p, stamp)| (p.clone(), *stamp, None)).collect();
        self.save_verified_badges(project, &with_inodes)
    }

    /// [`Manifest::save_badges`] with the inode of each hash too.
    pub fn save_verified_badges(&mut self, project: Uuid, badges: &[BadgeToSave]) -> Result<()> {
        let tx = self.conn.transaction()?;
        Manifest::require_project(&tx, project)?;
        let at = now();
        {
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO file_states (project_id, {COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10)"
            ))?;
            for (p, stamp, inode) in badges {
                stmt.execute(params![
                    project.to_string(),
                    p.path,
                    p.state.as_str(),
                    p.percent,
                    p.local_hash,
                    p.error,
                    stamp.map(|s| size_to_sql(s.size)),
                    stamp.map(|s| s.mtime_ms),
                    at,
                    inode.map(|i| i as i64)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every badge of a project, by path.
    pub fn badges(&self, project: Uuid) -> Result<Vec<BadgeRow>> {
        self.badge_query(&format!("SELECT {COLUMNS} FROM file_states WHERE project_id = ?1 ORDER BY path"), project, -1)
    }

    /// Up to `limit` badges not reported to the cloud yet, by path.
    /// `ignored_here` goes out too: the owner then knows this member does
    /// not sync the file (and an older report with a hash is replaced).
    pub fn unreported_badges(&self, project: Uuid, limit: usize) -> Result<Vec<BadgeRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.badge_query(
            &format!(
                "SELECT {COLUMNS} FROM file_states WHERE project_id = ?1 AND reported = 0
                 ORDER BY path LIMIT ?2"
            ),
            project,
            limit,
        )
    }

    /// Marks badges as reported, unless they changed after being read (the
    /// `updated_at` of the row that was sent must still be the current one).
    pub fn mark_reported(&mut self, project: Uuid, sent: &[BadgeRow]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE file_states SET reported = 1
                 WHERE project_id = ?1 AND path = ?2 AND updated_at = ?3 AND state = ?4 AND percent = ?5",
            )?;
            for row in sent {
                let p = &row.progress;
                stmt.execute(params![project.to_string(), p.path, row.updated_at, p.state.as_str(), p.percent])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks every badge of a project as not reported (say, the cloud lost them).
    pub fn mark_all_unreported(&mut self, project: Uuid) -> Result<()> {
        self.conn.execute("UPDATE file_states SET reported = 0 WHERE project_id = ?1", [project.to_string()])?;
        Ok(())
    }

    fn badge_query(&self, sql: &str, project: Uuid, limit: i64) -> Result<Vec<BadgeRow>> {
        let mut stmt = self.conn.prepare(sql)?;
        // The columns in the query's order.
        let map = |r: &rusqlite::Row<'_>| RawRow::try_from(r);
        let rows: Vec<RawRow> = if limit >= 0 {
            stmt.query_map(params![project.to_string(), limit], map)?.collect::<rusqlite::Result<_>>()?
        } else {
            stmt.query_map([project.to_string()], map)?.collect::<rusqlite::Result<_>>()?
        };
        rows.into_iter().map(decode).collect()
    }
}
