//! Progress reports: a member's badge changes go to the cloud as
//! `progress` messages, batched and only what changed since the last
//! report, each with a `seq` the cloud acknowledges (`progress_ack`) once it
//! stored the files. A badge is marked reported in the manifest only on that
//! acknowledgement, so a report lost with a socket, or never answered, goes
//! out again: after the next connect, or after [`ACK_TIMEOUT`] on a live
//! socket. At most [`MAX_IN_FLIGHT`] messages wait for their ack at a time.
//! Sending a badge again is harmless: the cloud keeps the latest state of
//! each file, and a re-send reads the manifest afresh, never an old message.
//!
//! With nothing to report for the heartbeat ([`crate::presence`]), an empty
//! `progress` says "still here, nothing changed": the owner then knows how
//! current this member's report is, and that the member is online.
//!
//! Each message keeps within what the cloud accepts (see docs/wire.md's
//! WebSocket limits): at most 1000 files, an `error` of at most 1 KiB per
//! file (longer ones are cut at a character boundary, marked with `…`), and
//! a serialized size well under the cloud's 1 MiB message limit, so one
//! long error or a folder of long paths never gets a whole report refused.

use std::collections::BTreeMap;
use std::time::Duration;

use cloud_protocol::{ClientMessage, FileProgress, MAX_PROGRESS_ERROR_BYTES};
use tokio::time::Instant;
use uuid::Uuid;

use crate::cloud_client::socket::LinkHandle;
use crate::manifest::BadgeRow;
use crate::manifest::db::Db;

/// Files per `progress` message: the cloud's limit.
const BATCH: usize = 1000;
/// Serialized bytes per `progress` message: half the cloud's default
/// message limit (1 MiB), leaving room for a cloud configured tighter.
pub const MESSAGE_BUDGET: usize = 512 * 1024;
/// Messages sent and not yet acknowledged, at most: a cloud that is slow to
/// store is not flooded, and a dead socket swallows at most this many.
pub const MAX_IN_FLIGHT: usize = 4;
/// A message unacknowledged this long on a live socket is sent again (with
/// what the manifest says now). Storing a report takes milliseconds; this
/// is for a socket that died without saying so, or a cloud that failed to store.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// One message waiting for its `progress_ack`.
#[derive(Debug)]
struct InFlight {
    sent_at: Instant,
    rows: Vec<BadgeRow>,
}

/// Sends unreported badges of one project and marks them reported once the
/// cloud acknowledged them.
#[derive(Debug)]
pub(super) struct Reporter {
    project: Uuid,
    dirty: bool,
    next_seq: u64,
    in_flight: BTreeMap<u64, InFlight>,
    /// When the last message went out (for the "nothing changed" heartbeat).
    last_sent: Option<Instant>,
    heartbeat: Duration,
}

impl Reporter {
    /// `heartbeat`: [`crate::config::Settings::heartbeat`].
    pub fn with_heartbeat(project: Uuid, heartbeat: Duration) -> Reporter {
        // At start there may be changes from before a restart.
        Reporter { project, dirty: true, next_seq: 1, in_flight: BTreeMap::new(), last_sent: None, heartbeat }
    }

    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// A new socket: what the old one carried will never be acknowledged
    /// (the cloud acks on the socket a message came in), so it all goes again.
    pub fn connected(&mut self) {
        self.in_flight.clear();
        self.dirty = true;
        self.last_sent = None;
    }

    /// Messages waiting for their ack.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The cloud stored message `seq`: its badges are reported, unless they
    /// changed since (then they are still unreported and go out again).
    pub async fn acked(&mut self, db: &Db, seq: u64) {
        let Some(done) = self.in_flight.remove(&seq) else {
            // From a socket before the current one, or answered twice: nothing to do.
            return tracing::debug!(project = %self.project, seq, "acknowledgement of nothing in flight");
        };
        if done.rows.is_empty() {
            return;
        }
        let project = self.project;
        let count = done.rows.len();
        match db.call(move |m| m.mark_reported(project, &done.rows)).await {
            Ok(()) => tracing::debug!(%project, seq, files = count, "progress acknowledged"),
            Err(e) => {
                self.dirty = true;
                tracing::warn!(%project, error = %e, "cannot mark badges reported");
            }
        }
    }

    /// Sends what is unreported and not in flight, if the link is up: as
    /// many messages as [`MAX_IN_FLIGHT`] allows. Re-sends what waited too
    /// long for its ack; says "nothing changed" when idle for a heartbeat.
    pub async fn report(&mut self, db: &Db, link: &LinkHandle) {
        if !link.is_connected() {
            return;
        }
        let now = Instant::now();
        if let Some((seq, oldest)) = self.in_flight.first_key_value()
            && now.duration_since(oldest.sent_at) >= ACK_TIMEOUT
        {
            tracing::info!(project = %self.project, seq, waiting = self.in_flight.len(), "progress not acknowledged in time; sending again");
            self.in_flight.clear();
            self.dirty = true;
        }
        while self.dirty && self.in_flight.len() < MAX_IN_FLIGHT {
            let rows = match self.next_rows(db).await {
                Ok(rows) => rows,
                Err(e) => return tracing::warn!(project = %self.project, error = %e, "cannot read badges to report"),
            };
            let Some(chunk) = chunks(rows).into_iter().next() else {
                self.dirty = false;
                break;
            };
            if !self.send(link, chunk).await {
                return;
            }
        }
        let idle = self.last_sent.is_none_or(|at| now.duration_since(at) >= self.heartbeat);
        if !self.dirty && self.in_flight.is_empty() && idle {
            self.send(link, Vec::new()).await;
        }
    }

