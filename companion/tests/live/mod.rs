//! Tests against real Syncthing 1.19.2 pairs (from `syncthing-fixtures`).
//! One binary so the tests share a process and run in parallel; each test
//! starts its own pair and reuses it for several checks. Every wait polls a
//! condition with a deadline; nothing sleeps and hopes.

mod container_discovery;
mod doctor_and_rest;
mod events;
mod resilience;

use cloud_protocol::retry::Backoff;
use companion::syncthing::event::{ChangeAction, EventKind};
use companion::syncthing::{Client, EventStream, StreamConfig, StreamItem};
use std::time::Duration;
use syncthing_fixtures::{Cluster, ClusterBuilder, FolderType, Node};
use tokio::time::Instant;

/// Generous: a loaded 2-core machine runs several pairs at once.
pub const STEP: Duration = Duration::from_secs(30);

/// A pair sharing `proj` (send-receive on both), watcher delay 1 s.
pub async fn pair() -> Cluster {
    ClusterBuilder::new()
        .nodes(2)
        .folder("proj", &[FolderType::SendReceive, FolderType::SendReceive])
        .fs_watcher_delay_s(1)
        .progress_update_interval_s(1)
        .start()
        .await
        .expect("a Syncthing pair starts")
}

pub fn client(node: &Node) -> Client {
    Client::new(&node.api_url, &node.api_key).unwrap()
}

/// Quick retries and idle checks so outages resolve within a test's patience.
pub fn test_stream_config() -> StreamConfig {
    StreamConfig {
        poll_timeout: Duration::from_secs(5),
        backoff: Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1), ..Backoff::default() },
        channel_capacity: 4096,
    }
}

/// An event stream plus everything it delivered so far.
pub struct Watch {
    name: String,
    stream: EventStream,
    pub items: Vec<StreamItem>,
}

impl Watch {
    /// Starts a stream on `node` and waits until it is connected.
    pub async fn start(node: &Node) -> Watch {
        let stream = EventStream::spawn(client(node), test_stream_config());
        let mut w = Watch { name: node.name.clone(), stream, items: Vec::new() };
        w.wait_for(0, "Connected", |i| matches!(i, StreamItem::Connected { .. }).then_some(())).await;
        w
    }

    /// Position to search from for the effects of the next action.
    pub fn mark(&self) -> usize {
        self.items.len()
    }

    /// The first item at or after `from` that `pick` accepts, receiving more
    /// as needed; panics with what was seen when [`STEP`] runs out.
    pub async fn wait_for<T>(&mut self, from: usize, what: &str, mut pick: impl FnMut(&StreamItem) -> Option<T>) -> T {
        let deadline = Instant::now() + STEP;
        let mut i = from;
        loop {
            while i < self.items.len() {
                if let Some(found) = pick(&self.items[i]) {
                    return found;
                }
                i += 1;
            }
            match tokio::time::timeout_at(deadline, self.stream.recv()).await {
                Ok(Some(item)) => self.items.push(item),
                Ok(None) => panic!("{}: the stream ended while waiting for {what}", self.name),
                Err(_) => panic!(
                    "{}: no {what} within {STEP:?}; saw since mark: {}",
                    self.name,
                    summary(&self.items[from.min(self.items.len())..])
                ),
            }
        }
    }
}

/// Short one-line-per-item description for failure messages.
pub fn summary(items: &[StreamItem]) -> String {
    let lines: Vec<String> = items
        .iter()
        .map(|i| match i {
            StreamItem::Event(e) => format!("{} {}", e.id, e.type_name()),
            other => format!("{other:?}"),
        })
        .collect();
    lines.join(", ")
}

pub fn kind(item: &StreamItem) -> Option<&EventKind> {
    match item {
        StreamItem::Event(e) => Some(&e.kind),
        _ => None,
    }
}

/// Matches `LocalChangeDetected` (local) or `RemoteChangeDetected` for `path`.
pub fn change(local: bool, action: ChangeAction, path: &str) -> impl Fn(&StreamItem) -> Option<()> {
    let path = path.to_owned();
    move |item| match kind(item)? {
        EventKind::LocalChangeDetected(c) if local && c.action == action && c.path == path => Some(()),
        EventKind::RemoteChangeDetected(c) if !local && c.action == action && c.path == path => Some(()),
        _ => None,
    }
}

/// Matches `ItemStarted` for `item` with `action` (update, delete).
pub fn started(action: &str, item: &str) -> impl Fn(&StreamItem) -> Option<()> {
    let (action, item) = (action.to_owned(), item.to_owned());
    move |i| match kind(i)? {
        EventKind::ItemStarted(d) if d.action == action && d.item == item => Some(()),
        _ => None,
    }
}

/// Matches a successful `ItemFinished` for `item` with `action`. A failed
/// attempt is skipped: Syncthing retries, e.g. when the file changed on the
/// sender while it was being pulled.
pub fn finished(action: &str, item: &str) -> impl Fn(&StreamItem) -> Option<()> {
    let (action, item) = (action.to_owned(), item.to_owned());
    move |i| match kind(i)? {
        EventKind::ItemFinished(d) if d.action == action && d.item == item => match &d.error {
            None => Some(()),
            Some(error) => {
                eprintln!("ItemFinished {action} {item} failed, waiting for the retry: {error}");
                None
            }
        },
        _ => None,
    }
}
