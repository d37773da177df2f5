//! Fan-out across cloud nodes sharing one PostgreSQL database, through
//! `LISTEN/NOTIFY`: no cluster protocol of our own.
//!
//! A notification never carries events, only "project P has events up to seq N"
//! (`cloud_events`). A node that hears it reads from the store what its channel
//! has not carried yet, so order and no-gap hold even when PostgreSQL coalesces
//! or a node misses notifications. Revocations (`cloud_revocations`) and member
//! progress (`cloud_progress`) are relayed the same way. Each node ignores its
//! own notifications (it already delivered locally). When the listener's
//! connection drops, missed notifications are unknowable, so after reconnecting
//! the node catches up every project it has subscribers for and has every
//! socket re-check its access.

use std::sync::Arc;
use std::time::Duration;

use cloud_protocol::retry::Backoff;
use cloud_protocol::{ReportedFile, ServerMessage};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgNotification};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::node::LocalNode;
use crate::store::ProgressQuery;

const EVENTS: &str = "cloud_events";
const REVOCATIONS: &str = "cloud_revocations";
const PROGRESS: &str = "cloud_progress";
/// PostgreSQL refuses payloads of 8000 bytes or more; bigger progress reports
/// travel as a pointer into the store instead.
const MAX_PAYLOAD: usize = 7000;
/// Reconnecting the cross-node listener: 100 ms, doubling, at most 10 s apart.
const RECONNECT: Backoff =
    Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(10), factor: 2.0, jitter: 0.0 };

/// Why cross-node fan-out could not start.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error("could not listen for notifications from other cloud nodes: {0}")]
    Listen(#[source] sqlx::Error),
}

#[derive(Debug, Serialize, Deserialize)]
struct EventsNote {
    node: Uuid,
    project: Uuid,
    last_seq: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct RevocationNote {
    node: Uuid,
    project: Uuid,
    user: Uuid,
}

#[derive(Debug, Serialize, Deserialize)]
struct ProgressNote {
    node: Uuid,
    project: Uuid,
    owner: Uuid,
    user: Uuid,
    name: String,
    /// The files as stored, when they fit in a notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    files: Option<Vec<ReportedFile>>,
    /// Otherwise: read the member's files stored at this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reported_at: Option<String>,
}

/// Sends this node's notifications.
pub(crate) struct Notifier {
    pool: sqlx::PgPool,
    node: Uuid,
}

impl Notifier {
    pub(crate) fn new(pool: sqlx::PgPool, node: Uuid) -> Self {
        Notifier { pool, node }
    }

    pub(crate) async fn events(&self, project: Uuid, last_seq: i64) {
        self.notify(EVENTS, &EventsNote { node: self.node, project, last_seq }).await;
    }

    pub(crate) async fn revocation(&self, project: Uuid, user: Uuid) {
        self.notify(REVOCATIONS, &RevocationNote { node: self.node, project, user }).await;
    }

    pub(crate) async fn progress(&self, project: Uuid, owner: Uuid, message: &ServerMessage) {
        let ServerMessage::MemberProgress { user_id, name, files, .. } = message else { return };
        let mut note = ProgressNote {
            node: self.node,
            project,
            owner,
            user: *user_id,
            name: name.clone(),
            files: Some(files.clone()),
            reported_at: None,
        };
        if serde_json::to_string(&note).map_or(true, |s| s.len() > MAX_PAYLOAD) {
            note.files = None;
            note.reported_at = files.first().map(|f| f.reported_at.clone());
        }
        self.notify(PROGRESS, &note).await;
    }

    async fn notify(&self, channel: &str, note: &impl Serialize) {
        let payload = match serde_json::to_string(note) {
            Ok(p) => p,
            Err(e) => return tracing::error!(error = %e, "could not serialize a notification"),
        };
        let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(&payload).execute(&self.pool).await;
        if let Err(e) = sent {
            // Other nodes' subscribers catch up with the next notification or
            // when they resubscribe; the commit itself stands.
            tracing::warn!(channel, error = %e, "could not notify other cloud nodes");
        }
    }
}

/// A listener on all three channels.
pub(crate) async fn listen(pool: &sqlx::PgPool) -> Result<PgListener, FanoutError> {
    let mut listener = PgListener::connect_with(pool).await.map_err(FanoutError::Listen)?;
    listener.listen_all([EVENTS, REVOCATIONS, PROGRESS]).await.map_err(FanoutError::Listen)?;
    Ok(listener)
}

/// Runs the listener until `stop` fires or the pool is closed.
pub(crate) fn spawn_listener(hub: Arc<LocalNode>, listener: PgListener, pool: sqlx::PgPool, stop: CancellationToken) {
    tokio::spawn(async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = run(&hub, listener, &pool, &stop) => {}
        }
    });
}

