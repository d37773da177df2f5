//! One reader's position in Syncthing's event sequence, and the checks that
//! keep it honest: gaps (the 1000-event ring overflowed) and restarts (ids
//! start again at 1). No retry logic here; [`super::EventStream`] adds that.

use super::StreamItem;
use crate::syncthing::client::Client;
use crate::syncthing::error::ClientError;
use crate::syncthing::event::{Event, EventKind, subscribed_mask};
use std::time::Duration;

/// Identifies one running Syncthing process: a restart changes `start_time`,
/// another home changes `device_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub device_id: String,
    pub start_time: String,
}

/// Where a reader stands: the last event id seen, and in which process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cursor {
    pub since: u64,
    /// `None` until the first successful connect.
    pub origin: Option<Origin>,
}

/// A subscription to the companion's event mask ([`subscribed_mask`]).
#[derive(Debug, Clone)]
pub struct Subscription {
    client: Client,
    mask: String,
    cursor: Cursor,
}

impl Subscription {
    /// A subscription that resumes at `cursor`, or, without one, starts at
    /// the newest event (history is for REST reconciliation, not replay).
    pub fn new(client: Client, cursor: Option<Cursor>) -> Subscription {
        Subscription { client, mask: subscribed_mask(), cursor: cursor.unwrap_or_default() }
    }

    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Identifies the process, notices a restart, makes sure the mask exists
    /// and catches up. Returns `[Restarted?, Connected, Missed?, events…]`.
    ///
    /// A non-default mask is created lazily by its first request and sees
    /// nothing older (docs/syncthing.md §4), so the subscribe call uses `timeout=0` and
    /// `Connected` is only reported after it: from then on nothing is missed.
    pub async fn connect(&mut self) -> Result<Vec<StreamItem>, ClientError> {
        let status = self.client.system_status().await?;
        let origin = Origin { device_id: status.my_id, start_time: status.start_time };
        let mut items = Vec::new();
        // The old origin is only replaced once everything below succeeded, so a
        // failed attempt cannot make the next one forget a restart.
        let catch_up = match self.cursor.origin.clone() {
            Some(previous) if previous != origin => {
                items.push(StreamItem::Restarted { previous, current: origin.clone() });
                // Everything the new process has for this mask is news.
                self.cursor.since = 0;
                true
            }
            Some(_) => true,
            None => false,
        };
        let mut caught = Vec::new();
        if catch_up {
            let events = self.fetch(Duration::ZERO, None).await?;
            caught = self.absorb(events).0;
        } else {
            let newest = self.client.events(0, Duration::ZERO, &self.mask, Some(1)).await?;
            self.cursor.since = newest.last().map_or(0, |e| e.id);
        }
        // The caught-up events follow `Connected`, so it reports where they start.
        let resumed_after = match caught.first() {
            Some(StreamItem::Event(e)) => e.id.saturating_sub(1),
            Some(StreamItem::Missed { expected_first, .. }) => expected_first.saturating_sub(1),
            _ => self.cursor.since,
        };
        self.cursor.origin = Some(origin.clone());
        items.push(StreamItem::Connected { origin, since: resumed_after });
        items.extend(caught);
        Ok(items)
    }

    /// One long poll of up to `timeout` (whole seconds). An idle answer or a
    /// suspicious one (`Starting`, ids going back) triggers a restart check.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<StreamItem>, ClientError> {
        let events = self.fetch(timeout, None).await?;
        let idle = events.is_empty();
        let (mut items, suspect) = self.absorb(events);
        if idle || suspect {
            // A restart between two polls leaves a fresh process whose ids may
            // pass our `since` later, hiding everything before: check now.
            let status = self.client.system_status().await?;
            let changed = self
                .cursor
                .origin
                .as_ref()
                .is_some_and(|o| o.device_id != status.my_id || o.start_time != status.start_time);
            if changed {
                items.extend(self.connect().await?);
            }
        }
        Ok(items)
    }

    async fn fetch(&self, timeout: Duration, limit: Option<u32>) -> Result<Vec<Event>, ClientError> {
        self.client.events(self.cursor.since, timeout, &self.mask, limit).await
    }

    /// Turns a batch into items, advancing the cursor and flagging gaps.
    /// Returns whether the batch hints at a restart.
    fn absorb(&mut self, mut events: Vec<Event>) -> (Vec<StreamItem>, bool) {
        events.sort_by_key(|e| e.id);
        let mut items = Vec::with_capacity(events.len() + 1);
        let mut suspect = false;
        for event in events {
            if event.id <= self.cursor.since {
                // Syncthing only returns ids above `since`; lower ones mean the
                // numbering started over. The restart check re-reads them.
                suspect = true;
                continue;
            }
            let expected = self.cursor.since.saturating_add(1);
            if event.id > expected {
                items.push(StreamItem::Missed { expected_first: expected, got_first: event.id });
            }
            suspect |= matches!(event.kind, EventKind::Starting(_));
            self.cursor.since = event.id;
            items.push(StreamItem::Event(event));
        }
        (items, suspect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(id: u64) -> Event {
        Event::from_value(json!({"id": id, "globalID": id, "type": "Failure", "data": "x"})).unwrap()
    }

    fn sub(since: u64) -> Subscription {
        let client = Client::new("http://127.0.0.1:9", "k").unwrap();
        Subscription::new(client, Some(Cursor { since, origin: None }))
    }

    fn shape(items: &[StreamItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                StreamItem::Event(e) => format!("e{}", e.id),
                StreamItem::Missed { expected_first, got_first } => format!("missed {expected_first}..{got_first}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn contiguous_ids_pass_through() {
        let mut s = sub(4);
        let (items, suspect) = s.absorb(vec![event(6), event(5)]);
        assert_eq!(shape(&items), ["e5", "e6"]);
        assert!(!suspect);
        assert_eq!(s.cursor().since, 6);
    }

    #[test]
    fn a_jump_is_reported_before_the_events_that_follow_it() {
        let mut s = sub(248);
        let (items, _) = s.absorb(vec![event(1367), event(1368), event(1370)]);
        assert_eq!(shape(&items), ["missed 249..1367", "e1367", "e1368", "missed 1369..1370", "e1370"]);
        assert_eq!(s.cursor().since, 1370);
    }

    #[test]
    fn ids_going_back_are_a_restart_hint_not_events() {
        let mut s = sub(2366);
        let (items, suspect) = s.absorb(vec![event(1), event(2)]);
        assert!(items.is_empty());
        assert!(suspect);
        assert_eq!(s.cursor().since, 2366);
    }
}
