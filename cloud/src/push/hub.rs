//! The `Hub`: what the API calls after a commit or a revoke, and what sockets
//! subscribe through. It owns this node's project channels and its registry of
//! sockets and, with PostgreSQL, relays both to and from the other nodes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cloud_protocol::{Event, ServerMessage};
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use super::channels::{Channels, Receiver};
use super::fanout::{self, FanoutError, Notifier};
use super::node::LocalNode;
use super::registry::{Registration, Registry};
use crate::settings::Settings;
use crate::store::{Store, now_ms};

/// Per-project fan-out of events and progress to live subscribers, on this node
/// and (with PostgreSQL) on every node sharing the database.
pub struct Hub {
    /// What the cross-node listener shares with the hub.
    inner: Arc<LocalNode>,
    subscribers: Arc<AtomicUsize>,
    /// Tells the other nodes (PostgreSQL only).
    notifier: Option<Arc<Notifier>>,
    // Stops the cross-node listener when the hub goes away.
    _stop: DropGuard,
}

impl Hub {
    /// A hub for a single node (SQLite, or PostgreSQL without other nodes):
    /// everything stays in this process.
    pub fn new(store: Arc<dyn Store>, settings: &Settings) -> Hub {
        Self::build(store, settings, None).0
    }

    /// A hub that shares events, revocations and progress with every other node
    /// on the same PostgreSQL database through `LISTEN/NOTIFY`. Fails if it
    /// cannot start listening. The listener keeps one connection of `pool`.
    pub async fn with_postgres(
        store: Arc<dyn Store>,
        settings: &Settings,
        pool: sqlx::PgPool,
    ) -> Result<Hub, FanoutError> {
        let listener = fanout::listen(&pool).await?;
        let (hub, stop) = Self::build(store, settings, Some(pool.clone()));
        fanout::spawn_listener(Arc::clone(&hub.inner), listener, pool, stop);
        Ok(hub)
    }

    fn build(store: Arc<dyn Store>, settings: &Settings, pool: Option<sqlx::PgPool>) -> (Hub, CancellationToken) {
        let node_id = Uuid::new_v4();
        let stop = CancellationToken::new();
        let inner = Arc::new(LocalNode {
            store,
            channels: Channels::new(settings.subscriber_buffer),
            registry: Arc::new(Registry::default()),
            node_id,
        });
        let notifier = pool.map(|pool| Arc::new(Notifier::new(pool, node_id)));
        let subscribers = Arc::new(AtomicUsize::new(0));
        (Hub { inner, subscribers, notifier, _stop: stop.clone().drop_guard() }, stop)
    }

    /// Called by the API after a batch committed on this node, with its events in
    /// seq order. The local publish runs here, before the writer's answer: it only
    /// encodes the batch once and hands it to the channel, and doing it in the
    /// caller keeps commits reaching the channel in the order they were made (a
    /// spawned publish may run after a later one, which then has to read the
    /// skipped batch back from the store, competing with the writers). The
    /// cross-node `NOTIFY` is a PostgreSQL round trip that only other nodes need:
    /// it runs on a task of its own, so the answer does not wait for it (other
    /// nodes read from the store up to the seq announced, so notifications may
    /// arrive in any order).
    pub async fn committed(&self, project_id: Uuid, events: Vec<Event>) {
        let Some(last_seq) = events.last().map(|e| e.seq) else { return };
        // Taken right after the commit, for the push-lag metric.
        let committed_ms = now_ms();
        self.inner.channels.publish(&*self.inner.store, project_id, events, committed_ms).await;
        if let Some(notifier) = &self.notifier {
            let notifier = Arc::clone(notifier);
            tokio::spawn(async move { notifier.events(project_id, last_seq).await });
        }
    }

    /// Called by the API after a member was revoked: their sockets lose the project at once.
    pub async fn revoked(&self, project_id: Uuid, user_id: Uuid) {
        self.inner.registry.revoke(user_id, project_id);
        if let Some(notifier) = &self.notifier {
            notifier.revocation(project_id, user_id).await;
        }
    }

    /// Number of live subscriptions on this node, for `/metrics`.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// This node's id in cross-node notifications (new on every start).
    pub fn node_id(&self) -> Uuid {
        self.inner.node_id
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Registers a socket of `user` for revocations and progress.
    pub(crate) fn register(&self, user: Uuid) -> Registration {
        self.inner.registry.register(user)
    }

    /// Listens to `project`'s live events; `known_seq` is a committed seq the
    /// caller read. The guard counts the subscription while it lives.
    pub(crate) fn subscribe(&self, project: Uuid, known_seq: i64) -> (Receiver, SubscriberGuard) {
        let rx = self.inner.channels.subscribe(project, known_seq);
        (rx, SubscriberGuard::new(Arc::clone(&self.subscribers)))
    }

    /// A member reported progress: tell the owner's sockets, here and on other nodes.
    pub(crate) async fn member_progress(&self, project_id: Uuid, owner: Uuid, message: &ServerMessage) {
        self.inner.deliver_to_user(owner, message);
        if let Some(notifier) = &self.notifier {
            notifier.progress(project_id, owner, message).await;
        }
    }
}

/// What one socket's connection needs from the server (taken from the
/// handlers' state by the `/api/ws` handler, so push need not know it).
pub(crate) struct SocketDeps {
    pub hub: Arc<Hub>,
    pub settings: Arc<Settings>,
    pub shutdown: CancellationToken,
}

/// Counts one live subscription (and keeps the gauge current) while it lives.
pub(crate) struct SubscriberGuard(Arc<AtomicUsize>);

impl SubscriberGuard {
    fn new(count: Arc<AtomicUsize>) -> Self {
        let now = count.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("cloud_ws_subscribers").set(now as f64);
        SubscriberGuard(count)
    }
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        let now = self.0.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("cloud_ws_subscribers").set(now as f64);
    }
}
