//! A measured transfer rate: bytes over a sliding window of recent
//! samples. ETAs come from what Syncthing really pulled lately, not from a
//! configured limit or a guess.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back samples count. Long enough to smooth Syncthing's 1–5 s
/// progress ticks, short enough to follow a change of speed.
const WINDOW: Duration = Duration::from_secs(15);
/// Below this span a rate is noise (two samples of one tick).
const MIN_SPAN: Duration = Duration::from_millis(500);
/// Samples kept at most, whatever their age.
const MAX_SAMPLES: usize = 64;

/// A counter of bytes that only grows, sampled over time.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    samples: VecDeque<(Instant, u64)>,
    total: u64,
}

impl Rate {
    /// Adds `bytes` transferred, observed at `now`.
    pub fn add(&mut self, now: Instant, bytes: u64) {
        if self.samples.is_empty() {
            // The first sample is the origin: what came before it is not
            // known to have taken any particular time.
            self.samples.push_back((now, self.total));
        }
        self.total = self.total.saturating_add(bytes);
        self.samples.push_back((now, self.total));
        self.trim(now);
    }

    /// Starts a new measurement at `now` (e.g. a pull started), so the idle
    /// time before it does not dilute the rate.
    pub fn restart(&mut self, now: Instant) {
        self.samples.clear();
        self.samples.push_back((now, self.total));
    }

    /// Bytes per second over the window, if measured over a long enough span.
    pub fn per_second(&self, now: Instant) -> Option<f64> {
        let &(first_t, first_b) = self.samples.iter().find(|(t, _)| now.saturating_duration_since(*t) <= WINDOW)?;
        let &(last_t, last_b) = self.samples.back()?;
        let span = last_t.saturating_duration_since(first_t);
        // A stall since the last sample counts: extend the span to now.
        let span = span.max(now.saturating_duration_since(first_t));
        if span < MIN_SPAN || last_b <= first_b {
            return None;
        }
        Some((last_b - first_b) as f64 / span.as_secs_f64())
    }

    /// Time to move `remaining` bytes at the measured rate.
    pub fn eta(&self, now: Instant, remaining: u64) -> Option<Duration> {
        if remaining == 0 {
            return None;
        }
        let rate = self.per_second(now)?;
        Duration::try_from_secs_f64(remaining as f64 / rate).ok()
    }

    fn trim(&mut self, now: Instant) {
        // Keep one sample older than the window as the span's start.
        while self.samples.len() > 2
            && self.samples.get(1).is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW)
        {
            self.samples.pop_front();
        }
        while self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_and_eta() {
        let t0 = Instant::now();
        let mut r = Rate::default();
        r.restart(t0);
        assert_eq!(r.per_second(t0), None);
        for i in 1..=5u64 {
            r.add(t0 + Duration::from_secs(i), 10 * 1024 * 1024);
        }
        let now = t0 + Duration::from_secs(5);
        let rate = r.per_second(now).unwrap();
        assert!((rate - 10.0 * 1024.0 * 1024.0).abs() < 1.0, "{rate}");
        assert_eq!(r.eta(now, 50 * 1024 * 1024).unwrap().as_secs(), 5);
        assert_eq!(r.eta(now, 0), None);
    }

    #[test]
    fn a_stall_slows_the_rate_and_old_samples_fall_out() {
        let t0 = Instant::now();
        let mut r = Rate::default();
        r.restart(t0);
        r.add(t0 + Duration::from_secs(1), 1000);
        let fast = r.per_second(t0 + Duration::from_secs(1)).unwrap();
        let slow = r.per_second(t0 + Duration::from_secs(10)).unwrap();
        assert!(slow < fast);
        r.add(t0 + Duration::from_secs(60), 0);
        r.add(t0 + Duration::from_secs(61), 500);
        let now = t0 + Duration::from_secs(61);
        assert!(r.per_second(now).unwrap() <= 500.0);
    }
}
