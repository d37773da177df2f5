//! One socket's subscription to one project: the backlog after `since_seq`,
//! then live events, in strict seq order with no gap and no duplicate.
//!
//! The order of steps is what makes that hold while writers keep committing:
//! the task listens to the live channel *before* reading the backlog, so
//! nothing committed meanwhile can fall between the two; then it drains live
//! batches, skipping seqs already sent and reading from the store any seqs the
//! live side skipped. When it falls more than the channel's capacity behind, it
//! ends with `resync` instead of buffering without bound.
//!
//! A live batch that follows on from what was sent (every batch once the backlog
//! is out) goes to the socket whole, as the channel's shared pre-encoded frame;
//! only a batch that overlaps what was sent, or that needs a gap filled first,
//! costs this subscriber a message of its own.

use std::sync::Arc;

use cloud_protocol::{Event, MAX_EVENTS_PAGE, ServerMessage};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::channels::{Batch, Receiver, read_page};
use super::hub::SubscriberGuard;
use crate::store::{Store, StoreError};

const PAGE: usize = MAX_EVENTS_PAGE as usize;

/// A message a subscription hands to its socket.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) project: Uuid,
    /// Which subscription of the socket produced it: messages of a replaced or
    /// revoked subscription still in the queue are dropped.
    pub(crate) generation: u64,
    pub(crate) payload: Payload,
    /// For live (not backlog) events, when they were committed (ms since the
    /// epoch): they count towards the push lag.
    pub(crate) committed_ms: Option<i64>,
    /// The subscription ended with this message.
    pub(crate) ends: bool,
}

/// What goes out: a live batch whole (its shared frame), or a message of this
/// subscriber's own.
#[derive(Debug)]
pub(crate) enum Payload {
    Shared(Batch),
    Message(ServerMessage),
}

