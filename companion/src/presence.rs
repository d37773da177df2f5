//! How current a member's report is, and whether the member is online, as
//! far as anyone can know it from the cloud.
//!
//! A cloud node only knows the sockets connected to it; with several nodes
//! on one PostgreSQL database, none of them knows whether a member is
//! connected elsewhere, and a node that dies never says its sockets closed.
//! So "online" is a lease, not a socket: a member's companion says
//! "still here, nothing changed" (an empty `progress`) when it has sent
//! nothing for [`heartbeat`], the cloud passes it to the owner like any
//! report, and the owner counts the member offline once it has heard
//! nothing for [`offline_after`] (three heartbeats: one lost or late
//! message is not an outage). The owner's "as of" is the last time it heard
//! from the member, or, for what it only read back from the cloud, the
//! newest `reported_at` of the member's files.

use std::time::Duration;

/// How often an idle member says it is still there.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Tests set this (milliseconds) to shorten the heartbeat, on both sides.
/// It is read once, into [`crate::config::Settings::heartbeat`].
pub const HEARTBEAT_ENV: &str = "COMPANION_HEARTBEAT_MS";

/// The heartbeat a `COMPANION_HEARTBEAT_MS` value asks for: a positive
/// number of milliseconds; anything else is ignored (`None`).
pub fn heartbeat_from_env(value: Option<&str>) -> Option<Duration> {
    value.and_then(|v| v.trim().parse::<u64>().ok()).filter(|ms| *ms > 0).map(Duration::from_millis)
}

/// Heard from less recently than this, a member counts as offline.
pub fn offline_after(heartbeat: Duration) -> Duration {
    heartbeat * 3
}

/// `"as of 3 min ago"`'s middle part for `age`: seconds under a minute,
/// minutes under an hour, hours under two days, else days.
pub fn age_words(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..172_800 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_positive_millisecond_count_sets_the_heartbeat() {
        assert_eq!(heartbeat_from_env(Some(" 500 ")), Some(Duration::from_millis(500)));
        for ignored in [None, Some(""), Some("0"), Some("-5"), Some("1s")] {
            assert_eq!(heartbeat_from_env(ignored), None, "{ignored:?}");
        }
        assert_eq!(offline_after(HEARTBEAT), Duration::from_secs(90));
    }

    #[test]
    fn ages_read_plainly() {
        assert_eq!(age_words(Duration::from_secs(5)), "5 s");
        assert_eq!(age_words(Duration::from_secs(185)), "3 min");
        assert_eq!(age_words(Duration::from_secs(7300)), "2 h");
        assert_eq!(age_words(Duration::from_secs(3 * 86_400)), "3 days");
    }
}
