//! Who may read the dashboard: whoever holds its secret. The daemon keeps
//! a URL carrying the secret in a 0600 file of the state directory (and
//! prints it only on a terminal); opening it sets an HttpOnly,
//! SameSite=Strict session cookie and redirects to a clean URL. Every other
//! request needs that cookie, so another local user who finds the port
//! reads nothing. The Host header must name the listener — a loopback name
//! with its port, the address it is bound to, or a name the user listed in
//! `[dashboard] allowed_hosts` — which stops DNS-rebinding pages: their
//! requests carry the attacker's own host name.
//!
//! The cookie is not the secret: it carries a session value drawn at random
//! when the dashboard starts and held only in memory, so a browser that
//! sends it to some other server on 127.0.0.1 (cookies ignore the port)
//! gives away no more than a session that ends with this process. Its name
//! carries the port, so two companions' dashboards in one browser (the
//! owner's and the invitee's of the demo) do not overwrite each other's.

use std::net::{IpAddr, SocketAddr};

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

/// One `Host` value the dashboard answers to: a name (lower case; an IPv6
/// address in brackets) and a port, or any port when `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostName {
    name: String,
    port: Option<u16>,
}

impl std::fmt::Display for HostName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.name),
            None => write!(f, "{} (any port)", self.name),
        }
    }
}

/// Splits `host[:port]` (a `Host` header or an `allowed_hosts` entry).
/// `None` when it is not that shape.
fn split_host(value: &str) -> Option<(String, Option<u16>)> {
    let value = value.trim();
    let (name, port) = if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{inside}]"), port)
    } else {
        match value.rsplit_once(':') {
            Some((name, port)) => (name.to_owned(), Some(port)),
            None => (value.to_owned(), None),
        }
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']');
    if name.is_empty() || !name.chars().all(valid) {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((name.to_ascii_lowercase(), port))
}

/// The `Host` values the dashboard accepts. Built once at bind time.
#[derive(Debug, Clone)]
pub struct HostCheck {
    /// The loopback names and the bound address.
    builtin: Vec<HostName>,
    /// From `allowed_hosts`.
    listed: Vec<HostName>,
}

impl HostCheck {
    /// The loopback names with `addr`'s port, `addr` itself when it is a
    /// specific address (an IP literal cannot be rebound), and each of
    /// `allowed` (`name:port`, or `name` for any port). An entry that is not
    /// that shape is an error naming it.
    pub fn new(addr: SocketAddr, allowed: &[String]) -> Result<HostCheck, String> {
        let port = addr.port();
        let mut builtin: Vec<HostName> = ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .map(|n| HostName { name: (*n).to_owned(), port: Some(port) })
            .collect();
        if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
            let name = match addr.ip() {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            };
            builtin.push(HostName { name, port: Some(port) });
        }
        let mut listed: Vec<HostName> = Vec::new();
        for entry in allowed {
            let (name, port) = split_host(entry).ok_or_else(|| {
                format!("the allowed dashboard host {entry:?} is not `name:port` or `name` (no scheme, no path)")
            })?;
            let name = HostName { name, port };
            if !builtin.contains(&name) && !listed.contains(&name) {
                listed.push(name);
            }
        }
        Ok(HostCheck { builtin, listed })
    }

    /// Whether the request's `Host` is one of ours. A `Host` without a port
    /// means 80, as a browser leaves the default port out.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
        let Some((name, port)) = split_host(value) else { return false };
        let port = port.unwrap_or(80);
        self.names().any(|n| n.name == name && n.port.is_none_or(|p| p == port))
    }

    /// The names accepted, for the log and for the refusal's message.
    pub fn describe(&self) -> String {
        self.names().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }

    fn names(&self) -> impl Iterator<Item = &HostName> {
        self.builtin.iter().chain(&self.listed)
    }

    /// The first name the user listed, as `host:port` (the listening port
    /// when the entry has none): what the dashboard's URL should use.
    pub fn first_listed(&self, port: u16) -> Option<String> {
        let first = self.listed.first()?;
        Some(format!("{}:{}", first.name, first.port.unwrap_or(port)))
    }
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

    fn host(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn loopback_names_with_our_port_only() {
        let check = HostCheck::new("127.0.0.1:8385".parse().unwrap(), &[]).unwrap();
        for ok in ["127.0.0.1:8385", "localhost:8385", "LOCALHOST:8385", "[::1]:8385"] {
            assert!(check.allows(&host(ok)), "{ok}");
        }
        for refused in ["127.0.0.1:8386", "evil.example:8385", "127.0.0.1", "localhost.evil.example:8385", "x y:8385"] {
            assert!(!check.allows(&host(refused)), "{refused}");
        }
        assert!(!check.allows(&HeaderMap::new()));
        assert_eq!(check.first_listed(8385), None);
    }

    #[test]
    fn listed_names_and_a_specific_bound_address() {
        let listed = ["nas.local:18385".to_owned(), "Companion".to_owned(), "[fd00::7]:8385".to_owned()];
        let check = HostCheck::new("0.0.0.0:8385".parse().unwrap(), &listed).unwrap();
        for ok in ["nas.local:18385", "companion:8385", "companion:1", "companion", "[fd00::7]:8385", "localhost:8385"]
        {
            assert!(check.allows(&host(ok)), "{ok}");
        }
        for refused in ["nas.local:8385", "0.0.0.0:8385", "evil.example:8385", "[fd00::7]:1"] {
            assert!(!check.allows(&host(refused)), "{refused}");
        }
        assert_eq!(check.first_listed(8385).as_deref(), Some("nas.local:18385"));
        let describe = check.describe();
        assert!(describe.contains("nas.local:18385") && describe.contains("companion (any port)"), "{describe}");

        let bound = HostCheck::new("192.168.1.10:8385".parse().unwrap(), &[]).unwrap();
        assert!(bound.allows(&host("192.168.1.10:8385")));
        assert!(!bound.allows(&host("192.168.1.11:8385")));
        assert_eq!(bound.first_listed(8385), None);

        for bad in ["http://nas.local:8385", "nas.local/x", "nas.local:port", "", "*"] {
            assert!(HostCheck::new("0.0.0.0:8385".parse().unwrap(), &[bad.to_owned()]).is_err(), "{bad:?}");
        }
    }
}