    /// Unreported rows that are not already waiting for an ack as they are.
    async fn next_rows(&self, db: &Db) -> Result<Vec<BadgeRow>, crate::manifest::ManifestError> {
        let project = self.project;
        let waiting: Vec<&BadgeRow> = self.in_flight.values().flat_map(|m| &m.rows).collect();
        let limit = BATCH + waiting.len();
        let rows = db.call(move |m| m.unreported_badges(project, limit)).await?;
        let same = |a: &BadgeRow, b: &BadgeRow| {
            a.progress.path == b.progress.path && a.updated_at == b.updated_at && a.progress == b.progress
        };
        let fresh = rows.into_iter().filter(|r| !waiting.iter().any(|w| same(w, r)));
        Ok(fresh.take(BATCH).collect())
    }

    /// Sends one message; false if the link refused it (stays dirty).
    async fn send(&mut self, link: &LinkHandle, rows: Vec<BadgeRow>) -> bool {
        let project = self.project;
        let seq = self.next_seq;
        self.next_seq += 1;
        let files = rows.iter().map(|r| for_the_wire(&r.progress)).collect();
        if let Err(e) = link.send(ClientMessage::Progress { project_id: project, files, seq: Some(seq) }).await {
            // The next tick or connect tries again.
            self.dirty = true;
            tracing::debug!(%project, error = %e, "progress report postponed");
            return false;
        }
        tracing::debug!(%project, seq, files = rows.len(), "progress sent");
        let now = Instant::now();
        self.last_sent = Some(now);
        self.in_flight.insert(seq, InFlight { sent_at: now, rows });
        true
    }
}

/// A badge as the cloud accepts it: the error cut to its limit.
pub fn for_the_wire(progress: &FileProgress) -> FileProgress {
    let mut out = progress.clone();
    if let Some(error) = &mut out.error {
        cap_error(error);
    }
    out
}

fn cap_error(error: &mut String) {
    const MARK: &str = "…";
    if error.len() <= MAX_PROGRESS_ERROR_BYTES {
        return;
    }
    let mut end = MAX_PROGRESS_ERROR_BYTES - MARK.len();
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    error.truncate(end);
    error.push_str(MARK);
}

/// Splits rows into messages of at most [`MESSAGE_BUDGET`] serialized bytes
/// (a single row always fits: paths are at most 4 KiB and errors 1 KiB).
fn chunks(rows: Vec<BadgeRow>) -> Vec<Vec<BadgeRow>> {
    // The envelope: type, project id, brackets.
    const ENVELOPE: usize = 128;
    let mut out: Vec<Vec<BadgeRow>> = Vec::new();
    let mut size = ENVELOPE;
    let mut current = Vec::new();
    for row in rows {
        let bytes = serde_json::to_vec(&for_the_wire(&row.progress)).map_or(0, |v| v.len()) + 1;
        if !current.is_empty() && size + bytes > MESSAGE_BUDGET {
            out.push(std::mem::take(&mut current));
            size = ENVELOPE;
        }
        size += bytes;
        current.push(row);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod ack_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use cloud_protocol::FileState;

    fn row(path: String, error: Option<String>) -> BadgeRow {
        BadgeRow {
            progress: FileProgress { path, state: FileState::Error, percent: 0.0, local_hash: None, error },
            stamp: None,
            inode: None,
            updated_at: String::new(),
            reported: false,
        }
    }

    #[test]
    fn long_errors_are_cut_to_what_the_cloud_accepts() {
        let long = "é".repeat(MAX_PROGRESS_ERROR_BYTES);
        let out = for_the_wire(&row("a".into(), Some(long)).progress);
        let error = out.error.clone().unwrap();
        assert!(error.len() <= MAX_PROGRESS_ERROR_BYTES && error.ends_with('…'), "{}", error.len());
        assert!(out.validate().is_ok(), "{:?}", out.validate());
        let short = for_the_wire(&row("a".into(), Some("disk full".into())).progress);
        assert_eq!(short.error.as_deref(), Some("disk full"));
    }

    #[test]
    fn messages_stay_under_the_budget() {
        // 1000 files with 4 KiB paths and 1 KiB errors: about 5 MiB in all.
        let rows: Vec<BadgeRow> =
            (0..1000).map(|i| row(format!("{i:04}/{}", "p".repeat(4090)), Some("e".repeat(2000)))).collect();
        let messages = chunks(rows);
        assert!(messages.len() >= 10, "{}", messages.len());
        assert_eq!(messages.iter().map(Vec::len).sum::<usize>(), 1000);
        for chunk in &messages {
            let files: Vec<_> = chunk.iter().map(|r| for_the_wire(&r.progress)).collect();
            let message = ClientMessage::Progress { project_id: Uuid::nil(), files, seq: Some(u64::MAX) };
            let bytes = serde_json::to_vec(&message).unwrap().len();
            assert!(bytes <= MESSAGE_BUDGET, "{bytes} bytes");
        }
        // Small rows: one message for the whole batch.
        let small: Vec<BadgeRow> = (0..1000).map(|i| row(format!("f{i}"), None)).collect();
        assert_eq!(chunks(small).len(), 1);
    }
}
