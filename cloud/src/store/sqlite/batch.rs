//! Sequencing on SQLite: `append_batch` and the reads of what it wrote (events, files).
//!
//! The `BEGIN IMMEDIATE` transaction of the single writer serializes batches, so bumping
//! `projects.last_seq` inside it hands out dense seqs that commit in order. Rows are
//! written with multi-row statements, chunked under SQLite's bound-parameter cap.

use cloud_protocol::{Event, FilesSnapshot};
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use super::MAX_BINDS;
use crate::store::plan::{self, Delete, Upsert};
use crate::store::rows::{BatchRow, EventRow, FileRow, size_to_db};
use crate::store::{AppendOutcome, BatchInput, StoreError, StoreResult};
use cloud_protocol::UpdateFilesResponse;

pub(super) async fn append(mut tx: Transaction<'static, Sqlite>, batch: BatchInput<'_>) -> StoreResult<AppendOutcome> {
    let project = batch.project_id.to_string();
    let synced = u32::try_from(batch.changes.len())
        .map_err(|_| StoreError::Corrupt(format!("batch of {} changes", batch.changes.len())))?;
    let n = i64::from(synced);
    let last_seq: i64 =
        sqlx::query_scalar("UPDATE projects SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq")
            .bind(n)
            .bind(&project)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
    let first_seq = last_seq - n + 1;
    let recorded = sqlx::query(
        "INSERT INTO batches (project_id, batch_id, digest, first_seq, last_seq, synced, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, batch_id) DO NOTHING",
    )
    .bind(&project)
    .bind(batch.batch_id.to_string())
    .bind(&batch.digest[..])
    .bind(first_seq)
    .bind(last_seq)
    .bind(n)
    .bind(batch.now_ms)
    .execute(&mut *tx)
    .await?;
    if recorded.rows_affected() == 0 {
        // Seen before: answer as the first time and write nothing (the bump rolls back).
        let row: BatchRow = sqlx::query_as(
            "SELECT digest, first_seq, last_seq, synced FROM batches WHERE project_id = ? AND batch_id = ?",
        )
        .bind(&project)
        .bind(batch.batch_id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        tx.rollback().await?;
        return row.replay(batch.batch_id, &batch.digest);
    }
    let rounds = plan::file_rounds(batch.changes, first_seq)?;
    claim_paths(&mut tx, &project, &plan::upserted_paths(&rounds), batch.max_paths).await?;
    insert_events(&mut tx, &project, &batch, first_seq).await?;
    for round in rounds {
        upsert_files(&mut tx, &project, &round.upserts).await?;
        delete_files(&mut tx, &project, &round.deletes, batch).await?;
    }
    tx.commit().await?;
    Ok(AppendOutcome::Applied {
        response: UpdateFilesResponse { first_seq, last_seq, synced },
        events: plan::events_of(batch.changes, first_seq, batch.now_ms),
    })
}

/// Counts the paths the batch adds and, within the quota, adds them to the
/// project's count; over it, refuses (the caller's transaction rolls back).
async fn claim_paths(conn: &mut SqliteConnection, project: &str, paths: &[&str], max: u64) -> StoreResult<()> {
    let mut existing = 0usize;
    for chunk in paths.chunks(MAX_BINDS - 1) {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM remote_files WHERE project_id = ");
        q.push_bind(project).push(" AND path IN (");
        let mut list = q.separated(", ");
        for path in chunk {
            list.push_bind(*path);
        }
        q.push(")");
        let n: i64 = q.build_query_scalar().fetch_one(&mut *conn).await?;
        existing = existing.saturating_add(usize::try_from(n).unwrap_or(0));
    }
    let new = paths.len().saturating_sub(existing);
    let count: i64 =
        sqlx::query_scalar("UPDATE projects SET path_count = path_count + ? WHERE id = ? RETURNING path_count - ?")
            .bind(new as i64)
            .bind(project)
            .bind(new as i64)
            .fetch_one(&mut *conn)
            .await?;
    plan::check_quota(count, new, max)
}

async fn insert_events(
    conn: &mut SqliteConnection,
    project: &str,
    batch: &BatchInput<'_>,
    first_seq: i64,
) -> StoreResult<()> {
    const COLUMNS: usize = 8;
    let numbered: Vec<_> = (first_seq..).zip(batch.changes).collect();
    for chunk in numbered.chunks(MAX_BINDS / COLUMNS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO project_events (project_id, seq, path, op, hash, size, mtime, created_at) ",
        );
        q.push_values(chunk, |mut row, (seq, change)| {
            row.push_bind(project)
                .push_bind(*seq)
                .push_bind(change.path.as_str())
                .push_bind(change.op.as_str())
                .push_bind(change.hash.as_deref())
                .push_bind(change.size.map(size_to_db))
                .push_bind(change.mtime)
                .push_bind(batch.now_ms);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Creates or updates rows; the version moves only when the content (hash) does, and a
/// re-created path is no longer deleted.
async fn upsert_files(conn: &mut SqliteConnection, project: &str, upserts: &[Upsert<'_>]) -> StoreResult<()> {
    const COLUMNS: usize = 6;
    for chunk in upserts.chunks(MAX_BINDS / COLUMNS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO remote_files (project_id, path, size, hash, mtime, seq, version) ",
        );
        q.push_values(chunk, |mut row, u| {
            row.push_bind(project).push_bind(u.path).push_bind(u.size).push_bind(u.hash).push_bind(u.mtime);
            row.push_bind(u.seq).push("1");
        });
        q.push(
            " ON CONFLICT (project_id, path) DO UPDATE SET size = excluded.size, hash = excluded.hash, \
             mtime = excluded.mtime, seq = excluded.seq, \
             version = CASE WHEN remote_files.hash <> excluded.hash \
                       THEN remote_files.version + 1 ELSE remote_files.version END, \
             deleted_at = NULL, deleted_by = NULL",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Marks known paths deleted (keeping when and by whom they were first deleted); a
/// delete of a path never seen leaves no row, only its event.
async fn delete_files(
    conn: &mut SqliteConnection,
    project: &str,
    deletes: &[Delete<'_>],
    batch: BatchInput<'_>,
) -> StoreResult<()> {
    const COLUMNS: usize = 2;
    let actor = batch.actor.to_string();
    for chunk in deletes.chunks((MAX_BINDS - 3) / COLUMNS) {
        let mut q = QueryBuilder::<Sqlite>::new("WITH gone (path, seq) AS (");
        q.push_values(chunk, |mut row, d| {
            row.push_bind(d.path).push_bind(d.seq);
        });
        q.push(") UPDATE remote_files SET deleted_by = CASE WHEN deleted_at IS NULL THEN ")
            .push_bind(actor.as_str())
            .push(" ELSE deleted_by END, deleted_at = COALESCE(deleted_at, ")
            .push_bind(batch.now_ms)
            .push("), seq = gone.seq FROM gone WHERE remote_files.project_id = ")
            .push_bind(project)
            .push(" AND remote_files.path = gone.path");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub(super) async fn events_since(pool: &SqlitePool, project: Uuid, since: i64, limit: u32) -> StoreResult<Vec<Event>> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT seq, path, op, hash, size, mtime, created_at FROM project_events \
         WHERE project_id = ? AND seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(project.to_string())
    .bind(since)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(EventRow::into_event).collect()
}

pub(super) async fn files_snapshot(pool: &SqlitePool, project: Uuid) -> StoreResult<FilesSnapshot> {
    let project = project.to_string();
    // One read transaction: both statements see the same WAL snapshot.
    let mut tx = pool.begin().await?;
    let as_of_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM projects WHERE id = ?")
        .bind(&project)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let rows: Vec<FileRow> = sqlx::query_as(
        "SELECT path, size, hash, mtime, version, seq, deleted_at, deleted_by FROM remote_files \
         WHERE project_id = ? ORDER BY path",
    )
    .bind(&project)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let files = rows.into_iter().map(FileRow::into_file).collect::<StoreResult<_>>()?;
    Ok(FilesSnapshot { files, as_of_seq })
}
