//! The outbox sender (owner side): drains each owned project's outbox to
//! `POST /api/projects/{id}/files/update`, oldest batch first.
//!
//! - A batch keeps the `batch_id` it got when it was queued, so a retry
//!   after a lost answer is recognised by the cloud and sequenced once.
//! - A batch leaves the outbox only when the cloud acknowledged it.
//! - Transient failures (network, timeouts, 5xx, 429) and a rejected token
//!   pause that project's queue with exponential backoff and jitter; the
//!   batch stays first in line.
//! - A refusal (any other 4xx) quarantines: a 422 naming entries moves just
//!   those aside and re-sends the rest at once; anything else moves the
//!   whole batch aside with the cloud's reason. Either way the queue goes on.
//!
//! One task serves every project, one batch in flight at a time: batches of
//! one project must arrive in order, and a paused project does not hold up
//! the others. It wakes on [`Notify`] after an enqueue and polls every
//! `poll_interval` anyway, for batches queued by another process
//! (`companion scan`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cloud_protocol::{Role, UpdateFilesRequest};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cloud_client::api::{ApiError, CloudClient};
use crate::manifest::db::Db;
use crate::manifest::{ManifestError, OutboxBatch, ProjectStatus, QuarantinedBatch};
use cloud_protocol::retry::Backoff;

/// Tuning of the [`Sender`].
#[derive(Debug, Clone, PartialEq)]
pub struct SenderConfig {
    pub backoff: Backoff,
    /// How often the outbox is looked at without a wake-up.
    pub poll_interval: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            backoff: Backoff {
                initial: Duration::from_millis(250),
                max: Duration::from_secs(30),
                ..Backoff::default()
            },
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// What happened to one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Acked {
        first_seq: i64,
        last_seq: i64,
    },
    /// Some entries were refused and set aside; the rest is queued again.
    PartlyQuarantined {
        refused: usize,
    },
    Quarantined {
        reason: String,
    },
    /// Kept for a later attempt after `retry_in`.
    Retry {
        retry_in: Duration,
        error: String,
    },
}

/// Drains the outboxes of every owned project on this manifest.
#[derive(Debug, Clone)]
pub struct Sender {
    db: Db,
    cloud: CloudClient,
    wake: Arc<Notify>,
    config: SenderConfig,
}

impl Sender {
    pub fn new(db: Db, cloud: CloudClient, wake: Arc<Notify>, config: SenderConfig) -> Sender {
        Sender { db, cloud, wake, config }
    }

    /// Runs until `shutdown`. An interrupted request is harmless: its batch
    /// is still queued and is re-sent with the same `batch_id`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut paused: HashMap<Uuid, Instant> = HashMap::new();
        loop {
            let mut next = Instant::now() + self.config.poll_interval;
            match self.projects().await {
                Ok(projects) => {
                    for project in projects {
                        if let Some(until) = paused.get(&project).copied() {
                            if until > Instant::now() {
                                next = next.min(until);
                                continue;
                            }
                            paused.remove(&project);
                        }
                        let drained = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            r = self.drain(project) => r,
                        };
                        if let Some(retry_in) = drained {
                            let until = Instant::now() + retry_in;
                            paused.insert(project, until);
                            next = next.min(until);
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the projects from the manifest"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(next) => {}
            }
        }
    }

    /// Owned, active projects of this cloud.
    async fn projects(&self) -> Result<Vec<Uuid>, ManifestError> {
        let base = self.cloud.base_url().to_owned();
        let rows = self.db.call(|m| m.projects()).await?;
        Ok(rows
            .into_iter()
            .filter(|p| p.role == Role::Owner && p.status == ProjectStatus::Active)
            .filter(|p| {
                let same = p.cloud_url.trim_end_matches('/') == base;
                if !same {
                    tracing::debug!(project = %p.project_id, cloud = %p.cloud_url, "project of another cloud; not sending");
                }
                same
            })
            .map(|p| p.project_id)
            .collect())
    }

    /// Sends the project's batches until its outbox is empty (`None`) or a
    /// transient failure asks to wait (`Some(delay)`).
    async fn drain(&self, project: Uuid) -> Option<Duration> {
        loop {
            let batch = match self.db.call(move |m| m.next_batch(project)).await {
                Ok(Some(batch)) => batch,
                Ok(None) => return None,
                Err(e) => {
                    tracing::error!(project = %project, error = %e, "cannot read the outbox");
                    return Some(self.config.poll_interval);
                }
            };
            match self.send(batch).await {
                Ok(Outcome::Retry { retry_in, .. }) => return Some(retry_in),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(project = %project, error = %e, "cannot update the outbox");
                    return Some(self.config.poll_interval);
                }
            }
        }
    }

