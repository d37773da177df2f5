//! One WebSocket connection: reads client requests, writes replies and pushed
//! messages, pings, drops a silent peer, and closes with `1001 going away` when
//! the server shuts down.
//!
//! A reader task owns the receiving half and stamps every frame (a pong
//! counts), so a peer is judged by what it sent even while a write to it is
//! stuck. A write that cannot complete within the idle timeout means the peer
//! does not read: it is dropped too.
//!
//! Pushed messages that are already queued when the socket gets to them are
//! written together and flushed once: a flush is a syscall, and a subscriber
//! that fell a little behind catches up in one.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use cloud_protocol::{ClientMessage, ServerMessage};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use metrics::{Counter, Histogram};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use super::SocketDeps;
use super::registry::Control;
use super::session::Session;
use super::subscription::{Outgoing, Payload};
use super::throttle::Throttle;
use crate::store::{User, now_ms};

/// Subscription messages queued per socket (each at most one page of events):
/// only a hand-off, the buffering that matters is the project channel's. A few,
/// so a socket that is briefly behind finds several to write with one flush.
/// Tests see it as [`crate::testing::PUSH_OUT_QUEUE`].
pub(crate) const OUT_QUEUE: usize = 4;
/// Most pushed messages written before one flush.
const MAX_FRAMES_PER_FLUSH: usize = 16;
/// Client requests read ahead of handling. Each may be a whole `ws_max_message`,
/// so this bounds what one socket holds: (this + 1) × the largest message.
const IN_QUEUE: usize = 4;
/// How long a closing handshake may take.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// `interval` refuses a zero period; no one needs pings more often than this.
const MIN_PING_INTERVAL: Duration = Duration::from_millis(10);

/// What the reader task hands over.
enum Incoming {
    Request(ClientMessage),
    Malformed(String),
    /// The client sends faster than its socket's limits: it is being slowed.
    Throttled,
}

/// At most one "you are being slowed" notice per this long.
const THROTTLE_NOTICE_EVERY: Duration = Duration::from_secs(10);

/// What the loop does next.
enum Step {
    Continue,
    /// Send a close frame, then stop.
    Close(u16, &'static str),
    /// The peer is gone or unusable: stop.
    Gone,
}

/// When the peer was last heard from. Shared with the reader task.
#[derive(Clone)]
struct Liveness {
    last_seen: Arc<Mutex<Instant>>,
    timeout: Duration,
}

impl Liveness {
    fn new(timeout: Duration) -> Self {
        Liveness { last_seen: Arc::new(Mutex::new(Instant::now())), timeout }
    }

