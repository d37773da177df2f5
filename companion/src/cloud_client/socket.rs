//! The companion's one WebSocket to its cloud (`GET /api/ws`), kept open:
//! it authenticates the upgrade with the bearer token, reconnects with
//! backoff and jitter, pings, and hands every server message to one reader
//! as a [`LinkEvent`]. It knows nothing of projects: after each
//! `Connected`, the reader subscribes again with its own cursors (the
//! server forgets subscriptions with the socket).

use std::time::Duration;

use cloud_protocol::{ClientMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use super::api::CloudClient;
use cloud_protocol::retry::Backoff;

/// The largest message (and frame) we accept from the cloud: what a
/// well-behaved cloud can send, so a malicious or compromised one cannot
/// make us hold more (tungstenite's default is 64 MiB).
///
/// - `events`: at most [`cloud_protocol::MAX_EVENTS_PAGE`] (1000) events;
///   each is a path of at most [`cloud_protocol::MAX_PATH_BYTES`] (4096)
///   bytes, which JSON escaping can grow 6-fold (`\u0001`), plus a hash
///   (71 bytes), size, mtime, seq, op, time stamp and key names (under
///   512 bytes): 1000 × (6 × 4096 + 512) ≈ 25.1 MB.
/// - `member_progress` (to owners): one member's `progress` message of at
///   most 1000 files, each a path (as above), a hash and an error capped at
///   1 KiB (6 × 1024 escaped) plus keys and a time stamp:
///   1000 × (6 × 4096 + 6 × 1024 + 512) ≈ 31.2 MB.
///
/// Both fit in 32 MiB; everything else the cloud says is a few hundred bytes.
pub const MAX_SERVER_MESSAGE: usize = 32 * 1024 * 1024;

const _: () = assert!(
    cloud_protocol::MAX_EVENTS_PAGE as usize * (6 * cloud_protocol::MAX_PATH_BYTES + 6 * 1024 + 512)
        <= MAX_SERVER_MESSAGE
);

/// Tuning of the link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    pub backoff: Backoff,
    /// How often we ping the server (it pings us too).
    pub ping_every: Duration,
    /// A socket silent this long (no message, no pong) is given up.
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            backoff: Backoff::default(),
            ping_every: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What the link reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// A new socket is up: subscribe again.
    Connected,
    /// The socket is gone (or never came up); the next try is in `retry_in`.
    /// `unauthorized`: the cloud refused the token (401).
    Disconnected { reason: String, unauthorized: bool, retry_in: Duration },
    /// A message from the cloud.
    Message(ServerMessage),
}

/// Why a message could not be handed to the link.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("not connected to the cloud right now")]
    NotConnected,
    #[error("the cloud link has stopped")]
    Stopped,
}

/// Sends messages over the link. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LinkHandle {
    out: mpsc::Sender<ClientMessage>,
    connected: watch::Receiver<bool>,
}

impl LinkHandle {
    /// Queues `message` for the current socket. Refused while disconnected:
    /// what a message says is resent after the next `Connected` anyway.
    pub async fn send(&self, message: ClientMessage) -> Result<(), SubscriptionError> {
        if !*self.connected.borrow() {
            return Err(SubscriptionError::NotConnected);
        }
        self.out.send(message).await.map_err(|_| SubscriptionError::Stopped)
    }

    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }
}

/// A link with no socket behind it, for tests: what is sent comes out of the
/// receiver, and the watch says whether it is "connected".
#[cfg(test)]
pub(crate) fn detached() -> (LinkHandle, mpsc::Receiver<ClientMessage>, watch::Sender<bool>) {
    let (out, rx) = mpsc::channel(64);
    let (connected_tx, connected) = watch::channel(true);
    (LinkHandle { out, connected }, rx, connected_tx)
}

/// Starts the link to `cloud`; it runs until `shutdown`. Events go to the
/// returned receiver (the link waits for a slow reader rather than drop).
pub fn spawn(
    cloud: &CloudClient,
    config: LinkConfig,
    shutdown: CancellationToken,
) -> (LinkHandle, mpsc::Receiver<LinkEvent>) {
    let (out_tx, out_rx) = mpsc::channel(256);
    let (ev_tx, ev_rx) = mpsc::channel(1024);
    let (connected_tx, connected_rx) = watch::channel(false);
    let target = Target { url: cloud.ws_url(), token: cloud.token().to_owned(), tls: cloud.tls_config() };
    tokio::spawn(run(target, config, out_rx, ev_tx, connected_tx, shutdown));
    (LinkHandle { out: out_tx, connected: connected_rx }, ev_rx)
}

