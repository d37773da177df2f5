//! Rate limits on `/api`, checked before any handler runs:
//!
//! - a request with a bearer token is authenticated here first; only a token
//!   that belongs to a user is charged to that token's quota (a GCRA limiter,
//!   governor, keyed by the token's digest, so no token is kept in clear).
//!   Random tokens therefore cannot fill or drain anyone's quota;
//! - a request without a valid token (none, malformed, unknown) is charged to
//!   its client address. Once an address is over its quota it is refused with
//!   no database lookup at all until its quota refills, so a flood of random
//!   tokens costs the database nothing.
//!
//! The client address is the socket's peer, or with `--trust-forwarded-for`
//! the last `X-Forwarded-For` entry (the one the reverse proxy appended).
//! IPv6 addresses are keyed by their /64, which one client usually owns whole.
//! The answer over a quota is `429 rate_limited` with a `Retry-After` in seconds.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::RETRY_AFTER;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::accept;
use crate::auth::{self, AuthUser};
use crate::error::ApiError;
use crate::state::{AppState, Settings};

/// Beyond this many remembered keys, forget the ones whose quota is full
/// again, so memory stays bounded by the clients active in the last second or so.
const PRUNE_ABOVE: usize = 10_000;

/// A GCRA limiter per key: `per_second` with bursts of twice that.
#[derive(Debug)]
struct Keyed<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    /// `None` when `per_second` is 0 (limit disabled).
    fn new(per_second: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = rate.saturating_mul(NonZeroU32::new(2)?);
        Some(Keyed { limiter: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)) })
    }

    /// `Ok` if `key` may go on, else how long to wait.
    fn check(&self, key: &K) -> Result<(), Duration> {
        if self.limiter.len() > PRUNE_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

/// The per-token quota (for tests and the middleware).
#[derive(Debug)]
pub struct TokenLimiter(Keyed<[u8; 32]>);

impl TokenLimiter {
    /// `per_second` requests per second per token with bursts of twice that;
    /// `None` when `per_second` is 0.
    pub fn new(per_second: u32) -> Option<Self> {
        Keyed::new(per_second).map(TokenLimiter)
    }

    /// `Ok` if the (verified) token may go on, else whole seconds to wait (≥ 1).
    pub fn check(&self, token: &str) -> Result<(), u64> {
        self.0.check(&auth::digest(token)).map_err(whole_seconds)
    }
}

/// The per-address quota for requests without a valid token, and the
/// addresses refused until a given time (checked before any database work).
#[derive(Debug)]
struct AddressLimiter {
    quota: Keyed<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl AddressLimiter {
    /// `Err(wait)` if `ip` is still refused from an earlier charge.
    fn blocked(&self, ip: IpAddr) -> Result<(), Duration> {
        let blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        match blocked.get(&ip) {
            Some(until) => match until.checked_duration_since(Instant::now()) {
                Some(wait) if !wait.is_zero() => Err(wait),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Charges one request without a valid token to `ip`.
    fn charge(&self, ip: IpAddr) -> Result<(), Duration> {
        self.quota.check(&ip).inspect_err(|wait| {
            let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if blocked.len() > PRUNE_ABOVE {
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(ip, now + *wait);
        })
    }
}

/// Both limits of one server, and how to find a request's client address.
#[derive(Debug)]
pub struct Limits {
    tokens: Option<TokenLimiter>,
    addresses: Option<AddressLimiter>,
    trust_forwarded_for: bool,
}

impl Limits {
    pub fn new(settings: &Settings) -> Arc<Self> {
        Arc::new(Limits {
            tokens: TokenLimiter::new(settings.rate_limit_per_s),
            addresses: Keyed::new(settings.ip_rate_limit_per_s)
                .map(|quota| AddressLimiter { quota, blocked: Mutex::new(HashMap::new()) }),
            trust_forwarded_for: settings.trust_forwarded_for,
        })
    }
}

/// Middleware for the `/api` routes: authenticates, then charges the token or
/// the address (see the module docs).
pub async fn limit(State((state, limits)): State<(AppState, Arc<Limits>)>, req: Request, next: Next) -> Response {
    let ip = client_ip(&req, limits.trust_forwarded_for);
    let (mut parts, body) = req.into_parts();
    let charge_address = || limits.addresses.as_ref().map_or(Ok(()), |a| a.charge(ip));
    let token = auth::bearer(&parts).map(str::to_owned);
    let verdict = match token.as_deref() {
        Err(_) => charge_address(),
        // A refused address gets no database lookup, whatever token it sends.
        Ok(_) if let Some(Err(wait)) = limits.addresses.as_ref().map(|a| a.blocked(ip)) => Err(wait),
        Ok(token) => match authenticate(&state, &mut parts, token).await {
            Ok(true) => limits.tokens.as_ref().map_or(Ok(()), |t| t.0.check(&auth::digest(token))),
            // Answered here: the handler would only look the token up again.
            Ok(false) => match charge_address() {
                Ok(()) => return ApiError::Unauthorized(auth::UNKNOWN_TOKEN).into_response(),
                refused => refused,
            },
            Err(e) => return e.into_response(),
        },
    };
    match verdict {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(wait) => too_many(whole_seconds(wait)),
    }
}

/// Looks the token up and, if it is a user's, leaves the user for the handler's
/// `AuthUser` extractor (one lookup per request). `false`: unknown token.
async fn authenticate(state: &AppState, parts: &mut Parts, token: &str) -> Result<bool, ApiError> {
    let user = state.store.user_by_token(auth::digest(token)).await?;
    let known = user.is_some();
    if let Some(user) = user {
        parts.extensions.insert(AuthUser(user));
    }
    Ok(known)
}

fn too_many(seconds: u64) -> Response {
    let mut response = ApiError::TooManyRequests.into_response();
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The address a request is charged to (see the module docs).
fn client_ip(req: &Request, trust_forwarded_for: bool) -> IpAddr {
    let forwarded = trust_forwarded_for
        .then(|| req.headers().get_all("x-forwarded-for").iter().next_back())
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok());
    let ip = forwarded.or_else(|| accept::peer(req).map(|addr| addr.ip())).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    key_of(ip)
}

/// IPv4 as is (and IPv4-mapped IPv6 as IPv4); IPv6 by its /64.
fn key_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
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

    #[test]
    fn refused_addresses_stay_blocked_until_their_quota_refills() {
        let limiter = AddressLimiter { quota: Keyed::new(1).unwrap(), blocked: Mutex::new(HashMap::new()) };
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(limiter.blocked(ip).is_ok());
        assert!(limiter.charge(ip).is_ok() && limiter.charge(ip).is_ok());
        assert!(limiter.charge(ip).is_err());
        assert!(limiter.blocked(ip).is_err());
        assert!(limiter.blocked("192.0.2.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn addresses_are_keyed_by_host_or_ipv6_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(key_of(a), key_of(b));
        assert_ne!(key_of(a), key_of("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(key_of("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
