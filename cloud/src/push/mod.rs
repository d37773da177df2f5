//! Push: fans sequenced events out to subscribed WebSockets, on this node and
//! (with PostgreSQL) on every other node through LISTEN/NOTIFY.
//!
//! STUB: the signatures the API layer calls; the push engineer fills them in.

use cloud_protocol::Event;
use uuid::Uuid;

/// Per-project fan-out of events and progress to live subscribers.
#[derive(Debug, Default)]
pub struct Hub {}

impl Hub {
    /// Called by the API after a batch committed on this node, with its events in seq order.
    pub async fn committed(&self, project_id: Uuid, events: Vec<Event>) {
        let _ = (project_id, events);
    }

    /// Called by the API after a member was revoked: their sockets lose the project at once.
    pub async fn revoked(&self, project_id: Uuid, user_id: Uuid) {
        let _ = (project_id, user_id);
    }

    /// Number of live subscriptions, for `/metrics`.
    pub fn subscriber_count(&self) -> usize {
        0
    }
}
