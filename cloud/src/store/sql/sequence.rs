//! The sequencer: gives every change of a project the next seq, and reads back what it
//! wrote.
//!
//! The guarantee: a project's seqs are dense (no gap, no repeat) and commit in order,
//! so a subscriber that has seen seq `n` has seen every change up to `n`. It rests on
//! the first statement of the write transaction, which bumps `projects.last_seq` by
//! the batch's size: on PostgreSQL that locks the project row until commit, so
//! writers of one project, on any node, queue there; on SQLite the transaction is the
//! single writer's `BEGIN IMMEDIATE`, which already serializes every write. A batch
//! id is recorded under the same lock, so a retried batch is answered as the first
//! time and written once. Everything the batch writes commits together or not at all.

use cloud_protocol::{Event, UpdateFilesResponse};
use serde_json::json;
use sqlx::{AssertSqlSafe, Row};

use super::Here;
use crate::store::backend::{Backend, Conn, Tx};
use crate::store::plan::{self, Write};
use crate::store::rows::{BatchRow, size_to_db};
use crate::store::{AppendOutcome, BatchInput, StoreError, StoreResult};

pub(super) async fn append(mut tx: Tx<Here>, batch: BatchInput<'_>) -> StoreResult<AppendOutcome> {
    let (project, batch_id) = (batch.project_id.to_string(), batch.batch_id.to_string());
    let synced = u32::try_from(batch.changes.len())
        .map_err(|_| StoreError::Corrupt(format!("batch of {} changes", batch.changes.len())))?;
    let n = i64::from(synced);
    let bump = "UPDATE projects SET last_seq = last_seq + $1 WHERE id = $2 RETURNING last_seq";
    let last_seq: Option<i64> = sqlx::query_scalar(bump).bind(n).bind(&project).fetch_optional(&mut *tx).await?;
    let last_seq = last_seq.ok_or(StoreError::NotFound)?;
    let first_seq = last_seq - n + 1;
    // Checked under the project lock: a concurrent retry of this batch id waits above
    // and then finds this row.
    let record = "INSERT INTO batches (project_id, batch_id, digest, first_seq, last_seq, synced, created_at) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, batch_id) DO NOTHING";
    let record = sqlx::query(record).bind(&project).bind(&batch_id).bind(&batch.digest[..]).bind(first_seq);
    let recorded = record.bind(last_seq).bind(n).bind(batch.now_ms).execute(&mut *tx).await?;
    if recorded.rows_affected() == 0 {
        // Seen before: answer as the first time and write nothing (the bump rolls back).
        let sql = "SELECT digest, first_seq, last_seq, synced FROM batches WHERE project_id = $1 AND batch_id = $2";
        let row: BatchRow = sqlx::query_as(sql).bind(&project).bind(&batch_id).fetch_one(&mut *tx).await?;
        tx.rollback().await?;
        return row.replay(batch.batch_id, &batch.digest);
    }
    let rounds = plan::file_rounds(batch.changes, first_seq)?;
    claim_paths(&mut tx, &project, &plan::upserted_paths(&rounds), batch.max_paths).await?;
    let events = plan::events_of(batch.changes, first_seq, batch.now_ms);
    insert_events(&mut tx, &batch, &events).await?;
    for round in rounds {
        let (upserts, deletes): (Vec<_>, Vec<_>) = round.into_iter().partition(|w| w.content.is_some());
        if !upserts.is_empty() {
            upsert_files(&mut tx, &batch, &upserts).await?;
        }
        if !deletes.is_empty() {
            delete_files(&mut tx, &batch, &deletes).await?;
        }
    }
    tx.commit().await?;
    Ok(AppendOutcome::Applied { response: UpdateFilesResponse { first_seq, last_seq, synced }, events })
}

/// Counts the paths the batch adds and, within the quota, adds them to the
/// project's count; over it, refuses (the caller's transaction rolls back).
async fn claim_paths(conn: &mut Conn<Here>, project: &str, paths: &[&str], max: u64) -> StoreResult<()> {
    let existing = existing_paths(&mut *conn, project, paths).await?.len();
    let new = paths.len().saturating_sub(existing);
    let sql = "UPDATE projects SET path_count = path_count + $1 WHERE id = $2 RETURNING path_count - $1";
    let count: i64 = sqlx::query_scalar(sql).bind(new as i64).bind(project).fetch_one(&mut *conn).await?;
    plan::check_quota(count, new, max)
}

