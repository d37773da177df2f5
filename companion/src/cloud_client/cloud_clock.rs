//! How far this companion's clock ([`crate::clock`]) is from the cloud's,
//! from the `Date` header of the cloud's answers.
//!
//! The cloud stamps the times it keeps (`reported_at` of members' reports)
//! with its own clock; the companion compares times with its own. A clock
//! an hour behind would keep a member "online" for an hour after they left,
//! one an hour ahead would show every report an hour old. So times read from
//! the cloud are moved onto this companion's clock before they are kept.

use std::sync::{Arc, Mutex, PoisonError};

use reqwest::header::{DATE, HeaderMap};
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::{Duration, OffsetDateTime};

/// The last offset seen (ours minus the cloud's), shared by a client's clones.
#[derive(Debug, Clone, Default)]
pub struct CloudClock {
    offset: Arc<Mutex<Option<Duration>>>,
}

impl CloudClock {
    /// Notes the cloud's `Date` of an answer received just now.
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        let Some(date) = headers.get(DATE).and_then(|d| d.to_str().ok()) else { return };
        let Ok(cloud_now) = OffsetDateTime::parse(date, &Rfc2822) else { return };
        // `Date` has whole seconds, cut down: the cloud's clock read half a
        // second later on average.
        let offset = crate::clock::now_utc() - (cloud_now + Duration::milliseconds(500));
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner) = Some(offset);
    }

    /// Ours minus the cloud's, once an answer has said; else `None`.
    pub fn offset(&self) -> Option<Duration> {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `at` (RFC 3339, the cloud's clock) on our clock, `offset` being ours minus
/// the cloud's; text that is not a time is kept as it is.
pub fn to_local(at: &str, offset: Duration) -> String {
    match OffsetDateTime::parse(at, &Rfc3339) {
        Ok(t) => (t + offset).format(&Rfc3339).unwrap_or_else(|_| at.to_owned()),
        Err(_) => at.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_date_header_gives_the_offset() {
        let clock = CloudClock::default();
        assert_eq!(clock.offset(), None);
        let mut headers = HeaderMap::new();
        let hour_ahead = OffsetDateTime::now_utc() + Duration::hours(1);
        let date = hour_ahead.format(&Rfc2822).unwrap().replace("+0000", "GMT");
        headers.insert(DATE, HeaderValue::from_str(&date).unwrap());
        clock.observe(&headers);
        let offset = clock.offset().expect("an offset");
        assert!((offset + Duration::hours(1)).abs() < Duration::seconds(2), "{offset}");
        // A broken header changes nothing.
        headers.insert(DATE, HeaderValue::from_static("yesterday"));
        clock.observe(&headers);
        assert_eq!(clock.offset(), Some(offset));
    }

    #[test]
    fn cloud_times_move_onto_our_clock() {
        assert_eq!(to_local("2026-12-01T01:00:00Z", Duration::hours(-1)), "2026-12-01T00:00:00Z");
        assert_eq!(to_local("not a time", Duration::hours(1)), "not a time");
    }
}
