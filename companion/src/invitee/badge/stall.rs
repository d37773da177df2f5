//! Stalled pulls (docs/badges.md#stalled-pulls): a pull that cannot go on
//! because no device that has the file is connected, or that has received
//! nothing for [`STALL_AFTER`], keeps its last real percent and says why in
//! its badge's `error` ("stalled: …"), instead of a ✗ that drops the
//! percent to 0 or a ⟳ that claims all is well.
//!
//! Two facts make a stall: Syncthing's own words for an unreachable peer
//! (an `ItemFinished` or `FolderErrors` error, [`unreachable`]), and the
//! driver's timer (`Engine::check_stalls`, `now` passed in like every
//! other time the engine sees). Data moving again, or the pull finishing,
//! ends it.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// How long a pull that reported progress may receive nothing before it
/// reads stalled. Syncthing reports progress every 5 s by default
/// (`progressUpdateIntervalS`) and a block is at most 16 MiB, so a live
/// link of a few hundred KiB/s moves something well within it. Tests
/// shorten it with `COMPANION_STALL_AFTER_MS` ([`crate::config::STALL_AFTER_ENV`]).
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
    pub(super) fn started(now: Instant) -> Box<Stall> {
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
pub(super) fn clock(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{:02}:{:02}:{:02} UTC", at.hour(), at.minute(), at.second())
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
