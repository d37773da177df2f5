//! A real WebSocket client for `GET /api/ws` (tokio-tungstenite), shared by the
//! push tests: connect with a token (and optionally an `Origin`), send client
//! messages, and read server messages with deadlines while asserting the
//! wire's ordering promise (strict seq order, no gap, no duplicate).

use std::net::SocketAddr;
use std::time::Duration;

use cloud_protocol::{ClientMessage, Event, FileProgress, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// How long a test waits for one expected message.
pub const WAIT: Duration = Duration::from_secs(30);

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connected test client.
pub struct WsClient {
    ws: Stream,
}

fn request(url: &str, token: Option<&str>, origin: Option<&str>) -> Request {
    let mut req = url.into_client_request().expect("ws url");
    if let Some(token) = token {
        req.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
    }
    if let Some(origin) = origin {
        req.headers_mut().insert("origin", HeaderValue::from_str(origin).expect("header"));
    }
    req
}

/// Connects; `Err(status)` when the upgrade is refused with an HTTP status.
pub async fn try_connect(url: &str, token: Option<&str>, origin: Option<&str>) -> Result<WsClient, u16> {
    match tokio_tungstenite::connect_async(request(url, token, origin)).await {
        Ok((ws, _)) => Ok(WsClient { ws }),
        Err(WsError::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket connect to {url}: {e}"),
    }
}

/// Connects with `token`, or panics.
pub async fn connect(url: &str, token: &str) -> WsClient {
    try_connect(url, Some(token), None).await.unwrap_or_else(|status| panic!("upgrade refused with {status}"))
}

/// Connects over a socket with a tiny receive buffer, so a client that stops
/// reading backs the server up after a few kilobytes instead of megabytes.
pub async fn connect_small_window(addr: SocketAddr, token: &str) -> WsClient {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = socket.connect(addr).await.expect("tcp connect");
    let url = format!("ws://{addr}/api/ws");
    let (ws, _) = tokio_tungstenite::client_async(request(&url, Some(token), None), MaybeTlsStream::Plain(tcp))
        .await
        .expect("websocket handshake");
    WsClient { ws }
}

/// What one read produced.
#[derive(Debug)]
pub enum Read {
    Message(ServerMessage),
    Closed(Option<CloseFrame>),
    TimedOut,
}

impl WsClient {
    pub async fn send(&mut self, message: &ClientMessage) {
        self.send_text(&serde_json::to_string(message).expect("json")).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("ws send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.expect("ws send");
    }

    pub async fn subscribe(&mut self, project_id: Uuid, since_seq: i64) {
        self.send(&ClientMessage::Subscribe { project_id, since_seq }).await;
    }

    pub async fn progress(&mut self, project_id: Uuid, files: Vec<FileProgress>) {
        self.send(&ClientMessage::Progress { project_id, files, seq: None }).await;
    }

    /// A `progress` message that asks for an acknowledgement.
    pub async fn progress_seq(&mut self, project_id: Uuid, files: Vec<FileProgress>, seq: u64) {
        self.send(&ClientMessage::Progress { project_id, files, seq: Some(seq) }).await;
    }

    /// The next server message, a close, or nothing before `deadline`. Reading
    /// answers the server's pings (tungstenite does it).
    pub async fn read_until(&mut self, deadline: Instant) -> Read {
        loop {
            let frame = match timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Read::TimedOut,
                Ok(None) => return Read::Closed(None),
                Ok(Some(Err(_))) => return Read::Closed(None),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Message::Text(text) => {
                    let message = serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad server JSON {e}: {text}"));
                    return Read::Message(message);
                }
                Message::Close(frame) => return Read::Closed(frame),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                Message::Binary(b) => panic!("server sent a binary frame of {} bytes", b.len()),
            }
        }
    }

    /// The next server message, or a panic after [`WAIT`].
    pub async fn recv(&mut self) -> ServerMessage {
        match self.read_until(Instant::now() + WAIT).await {
            Read::Message(message) => message,
            other => panic!("expected a server message, got {other:?}"),
        }
    }

    /// The next message, which must be an `error` with `code`; returns its project_id.
    pub async fn expect_error(&mut self, code: &str) -> Option<Uuid> {
        match self.recv().await {
            ServerMessage::Error { code: got, message, project_id } => {
                assert_eq!(got, code, "error message: {message}");
                assert!(!message.is_empty());
                project_id
            }
            other => panic!("expected error {code}, got {other:?}"),
        }
    }

    /// Reads `events` messages of `project` until seq `up_to`, asserting each
    /// event is exactly the one after the previous (starting after `since`).
    pub async fn events_until(&mut self, project: Uuid, since: i64, up_to: i64) -> Vec<Event> {
        let mut all = Vec::new();
        let mut last = since;
        let deadline = Instant::now() + WAIT * 4;
        while last < up_to {
            match self.read_until(deadline).await {
                Read::Message(ServerMessage::Events { project_id, events, last_seq }) => {
                    assert_eq!(project_id, project);
                    assert!(!events.is_empty(), "an events message without events");
                    assert!(events.len() <= 1000, "{} events in one message", events.len());
                    for event in &events {
                        assert_eq!(event.seq, last + 1, "gap or duplicate after seq {last}");
                        last = event.seq;
                    }
                    assert_eq!(last_seq, last, "last_seq is the last event's seq");
                    all.extend(events);
                }
                other => panic!("waiting for seq {up_to} (at {last}): got {other:?}"),
            }
        }
        assert_eq!(last, up_to, "overshot the expected last seq");
        all
    }

    /// Waits for the server to close the socket; the close frame, if one came.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.read_until(deadline).await {
                Read::Closed(frame) => return frame,
                Read::Message(_) => continue,
                Read::TimedOut => panic!("the server did not close the socket"),
            }
        }
    }
}
