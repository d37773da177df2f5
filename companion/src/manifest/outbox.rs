//! The outbox (owner side): a durable FIFO of change batches per project,
//! each waiting for the cloud's acknowledgement.
//!
//! A batch gets its `batch_id` when it is formed and keeps it across
//! retries, so the cloud recognises a resent batch. A batch the cloud
//! refuses (4xx) leaves the queue as "quarantined" with the reason, for the
//! user to see; when the cloud names the bad entries, the good ones stay
//! queued in the batch's place (order matters: two updates of one path must
//! arrive in order) under a fresh `batch_id`.

use cloud_protocol::{Change, InvalidChange, MAX_BATCH_CHANGES};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::{Manifest, ManifestError, Result, files, now, parse_uuid};

/// One queued batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxBatch {
    /// Queue position: lower goes first.
    pub id: i64,
    pub project_id: Uuid,
    /// Sent with the batch; stable across retries.
    pub batch_id: Uuid,
    pub changes: Vec<Change>,
    pub created_at: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// A batch the cloud refused, kept so the user can see why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedBatch {
    pub batch: OutboxBatch,
    pub reason: String,
    pub quarantined_at: String,
}

/// How much waits in a project's outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCount {
    pub batches: u64,
    pub changes: u64,
}

const COLUMNS: &str =
    "id, project_id, batch_id, changes, created_at, attempts, last_error, quarantine_reason, quarantined_at";

type RawRow = (i64, String, String, String, String, u32, Option<String>, Option<String>, Option<String>);

/// The columns in [`COLUMNS`] order.
fn raw(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    RawRow::try_from(row)
}

fn decode(raw: RawRow) -> Result<(OutboxBatch, Option<String>, Option<String>)> {
    let (id, project, batch_id, changes, created_at, attempts, last_error, reason, at) = raw;
    let batch_id = Uuid::parse_str(&batch_id)
        .map_err(|e| ManifestError::Decode(format!("outbox batch {id}: bad batch_id: {e}")))?;
    let changes = serde_json::from_str(&changes)
        .map_err(|e| ManifestError::Decode(format!("outbox batch {id}: bad changes JSON: {e}")))?;
    let batch =
        OutboxBatch { id, project_id: parse_uuid(&project)?, batch_id, changes, created_at, attempts, last_error };
    Ok((batch, reason, at))
}

fn pending(conn: &Connection, id: i64) -> Result<OutboxBatch> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1 AND state = 'pending'");
    let row = conn.query_row(&sql, [id], raw).optional()?.ok_or(ManifestError::UnknownBatch(id))?;
    Ok(decode(row)?.0)
}

fn changes_json(changes: &[Change]) -> Result<String> {
    serde_json::to_string(changes).map_err(|e| ManifestError::Decode(format!("cannot encode changes: {e}")))
}

fn insert(conn: &Connection, project: Uuid, changes: &[Change]) -> Result<OutboxBatch> {
    let (batch_id, created_at) = (Uuid::new_v4(), now());
    conn.execute(
        "INSERT INTO outbox (project_id, batch_id, changes, change_count, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![project.to_string(), batch_id.to_string(), changes_json(changes)?, changes.len() as i64, created_at],
    )?;
    let id = conn.last_insert_rowid();
    Ok(OutboxBatch {
        id,
        project_id: project,
        batch_id,
        changes: changes.to_vec(),
        created_at,
        attempts: 0,
        last_error: None,
    })
}

impl Manifest {
    /// Queues changes for a project: records them in `local_files` and
    /// appends batches of at most 1000, in one transaction (so `local_files`
    /// never says "sent" for a change that is not queued). Repeats of what
    /// is already sent or queued are dropped, and create/update is set from
    /// what the cloud has. Refuses the whole call if a change is invalid.
    pub fn enqueue_changes(&mut self, project: Uuid, changes: &[Change]) -> Result<Vec<OutboxBatch>> {
        for change in changes {
            change.validate().map_err(|source| ManifestError::InvalidChange { path: change.path.clone(), source })?;
        }
        let tx = self.conn.transaction()?;
        Manifest::require_project(&tx, project)?;
        let mut queued = Vec::new();
        for change in changes {
            if let Some(change) = files::note_sending(&tx, project, change)? {
                queued.push(change);
            }
        }
        let batches =
            queued.chunks(MAX_BATCH_CHANGES).map(|chunk| insert(&tx, project, chunk)).collect::<Result<_>>()?;
        tx.commit()?;
        Ok(batches)
    }

    /// The project's oldest pending batch: the one to send next.
    pub fn next_batch(&self, project: Uuid) -> Result<Option<OutboxBatch>> {
        let sql =
            format!("SELECT {COLUMNS} FROM outbox WHERE project_id = ?1 AND state = 'pending' ORDER BY id LIMIT 1");
        let row = self.conn.query_row(&sql, [project.to_string()], raw).optional()?;
        row.map(|r| decode(r).map(|d| d.0)).transpose()
    }

