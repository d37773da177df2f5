//! The companion's live view of Syncthing: a long-poll loop over
//! `/rest/events` that survives Syncthing being down, slow or restarted, and
//! says so, delivered as [`StreamItem`]s through a bounded tokio channel.
//!
//! Consumers reconcile from REST on `Missed` (events were lost) and on
//! `Restarted` (a new process; its ids started again at 1).

mod subscription;

pub use cloud_protocol::retry::Backoff;
pub use subscription::{Cursor, Origin, Subscription};

use crate::syncthing::client::Client;
use crate::syncthing::error::ClientError;
use crate::syncthing::event::Event;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the stream reports.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// Subscribed; every event after this point will be delivered (or a
    /// `Missed` will say it was lost). `since` is the id the stream resumes after.
    Connected { origin: Origin, since: u64 },
    /// One Syncthing event, in id order.
    Event(Event),
    /// Ids `expected_first..got_first` were lost (the 1000-event ring
    /// overflowed, docs/syncthing.md §4). The events from `got_first` on still follow.
    Missed { expected_first: u64, got_first: u64 },
    /// Syncthing restarted (or another instance answers now). Events are
    /// numbered from 1 again; a `Connected` follows.
    Restarted { previous: Origin, current: Origin },
    /// A request failed; the next attempt is in `retry_in`. Sent for every
    /// failed attempt, so a long outage repeats it.
    Disconnected { reason: String, api_key_rejected: bool, retry_in: Duration },
}

/// Tuning of [`EventStream`].
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// The long poll's `timeout=` (whole seconds). Each idle timeout also
    /// checks for a restart, so this bounds how late a quiet restart is seen.
    pub poll_timeout: Duration,
    pub backoff: Backoff,
    /// Items buffered for a slow consumer. When it is full the loop stops
    /// polling, and Syncthing's own buffer takes over (then `Missed`).
    pub channel_capacity: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig { poll_timeout: Duration::from_secs(30), backoff: Backoff::default(), channel_capacity: 1024 }
    }
}

/// A running event stream. Dropping it stops the background task.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<StreamItem>,
    task: JoinHandle<()>,
}

impl EventStream {
    /// Starts streaming from the newest event.
    pub fn spawn(client: Client, config: StreamConfig) -> EventStream {
        EventStream::spawn_from(client, config, None)
    }

    /// Starts streaming after `cursor` (for instance one kept across a
    /// companion restart); a changed Syncthing process is reported as `Restarted`.
    pub fn spawn_from(client: Client, config: StreamConfig, cursor: Option<Cursor>) -> EventStream {
        let (tx, rx) = mpsc::channel(config.channel_capacity.max(1));
        let subscription = Subscription::new(client, cursor);
        let task = tokio::spawn(run(subscription, config, tx));
        EventStream { rx, task }
    }

    /// The next item; `None` only if the task ended (it does not on its own).
    pub async fn recv(&mut self) -> Option<StreamItem> {
        self.rx.recv().await
    }

    /// The channel, for `select!` loops.
    pub fn receiver(&mut self) -> &mut mpsc::Receiver<StreamItem> {
        &mut self.rx
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connect, then poll until a request fails; on failure report, back off
/// and connect again. Returns only when the receiver is gone.
async fn run(mut sub: Subscription, config: StreamConfig, tx: mpsc::Sender<StreamItem>) {
    let mut attempt: u32 = 0;
    loop {
        match sub.connect().await {
            Ok(items) => {
                if !deliver(&tx, items).await {
                    return;
                }
            }
            Err(e) => {
                if !back_off(&tx, &config, &e, attempt).await {
                    return;
                }
                attempt = attempt.saturating_add(1);
                continue;
            }
        }
        let error = loop {
            match sub.poll(config.poll_timeout).await {
                Ok(items) => {
                    if !deliver(&tx, items).await {
                        return;
                    }
                }
                Err(e) => break e,
            }
        };
        // A poll that broke after a good connect is often a restart in
        // progress: retry quickly, then back off if it stays down.
        if !back_off(&tx, &config, &error, 0).await {
            return;
        }
        attempt = 1;
    }
}

async fn deliver(tx: &mpsc::Sender<StreamItem>, items: Vec<StreamItem>) -> bool {
    for item in items {
        if tx.send(item).await.is_err() {
            return false;
        }
    }
    true
}

async fn back_off(tx: &mpsc::Sender<StreamItem>, config: &StreamConfig, error: &ClientError, attempt: u32) -> bool {
    let retry_in = config.backoff.next_delay(attempt);
    tracing::debug!(%error, ?retry_in, "Syncthing event stream interrupted");
    let item = StreamItem::Disconnected {
        reason: error.to_string(),
        api_key_rejected: matches!(error, ClientError::ApiKeyRejected { .. }),
        retry_in,
    };
    if tx.send(item).await.is_err() {
        return false;
    }
    tokio::time::sleep(retry_in).await;
    true
}

#[cfg(test)]
#[path = "timing_tests.rs"]
mod timing_tests;

#[cfg(test)]
#[path = "migration_tests.rs"]
mod migration_tests;
