//! Per-project live channels: one bounded `broadcast` per project that has a
//! subscriber on this node, kept in strict seq order with no gap.
//!
//! Publishers (a local commit, or a notification that another node committed)
//! take the project's lock, read from the store whatever lies between what the
//! channel last carried and what they bring, and send only seqs above it. So
//! batches committed concurrently and announced out of order, or notifications
//! that PostgreSQL coalesced, still come out of the channel as one ordered run.
//!
//! Memory is bounded: a channel holds at most `capacity` unread batches (each at
//! most one page of events); a receiver that falls further behind sees `Lagged`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use cloud_protocol::{Event, MAX_EVENTS_PAGE};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::store::{Store, StoreError};

/// Most batches one channel buffers, whatever the settings say.
const MAX_CAPACITY: usize = 1 << 16;

/// A run of consecutive events of one project, shared by every receiver.
pub(crate) type Batch = Arc<[Event]>;

struct ProjectChannel {
    tx: broadcast::Sender<Batch>,
    /// Highest seq sent on `tx`. The lock also serialises publishers, which is
    /// what keeps the channel in order.
    published: tokio::sync::Mutex<i64>,
}

/// Every project channel of this node.
pub(crate) struct Channels {
    map: Mutex<HashMap<Uuid, Arc<ProjectChannel>>>,
    capacity: usize,
}

/// A subscription to one project's channel. Dropping it removes the channel
/// once nobody else listens, so idle projects cost nothing.
pub(crate) struct Receiver {
    pub(crate) rx: broadcast::Receiver<Batch>,
    // Declared after `rx`, so it is dropped after it: `release` must not count
    // this receiver any more.
    _release: Release,
}

struct Release {
    project: Uuid,
    channels: Arc<Channels>,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.channels.release(self.project);
    }
}

impl Channels {
    /// `capacity`: batches a channel buffers for its slowest receiver. Clamped,
    /// since `broadcast` refuses 0 and allocates every slot up front.
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Channels { map: Mutex::new(HashMap::new()), capacity: capacity.clamp(1, MAX_CAPACITY) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<ProjectChannel>>> {
        // The map holds no invariant a panicking holder could break halfway.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Listens to `project`. `known_seq` is a seq the caller knows to be committed
    /// (its access check read it); a new channel starts there, so the first
    /// publisher fills anything newer from the store.
    pub(crate) fn subscribe(self: &Arc<Self>, project: Uuid, known_seq: i64) -> Receiver {
        let mut map = self.lock();
        let chan = map.entry(project).or_insert_with(|| {
            let (tx, _) = broadcast::channel(self.capacity);
            Arc::new(ProjectChannel { tx, published: tokio::sync::Mutex::new(known_seq) })
        });
        Receiver { rx: chan.tx.subscribe(), _release: Release { project, channels: Arc::clone(self) } }
    }

    fn release(&self, project: Uuid) {
        let mut map = self.lock();
        // Checked under the map lock, which `subscribe` also holds: no receiver can
        // appear on a channel between this check and its removal.
        if map.get(&project).is_some_and(|c| c.tx.receiver_count() == 0) {
            map.remove(&project);
        }
    }

    fn get(&self, project: Uuid) -> Option<Arc<ProjectChannel>> {
        self.lock().get(&project).cloned()
    }

    /// Projects with at least one listener on this node.
    pub(crate) fn projects(&self) -> Vec<Uuid> {
        self.lock().keys().copied().collect()
    }

    /// Whether anyone on this node listens to `project`.
    pub(crate) fn is_listened(&self, project: Uuid) -> bool {
        self.get(project).is_some()
    }

    /// Publishes `events` (consecutive, committed) after filling any gap before
    /// them from the store.
    pub(crate) async fn publish(&self, store: &dyn Store, project: Uuid, events: &[Event]) {
        self.advance(store, project, events, None).await;
    }

    /// Publishes everything committed up to `up_to` (or, with `None`, everything
    /// the store holds) that this channel has not carried yet.
    pub(crate) async fn catch_up(&self, store: &dyn Store, project: Uuid, up_to: Option<i64>) {
        self.advance(store, project, &[], up_to).await;
    }

    async fn advance(&self, store: &dyn Store, project: Uuid, known: &[Event], up_to: Option<i64>) {
        let Some(chan) = self.get(project) else {
            // Nobody here listens: nothing to keep in order.
            return;
        };
        let mut published = chan.published.lock().await;
        let fill_to = match known.first() {
            Some(first) => Some(first.seq - 1),
            None => up_to,
        };
        loop {
            match read_page(store, project, *published, fill_to).await {
                Ok((page, more)) => {
                    if let Some(last) = page.last() {
                        *published = last.seq;
                        // An error only means nobody listens right now.
                        let _ = chan.tx.send(page.into());
                    }
                    if !more {
                        break;
                    }
                }
                Err(e) => {
                    // Send what we have anyway: each subscriber notices the gap and
                    // fills it itself, or asks its client to resync.
                    tracing::warn!(%project, error = %e, "could not read events to fill a gap in the live channel");
                    break;
                }
            }
        }
        let fresh: Vec<Event> = known.iter().filter(|e| e.seq > *published).cloned().collect();
        if let Some(last) = fresh.last() {
            *published = last.seq;
            let _ = chan.tx.send(fresh.into());
        }
    }
}

/// One page of stored events with seq > `after` and none beyond `up_to`, and
/// whether another page may follow.
pub(crate) async fn read_page(
    store: &dyn Store,
    project: Uuid,
    after: i64,
    up_to: Option<i64>,
) -> Result<(Vec<Event>, bool), StoreError> {
    if up_to.is_some_and(|limit| after >= limit) {
        return Ok((Vec::new(), false));
    }
    let mut events = store.events_since(project, after, MAX_EVENTS_PAGE).await?;
    let full = events.len() >= MAX_EVENTS_PAGE as usize;
    if let Some(limit) = up_to {
        events.retain(|e| e.seq <= limit);
    }
    let more = full && events.last().is_some_and(|e| up_to.is_none_or(|limit| e.seq < limit));
    Ok((events, more))
}
