//! Progress reports: a member's badge changes go to the cloud as
//! `progress` messages, batched and only what changed since the last
//! report. The manifest marks what was sent, so changes made while offline
//! go out after the next connect.
//!
//! Each message keeps within what the cloud accepts (see docs/wire.md's
//! WebSocket limits): at most 1000 files, an `error` of at most 1 KiB per
//! file (longer ones are cut at a character boundary, marked with `…`), and
//! a serialized size well under the cloud's 1 MiB message limit, so one
//! long error or a folder of long paths never gets a whole report refused.

use cloud_protocol::{ClientMessage, FileProgress, MAX_PROGRESS_ERROR_BYTES};
use uuid::Uuid;

use crate::db::Db;
use crate::manifest::BadgeRow;
use crate::uplink::subscription::LinkHandle;

/// Files per `progress` message: the cloud's limit.
const BATCH: usize = 1000;
/// Serialized bytes per `progress` message: half the cloud's default
/// message limit (1 MiB), leaving room for a cloud configured tighter.
pub const MESSAGE_BUDGET: usize = 512 * 1024;
/// Messages per report round, so one round never hogs the socket.
const MAX_ROUNDS: usize = 20;

/// Sends unreported badges of one project when there may be some.
#[derive(Debug)]
pub(super) struct Reporter {
    project: Uuid,
    dirty: bool,
}

impl Reporter {
    pub fn new(project: Uuid) -> Reporter {
        // At start there may be changes from before a restart.
        Reporter { project, dirty: true }
    }

    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Sends what is unreported, if anything may be and the link is up.
    pub async fn report(&mut self, db: &Db, link: &LinkHandle) {
        if !self.dirty || !link.is_connected() {
            return;
        }
        let project = self.project;
        let mut sent = 0;
        while sent < MAX_ROUNDS {
            let rows = match db.call(move |m| m.unreported_badges(project, BATCH)).await {
                Ok(rows) => rows,
                Err(e) => return tracing::warn!(%project, error = %e, "cannot read badges to report"),
            };
            if rows.is_empty() {
                self.dirty = false;
                return;
            }
            for chunk in chunks(rows) {
                let files = chunk.iter().map(|r| for_the_wire(&r.progress)).collect();
                if let Err(e) = link.send(ClientMessage::Progress { project_id: project, files }).await {
                    // Stays dirty: the next tick or connect tries again.
                    return tracing::debug!(%project, error = %e, "progress report postponed");
                }
                tracing::debug!(%project, files = chunk.len(), "progress reported");
                if let Err(e) = db.call(move |m| m.mark_reported(project, &chunk)).await {
                    return tracing::warn!(%project, error = %e, "cannot mark badges reported");
                }
                sent += 1;
            }
        }
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
            let message = ClientMessage::Progress { project_id: Uuid::nil(), files };
            let bytes = serde_json::to_vec(&message).unwrap().len();
            assert!(bytes <= MESSAGE_BUDGET, "{bytes} bytes");
        }
        // Small rows: one message for the whole batch.
        let small: Vec<BadgeRow> = (0..1000).map(|i| row(format!("f{i}"), None)).collect();
        assert_eq!(chunks(small).len(), 1);
    }
}
