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
//!
//! A batch is serialized once, when it is published: every subscriber that can
//! send it whole (the common case) writes the same shared frame, so the cost of
//! a commit no longer grows with JSON encoding times the number of sockets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::Utf8Bytes;
use cloud_protocol::{Event, MAX_EVENTS_PAGE, ServerMessage};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::store::{Store, StoreError, now_ms};

/// Most batches one channel buffers, whatever the settings say.
const MAX_CAPACITY: usize = 1 << 16;

/// A run of consecutive events of one project, shared by every receiver.
pub(crate) type Batch = Arc<LiveBatch>;

/// One published run of events, with its `events` message already encoded.
#[derive(Debug)]
pub(crate) struct LiveBatch {
    events: Vec<Event>,
    /// `ServerMessage::Events` for exactly `events`, as JSON; `None` only if
    /// encoding failed (then subscribers build their own message).
    frame: Option<Utf8Bytes>,
    /// When the batch was committed (ms since the epoch), for the push-lag
    /// metric: one number per batch instead of a timestamp parse per event.
    committed_ms: i64,
    /// Checked once here rather than by each of its subscribers.
    dense: bool,
}

impl LiveBatch {
    /// Encodes `events` (ascending, consecutive) once for every subscriber; `None`
    /// for an empty run.
    pub(crate) fn new(project: Uuid, events: Vec<Event>, committed_ms: i64) -> Option<LiveBatch> {
        let last_seq = events.last()?.seq;
        // Encoded through the protocol's own type, so the shared frame is byte for
        // byte what a per-subscriber message would be. The events move in and back
        // out: no copy.
        let message = ServerMessage::Events { project_id: project, events, last_seq };
        let frame = match serde_json::to_string(&message) {
            Ok(text) => Some(Utf8Bytes::from(text)),
            Err(e) => {
                tracing::error!(%project, error = %e, "could not serialize a live batch");
                None
            }
        };
        let ServerMessage::Events { events, .. } = message else { return None };
        let dense = is_dense(&events);
        Some(LiveBatch { events, frame, committed_ms, dense })
    }

    pub(crate) fn events(&self) -> &[Event] {
        &self.events
    }

    pub(crate) fn frame(&self) -> Option<&Utf8Bytes> {
        self.frame.as_ref()
    }

    pub(crate) fn committed_ms(&self) -> i64 {
        self.committed_ms
    }

    /// Whether the events run on without a gap or a repeat, so the batch can be
    /// sent whole after its first seq's predecessor.
    pub(crate) fn is_dense(&self) -> bool {
        self.dense
    }
}

fn is_dense(events: &[Event]) -> bool {
    !events.is_empty() && events.windows(2).all(|w| w[1].seq == w[0].seq + 1)
}

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

    /// Publishes `events` (consecutive, committed at `committed_ms`) after filling
    /// any gap before them from the store.
    pub(crate) async fn publish(&self, store: &dyn Store, project: Uuid, events: Vec<Event>, committed_ms: i64) {
        self.advance(store, project, events, committed_ms, None).await;
    }

    /// Publishes everything committed up to `up_to` (or, with `None`, everything
    /// the store holds) that this channel has not carried yet.
    pub(crate) async fn catch_up(&self, store: &dyn Store, project: Uuid, up_to: Option<i64>) {
        self.advance(store, project, Vec::new(), now_ms(), up_to).await;
    }

    async fn advance(
        &self,
        store: &dyn Store,
        project: Uuid,
        known: Vec<Event>,
        committed_ms: i64,
        up_to: Option<i64>,
    ) {
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
                        // Read back from the store: committed at least as long ago as
                        // the batch that revealed the gap (or the notification).
                        let committed = page.first().and_then(|e| created_ms(&e.created_at)).unwrap_or(committed_ms);
                        if let Some(batch) = LiveBatch::new(project, page, committed) {
                            // An error only means nobody listens right now.
                            let _ = chan.tx.send(Arc::new(batch));
                        }
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
        let mut fresh = known;
        fresh.retain(|e| e.seq > *published);
        if let Some(last) = fresh.last() {
            *published = last.seq;
            if let Some(batch) = LiveBatch::new(project, fresh, committed_ms) {
                let _ = chan.tx.send(Arc::new(batch));
            }
        }
    }
}

/// `created_at` (RFC 3339) in milliseconds since the epoch.
pub(crate) fn created_ms(created_at: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(created_at, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use cloud_protocol::Change;

    fn event(seq: i64) -> Event {
        Event { seq, change: Change::delete(format!("f{seq}")), created_at: crate::store::rfc3339(1_500) }
    }

    #[test]
    fn the_shared_frame_is_the_events_message() {
        let project = Uuid::new_v4();
        let events: Vec<Event> = (3..6).map(event).collect();
        let batch = LiveBatch::new(project, events.clone(), 42).expect("a batch");
        let expected = ServerMessage::Events { project_id: project, events: events.clone(), last_seq: 5 };
        let frame = batch.frame().expect("encoded");
        assert_eq!(serde_json::from_str::<ServerMessage>(frame).expect("parses"), expected);
        assert_eq!(frame.as_str(), serde_json::to_string(&expected).expect("encodes"));
        assert_eq!(batch.events(), &events[..]);
        assert_eq!(batch.committed_ms(), 42);
        assert!(batch.is_dense());
        assert!(LiveBatch::new(project, Vec::new(), 0).is_none());
    }

    #[test]
    fn only_one_run_without_gaps_is_dense() {
        let project = Uuid::new_v4();
        let batch = |seqs: &[i64]| LiveBatch::new(project, seqs.iter().copied().map(event).collect(), 0);
        assert!(batch(&[7]).is_some_and(|b| b.is_dense()));
        assert!(batch(&[1, 3]).is_some_and(|b| !b.is_dense()));
        assert!(batch(&[1, 2, 2, 3]).is_some_and(|b| !b.is_dense()));
        assert!(batch(&[3, 2, 3]).is_some_and(|b| !b.is_dense()));
    }

    #[test]
    fn created_at_parses_as_stored() {
        assert_eq!(created_ms("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(created_ms(&crate::store::rfc3339(1_732_850_000_123)), Some(1_732_850_000_123));
        assert_eq!(created_ms("yesterday"), None);
    }
}
