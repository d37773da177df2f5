//! Sequencing on PostgreSQL: `append_batch` and the reads of what it wrote (events, files).
//!
//! The first statement of the transaction bumps `projects.last_seq`, which locks the
//! project row until commit: concurrent writers of one project (on any node) queue
//! there, so seqs are dense, unique and committed in order. Rows go in as arrays
//! through `UNNEST`: one statement and a handful of parameters whatever the batch size,
//! with the same SQL text every time, so it stays prepared.

use cloud_protocol::{Event, FilesSnapshot, UpdateFilesResponse};
use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use crate::store::plan::{self, Delete, Upsert};
use crate::store::rows::{BatchRow, EventRow, FileRow, size_to_db};
use crate::store::{AppendOutcome, BatchInput, StoreError, StoreResult};

pub(super) async fn append(pool: &PgPool, batch: BatchInput<'_>) -> StoreResult<AppendOutcome> {
    let project = batch.project_id.to_string();
    let synced = u32::try_from(batch.changes.len())
        .map_err(|_| StoreError::Corrupt(format!("batch of {} changes", batch.changes.len())))?;
    let n = i64::from(synced);
    let mut tx = pool.begin().await?;
    let last_seq: i64 =
        sqlx::query_scalar("UPDATE projects SET last_seq = last_seq + $1 WHERE id = $2 RETURNING last_seq")
            .bind(n)
            .bind(&project)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
    let first_seq = last_seq - n + 1;
    // Checked under the project lock: a concurrent retry of this batch id waits above
    // and then finds this row.
    let recorded = sqlx::query(
        "INSERT INTO batches (project_id, batch_id, digest, first_seq, last_seq, synced, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, batch_id) DO NOTHING",
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
            "SELECT digest, first_seq, last_seq, synced FROM batches WHERE project_id = $1 AND batch_id = $2",
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
async fn claim_paths(conn: &mut PgConnection, project: &str, paths: &[&str], max: u64) -> StoreResult<()> {
    let existing: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM remote_files WHERE project_id = $1 AND path = ANY($2::text[])")
            .bind(project)
            .bind(paths.to_vec())
            .fetch_one(&mut *conn)
            .await?;
    let new = paths.len().saturating_sub(usize::try_from(existing).unwrap_or(0));
    let count: i64 =
        sqlx::query_scalar("UPDATE projects SET path_count = path_count + $1 WHERE id = $2 RETURNING path_count - $1")
            .bind(new as i64)
            .bind(project)
            .fetch_one(&mut *conn)
            .await?;
    plan::check_quota(count, new, max)
}

async fn insert_events(
    conn: &mut PgConnection,
    project: &str,
    batch: &BatchInput<'_>,
    first_seq: i64,
) -> StoreResult<()> {
    let changes = batch.changes;
    let seqs: Vec<i64> = (first_seq..).take(changes.len()).collect();
    sqlx::query(
        "INSERT INTO project_events (project_id, seq, path, op, hash, size, mtime, created_at) \
         SELECT $1, e.seq, e.path, e.op, e.hash, e.size, e.mtime, $2 \
         FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[]) \
         AS e (seq, path, op, hash, size, mtime)",
    )
    .bind(project)
    .bind(batch.now_ms)
    .bind(seqs)
    .bind(changes.iter().map(|c| c.path.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.op.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.hash.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.size.map(size_to_db)).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.mtime).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Creates or updates rows; the version moves only when the content (hash) does, and a
/// re-created path is no longer deleted.
async fn upsert_files(conn: &mut PgConnection, project: &str, upserts: &[Upsert<'_>]) -> StoreResult<()> {
    if upserts.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO remote_files (project_id, path, size, hash, mtime, seq, version) \
         SELECT $1, f.path, f.size, f.hash, f.mtime, f.seq, 1 \
         FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[]) \
         AS f (path, size, hash, mtime, seq) \
         ON CONFLICT (project_id, path) DO UPDATE SET size = excluded.size, hash = excluded.hash, \
         mtime = excluded.mtime, seq = excluded.seq, \
         version = CASE WHEN remote_files.hash IS DISTINCT FROM excluded.hash \
                   THEN remote_files.version + 1 ELSE remote_files.version END, \
         deleted_at = NULL, deleted_by = NULL",
    )
    .bind(project)
    .bind(upserts.iter().map(|u| u.path).collect::<Vec<_>>())
    .bind(upserts.iter().map(|u| u.size).collect::<Vec<_>>())
    .bind(upserts.iter().map(|u| u.hash).collect::<Vec<_>>())
    .bind(upserts.iter().map(|u| u.mtime).collect::<Vec<_>>())
    .bind(upserts.iter().map(|u| u.seq).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks known paths deleted (keeping when and by whom they were first deleted); a
/// delete of a path never seen leaves no row, only its event.
async fn delete_files(
    conn: &mut PgConnection,
    project: &str,
    deletes: &[Delete<'_>],
    batch: BatchInput<'_>,
) -> StoreResult<()> {
    if deletes.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE remote_files AS f SET \
         deleted_by = CASE WHEN f.deleted_at IS NULL THEN $2 ELSE f.deleted_by END, \
         deleted_at = COALESCE(f.deleted_at, $3), seq = gone.seq \
         FROM UNNEST($4::text[], $5::bigint[]) AS gone (path, seq) \
         WHERE f.project_id = $1 AND f.path = gone.path",
    )
    .bind(project)
    .bind(batch.actor.to_string())
    .bind(batch.now_ms)
    .bind(deletes.iter().map(|d| d.path).collect::<Vec<_>>())
    .bind(deletes.iter().map(|d| d.seq).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn events_since(pool: &PgPool, project: Uuid, since: i64, limit: u32) -> StoreResult<Vec<Event>> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT seq, path, op, hash, size, mtime, created_at FROM project_events \
         WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(project.to_string())
    .bind(since)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(EventRow::into_event).collect()
}

pub(super) async fn files_snapshot(pool: &PgPool, project: Uuid) -> StoreResult<FilesSnapshot> {
    let project = project.to_string();
    // REPEATABLE READ: both statements see one snapshot, so as_of_seq matches the rows.
    let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    let as_of_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM projects WHERE id = $1")
        .bind(&project)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    // Byte order, as on SQLite, whatever the database's collation.
    let rows: Vec<FileRow> = sqlx::query_as(
        "SELECT path, size, hash, mtime, version, seq, deleted_at, deleted_by FROM remote_files \
         WHERE project_id = $1 ORDER BY path COLLATE \"C\"",
    )
    .bind(&project)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let files = rows.into_iter().map(FileRow::into_file).collect::<StoreResult<_>>()?;
    Ok(FilesSnapshot { files, as_of_seq })
}