    /// Sends one batch and records the outcome in the manifest.
    pub async fn send(&self, batch: OutboxBatch) -> Result<Outcome, ManifestError> {
        let request = UpdateFilesRequest { batch_id: batch.batch_id, changes: batch.changes.clone() };
        let (id, project, count) = (batch.id, batch.project_id, batch.changes.len());
        let started = std::time::Instant::now();
        match self.cloud.update_files(project, &request).await {
            Ok(ack) => {
                self.db.call(move |m| m.ack_batch(id, ack.first_seq, ack.last_seq)).await?;
                tracing::info!(project = %project, batch = %batch.batch_id, changes = count,
                    first_seq = ack.first_seq, last_seq = ack.last_seq,
                    ms = started.elapsed().as_millis() as u64, "sent");
                Ok(Outcome::Acked { first_seq: ack.first_seq, last_seq: ack.last_seq })
            }
            Err(e) if e.is_transient() || e.is_unauthorized() => {
                let error = e.to_string();
                let recorded = error.clone();
                let attempts = self.db.call(move |m| m.record_failure(id, &recorded)).await?;
                let retry_in =
                    e.retry_after().unwrap_or_else(|| self.config.backoff.next_delay(attempts.saturating_sub(1)));
                if e.is_unauthorized() {
                    tracing::error!(project = %project, "{}", e.advice());
                } else {
                    tracing::warn!(project = %project, attempts, ?retry_in, error = %e, "cloud unavailable; will retry");
                }
                Ok(Outcome::Retry { retry_in, error })
            }
            Err(e) if !e.invalid_entries().is_empty() => self.quarantine_entries(batch, e).await,
            Err(e) => {
                let reason = refusal_reason(&e);
                let stored = reason.clone();
                self.db.call(move |m| m.quarantine(id, &stored)).await?;
                tracing::warn!(project = %project, batch = %batch.batch_id, changes = count, reason, "cloud refused the batch; quarantined");
                Ok(Outcome::Quarantined { reason })
            }
        }
    }

    async fn quarantine_entries(&self, batch: OutboxBatch, e: ApiError) -> Result<Outcome, ManifestError> {
        let (id, project) = (batch.id, batch.project_id);
        let invalid = e.invalid_entries().to_vec();
        let refused = invalid.len();
        let reason = refusal_reason(&e);
        let result = self.db.call(move |m| m.quarantine_entries(id, &invalid)).await;
        match result {
            Ok(_) => {
                tracing::warn!(project = %project, refused, reason, "cloud refused some changes; quarantined them, re-sending the rest");
                Ok(Outcome::PartlyQuarantined { refused })
            }
            // The cloud named entries we do not have: set the batch aside whole.
            Err(ManifestError::BadIndex { .. }) => {
                let stored = reason.clone();
                self.db.call(move |m| m.quarantine(id, &stored)).await?;
                Ok(Outcome::Quarantined { reason })
            }
            Err(other) => Err(other),
        }
    }
}

/// The reason kept with a quarantined batch: the cloud's code and sentence.
fn refusal_reason(e: &ApiError) -> String {
    match (e.status(), e.code(), e.message()) {
        (Some(status), Some(code), Some(message)) => format!("{status} {code}: {message}"),
        _ => e.to_string(),
    }
}

/// One line per quarantined batch, for `status` and `doctor`.
pub(crate) fn quarantine_lines(quarantined: &[QuarantinedBatch]) -> Vec<String> {
    quarantined
        .iter()
        .map(|q| {
            let mut paths: Vec<&str> = q.batch.changes.iter().map(|c| c.path.as_str()).take(3).collect();
            if q.batch.changes.len() > paths.len() {
                paths.push("…");
            }
            format!(
                "project {}: {} change(s) refused by the cloud at {} ({}): {}",
                q.batch.project_id,
                q.batch.changes.len(),
                q.quarantined_at,
                paths.join(", "),
                q.reason
            )
        })
        .collect()
}
