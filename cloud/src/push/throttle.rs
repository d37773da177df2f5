//! Per-socket limits on what a client sends: messages and bytes per second
//! (GCRA limiters from governor), applied by pausing the socket's reader.
//!
//! Nothing is dropped: a client that sends too fast just waits (its TCP window
//! fills, its writes block), and the server holds at most one message of it
//! meanwhile. The client is told once in a while that it is being slowed.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota};

/// The limits of one socket; a rate of 0 turns that limit off.
pub(crate) struct Throttle {
    messages: Option<DefaultDirectRateLimiter>,
    bytes: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
}

/// A limiter allowing `per_second` with bursts of `burst` (at least the rate).
fn limiter(per_second: NonZeroU32, burst: NonZeroU32) -> DefaultDirectRateLimiter {
    DefaultDirectRateLimiter::direct(Quota::per_second(per_second).allow_burst(burst.max(per_second)))
}

impl Throttle {
    /// Bursts are twice the rate; the byte burst also fits the largest message.
    pub(crate) fn new(messages_per_s: u32, bytes_per_s: u32, max_message: usize) -> Self {
        let twice = |n: NonZeroU32| n.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        let messages = NonZeroU32::new(messages_per_s).map(|rate| limiter(rate, twice(rate)));
        let bytes = NonZeroU32::new(bytes_per_s).map(|rate| {
            let fits = NonZeroU32::new(u32::try_from(max_message).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
            let burst = twice(rate).max(fits);
            (limiter(rate, burst), burst)
        });
        Throttle { messages, bytes }
    }

    /// Waits until a frame of `len` bytes may be handled; whether it had to wait.
    pub(crate) async fn admit(&self, len: usize) -> bool {
        let mut waited = false;
        if let Some(messages) = &self.messages {
            while let Err(not_until) = messages.check() {
                waited = true;
                tokio::time::sleep(not_until.wait_time_from(messages.clock().now())).await;
            }
        }
        if let Some((bytes, burst)) = &self.bytes {
            // Never more than the burst: such a check could not pass at all.
            let cells = NonZeroU32::new(u32::try_from(len).unwrap_or(u32::MAX)).map(|n| n.min(*burst));
            if let Some(cells) = cells {
                while let Ok(Err(not_until)) = bytes.check_n(cells) {
                    waited = true;
                    let wait = not_until.wait_time_from(bytes.clock().now());
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                }
            }
        }
        waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bursts_pass_then_the_reader_waits() {
        let throttle = Throttle::new(2, 0, 1024);
        for _ in 0..4 {
            assert!(!throttle.admit(10).await, "the burst of 4 passes at once");
        }
        assert!(throttle.admit(10).await, "the fifth waits");

        let bytes = Throttle::new(0, 1000, 100);
        assert!(!bytes.admit(2000).await);
        assert!(bytes.admit(500).await, "2000 bytes used the burst");
        let huge = Throttle::new(0, 10, 1 << 20);
        assert!(!huge.admit(1 << 20).await, "the largest message always fits the burst");
        assert!(!Throttle::new(0, 0, 1).admit(usize::MAX).await, "no limits, no wait");
    }
}
