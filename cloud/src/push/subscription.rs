//! One socket's subscription to one project: the backlog after `since_seq`,
//! then live events, in strict seq order with no gap and no duplicate.
//!
//! The order of steps is what makes that hold while writers keep committing:
//! the task listens to the live channel *before* reading the backlog, so
//! nothing committed meanwhile can fall between the two; then it drains live
//! batches, skipping seqs already sent and reading from the store any seqs the
//! live side skipped. When it falls more than the channel's capacity behind, it
//! ends with `resync` instead of buffering without bound.

use std::sync::Arc;

use cloud_protocol::{Event, MAX_EVENTS_PAGE, ServerMessage};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::channels::{Receiver, read_page};
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
    pub(crate) message: ServerMessage,
    /// Live (not backlog) events: they count towards the push lag.
    pub(crate) live: bool,
    /// The subscription ended with this message.
    pub(crate) ends: bool,
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
        let _ = self.send(ending, false, true).await;
    }

    async fn stream(&mut self, last: &mut i64) -> Result<(), SubscriptionError> {
        self.send_stored(last, None).await?;
        loop {
            let batch = match self.live.rx.recv().await {
                Ok(batch) => batch,
                Err(RecvError::Lagged(_)) => return Err(SubscriptionError::Lagged),
                Err(RecvError::Closed) => return Ok(()),
            };
            // Coalesce what is already waiting into fewer, larger messages.
            let mut pending: Vec<Event> = batch.iter().filter(|e| e.seq > *last).cloned().collect();
            while pending.len() < PAGE {
                match self.live.rx.try_recv() {
                    Ok(more) => {
                        let after = pending.last().map_or(*last, |e| e.seq);
                        pending.extend(more.iter().filter(|e| e.seq > after).cloned());
                    }
                    Err(TryRecvError::Lagged(_)) => return Err(SubscriptionError::Lagged),
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            self.deliver(last, pending).await?;
        }
    }

    /// Sends ascending `events`, skipping duplicates and filling gaps from the store.
    async fn deliver(&mut self, last: &mut i64, events: Vec<Event>) -> Result<(), SubscriptionError> {
        let mut run: Vec<Event> = Vec::new();
        for event in events {
            let expected = run.last().map_or(*last, |e| e.seq) + 1;
            if event.seq < expected {
                continue;
            }
            if event.seq > expected {
                self.send_live(last, std::mem::take(&mut run)).await?;
                self.send_stored(last, Some(event.seq - 1)).await?;
                if *last != event.seq - 1 {
                    // The store does not have what the channel skipped: never send a gap.
                    return Err(SubscriptionError::Lagged);
                }
            }
            run.push(event);
            if run.len() == PAGE {
                self.send_live(last, std::mem::take(&mut run)).await?;
            }
        }
        self.send_live(last, run).await
    }

    async fn send_live(&mut self, last: &mut i64, events: Vec<Event>) -> Result<(), SubscriptionError> {
        let Some(seq) = events.last().map(|e| e.seq) else { return Ok(()) };
        self.send(ServerMessage::Events { project_id: self.project, events, last_seq: seq }, true, false).await?;
        *last = seq;
        Ok(())
    }

    /// Sends stored events after `last`, page by page, up to `up_to` (or all).
    async fn send_stored(&mut self, last: &mut i64, up_to: Option<i64>) -> Result<(), SubscriptionError> {
        loop {
            let (events, more) = read_page(&*self.store, self.project, *last, up_to).await?;
            if let Some(seq) = events.last().map(|e| e.seq) {
                let message = ServerMessage::Events { project_id: self.project, events, last_seq: seq };
                self.send(message, false, false).await?;
                *last = seq;
            }
            if !more {
                return Ok(());
            }
        }
    }

    async fn send(&self, message: ServerMessage, live: bool, ends: bool) -> Result<(), SubscriptionError> {
        let out = Outgoing { project: self.project, generation: self.generation, message, live, ends };
        // Waiting here is the backpressure: while the socket is slow, the live
        // channel fills up for this subscriber until it lags.
        self.out.send(out).await.map_err(|_| SubscriptionError::SocketGone)
    }
}
