//! Stalled pulls (docs/badges.md#stalled-pulls): a pull that cannot go on
//! because no device that has the file is connected, or that has received
//! nothing for [`STALL_AFTER`], keeps its last real percent and says why in
//! its badge's `error` ("stalled: …"), instead of a ✗ that drops the
//! percent to 0 or a ⟳ that claims all is well.
//!
//! Two facts make a stall: Syncthing's own words for an unreachable peer
//! (an `ItemFinished` or `FolderErrors` error, [`unreachable`]), and the
//! driver's timer ([`Engine::check_stalls`], `now` passed in like every
//! other time the engine sees). Data moving again, or the pull finishing,
//! ends it.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::engine::Engine;
use super::rule::{Pull, Tracked};

/// How long a pull that reported progress may receive nothing before it
/// reads stalled. Syncthing reports progress every 5 s by default
/// (`progressUpdateIntervalS`) and a block is at most 16 MiB, so a live
/// link of a few hundred KiB/s moves something well within it.
pub const STALL_AFTER: Duration = Duration::from_secs(30);

/// What is known of a pull's liveness; boxed in [`Tracked`] and only there
/// while the file is pulled or stalled (100,000 idle files carry 8 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stall {
    /// When the pull started or last moved (a block more in place).
    pub moved_at: Instant,
    /// Why it is stalled, in words (without "stalled: "), once it is.
    pub words: Option<String>,
}

impl Stall {
    fn started(now: Instant) -> Box<Stall> {
        Box::new(Stall { moved_at: now, words: None })
    }
}

/// Whether a Syncthing item error only says that no device that has the
/// file can be reached now (Syncthing retries by itself once one is).
/// 1.19 and 1.29 say `pull: connection closed` for the pull cut short and
/// `syncing: no connected device has the required version of this file`
/// for the retries; "peers who had this file went away" is the puller's
/// own word for the same.
pub(super) fn unreachable(error: &str) -> bool {
    let e = error.trim();
    e.contains("no connected device has the required version of this file")
        || e.contains("peers who had this file went away")
        || e.ends_with("connection closed")
}

/// `HH:MM:SS UTC` of a moment, as the stall message shows it.
fn clock(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{:02}:{:02}:{:02} UTC", at.hour(), at.minute(), at.second())
}

impl Tracked {
    /// The words of the stall, if the pull is stalled.
    pub fn stalled(&self) -> Option<&str> {
        self.stall.as_ref()?.words.as_deref()
    }

    /// A pull (re)started at `now`: a stall's words stay until data moves,
    /// so a reconnect does not flicker to "all is well" before it does.
    pub(super) fn pull_started(&mut self, now: Instant) {
        let words = self.stall.take().and_then(|s| s.words);
        self.stall = Some(Box::new(Stall { moved_at: now, words }));
    }

    /// Blocks arrived at `now`: whatever stalled it is over.
    pub(super) fn pull_moved(&mut self, now: Instant) {
        self.stall = Some(Stall::started(now));
    }

    /// The pull finished (or was given up): nothing left to watch.
    pub(super) fn pull_ended(&mut self) {
        self.stall = None;
    }

    /// Syncthing says no device that has the file is connected (at `at`,
    /// its event's time). An earlier stall of this kind keeps its time.
    /// False when that changes nothing.
    pub(super) fn unreachable_since(&mut self, at: Option<OffsetDateTime>, now: Instant) -> bool {
        const WORDS: &str = "no device that has this file is connected";
        let s = self.stall.get_or_insert_with(|| Stall::started(now));
        if s.words.as_deref().is_some_and(|w| w.starts_with(WORDS)) {
            return false;
        }
        s.words = Some(match at {
            Some(at) => format!("{WORDS} (since {})", clock(at)),
            None => WORDS.to_owned(),
        });
        true
    }
}

impl Engine {
    /// The driver's timer: every pull that has reported progress and has
    /// received nothing, in this whole folder, for [`STALL_AFTER`] reads
    /// stalled. `now` and `wall` are the same moment (monotonic, and UTC
    /// for the words). Only pulls that reported blocks count: a file too
    /// small for Syncthing's progress reports (or with them turned off)
    /// would otherwise look stalled while it is pulled.
    pub fn check_stalls(&mut self, now: Instant, wall: OffsetDateTime) {
        let folder_moved = self.last_moved;
        let mut stalled = Vec::new();
        for (path, t) in &mut self.files {
            let reports = matches!(t.pull, Pull::Active { delete: false, total: 1.., .. });
            let Some(s) = t.stall.as_mut().filter(|s| reports && s.words.is_none()) else { continue };
            let quiet_since = folder_moved.map_or(s.moved_at, |f| f.max(s.moved_at));
            let quiet = now.saturating_duration_since(quiet_since);
            if quiet >= STALL_AFTER {
                let since = wall - quiet;
                s.words = Some(format!("nothing received (since {})", clock(since)));
                stalled.push(path.clone());
            }
        }
        if !stalled.is_empty() {
            self.tick();
            self.touched.extend(stalled);
            self.settle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words Syncthing 1.19 and 1.29 were seen to use (tests/member_partition.rs).
    #[test]
    fn unreachable_words() {
        assert!(unreachable("pull: connection closed"));
        assert!(unreachable("syncing: no connected device has the required version of this file\n"));
        assert!(unreachable(
            "peers who had this file went away, or the file has changed while syncing. will retry later"
        ));
        assert!(!unreachable("finishing: rename x: operation not permitted"));
        assert!(!unreachable("insufficient space on disk"));
    }
}
