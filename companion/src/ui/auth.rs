//! Who may read the dashboard: whoever holds its secret. The daemon prints
//! a URL carrying the secret (and keeps it in a 0600 file of the state
//! directory); opening it sets an HttpOnly, SameSite=Strict cookie and
//! redirects to a clean URL. Every other request needs that cookie, so
//! another local user who finds the port reads nothing. The Host header
//! must name the loopback listener, which stops DNS-rebinding pages.

use axum::http::{HeaderMap, header};

/// Name of the session cookie.
pub const COOKIE: &str = "companion_dashboard";

/// The dashboard's secret.
#[derive(Clone)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    // Never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// 256 random bits from the thread's cryptographic RNG, as hex.
    pub fn generate() -> Secret {
        let bytes: [u8; 32] = rand::random();
        Secret(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in constant time, so timing does not leak the secret.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Whether the request carries our cookie.
    pub fn in_cookie(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == COOKIE && self.matches(value))
    }

    /// The `Set-Cookie` value that lets this browser in.
    pub fn set_cookie(&self) -> String {
        format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", self.0)
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
        let s = Secret::generate();
        assert_eq!(s.as_str().len(), 64);
        assert!(s.matches(s.as_str()));
        assert!(!s.matches("x"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("a=b; {COOKIE}={}", s.as_str())).unwrap());
        assert!(s.in_cookie(&h));
        h.insert(header::COOKIE, HeaderValue::from_static("companion_dashboard=nope"));
        assert!(!s.in_cookie(&h));
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
