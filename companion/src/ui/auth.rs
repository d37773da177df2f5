//! Who may read the dashboard: whoever holds its secret. The daemon keeps
//! a URL carrying the secret in a 0600 file of the state directory (and
//! prints it only on a terminal); opening it sets an HttpOnly,
//! SameSite=Strict session cookie and redirects to a clean URL. Every other
//! request needs that cookie, so another local user who finds the port
//! reads nothing. The Host header must name the loopback listener, which
//! stops DNS-rebinding pages.
//!
//! The cookie is not the secret: it carries a session value drawn at random
//! when the dashboard starts and held only in memory, so a browser that
//! sends it to some other server on 127.0.0.1 (cookies ignore the port)
//! gives away no more than a session that ends with this process. Its name
//! carries the port, so two companions' dashboards in one browser (the
//! owner's and the invitee's of the demo) do not overwrite each other's.

use axum::http::{HeaderMap, header};

/// Start of the session cookie's name; the dashboard's port follows.
pub const COOKIE_PREFIX: &str = "companion_dashboard_";

/// The dashboard's secret (in the URL) and the session it trades it for
/// (in the cookie).
#[derive(Clone)]
pub struct Secret {
    key: String,
    session: String,
    cookie: String,
}

impl std::fmt::Debug for Secret {
    // Never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// 256 random bits from the thread's cryptographic RNG, as hex.
fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares in constant time, so timing does not leak the value.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Secret {
    /// A new secret and session for the dashboard listening on `port`.
    pub fn generate(port: u16) -> Secret {
        Secret { key: random_hex(), session: random_hex(), cookie: format!("{COOKIE_PREFIX}{port}") }
    }

    /// The secret, as the URL carries it.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// Whether `candidate` is the secret.
    pub fn matches(&self, candidate: &str) -> bool {
        same(&self.key, candidate)
    }

    /// The session cookie's name (per port).
    pub fn cookie_name(&self) -> &str {
        &self.cookie
    }

    /// Whether the request carries our session cookie.
    pub fn in_cookie(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == self.cookie && same(&self.session, value))
    }

    /// The `Set-Cookie` value that lets this browser in: the session, never
    /// the secret.
    pub fn set_cookie(&self) -> String {
        format!("{}={}; Path=/; HttpOnly; SameSite=Strict", self.cookie, self.session)
    }
}

/// Whether `Host` names the loopback address we listen on (any port
/// mismatch or foreign name is refused).
pub fn host_allowed(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| host == format!("{name}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn secrets_and_cookies() {
        let s = Secret::generate(8385);
        assert_eq!(s.as_str().len(), 64);
        assert!(s.matches(s.as_str()));
        assert!(!s.matches("x"));
        let set = s.set_cookie();
        assert!(set.starts_with("companion_dashboard_8385="), "{set}");
        assert!(!set.contains(s.as_str()), "the cookie carries the secret: {set}");
        let pair = set.split(';').next().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("a=b; {pair}")).unwrap());
        assert!(s.in_cookie(&h));
        // The secret itself, or our session under another port's name, is no session.
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("companion_dashboard_8385={}", s.as_str())).unwrap());
        assert!(!s.in_cookie(&h));
        let other = Secret::generate(8386);
        h.insert(header::COOKIE, HeaderValue::from_str(other.set_cookie().split(';').next().unwrap()).unwrap());
        assert!(!s.in_cookie(&h));
        assert!(other.in_cookie(&h));
    }

    #[test]
    fn hosts() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8385"));
        assert!(host_allowed(&h, 8385));
        assert!(!host_allowed(&h, 8386));
        h.insert(header::HOST, HeaderValue::from_static("evil.example:8385"));
        assert!(!host_allowed(&h, 8385));
    }
}