struct Target {
    url: String,
    token: String,
    /// The HTTP client's TLS settings: both trust the same certificates.
    tls: std::sync::Arc<rustls::ClientConfig>,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn run(
    target: Target,
    config: LinkConfig,
    mut out: mpsc::Receiver<ClientMessage>,
    events: mpsc::Sender<LinkEvent>,
    connected: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let mut attempt: u32 = 0;
    loop {
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = tokio::time::timeout(config.connect_timeout, connect(&target)) => {
                r.unwrap_or_else(|_| Err(Failure { reason: "timed out connecting".into(), unauthorized: false }))
            }
        };
        let failure = match outcome {
            Ok(socket) => {
                attempt = 0;
                let _ = connected.send(true);
                if events.send(LinkEvent::Connected).await.is_err() {
                    return;
                }
                let reason = serve(socket, &config, &mut out, &events, &shutdown).await;
                let _ = connected.send(false);
                match reason {
                    Some(reason) => Failure { reason, unauthorized: false },
                    None => return,
                }
            }
            Err(f) => f,
        };
        // A refused token will not heal by itself: retry at the slowest pace.
        let retry_in = if failure.unauthorized { config.backoff.max } else { config.backoff.next_delay(attempt) };
        attempt = attempt.saturating_add(1);
        tracing::debug!(reason = %failure.reason, ?retry_in, "cloud link down");
        let down = LinkEvent::Disconnected { reason: failure.reason, unauthorized: failure.unauthorized, retry_in };
        if events.send(down).await.is_err() {
            return;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(retry_in) => {}
        }
    }
}

struct Failure {
    reason: String,
    unauthorized: bool,
}

async fn connect(target: &Target) -> Result<Socket, Failure> {
    let fail = |reason: String| Failure { reason, unauthorized: false };
    let mut request = target.url.as_str().into_client_request().map_err(|e| fail(format!("bad URL: {e}")))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", target.token))
        .map_err(|_| fail("the token holds characters a header cannot carry".into()))?;
    request.headers_mut().insert("Authorization", bearer);
    let limits =
        WebSocketConfig::default().max_message_size(Some(MAX_SERVER_MESSAGE)).max_frame_size(Some(MAX_SERVER_MESSAGE));
    let tls = tokio_tungstenite::Connector::Rustls(target.tls.clone());
    match tokio_tungstenite::connect_async_tls_with_config(request, Some(limits), false, Some(tls)).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status();
            Err(Failure {
                reason: format!("the cloud refused the WebSocket ({status})"),
                unauthorized: status.as_u16() == 401,
            })
        }
        // A certificate problem is said as such, with what to do about it.
        Err(e) => Err(fail(super::tls::certificate_problem(&e).unwrap_or_else(|| e.to_string()))),
    }
}

/// Moves messages both ways until the socket ends. `None`: shutdown or
/// the reader is gone (stop for good); `Some(reason)`: reconnect.
async fn serve(
    mut socket: Socket,
    config: &LinkConfig,
    out: &mut mpsc::Receiver<ClientMessage>,
    events: &mpsc::Sender<LinkEvent>,
    shutdown: &CancellationToken,
) -> Option<String> {
    let mut ping = tokio::time::interval(config.ping_every);
    ping.tick().await;
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = socket.close(None).await;
                return None;
            }
            message = out.recv() => {
                let message = message?;
                let text = match serde_json::to_string(&message) {
                    Ok(text) => text,
                    Err(e) => {
                        tracing::error!(error = %e, "could not encode a message for the cloud");
                        continue;
                    }
                };
                if let Err(e) = socket.send(Message::text(text)).await {
                    return Some(format!("sending failed: {e}"));
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > config.idle_timeout {
                    return Some(format!("nothing heard for {:?}", config.idle_timeout));
                }
                if let Err(e) = socket.send(Message::Ping(Vec::new().into())).await {
                    return Some(format!("ping failed: {e}"));
                }
            }
            incoming = socket.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<ServerMessage>(&text) {
                        Ok(message) => {
                            if events.send(LinkEvent::Message(message)).await.is_err() {
                                return None;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "unreadable message from the cloud; ignored"),
                    },
                    Some(Ok(Message::Close(frame))) => {
                        return Some(match frame {
                            Some(f) => format!("the cloud closed the socket ({}: {})", f.code, f.reason),
                            None => "the cloud closed the socket".into(),
                        });
                    }
                    // Pings are answered by tungstenite itself; pongs only prove life.
                    Some(Ok(_)) => {}
                    Some(Err(tungstenite::Error::Capacity(e @ CapacityError::MessageTooLong { .. }))) => {
                        // Said plainly: a cloud that keeps doing this is broken or hostile.
                        let reason = format!(
                            "the cloud sent more than the {} MiB a message may hold ({e}); reconnecting",
                            MAX_SERVER_MESSAGE >> 20
                        );
                        tracing::warn!(%reason, "refused a message from the cloud");
                        return Some(reason);
                    }
                    Some(Err(e)) => return Some(e.to_string()),
                    None => return Some("the socket ended".into()),
                }
            }
        }
    }
}
