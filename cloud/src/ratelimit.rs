//! Per-token rate limit on `/api`: a GCRA limiter (governor) keyed by the
//! token's digest, so a runaway companion slows down alone and no token is
//! kept in memory in clear.
//!
//! Requests without a bearer token pass through untouched: they fail auth
//! without touching the database. The answer to a caller over its quota is
//! `429 rate_limited` with the wire body and a `Retry-After` in seconds.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::RETRY_AFTER;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::auth;
use crate::error::ApiError;

/// Beyond this many remembered tokens, forget the ones whose quota is full
/// again, so memory stays bounded by the tokens active in the last second or so.
const PRUNE_ABOVE: usize = 10_000;

/// The shared limiter of one server.
#[derive(Debug)]
pub struct TokenLimiter {
    limiter: DefaultKeyedRateLimiter<[u8; 32]>,
}

impl TokenLimiter {
    /// `per_second` requests per second per token with bursts of twice that;
    /// `None` when `per_second` is 0 (limit disabled).
    pub fn new(per_second: u32) -> Option<Arc<Self>> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = rate.saturating_mul(NonZeroU32::new(2)?);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Some(Arc::new(TokenLimiter { limiter: DefaultKeyedRateLimiter::keyed(quota) }))
    }

    /// `Ok` if the token may go on, else how many whole seconds to wait (at least 1).
    pub fn check(&self, token: &str) -> Result<(), u64> {
        if self.limiter.len() > PRUNE_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&auth::digest(token)).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// Middleware for the `/api` routes.
pub async fn limit(State(limiter): State<Arc<TokenLimiter>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let verdict = match auth::bearer(&parts) {
        Ok(token) => limiter.check(token),
        Err(_) => Ok(()),
    };
    match verdict {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(seconds) => {
            let mut response = ApiError::TooManyRequests.into_response();
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_per_token() {
        let limiter = TokenLimiter::new(1).unwrap();
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let wait = limiter.check("a").unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        // Another token has its own quota.
        assert!(limiter.check("b").is_ok());
        assert!(TokenLimiter::new(0).is_none());
    }
}
