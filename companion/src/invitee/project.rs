//! One member project's task: keeps it subscribed from the stored cursor,
//! applies the cloud's events strictly in order (a gap is never skipped: it
//! pulls the missing events with `GET …/events` and subscribes again),
//! announces what changed to the badge driver, reports badge changes, and
//! ends when the owner revokes us (the project is then marked revoked).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cloud_protocol::retry::Backoff;
use cloud_protocol::{ClientMessage, Event, MAX_EVENTS_PAGE};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::Routed;
use super::report::Reporter;
use crate::cloud_client::api::CloudClient;
use crate::cloud_client::socket::LinkHandle;
use crate::live::{Live, LiveUpdate};
use crate::manifest::db::Db;
use crate::manifest::{ManifestError, ProjectRow, ProjectStatus, RemoteFileRow};

/// How long to wait before trying again after the cloud or the manifest failed us.
const RETRY: Backoff = Backoff::fixed(Duration::from_secs(5));
/// How often unreported badges are looked for even without news (retries).
const REPORT_EVERY: Duration = Duration::from_millis(500);

/// How a project task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectOutcome {
    /// The daemon is stopping.
    Stopped,
    /// The owner revoked our membership; the project is marked revoked.
    Revoked,
}

/// Everything one project's task works with.
#[derive(Debug)]
pub struct ProjectTask {
    pub db: Db,
    pub cloud: CloudClient,
    pub link: LinkHandle,
    pub live: Live,
    /// To the badge driver: rows of `remote_files` that just changed.
    pub announce: mpsc::Sender<Vec<RemoteFileRow>>,
    /// Notified by the driver after it saved badges.
    pub saved: Arc<Notify>,
    pub project: ProjectRow,
    /// [`crate::config::Settings::heartbeat`]
    pub heartbeat: Duration,
}

/// What went wrong while applying; `Revoked` ends the task.
enum Trouble {
    Revoked,
    Retry(String),
}

