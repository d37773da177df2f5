//! Members' reported per-file progress on SQLite: latest report per file wins.

use std::collections::HashSet;

use cloud_protocol::{FileProgress, ProgressReport, ReportedFile};
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use super::MAX_BINDS;
use crate::store::StoreResult;
use crate::store::paging::{ProgressQuery, page, sql_limit};
use crate::store::rows::{ProgressRow, as_reported, latest_per_path};

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

pub(super) async fn report(pool: &SqlitePool, project: Uuid, query: &ProgressQuery) -> StoreResult<ProgressReport> {
    // Only current members: a revoked member's last words no longer describe the project.
    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT p.user_id, u.name, p.path, p.state, p.percent, p.local_hash, p.error, p.reported_at \
         FROM member_progress p \
         JOIN members m ON m.project_id = p.project_id AND m.user_id = p.user_id AND m.status = 'accepted' \
         JOIN users u ON u.id = p.user_id \
         WHERE p.project_id = ",
    );
    q.push_bind(project.to_string());
    if let Some(user) = query.user {
        q.push(" AND p.user_id = ").push_bind(user.to_string());
    }
    if let Some(after) = &query.after {
        q.push(" AND (u.name > ").push_bind(after.name.clone());
        q.push(" OR (u.name = ").push_bind(after.name.clone());
        q.push(" AND p.path > ").push_bind(after.path.clone()).push("))");
    }
    q.push(" ORDER BY u.name, p.path LIMIT ").push_bind(sql_limit(query.limit));
    let rows: Vec<ProgressRow> = q.build_query_as().fetch_all(pool).await?;
    page(rows, query.limit)
}

pub(super) async fn known_paths(pool: &SqlitePool, project: Uuid, paths: &[&str]) -> StoreResult<HashSet<String>> {
    let project = project.to_string();
    let mut known = HashSet::new();
    for chunk in paths.chunks(MAX_BINDS - 1) {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT path FROM remote_files WHERE project_id = ");
        q.push_bind(project.as_str()).push(" AND path IN (");
        let mut list = q.separated(", ");
        for path in chunk {
            list.push_bind(*path);
        }
        q.push(")");
        known.extend(q.build_query_scalar::<String>().fetch_all(pool).await?);
    }
    Ok(known)
}
