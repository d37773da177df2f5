//! Members' reported per-file progress on SQLite: latest report per file wins.

use cloud_protocol::{FileProgress, ProgressReport, ReportedFile};
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use super::MAX_BINDS;
use crate::store::StoreResult;
use crate::store::rows::{ProgressRow, as_reported, group_progress, latest_per_path};

pub(super) async fn record(
    pool: &SqlitePool,
    project: Uuid,
    user: Uuid,
    files: &[FileProgress],
    now_ms: i64,
) -> StoreResult<Vec<ReportedFile>> {
    const COLUMNS: usize = 8;
    let files = latest_per_path(files);
    let (project, user) = (project.to_string(), user.to_string());
    // All chunks or none: a report is stored whole.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    for chunk in files.chunks(MAX_BINDS / COLUMNS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO member_progress \
             (project_id, user_id, path, state, percent, local_hash, error, reported_at) ",
        );
        q.push_values(chunk, |mut row, f| {
            row.push_bind(project.as_str())
                .push_bind(user.as_str())
                .push_bind(f.path.as_str())
                .push_bind(f.state.as_str())
                .push_bind(f.percent)
                .push_bind(f.local_hash.as_deref())
                .push_bind(f.error.as_deref())
                .push_bind(now_ms);
        });
        q.push(
            " ON CONFLICT (project_id, user_id, path) DO UPDATE SET state = excluded.state, \
             percent = excluded.percent, local_hash = excluded.local_hash, error = excluded.error, \
             reported_at = excluded.reported_at",
        );
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(as_reported(&files, now_ms))
}

pub(super) async fn report(pool: &SqlitePool, project: Uuid) -> StoreResult<ProgressReport> {
    // Only current members: a revoked member's last words no longer describe the project.
    let rows: Vec<ProgressRow> = sqlx::query_as(
        "SELECT p.user_id, u.name, p.path, p.state, p.percent, p.local_hash, p.error, p.reported_at \
         FROM member_progress p \
         JOIN members m ON m.project_id = p.project_id AND m.user_id = p.user_id AND m.status = 'accepted' \
         JOIN users u ON u.id = p.user_id \
         WHERE p.project_id = ? ORDER BY u.name, p.path",
    )
    .bind(project.to_string())
    .fetch_all(pool)
    .await?;
    group_progress(rows)
}
