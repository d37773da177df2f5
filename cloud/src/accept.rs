//! The accept loop under the router: HTTP/1.1 connections with a header-read
//! timeout, at most `max_connections` sockets open at once, the peer address on
//! every request (for the per-IP limiter), and graceful shutdown.
//!
//! `axum::serve` has none of these knobs: a client sending one header line every
//! few seconds held its connection forever, and enough of them exhausted the
//! process's file descriptors. Here a connection must deliver its whole request
//! head within the timeout (also between keep-alive requests), and accepting
//! pauses while the cap is reached, so the kernel's backlog holds newcomers
//! instead of the process running out of descriptors. The permit lives with
//! the socket, so an upgraded WebSocket still counts.
//!
//! Only HTTP/1.1 is served (the companion and reverse proxies speak it);
//! detecting HTTP/2 first would wait for bytes with no timeout at all.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use cloud_protocol::retry::Backoff;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long to wait before accepting again after an error such as "too many
/// open files": retrying at once would spin.
const ACCEPT_BACKOFF: Backoff = Backoff::fixed(Duration::from_millis(50));

/// The connection limits of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time a client has to send a whole request head.
    pub header_read_timeout: Duration,
    /// Sockets open at once (WebSockets included).
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then lets open
/// connections finish their requests for up to `grace`. `true` if every
/// connection finished in time.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
    grace: Duration,
) -> bool {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            () = shutdown.cancelled() => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_per_connection(&e) {
                        tracing::warn!(error = %e, "accept failed; retrying shortly");
                        tokio::time::sleep(ACCEPT_BACKOFF.base_delay(0)).await;
                    }
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // Events are small and latency matters more than packet count.
        let _ = tcp.set_nodelay(true);
        let io = TokioIo::new(Counted { tcp, _permit: permit });
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let conn = http.serve_connection(io, service).with_upgrades();
        let stop = shutdown.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => return log_end(result),
                () = stop.cancelled() => conn.as_mut().graceful_shutdown(),
            }
            log_end(conn.await);
        });
    }
    drop(listener);
    connections.close();
    tokio::time::timeout(grace, connections.wait()).await.is_ok()
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // Timeouts and clients hanging up: routine, not worth more than debug.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Errors that concern one incoming connection only (it was reset before we
/// took it): accept again at once.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// A socket that holds one connection slot until it is closed.
struct Counted {
    tcp: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// The address a request came from, as the accept loop recorded it.
pub fn peer(req: &axum::extract::Request) -> Option<SocketAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| *addr)
}