    fn seen(&self) {
        *self.last_seen.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// When the peer counts as gone unless heard from before.
    fn deadline(&self) -> Instant {
        *self.last_seen.lock().unwrap_or_else(PoisonError::into_inner) + self.timeout
    }
}

/// Serves one upgraded socket of `user` until either side ends it.
pub(crate) async fn serve(socket: WebSocket, state: SocketDeps, user: User) {
    let settings = Arc::clone(&state.settings);
    let (sink, stream) = socket.split();
    let liveness = Liveness::new(settings.ws_idle_timeout);
    let (in_tx, in_rx) = mpsc::channel(IN_QUEUE);
    let throttle = Throttle::new(settings.ws_messages_per_s, settings.ws_bytes_per_s, settings.ws_max_message);
    let reader = tokio::spawn(read(stream, in_tx, liveness.clone(), throttle));
    let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
    let mut conn = Connection {
        metrics: PushMetrics::new(),
        registration: state.hub.register(user.id),
        session: Session::new(Arc::clone(&state.hub), user, out_tx),
        sink,
        in_rx,
        out_rx,
        liveness,
        shutdown: state.shutdown.clone(),
    };
    metrics::counter!("cloud_ws_connections_total").increment(1);
    conn.run(settings.ws_ping_interval).await;
    reader.abort();
}

/// Metric handles looked up once per socket, not once per message.
struct PushMetrics {
    pushed: Counter,
    lag: Histogram,
}

impl PushMetrics {
    fn new() -> Self {
        PushMetrics {
            pushed: metrics::counter!("cloud_events_pushed_total"),
            lag: metrics::histogram!(crate::metrics::PUSH_LAG),
        }
    }
}

struct Connection {
    metrics: PushMetrics,
    session: Session,
    registration: super::registry::Registration,
    sink: SplitSink<WebSocket, Message>,
    in_rx: mpsc::Receiver<Incoming>,
    out_rx: mpsc::Receiver<Outgoing>,
    liveness: Liveness,
    shutdown: CancellationToken,
}

impl Connection {
    async fn run(&mut self, ping_every: Duration) {
        let ping_every = ping_every.max(MIN_PING_INTERVAL);
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => Step::Close(close_code::AWAY, "server shutting down"),
                Some(control) = self.registration.control.recv() => self.on_control(control).await,
                incoming = self.in_rx.recv() => match incoming {
                    Some(Incoming::Request(request)) => {
                        let replies = self.session.handle(request).await;
                        self.send_messages(&replies).await
                    }
                    Some(Incoming::Malformed(why)) => {
                        let reply = ServerMessage::Error { code: "bad_message".into(), message: why, project_id: None };
                        self.send_message(&reply).await
                    }
                    Some(Incoming::Throttled) => {
                        let message = "this socket sends too fast; its messages are being delayed".to_owned();
                        let reply = ServerMessage::Error { code: "rate_limited".into(), message, project_id: None };
                        self.send_message(&reply).await
                    }
                    None => Step::Gone,
                },
                Some(out) = self.out_rx.recv() => self.on_outgoing(out).await,
                Some(text) = self.registration.progress.recv() => self.send(Message::Text(text)).await,
                _ = ping.tick() => self.send(Message::Ping(Bytes::new())).await,
                () = sleep_until(self.liveness.deadline()) => {
                    // The deadline may have moved while sleeping; only a real one counts.
                    if Instant::now() >= self.liveness.deadline() {
                        Step::Close(close_code::POLICY, "idle timeout: no pong or message")
                    } else {
                        Step::Continue
                    }
                }
            };
            match step {
                Step::Continue => {}
                Step::Close(code, reason) => {
                    // Stop pushing before the (possibly slow) closing handshake.
                    self.session.end();
                    self.close(code, reason).await;
                    return;
                }
                Step::Gone => {
                    // Flushes a close reply the peer may be waiting for.
                    let _ = timeout(CLOSE_GRACE, self.sink.close()).await;
                    return;
                }
            }
        }
    }

    async fn on_control(&mut self, control: Control) -> Step {
        let replies = match control {
            Control::Revoked(project) => self.session.revoke(project).into_iter().collect(),
            Control::Recheck => self.session.recheck().await,
        };
        self.send_messages(&replies).await
    }

    /// Writes `first` and whatever else is already queued (up to a limit), then
    /// flushes once.
    async fn on_outgoing(&mut self, first: Outgoing) -> Step {
        let mut frames = Vec::new();
        // Events and commit time of each frame, for the metrics once written.
        let mut pushed: Vec<(usize, Option<i64>)> = Vec::new();
        let mut next = Some(first);
        while let Some(out) = next.take() {
            if self.session.admit(&out)
                && let Some(text) = encode(&out.payload)
            {
                pushed.push((out.payload.event_count(), out.committed_ms));
                frames.push(Message::Text(text));
            }
            // Stop early for a revocation or a shutdown: they must not wait
            // behind messages that were queued after them.
            if frames.len() < MAX_FRAMES_PER_FLUSH
                && self.registration.control.is_empty()
                && !self.shutdown.is_cancelled()
            {
                next = self.out_rx.try_recv().ok();
            }
        }
        if frames.is_empty() {
            return Step::Continue;
        }
        let step = self.write(frames).await;
        if let Step::Continue = step {
            let now = now_ms();
            let mut total = 0;
            for (events, committed) in pushed {
                total += events;
                if let Some(committed) = committed
                    && events > 0
                {
                    // One observation per event, as before, computed once per message.
                    self.metrics.lag.record_many((now - committed).max(0) as f64 / 1000.0, events);
                }
            }
            self.metrics.pushed.increment(total as u64);
        }
        step
    }