async fn run(hub: &Arc<LocalNode>, mut listener: PgListener, pool: &sqlx::PgPool, stop: &CancellationToken) {
    loop {
        match listener.try_recv().await {
            Ok(Some(note)) => handle(hub, &note),
            // Lost and (eagerly) re-established: whatever was sent meanwhile is gone.
            Ok(None) => {
                tracing::warn!("cross-node listener reconnected; catching up");
                catch_up_everything(hub);
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cross-node listener failed; reconnecting");
                drop(listener);
                let Some(fresh) = reconnect(pool, stop).await else { return };
                listener = fresh;
                catch_up_everything(hub);
            }
        }
    }
}

async fn reconnect(pool: &sqlx::PgPool, stop: &CancellationToken) -> Option<PgListener> {
    let mut attempt = 0u32;
    loop {
        tokio::select! {
            () = stop.cancelled() => return None,
            () = tokio::time::sleep(RECONNECT.base_delay(attempt)) => {}
        }
        match listen(pool).await {
            Ok(listener) => return Some(listener),
            Err(FanoutError::Listen(sqlx::Error::PoolClosed)) => return None,
            Err(e) => tracing::warn!(error = %e, "cross-node listener still down"),
        }
        attempt = attempt.saturating_add(1);
    }
}

fn catch_up_everything(hub: &Arc<LocalNode>) {
    for project in hub.channels.projects() {
        spawn_catch_up(hub, project, None);
    }
    hub.registry.recheck_all();
}

fn spawn_catch_up(hub: &Arc<LocalNode>, project: Uuid, up_to: Option<i64>) {
    let hub = Arc::clone(hub);
    // Spawned so one slow read does not hold up other projects; the channel's
    // own lock keeps catch-ups of one project in order.
    tokio::spawn(async move { hub.channels.catch_up(&*hub.store, project, up_to).await });
}

fn handle(hub: &Arc<LocalNode>, note: &PgNotification) {
    let payload = note.payload();
    let parsed = match note.channel() {
        EVENTS => serde_json::from_str::<EventsNote>(payload).map(|n| {
            if n.node != hub.node_id() && hub.channels.is_listened(n.project) {
                spawn_catch_up(hub, n.project, Some(n.last_seq));
            }
        }),
        REVOCATIONS => serde_json::from_str::<RevocationNote>(payload).map(|n| {
            if n.node != hub.node_id() {
                hub.registry.revoke(n.user, n.project);
            }
        }),
        PROGRESS => serde_json::from_str::<ProgressNote>(payload).map(|n| {
            if n.node != hub.node_id() && hub.registry.is_connected(n.owner) {
                let hub = Arc::clone(hub);
                tokio::spawn(async move { relay_progress(&hub, n).await });
            }
        }),
        other => return tracing::debug!(channel = other, "notification on an unknown channel"),
    };
    if let Err(e) = parsed {
        tracing::warn!(channel = note.channel(), error = %e, "ignored a malformed notification");
    }
}

async fn relay_progress(hub: &LocalNode, note: ProgressNote) {
    let files = match (note.files, note.reported_at) {
        (Some(files), _) => files,
        // One member's rows are bounded by the project's paths.
        (None, Some(at)) => match hub.store.progress(note.project, &ProgressQuery::of(note.user)).await {
            Ok(report) => report.members.into_iter().flat_map(|m| m.files).filter(|f| f.reported_at == at).collect(),
            Err(e) => return tracing::warn!(error = %e, "could not read progress relayed from another node"),
        },
        (None, None) => return,
    };
    let message =
        ServerMessage::MemberProgress { project_id: note.project, user_id: note.user, name: note.name, files };
    hub.deliver_to_user(note.owner, &message);
}
