//! The companion's wall clock, with a test and diagnostic offset.
//!
//! Every wall-clock time the companion produces (timestamps it stores and
//! shows, heard-from times, the dashboard's news) comes from [`now_utc`].
//! `COMPANION_CLOCK_OFFSET` (signed whole seconds, e.g. `3600` or `-3600`)
//! shifts it, to play a machine whose clock is wrong without changing the
//! system's: read once into [`crate::config::Settings::clock_offset`] and
//! installed for the process by [`install`]. Not for production use: a real
//! clock is wrong on its own. Durations (ETAs, rates, heartbeats) are
//! measured on the monotonic clock and do not move with it; neither do the
//! kernel's own times (a file's ctime), which the knob cannot shift.

use std::sync::OnceLock;

use time::{Duration, OffsetDateTime};

/// The environment variable of the offset.
pub const OFFSET_ENV: &str = "COMPANION_CLOCK_OFFSET";

static OFFSET: OnceLock<Duration> = OnceLock::new();

/// The offset a `COMPANION_CLOCK_OFFSET` value asks for: signed whole
/// seconds, at most a year either way; anything else is ignored (`None`).
pub fn offset_from_env(value: Option<&str>) -> Option<Duration> {
    const YEAR_S: i64 = 366 * 86_400;
    let seconds = value?.trim().parse::<i64>().ok().filter(|s| s.abs() <= YEAR_S)?;
    (seconds != 0).then(|| Duration::seconds(seconds))
}

/// Sets the process's offset; the first call wins (one process, one clock).
pub fn install(offset: Duration) {
    let _ = OFFSET.set(offset);
}

/// Now, as this companion's clock says.
pub fn now_utc() -> OffsetDateTime {
    OffsetDateTime::now_utc() + OFFSET.get().copied().unwrap_or(Duration::ZERO)
}

/// [`now_utc`] as RFC 3339 text, the form stored and shown.
pub fn now_rfc3339() -> String {
    let now = now_utc();
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| now.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signed_whole_seconds_within_a_year_set_the_offset() {
        assert_eq!(offset_from_env(Some(" 3600 ")), Some(Duration::hours(1)));
        assert_eq!(offset_from_env(Some("-3600")), Some(Duration::hours(-1)));
        for ignored in [None, Some(""), Some("0"), Some("1h"), Some("1.5"), Some("99999999999")] {
            assert_eq!(offset_from_env(ignored), None, "{ignored:?}");
        }
    }
}
