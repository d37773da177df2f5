//! The `member_progress` table (owner side): per member and file, the
//! state that member last reported and when, so the owner sees who has
//! what, also for members who are offline now; and `member_heard`: when
//! each member was last heard from live (see [`crate::presence`]).

use cloud_protocol::{FileProgress, FileState, ReportedFile};
use rusqlite::params;
use uuid::Uuid;

use super::{Manifest, ManifestError, Result, parse_uuid};

/// One member's last report about one file.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberFileRow {
    pub user_id: Uuid,
    pub name: String,
    pub progress: FileProgress,
    /// When the member reported it (RFC 3339, the cloud's clock).
    pub reported_at: String,
}

impl Manifest {
    /// Records what a member reported. A report older than the one kept is
    /// ignored, so a late page of `GET …/progress` cannot undo a live update.
    pub fn record_member_progress(
        &mut self,
        project: Uuid,
        user_id: Uuid,
        name: &str,
        files: &[ReportedFile],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        Manifest::require_project(&tx, project)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO member_progress
                     (project_id, user_id, member_name, path, state, percent, local_hash, error, reported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (project_id, user_id, path) DO UPDATE SET
                     member_name = excluded.member_name, state = excluded.state, percent = excluded.percent,
                     local_hash = excluded.local_hash, error = excluded.error, reported_at = excluded.reported_at
                 WHERE excluded.reported_at >= member_progress.reported_at",
            )?;
            for f in files {
                let p = &f.progress;
                stmt.execute(params![
                    project.to_string(),
                    user_id.to_string(),
                    name,
                    p.path,
                    p.state.as_str(),
                    p.percent,
                    p.local_hash,
                    p.error,
                    f.reported_at
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every member's last report of every file of a project, by member name then path.
    pub fn member_progress(&self, project: Uuid) -> Result<Vec<MemberFileRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT user_id, member_name, path, state, percent, local_hash, error, reported_at
             FROM member_progress WHERE project_id = ?1 ORDER BY member_name, user_id, path",
        )?;
        let rows = stmt.query_map([project.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, f64>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        rows.map(|row| {
            let (user, name, path, state, percent, local_hash, error, reported_at) = row?;
            let state = FileState::parse(&state)
                .ok_or_else(|| ManifestError::Decode(format!("unknown member file state {state:?} for {path:?}")))?;
            Ok(MemberFileRow {
                user_id: parse_uuid(&user)?,
                name,
                progress: FileProgress { path, state, percent, local_hash, error },
                reported_at,
            })
        })
        .collect()
    }

    /// Notes that `user` was heard from through the cloud just now.
    pub fn record_member_heard(&mut self, project: Uuid, user: Uuid, name: &str) -> Result<()> {
        Manifest::require_project(&self.conn, project)?;
        self.conn.execute(
            "INSERT INTO member_heard (project_id, user_id, member_name, heard_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (project_id, user_id) DO UPDATE SET
                 member_name = excluded.member_name, heard_at = excluded.heard_at",
            params![project.to_string(), user.to_string(), name, super::now()],
        )?;
        Ok(())
    }

    /// When each member of `project` was last heard from live: `(user, name, heard_at)`.
    pub fn members_heard(&self, project: Uuid) -> Result<Vec<(Uuid, String, String)>> {
        let mut stmt =
            self.conn.prepare("SELECT user_id, member_name, heard_at FROM member_heard WHERE project_id = ?1")?;
        let rows = stmt.query_map([project.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })?;
        rows.map(|row| {
            let (user, name, at) = row?;
            Ok((parse_uuid(&user)?, name, at))
        })
        .collect()
    }
}
