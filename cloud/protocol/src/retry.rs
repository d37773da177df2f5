//! The one retry schedule of the workspace: exponential, capped, with
//! jitter. Every place that waits before trying again uses it, the cloud and
//! the companion alike (the companion's Syncthing event stream, cloud link,
//! outbox sender and failed passes; the cloud's cross-node listener and
//! accept loop), each with its own values.
//!
//! Pure arithmetic (the random draw is a parameter) so the schedule can be
//! tested exactly; [`Backoff::next_delay`] adds the random draw.

use std::time::Duration;

/// Delay before reconnect attempt `n` (0-based) is `initial * factor^n`,
/// capped at `max`, then shortened by up to `jitter` of itself at random so
/// that many companions do not hammer a restarting Syncthing in step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
    /// Fraction in `0.0..=1.0`; 0 makes the schedule deterministic.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(250), max: Duration::from_secs(30), factor: 2.0, jitter: 0.5 }
    }
}

impl Backoff {
    /// The same pause before every attempt.
    pub const fn fixed(delay: Duration) -> Self {
        Backoff { initial: delay, max: delay, factor: 1.0, jitter: 0.0 }
    }

    /// The delay before attempt `attempt` without jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let max = self.max.as_secs_f64();
        let factor = if self.factor.is_finite() && self.factor >= 1.0 { self.factor } else { 1.0 };
        // powi on a capped exponent: factor^64 is far past any sane max.
        let secs = self.initial.as_secs_f64() * factor.powi(attempt.min(64) as i32);
        let secs = if secs.is_finite() { secs.min(max) } else { max };
        Duration::try_from_secs_f64(secs).unwrap_or(self.max)
    }

    /// The delay before attempt `attempt` for a random draw `unit` in `0..1`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.base_delay(attempt);
        let jitter = if self.jitter.is_finite() { self.jitter.clamp(0.0, 1.0) } else { 0.0 };
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 };
        base.mul_f64(1.0 - jitter * unit)
    }

    /// The delay before attempt `attempt`, with a fresh random draw.
    pub fn next_delay(&self, attempt: u32) -> Duration {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff { jitter: 0.0, ..Backoff::default() };
        let got: Vec<Duration> = (0..10).map(|n| b.next_delay(n)).collect();
        let want = [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000].map(ms);
        assert_eq!(got, want);
        assert_eq!(b.base_delay(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let b = Backoff::default();
        assert_eq!(b.delay(2, 0.0), ms(1000));
        assert_eq!(b.delay(2, 1.0), ms(500));
        for n in 0..20 {
            let d = b.next_delay(n);
            assert!(d <= b.base_delay(n) && d >= b.base_delay(n) / 2, "{n}: {d:?}");
        }
    }

    #[test]
    fn fixed_waits_the_same_every_time() {
        let b = Backoff::fixed(ms(50));
        assert!((0..10).map(|n| b.next_delay(n)).all(|d| d == ms(50)));
    }

    #[test]
    fn nonsense_settings_do_not_panic() {
        let b = Backoff { factor: f64::NAN, jitter: f64::INFINITY, ..Backoff::default() };
        assert_eq!(b.delay(5, f64::NAN), ms(250));
        let b = Backoff { factor: 1e300, ..Backoff::default() };
        assert_eq!(b.base_delay(10), Duration::from_secs(30));
    }
}
