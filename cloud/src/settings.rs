//! The server's tunables, filled from `cloud serve` flags: shared by the
//! API and the push layer, which therefore need not import each other's
//! state to read them.

use std::time::Duration;

/// Tunables shared by the API and push layers (filled from `cloud serve` flags).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Browser origins allowed to open the WebSocket; requests without `Origin`
    /// (non-browser clients) are always allowed.
    pub allowed_origins: Vec<String>,
    /// How often the server pings each WebSocket.
    pub ws_ping_interval: Duration,
    /// A WebSocket silent for this long (no pong, no message) is dropped.
    pub ws_idle_timeout: Duration,
    /// Batches buffered per project channel before a lagging subscriber is told to
    /// `resync`. Each slot holds a whole batch (up to 1000 events), so this is plenty.
    pub subscriber_buffer: usize,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Requests per second allowed per token (burst = 2× this).
    pub rate_limit_per_s: u32,
    /// Requests per second allowed per client IP address for requests without a
    /// valid token (none, malformed or unknown), bursts of 2× this.
    pub ip_rate_limit_per_s: u32,
    /// Take the client address from the last `X-Forwarded-For` entry (behind a
    /// reverse proxy that sets it) instead of the socket's peer.
    pub trust_forwarded_for: bool,
    /// How long an invite stays valid.
    pub invite_ttl: Duration,
    /// Time a client has to send a whole request head (also between requests
    /// on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// Time a request may take from its head to the answer, body included.
    pub request_timeout: Duration,
    /// Sockets open at once (WebSockets included); keep it under the process's
    /// file-descriptor limit.
    pub max_connections: usize,
    /// Paths one project may hold (live and deleted); also the most progress
    /// rows one member may have in a project.
    pub max_paths_per_project: u64,
    /// Largest WebSocket message a client may send, in bytes.
    pub ws_max_message: usize,
    /// WebSocket messages per second one socket may send (bursts of 2× this).
    pub ws_messages_per_s: u32,
    /// WebSocket bytes per second one socket may send (bursts of 2× this).
    pub ws_bytes_per_s: u32,
    /// Serve `/metrics` on this address only (e.g. loopback), not on the API's.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allowed_origins: Vec::new(),
            ws_ping_interval: Duration::from_secs(20),
            ws_idle_timeout: Duration::from_secs(60),
            subscriber_buffer: 256,
            body_limit: 2 * 1024 * 1024,
            rate_limit_per_s: 200,
            ip_rate_limit_per_s: 20,
            trust_forwarded_for: false,
            invite_ttl: Duration::from_secs(7 * 24 * 3600),
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_paths_per_project: 1_000_000,
            ws_max_message: 1024 * 1024,
            ws_messages_per_s: 20,
            ws_bytes_per_s: 1024 * 1024,
            metrics_listen: None,
        }
    }
}