impl Payload {
    /// Events this payload carries, for the pushed-events counter.
    pub(crate) fn event_count(&self) -> usize {
        match self {
            Payload::Shared(batch) => batch.events().len(),
            Payload::Message(ServerMessage::Events { events, .. }) => events.len(),
            Payload::Message(_) => 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SubscriptionError {
    #[error("the socket is gone")]
    SocketGone,
    #[error("fell too far behind the live events")]
    Lagged,
    #[error("could not read events: {0}")]
    Store(#[from] StoreError),
}

/// Everything a subscription task needs.
pub(crate) struct Subscription {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) project: Uuid,
    pub(crate) since_seq: i64,
    pub(crate) generation: u64,
    pub(crate) live: Receiver,
    pub(crate) out: mpsc::Sender<Outgoing>,
    pub(crate) _counted: SubscriberGuard,
}

impl Subscription {
    /// Streams until the socket goes away, the task is aborted, or it must end.
    pub(crate) async fn run(mut self) {
        let mut last = self.since_seq;
        let ending = match self.stream(&mut last).await {
            Ok(()) | Err(SubscriptionError::SocketGone) => return,
            Err(SubscriptionError::Lagged) => {
                tracing::debug!(project = %self.project, last, "subscriber fell behind; asking it to resync");
                ServerMessage::Resync { project_id: self.project }
            }
            Err(SubscriptionError::Store(e)) => {
                tracing::error!(project = %self.project, error = %e, "subscription ended by a store error");
                ServerMessage::Error {
                    code: "internal".into(),
                    message: "could not read events; subscribe again".into(),
                    project_id: Some(self.project),
                }
            }
        };
        let _ = self.send(Payload::Message(ending), None, true).await;
    }

    async fn stream(&mut self, last: &mut i64) -> Result<(), SubscriptionError> {
        self.send_stored(last, None).await?;
        loop {
            // One message per batch, no coalescing: a whole batch costs only its
            // shared frame, and the connection writes whatever is queued with one
            // flush, so merging batches would cost more than it saves.
            let batch = match self.live.rx.recv().await {
                Ok(batch) => batch,
                Err(RecvError::Lagged(_)) => return Err(SubscriptionError::Lagged),
                Err(RecvError::Closed) => return Ok(()),
            };
            self.deliver(last, batch).await?;
        }
    }

    /// Sends what `batch` holds after `last`: whole and shared when it follows
    /// on, else filling a gap from the store or skipping seqs already sent.
    async fn deliver(&mut self, last: &mut i64, batch: Batch) -> Result<(), SubscriptionError> {
        let (Some(first), Some(end)) = (batch.events().first().map(|e| e.seq), batch.events().last().map(|e| e.seq))
        else {
            return Ok(());
        };
        if end <= *last {
            // All sent already (the backlog read reached past it).
            return Ok(());
        }
        if !batch.is_dense() || first < *last + 1 {
            // Overlaps what was sent (only right after the backlog), or not one run:
            // pick event by event.
            let events = batch.events().iter().filter(|e| e.seq > *last).cloned().collect();
            return self.deliver_events(last, events, batch.committed_ms()).await;
        }
        if first > *last + 1 {
            self.send_stored(last, Some(first - 1)).await?;
            if *last != first - 1 {
                // The store does not have what the channel skipped: never send a gap.
                return Err(SubscriptionError::Lagged);
            }
        }
        if batch.frame().is_none() {
            let events = batch.events().to_vec();
            return self.deliver_events(last, events, batch.committed_ms()).await;
        }
        let committed_ms = Some(batch.committed_ms());
        self.send(Payload::Shared(batch), committed_ms, false).await?;
        *last = end;
        Ok(())
    }

    /// Sends ascending `events`, skipping duplicates and filling gaps from the store.
    async fn deliver_events(
        &mut self,
        last: &mut i64,
        events: Vec<Event>,
        committed_ms: i64,
    ) -> Result<(), SubscriptionError> {
        let mut run: Vec<Event> = Vec::new();
        for event in events {
            let expected = run.last().map_or(*last, |e| e.seq) + 1;
            if event.seq < expected {
                continue;
            }
            if event.seq > expected {
                self.send_live(last, std::mem::take(&mut run), committed_ms).await?;
                self.send_stored(last, Some(event.seq - 1)).await?;
                if *last != event.seq - 1 {
                    // The store does not have what the channel skipped: never send a gap.
                    return Err(SubscriptionError::Lagged);
                }
            }
            run.push(event);
            if run.len() == PAGE {
                self.send_live(last, std::mem::take(&mut run), committed_ms).await?;
            }
        }
        self.send_live(last, run, committed_ms).await
    }

    async fn send_live(
        &mut self,
        last: &mut i64,
        events: Vec<Event>,
        committed_ms: i64,
    ) -> Result<(), SubscriptionError> {
        let Some(seq) = events.last().map(|e| e.seq) else { return Ok(()) };
        let message = ServerMessage::Events { project_id: self.project, events, last_seq: seq };
        self.send(Payload::Message(message), Some(committed_ms), false).await?;
        *last = seq;
        Ok(())
    }

    /// Sends stored events after `last`, page by page, up to `up_to` (or all).
    async fn send_stored(&mut self, last: &mut i64, up_to: Option<i64>) -> Result<(), SubscriptionError> {
        loop {
            let (events, more) = read_page(&*self.store, self.project, *last, up_to).await?;
            if let Some(seq) = events.last().map(|e| e.seq) {
                let message = ServerMessage::Events { project_id: self.project, events, last_seq: seq };
                self.send(Payload::Message(message), None, false).await?;
                *last = seq;
            }
            if !more {
                return Ok(());
            }
        }
    }

    async fn send(&self, payload: Payload, committed_ms: Option<i64>, ends: bool) -> Result<(), SubscriptionError> {
        let out = Outgoing { project: self.project, generation: self.generation, payload, committed_ms, ends };
        // Waiting here is the backpressure: while the socket is slow, the live
        // channel fills up for this subscriber until it lags.
        self.out.send(out).await.map_err(|_| SubscriptionError::SocketGone)
    }
}