impl ProjectTask {
    /// Runs until revoked or `shutdown`. `inbox`: this project's messages.
    pub async fn run(self, mut inbox: mpsc::Receiver<Routed>, shutdown: CancellationToken) -> ProjectOutcome {
        let id = self.project.project_id;
        let mut reporter = Reporter::with_heartbeat(id, self.heartbeat);
        let mut tick = tokio::time::interval(REPORT_EVERY);
        let mut retry_at: Option<tokio::time::Instant> = None;
        if self.link.is_connected() {
            self.subscribe().await;
        }
        loop {
            let retry = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => return ProjectOutcome::Stopped,
                routed = inbox.recv() => match routed {
                    None => return ProjectOutcome::Stopped,
                    Some(Routed::Connected) => {
                        reporter.connected();
                        self.catch_up_and_subscribe().await
                    }
                    Some(Routed::Ack(seq)) => {
                        reporter.acked(&self.db, seq).await;
                        // Room for more in flight: send it now, not at the next tick.
                        reporter.report(&self.db, &self.link).await;
                        Ok(())
                    }
                    Some(Routed::Events(events)) => self.apply(&events).await,
                    Some(Routed::Resync) => {
                        tracing::info!(project = %id, "the cloud asked us to resync; pulling");
                        self.catch_up_and_subscribe().await
                    }
                    Some(Routed::Error { code, message }) => self.refused(&code, &message).await,
                },
                _ = self.saved.notified() => {
                    reporter.mark_dirty();
                    Ok(())
                }
                _ = tick.tick() => {
                    reporter.report(&self.db, &self.link).await;
                    Ok(())
                }
                _ = retry => {
                    retry_at = None;
                    self.catch_up_and_subscribe().await
                }
            };
            match outcome {
                Ok(()) => {}
                Err(Trouble::Revoked) => {
                    self.revoked().await;
                    return ProjectOutcome::Revoked;
                }
                Err(Trouble::Retry(why)) => {
                    tracing::warn!(project = %id, %why, "will pull and subscribe again in {:?}", RETRY.base_delay(0));
                    retry_at = Some(tokio::time::Instant::now() + RETRY.base_delay(0));
                }
            }
        }
    }

    async fn cursor(&self) -> Result<i64, Trouble> {
        let id = self.project.project_id;
        let row = self.db.call(move |m| m.project(id)).await.map_err(|e| Trouble::Retry(e.to_string()))?;
        Ok(row.map_or(0, |p| p.last_seq))
    }

    async fn subscribe(&self) {
        let Ok(since_seq) = self.cursor().await else { return };
        let message = ClientMessage::Subscribe { project_id: self.project.project_id, since_seq };
        if let Err(e) = self.link.send(message).await {
            tracing::debug!(project = %self.project.project_id, error = %e, "subscribe postponed");
        }
    }

    /// Applies events in order; a gap is filled from the cloud, never skipped.
    async fn apply(&self, events: &[Event]) -> Result<(), Trouble> {
        let id = self.project.project_id;
        let batch = events.to_vec();
        match self.db.call(move |m| m.apply_events(id, &batch)).await {
            Ok(_) => self.announce(events).await,
            Err(ManifestError::Gap { expected, got, .. }) => {
                tracing::info!(project = %id, expected, got, "event gap; pulling the missing events");
                self.catch_up_and_subscribe().await
            }
            Err(e) => Err(Trouble::Retry(e.to_string())),
        }
    }

    /// Pulls every event after the cursor with `GET …/events`, then
    /// subscribes from the new cursor.
    async fn catch_up_and_subscribe(&self) -> Result<(), Trouble> {
        let id = self.project.project_id;
        loop {
            let since = self.cursor().await?;
            let page = match self.cloud.events(id, since, Some(MAX_EVENTS_PAGE)).await {
                Ok(page) => page,
                Err(e) if e.is_not_found() => return Err(Trouble::Revoked),
                Err(e) => return Err(Trouble::Retry(e.to_string())),
            };
            if !page.events.is_empty() {
                let batch = page.events.clone();
                self.db.call(move |m| m.apply_events(id, &batch)).await.map_err(|e| Trouble::Retry(e.to_string()))?;
                self.announce(&page.events).await?;
            }
            if !page.has_more || page.events.is_empty() {
                break;
            }
        }
        self.subscribe().await;
        Ok(())
    }

    /// Tells the driver the new expectations of the paths `events` touched.
    async fn announce(&self, events: &[Event]) -> Result<(), Trouble> {
        let id = self.project.project_id;
        let paths: BTreeSet<String> = events.iter().map(|e| e.change.path.clone()).collect();
        let rows = self
            .db
            .call(move |m| paths.iter().filter_map(|p| m.remote_file(id, p).transpose()).collect::<Result<Vec<_>, _>>())
            .await
            .map_err(|e| Trouble::Retry(e.to_string()))?;
        if !rows.is_empty() {
            // The driver may be gone at shutdown: nothing to tell then.
            let _ = self.announce.send(rows).await;
        }
        Ok(())
    }

    /// The cloud ended or refused our subscription.
    async fn refused(&self, code: &str, message: &str) -> Result<(), Trouble> {
        let id = self.project.project_id;
        match code {
            "access_revoked" => Err(Trouble::Revoked),
            // Our cursor is past the cloud's last event (its database was
            // restored from a backup, say): start again from its snapshot.
            "since_seq_ahead" => self.reload_snapshot().await,
            // 404 to a subscribe: gone, or not a member any more. Ask to be sure.
            "not_found" => match self.cloud.project(id).await {
                Err(e) if e.is_not_found() => Err(Trouble::Revoked),
                Ok(_) => Err(Trouble::Retry(format!("the cloud said {code}: {message}"))),
                Err(e) => Err(Trouble::Retry(e.to_string())),
            },
            // About a progress report, not the subscription: pulling and
            // subscribing again would not change the answer. The reporter
            // keeps within the limits, so these are worth a look but no retry.
            "unknown_paths" | "rate_limited" => {
                tracing::debug!(project = %id, %code, %message, "the cloud answered a progress report");
                Ok(())
            }
            "invalid_progress" | "too_many_files" => {
                tracing::warn!(project = %id, %code, %message, "the cloud refused a progress report");
                Ok(())
            }
            _ => Err(Trouble::Retry(format!("the cloud said {code}: {message}"))),
        }
    }

    /// Replaces what we know of the project with the cloud's snapshot and
    /// its cursor, tells the driver, and subscribes from there.
    async fn reload_snapshot(&self) -> Result<(), Trouble> {
        let id = self.project.project_id;
        let snapshot = match self.cloud.files(id).await {
            Ok(snapshot) => snapshot,
            Err(e) if e.is_not_found() => return Err(Trouble::Revoked),
            Err(e) => return Err(Trouble::Retry(e.to_string())),
        };
        tracing::warn!(project = %id, as_of_seq = snapshot.as_of_seq, "cursor ahead of the cloud; reloading its snapshot");
        let rows = self
            .db
            .call(move |m| {
                m.load_snapshot(id, &snapshot)?;
                m.remote_files(id)
            })
            .await
            .map_err(|e| Trouble::Retry(e.to_string()))?;
        let _ = self.announce.send(rows).await;
        self.subscribe().await;
        Ok(())
    }

    async fn revoked(&self) {
        let id = self.project.project_id;
        tracing::warn!(project = %id, name = %self.project.name, "our access to this project was revoked");
        if let Err(e) = self.db.call(move |m| m.set_project_status(id, ProjectStatus::Revoked)).await {
            tracing::error!(project = %id, error = %e, "could not mark the project revoked");
        }
        let _ = self.link.send(ClientMessage::Unsubscribe { project_id: id }).await;
        self.live.publish(LiveUpdate::Project { project_id: id });
    }
}
