//! Members' reported per-file progress on PostgreSQL: latest report per file wins.

use std::collections::HashSet;

use cloud_protocol::{FileProgress, ProgressReport, ReportedFile};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::store::StoreResult;
use crate::store::paging::{ProgressQuery, page, sql_limit};
use crate::store::rows::{ProgressRow, as_reported, latest_per_path};

pub(super) async fn record(
    pool: &PgPool,
    project: Uuid,
    user: Uuid,
    files: &[FileProgress],
    now_ms: i64,
) -> StoreResult<Vec<ReportedFile>> {
    // One row per path: a single upsert may not touch a row twice.
    let files = latest_per_path(files);
    if !files.is_empty() {
        sqlx::query(
            "INSERT INTO member_progress \
             (project_id, user_id, path, state, percent, local_hash, error, reported_at) \
             SELECT $1, $2, f.path, f.state, f.percent, f.local_hash, f.error, $3 \
             FROM UNNEST($4::text[], $5::text[], $6::float8[], $7::text[], $8::text[]) \
             AS f (path, state, percent, local_hash, error) \
             ON CONFLICT (project_id, user_id, path) DO UPDATE SET state = excluded.state, \
             percent = excluded.percent, local_hash = excluded.local_hash, error = excluded.error, \
             reported_at = excluded.reported_at",
        )
        .bind(project.to_string())
        .bind(user.to_string())
        .bind(now_ms)
        .bind(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>())
        .bind(files.iter().map(|f| f.state.as_str()).collect::<Vec<_>>())
        .bind(files.iter().map(|f| f.percent).collect::<Vec<_>>())
        .bind(files.iter().map(|f| f.local_hash.as_deref()).collect::<Vec<_>>())
        .bind(files.iter().map(|f| f.error.as_deref()).collect::<Vec<_>>())
        .execute(pool)
        .await?;
    }
    Ok(as_reported(&files, now_ms))
}

pub(super) async fn report(pool: &PgPool, project: Uuid, query: &ProgressQuery) -> StoreResult<ProgressReport> {
    // Only current members: a revoked member's last words no longer describe the
    // project. Byte order (COLLATE "C"), as on SQLite, so cursors mean the same.
    let mut q = QueryBuilder::<Postgres>::new(
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
        q.push(" AND (u.name COLLATE \"C\" > ").push_bind(after.name.clone());
        q.push(" OR (u.name = ").push_bind(after.name.clone());
        q.push(" AND p.path COLLATE \"C\" > ").push_bind(after.path.clone()).push("))");
    }
    q.push(" ORDER BY u.name COLLATE \"C\", p.path COLLATE \"C\" LIMIT ").push_bind(sql_limit(query.limit));
    let rows: Vec<ProgressRow> = q.build_query_as().fetch_all(pool).await?;
    page(rows, query.limit)
}

pub(super) async fn known_paths(pool: &PgPool, project: Uuid, paths: &[&str]) -> StoreResult<HashSet<String>> {
    let known: Vec<String> =
        sqlx::query_scalar("SELECT path FROM remote_files WHERE project_id = $1 AND path = ANY($2::text[])")
            .bind(project.to_string())
            .bind(paths.to_vec())
            .fetch_all(pool)
            .await?;
    Ok(known.into_iter().collect())
}
