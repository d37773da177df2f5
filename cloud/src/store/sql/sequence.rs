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

use cloud_protocol::{FilesSnapshot, UpdateFilesResponse};
use uuid::Uuid;

use super::Here;
use crate::store::backend::{Backend, Conn, Stamp, Tx};
use crate::store::plan;
use crate::store::rows::{BatchRow, FileRow};
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
    let actor = batch.actor.to_string();
    let at = Stamp { project: &project, who: &actor, now_ms: batch.now_ms };
    let events = plan::events_of(batch.changes, first_seq, batch.now_ms);
    Here::insert_events(&mut tx, at, &events).await?;
    for round in rounds {
        if !round.upserts.is_empty() {
            Here::upsert_files(&mut tx, &project, &round.upserts).await?;
        }
        if !round.deletes.is_empty() {
            Here::delete_files(&mut tx, at, &round.deletes).await?;
        }
    }
    tx.commit().await?;
    Ok(AppendOutcome::Applied { response: UpdateFilesResponse { first_seq, last_seq, synced }, events })
}

/// Counts the paths the batch adds and, within the quota, adds them to the
/// project's count; over it, refuses (the caller's transaction rolls back).
async fn claim_paths(conn: &mut Conn<Here>, project: &str, paths: &[&str], max: u64) -> StoreResult<()> {
    let existing = Here::existing_paths(&mut *conn, project, paths).await?.len();
    let new = paths.len().saturating_sub(existing);
    let sql = "UPDATE projects SET path_count = path_count + $1 WHERE id = $2 RETURNING path_count - $1";
    let count: i64 = sqlx::query_scalar(sql).bind(new as i64).bind(project).fetch_one(&mut *conn).await?;
    plan::check_quota(count, new, max)
}

/// Every path's state as of one seq: both statements run in one snapshot.
pub(super) async fn files_snapshot(mut tx: Tx<Here>, project: Uuid) -> StoreResult<FilesSnapshot> {
    let project = project.to_string();
    let last = sqlx::query_scalar("SELECT last_seq FROM projects WHERE id = $1").bind(&project);
    let as_of_seq: i64 = last.fetch_optional(&mut *tx).await?.ok_or(StoreError::NotFound)?;
    let sql = format!(
        "SELECT path, size, hash, mtime, version, seq, deleted_at, deleted_by FROM remote_files \
         WHERE project_id = $1 ORDER BY path{}",
        Here::DIALECT.byte_order
    );
    let rows: Vec<FileRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&project).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let files = rows.into_iter().map(FileRow::into_file).collect::<StoreResult<_>>()?;
    Ok(FilesSnapshot { files, as_of_seq })
}
