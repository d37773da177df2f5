//! A TCP proxy between a companion and the cloud that the test can turn into
//! a dead socket (bytes are swallowed both ways, as on a link that died
//! without a FIN) and then cut (every connection closed; new ones pass).
//! It reads the WebSocket frames the companion sends, so a test can count
//! the `progress` messages that were swallowed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cloud_protocol::ClientMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Default)]
struct Shared {
    dead: AtomicBool,
    conns: Mutex<Vec<AbortHandle>>,
    websockets: AtomicUsize,
    /// `progress` messages the companion sent while the link was dead.
    swallowed: Mutex<Vec<ClientMessage>>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let for_accept = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = Arc::clone(&for_accept);
                let task = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        pump(client, server, shared).await;
                    }
                });
                for_accept.conns.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle();
        Proxy { addr, shared, accept }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on nothing passes, and nobody is told.
    pub fn go_dead(&self) {
        self.shared.dead.store(true, Ordering::SeqCst);
    }

    /// Closes every connection; new ones pass again.
    pub fn cut(&self) {
        for conn in self.shared.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
        self.shared.dead.store(false, Ordering::SeqCst);
    }

    /// WebSocket upgrades seen so far.
    pub fn websockets(&self) -> usize {
        self.shared.websockets.load(Ordering::SeqCst)
    }

    /// The `progress` messages swallowed while dead.
    pub fn swallowed(&self) -> Vec<ClientMessage> {
        self.shared.swallowed.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for conn in self.shared.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

async fn pump(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let down_shared = Arc::clone(&shared);
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = server_rx.read(&mut buf).await {
            if !down_shared.dead.load(Ordering::SeqCst) && client_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    let up = async move {
        let mut frames = Frames::default();
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = client_rx.read(&mut buf).await {
            let dead = shared.dead.load(Ordering::SeqCst);
            for message in frames.feed(&buf[..n], &shared) {
                if dead
                    && let Ok(m @ ClientMessage::Progress { .. }) = serde_json::from_slice::<ClientMessage>(&message)
                {
                    shared.swallowed.lock().unwrap().push(m);
                }
            }
            if !dead && server_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    tokio::join!(down, up);
}

/// The client's side of one connection: an HTTP request, then (after a
/// WebSocket upgrade) masked frames.
#[derive(Default)]
struct Frames {
    buf: Vec<u8>,
    upgraded: bool,
    not_ws: bool,
}

impl Frames {
    /// The text messages completed by `bytes`.
    fn feed(&mut self, bytes: &[u8], shared: &Shared) -> Vec<Vec<u8>> {
        if self.not_ws {
            return Vec::new();
        }
        self.buf.extend_from_slice(bytes);
        if !self.upgraded {
            let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else { return Vec::new() };
            if !self.buf.starts_with(b"GET /api/ws") {
                self.not_ws = true;
                self.buf.clear();
                return Vec::new();
            }
            shared.websockets.fetch_add(1, Ordering::SeqCst);
            self.upgraded = true;
            self.buf.drain(..end + 4);
        }
        let mut out = Vec::new();
        while let Some((opcode, payload, used)) = frame(&self.buf) {
            self.buf.drain(..used);
            if opcode == 1 {
                out.push(payload);
            }
        }
        out
    }
}

/// One whole frame at the start of `buf`: its opcode, unmasked payload and length.
fn frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7f {
        126 => (u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    let mask: [u8; 4] = if masked {
        let m = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        m
    } else {
        [0; 4]
    };
    let payload = buf.get(at..at + len)?.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    Some((b0 & 0x0f, payload, at + len))
}