    /// Sends `messages` in order; stops at the first that ends the socket.
    async fn send_messages(&mut self, messages: &[ServerMessage]) -> Step {
        for message in messages {
            if let step @ (Step::Close(..) | Step::Gone) = self.send_message(message).await {
                return step;
            }
        }
        Step::Continue
    }

    async fn send_message(&mut self, message: &ServerMessage) -> Step {
        match serde_json::to_string(message) {
            Ok(text) => self.send(Message::Text(Utf8Bytes::from(text))).await,
            Err(e) => {
                tracing::error!(error = %e, "could not serialize a push message");
                Step::Continue
            }
        }
    }

    /// Writes one frame; a peer that does not take it within the idle timeout is gone.
    async fn send(&mut self, frame: Message) -> Step {
        self.write(vec![frame]).await
    }

    /// Writes `frames` and flushes once; a peer that does not take them within
    /// the idle timeout is gone.
    async fn write(&mut self, frames: Vec<Message>) -> Step {
        let sink = &mut self.sink;
        let written = async move {
            for frame in frames {
                sink.feed(frame).await?;
            }
            sink.flush().await
        };
        tokio::select! {
            sent = timeout(self.liveness.timeout, written) => match sent {
                Ok(Ok(())) => Step::Continue,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "websocket write failed");
                    Step::Gone
                }
                Err(_) => {
                    tracing::debug!("websocket peer stopped reading; dropping it");
                    Step::Gone
                }
            },
            () = self.shutdown.cancelled() => Step::Close(close_code::AWAY, "server shutting down"),
        }
    }

    /// Sends a close frame and waits briefly for the peer's answer.
    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }));
        if timeout(CLOSE_GRACE, self.sink.send(frame)).await.is_err() {
            return;
        }
        // The reader ends once the peer answers (or the socket dies).
        let _ = timeout(CLOSE_GRACE, async { while self.in_rx.recv().await.is_some() {} }).await;
    }
}

/// Reads frames until the peer closes, parsing text frames as client requests.
/// Every frame first passes the socket's throttle.
async fn read(mut stream: SplitStream<WebSocket>, tx: mpsc::Sender<Incoming>, liveness: Liveness, throttle: Throttle) {
    let mut last_notice: Option<Instant> = None;
    while let Some(Ok(frame)) = stream.next().await {
        liveness.seen();
        let len = match &frame {
            Message::Text(text) => text.len(),
            Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
            Message::Close(_) => 0,
        };
        if throttle.admit(len).await {
            metrics::counter!("cloud_ws_throttled_total").increment(1);
            if last_notice.is_none_or(|at| at.elapsed() >= THROTTLE_NOTICE_EVERY) {
                last_notice = Some(Instant::now());
                if tx.send(Incoming::Throttled).await.is_err() {
                    break;
                }
            }
            // Waiting is not silence: the peer did send this.
            liveness.seen();
        }
        let incoming = match frame {
            Message::Text(text) => match serde_json::from_str::<ClientMessage>(&text) {
                Ok(request) => Incoming::Request(request),
                Err(e) => Incoming::Malformed(format!("could not understand that message: {e}")),
            },
            Message::Binary(_) => Incoming::Malformed("binary frames are not supported; send JSON text".into()),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => break,
        };
        if tx.send(incoming).await.is_err() {
            break;
        }
    }
}

/// The text frame for `payload`: a live batch's shared bytes (a reference count,
/// no copy), or a fresh encoding of this socket's own message.
fn encode(payload: &Payload) -> Option<Utf8Bytes> {
    match payload {
        Payload::Shared(batch) => batch.frame().cloned(),
        Payload::Message(message) => match serde_json::to_string(message) {
            Ok(text) => Some(Utf8Bytes::from(text)),
            Err(e) => {
                tracing::error!(error = %e, "could not serialize a push message");
                None
            }
        },
    }
}