    /// The cloud accepted batch `id` as seqs `first_seq..=last_seq`: it leaves the queue.
    pub fn ack_batch(&mut self, id: i64, first_seq: i64, last_seq: i64) -> Result<()> {
        if first_seq > last_seq {
            return Err(ManifestError::BadAck { id, first: first_seq, last: last_seq });
        }
        let tx = self.conn.transaction()?;
        let batch = pending(&tx, id)?;
        tx.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
        tx.execute(
            "UPDATE projects SET acked_seq = max(acked_seq, ?2) WHERE project_id = ?1",
            params![batch.project_id.to_string(), last_seq],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A send of batch `id` failed in a way worth retrying. Returns the attempts so far.
    pub fn record_failure(&mut self, id: i64, error: &str) -> Result<u32> {
        let attempts = self
            .conn
            .query_row(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1 AND state = 'pending'
                 RETURNING attempts",
                params![id, error],
                |r| r.get(0),
            )
            .optional()?;
        attempts.ok_or(ManifestError::UnknownBatch(id))
    }

    /// The cloud refused batch `id` as a whole: it leaves the queue, kept with `reason`.
    pub fn quarantine(&mut self, id: i64, reason: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE outbox SET state = 'quarantined', quarantine_reason = ?2, quarantined_at = ?3
             WHERE id = ?1 AND state = 'pending'",
            params![id, reason, now()],
        )?;
        if n == 0 { Err(ManifestError::UnknownBatch(id)) } else { Ok(()) }
    }

    /// The cloud refused batch `id` naming its bad entries: those are
    /// quarantined (as a new row) and the rest stay queued in the same place
    /// under a new `batch_id`, in one transaction. Returns the re-queued
    /// batch, or `None` when every entry was bad.
    pub fn quarantine_entries(&mut self, id: i64, bad: &[InvalidChange]) -> Result<Option<OutboxBatch>> {
        let tx = self.conn.transaction()?;
        let batch = pending(&tx, id)?;
        let len = batch.changes.len();
        let mut is_bad = vec![false; len];
        for entry in bad {
            match is_bad.get_mut(entry.index) {
                Some(slot) if !*slot => *slot = true,
                _ => return Err(ManifestError::BadIndex { id, index: entry.index, len }),
            }
        }
        let mut reasons: Vec<String> = bad.iter().map(|b| format!("[{}] {}: {}", b.index, b.path, b.reason)).collect();
        reasons.sort();
        let reason = format!("{} of {len} changes refused: {}", bad.len(), reasons.join("; "));
        let (bad_changes, good): (Vec<_>, Vec<_>) =
            batch.changes.iter().cloned().zip(&is_bad).partition(|(_, bad)| **bad);
        let bad_changes: Vec<Change> = bad_changes.into_iter().map(|(c, _)| c).collect();
        let good: Vec<Change> = good.into_iter().map(|(c, _)| c).collect();
        if good.is_empty() {
            tx.execute(
                "UPDATE outbox SET state = 'quarantined', quarantine_reason = ?2, quarantined_at = ?3 WHERE id = ?1",
                params![id, reason, now()],
            )?;
            tx.commit()?;
            return Ok(None);
        }
        // The bad entries go to a new row that is quarantined at once.
        let refused = insert(&tx, batch.project_id, &bad_changes)?;
        tx.execute(
            "UPDATE outbox SET state = 'quarantined', quarantine_reason = ?2, quarantined_at = ?3 WHERE id = ?1",
            params![refused.id, reason, now()],
        )?;
        let new_id = Uuid::new_v4();
        tx.execute(
            "UPDATE outbox SET batch_id = ?2, changes = ?3, change_count = ?4, attempts = 0, last_error = NULL
             WHERE id = ?1",
            params![id, new_id.to_string(), changes_json(&good)?, good.len() as i64],
        )?;
        tx.commit()?;
        Ok(Some(OutboxBatch { batch_id: new_id, changes: good, attempts: 0, last_error: None, ..batch }))
    }

    /// Quarantined batches, of one project or all, oldest first.
    pub fn quarantined(&self, project: Option<Uuid>) -> Result<Vec<QuarantinedBatch>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox WHERE state = 'quarantined' AND (?1 IS NULL OR project_id = ?1)
             ORDER BY quarantined_at, id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([project.map(|p| p.to_string())], raw)?;
        rows.map(|row| {
            let (batch, reason, at) = decode(row?)?;
            Ok(QuarantinedBatch { batch, reason: reason.unwrap_or_default(), quarantined_at: at.unwrap_or_default() })
        })
        .collect()
    }

    /// Drops a quarantined batch once the user has seen it. False if there was none.
    pub fn discard_quarantined(&mut self, id: i64) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM outbox WHERE id = ?1 AND state = 'quarantined'", [id])? > 0)
    }

    /// What waits to be sent, for one project or all.
    pub fn pending_count(&self, project: Option<Uuid>) -> Result<OutboxCount> {
        let (batches, changes): (i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(change_count), 0) FROM outbox
             WHERE state = 'pending' AND (?1 IS NULL OR project_id = ?1)",
            [project.map(|p| p.to_string())],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(OutboxCount { batches: batches.max(0) as u64, changes: changes.max(0) as u64 })
    }
}