/// Which of `paths` the project has a file row for (live or deleted).
pub(super) async fn existing_paths(conn: &mut Conn<Here>, project: &str, paths: &[&str]) -> StoreResult<Vec<String>> {
    let k = Here::rows(2, "k", "path text");
    let sql = format!("SELECT path FROM remote_files WHERE project_id = $1 AND path IN (SELECT k.path FROM {k})");
    let query = sqlx::query(AssertSqlSafe(sql)).bind(project);
    let rows = Here::bind_rows(query, "path text", paths.iter().map(|p| json!([p])).collect()).fetch_all(conn).await?;
    Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
}

async fn insert_events(conn: &mut Conn<Here>, batch: &BatchInput<'_>, events: &[Event]) -> StoreResult<()> {
    const COLUMNS: &str = "seq bigint, path text, op text, hash text, size bigint, mtime bigint";
    let sql = format!(
        "INSERT INTO project_events (project_id, seq, path, op, hash, size, mtime, created_at) \
         SELECT $1, e.seq, e.path, e.op, e.hash, e.size, e.mtime, $2 FROM {}",
        Here::rows(3, "e", COLUMNS)
    );
    let rows = events.iter().map(|e| (e.seq, &e.change));
    let rows = rows.map(|(seq, c)| json!([seq, c.path, c.op.as_str(), c.hash, c.size.map(size_to_db), c.mtime]));
    let insert = sqlx::query(AssertSqlSafe(sql)).bind(batch.project_id.to_string()).bind(batch.now_ms);
    Here::bind_rows(insert, COLUMNS, rows.collect()).execute(conn).await?;
    Ok(())
}

/// Creates or updates `remote_files` rows: the version moves only when the content
/// (hash) does, and a re-created path is no longer deleted. (`WHERE true` tells
/// SQLite's parser that `ON CONFLICT` starts the upsert, not a join.)
async fn upsert_files(conn: &mut Conn<Here>, batch: &BatchInput<'_>, upserts: &[Write<'_>]) -> StoreResult<()> {
    const COLUMNS: &str = "path text, size bigint, hash text, mtime bigint, seq bigint";
    let sql = format!(
        "INSERT INTO remote_files (project_id, path, size, hash, mtime, seq, version) \
         SELECT $1, f.path, f.size, f.hash, f.mtime, f.seq, 1 FROM {} WHERE true \
         ON CONFLICT (project_id, path) DO UPDATE SET size = excluded.size, \
         hash = excluded.hash, mtime = excluded.mtime, seq = excluded.seq, version = CASE \
         WHEN remote_files.hash <> excluded.hash THEN remote_files.version + 1 ELSE remote_files.version END, \
         deleted_at = NULL, deleted_by = NULL",
        Here::rows(2, "f", COLUMNS)
    );
    let rows =
        upserts.iter().filter_map(|w| w.content.map(|(hash, size, mtime)| json!([w.path, size, hash, mtime, w.seq])));
    let upsert = sqlx::query(AssertSqlSafe(sql)).bind(batch.project_id.to_string());
    Here::bind_rows(upsert, COLUMNS, rows.collect()).execute(conn).await?;
    Ok(())
}

/// Marks known paths deleted, keeping when and by whom they were first deleted; a
/// path never seen keeps no row, only its event.
async fn delete_files(conn: &mut Conn<Here>, batch: &BatchInput<'_>, deletes: &[Write<'_>]) -> StoreResult<()> {
    const COLUMNS: &str = "path text, seq bigint";
    let sql = format!(
        "UPDATE remote_files AS f SET deleted_by = CASE WHEN f.deleted_at IS NULL THEN $2 ELSE f.deleted_by END, \
         deleted_at = COALESCE(f.deleted_at, $3), seq = gone.seq \
         FROM {} WHERE f.project_id = $1 AND f.path = gone.path",
        Here::rows(4, "gone", COLUMNS)
    );
    let rows = deletes.iter().map(|d| json!([d.path, d.seq])).collect();
    let update = sqlx::query(AssertSqlSafe(sql)).bind(batch.project_id.to_string()).bind(batch.actor.to_string());
    let update = update.bind(batch.now_ms);
    Here::bind_rows(update, COLUMNS, rows).execute(conn).await?;
    Ok(())
}
