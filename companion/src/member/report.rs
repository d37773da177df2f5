//! Progress reports: a member's badge changes go to the cloud as
//! `progress` messages, batched (up to the server's 1000 files each) and
//! only what changed since the last report. The manifest marks what was
//! sent, so changes made while offline go out after the next connect.

use cloud_protocol::ClientMessage;
use uuid::Uuid;

use crate::db::Db;
use crate::uplink::subscription::LinkHandle;

/// Files per `progress` message: the cloud's limit.
const BATCH: usize = 1000;
/// Messages per report round, so one round never hogs the socket.
const MAX_ROUNDS: usize = 20;

/// Sends unreported badges of one project when there may be some.
#[derive(Debug)]
pub(super) struct Reporter {
    project: Uuid,
    dirty: bool,
}

impl Reporter {
    pub fn new(project: Uuid) -> Reporter {
        // At start there may be changes from before a restart.
        Reporter { project, dirty: true }
    }

    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Sends what is unreported, if anything may be and the link is up.
    pub async fn report(&mut self, db: &Db, link: &LinkHandle) {
        if !self.dirty || !link.is_connected() {
            return;
        }
        let project = self.project;
        for _ in 0..MAX_ROUNDS {
            let rows = match db.call(move |m| m.unreported_badges(project, BATCH)).await {
                Ok(rows) => rows,
                Err(e) => return tracing::warn!(%project, error = %e, "cannot read badges to report"),
            };
            if rows.is_empty() {
                self.dirty = false;
                return;
            }
            let files = rows.iter().map(|r| r.progress.clone()).collect();
            if let Err(e) = link.send(ClientMessage::Progress { project_id: project, files }).await {
                // Stays dirty: the next tick or connect tries again.
                return tracing::debug!(%project, error = %e, "progress report postponed");
            }
            tracing::debug!(%project, files = rows.len(), "progress reported");
            if let Err(e) = db.call(move |m| m.mark_reported(project, &rows)).await {
                return tracing::warn!(%project, error = %e, "cannot mark badges reported");
            }
        }
    }
}
