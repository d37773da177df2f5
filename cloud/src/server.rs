//! Server assembly: the router with its layers, and a [`Server`] that owns a
//! bound listener and runs until a shutdown signal.
//!
//! Binding and running are separate steps so a caller (tests, the e2e crate,
//! `cloud serve`) can bind `127.0.0.1:0`, read [`Server::local_addr`], and only
//! then start serving.
//!
//! Connections are accepted by [`accept`] (header-read timeout, connection
//! cap); requests then pass the layers of [`router`] (request timeout, limits).
//!
//! Shutdown: when the signal fires (or someone cancels `AppState::shutdown`),
//! the token is cancelled so WebSocket connections close with a close frame,
//! the listener stops accepting, and in-flight requests finish. Connections
//! still open after [`SHUTDOWN_GRACE`] are dropped so the process can exit.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{Request, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use axum::{Extension, Router};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_axum::router::OpenApiRouter;

use crate::accept;
use crate::api;
use crate::config::{Config, Database, Opened};
use crate::metrics;
use crate::push::{FanoutError, Hub};
use crate::ratelimit;
use crate::state::AppState;
use crate::store::StoreError;

/// How long in-flight requests and sockets get to finish after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the server could not start or stopped abnormally. Messages are one
/// plain sentence saying what to do, since `cloud serve` prints them as is.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    // The causes are part of the sentence, not `#[source]`s, so `{:#}` does not repeat them.
    #[error("cannot open the database ({what}): {cause}; check the path or URL and that the database is reachable")]
    Database { what: String, cause: StoreError },
    #[error("cannot listen on {addr}: {cause}; pick another --listen address or stop the program using it")]
    Bind { addr: SocketAddr, cause: std::io::Error },
    #[error("{0}; check that PostgreSQL is reachable")]
    Push(FanoutError),
}

/// The whole HTTP surface: `/api/…`, `/healthz`, `/readyz`, and `/metrics`
/// unless it has a listener of its own ([`metrics_router`]).
pub fn router(state: AppState) -> Router {
    metrics::install();
    // route_layer: only matched /api routes are authenticated and limited here.
    let limits = ratelimit::Limits::new(&state.settings);
    let limit =
        |api: OpenApiRouter<AppState>| api.route_layer(from_fn_with_state((state.clone(), limits), ratelimit::limit));
    let (app, doc) = api::surface(state.settings.metrics_listen.is_none(), limit).split_for_parts();
    let body_limit = state.settings.body_limit;
    let request_timeout = state.settings.request_timeout;
    app.layer(Extension(api::openapi::Served::new(&doc)))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        // Inside the wire-body rewrite, so a timeout answers `408` in the wire format.
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        .layer(from_fn(api::wire::ensure_wire_body))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn(metrics::track_http))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let id = req
                                .extensions()
                                .get::<RequestId>()
                                .and_then(|id| id.header_value().to_str().ok())
                                .unwrap_or_default();
                            // The route template, never the raw path: paths carry
                            // invite codes (`/api/invites/{code}/accept`).
                            let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
                            let method = metrics::method_label(req.method());
                            tracing::info_span!("http", method, route, request_id = %id)
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(state)
}

/// `/metrics` alone, for `--metrics-listen`: counted and logged like the rest.
fn metrics_router() -> Router {
    metrics::install();
    Router::new().route("/metrics", get(metrics::render)).fallback(api::not_found).layer(from_fn(metrics::track_http))
}

/// Opens the database named by `config`, makes the hub and binds the listener.
pub async fn build(config: Config) -> Result<Server, ServerError> {
    let opened = open_database(&config.database).await?;
    let hub = match opened.pg_pool {
        // With PostgreSQL, events reach sockets on every node sharing the database.
        Some(pool) => {
            Hub::with_postgres(Arc::clone(&opened.store), &config.settings, pool).await.map_err(ServerError::Push)?
        }
        None => Hub::new(Arc::clone(&opened.store), &config.settings),
    };
    let state = AppState::new(opened.store, Arc::new(hub), config.settings);
    Server::bind(state, config.listen).await
}

/// Opens (and migrates) the database, logging which one it is.
pub async fn open_database(database: &Database) -> Result<Opened, ServerError> {
    let what = database.describe();
    let opened = database.open().await.map_err(|cause| ServerError::Database { what: what.clone(), cause })?;
    tracing::info!(database = %what, "database ready");
    Ok(opened)
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    /// `--metrics-listen`'s listener and address.
    metrics: Option<(TcpListener, SocketAddr)>,
    state: AppState,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) for `state`.
    pub async fn bind(state: AppState, addr: SocketAddr) -> Result<Server, ServerError> {
        let listener = TcpListener::bind(addr).await.map_err(|cause| ServerError::Bind { addr, cause })?;
        let addr = listener.local_addr().map_err(|cause| ServerError::Bind { addr, cause })?;
        let metrics = match state.settings.metrics_listen {
            Some(at) => {
                let listener = TcpListener::bind(at).await.map_err(|cause| ServerError::Bind { addr: at, cause })?;
                let bound = listener.local_addr().map_err(|cause| ServerError::Bind { addr: at, cause })?;
                Some((listener, bound))
            }
            None => None,
        };
        Ok(Server { listener, addr, metrics, state })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (its store, hub and shutdown token).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes or `state.shutdown` is cancelled, then
    /// shuts down gracefully (see the module docs).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let token = self.state.shutdown.clone();
        let limits = accept::Limits {
            header_read_timeout: self.state.settings.header_read_timeout,
            max_connections: self.state.settings.max_connections,
        };
        let app = router(self.state);
        if let Some((listener, addr)) = self.metrics {
            tracing::info!(%addr, "metrics listening");
            let (token, limits) = (token.clone(), limits);
            tokio::spawn(accept::serve(listener, metrics_router(), limits, token, SHUTDOWN_GRACE));
        }
        tracing::info!(addr = %self.addr, "listening");

        let signal_token = token.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown => {}
                () = signal_token.cancelled() => {}
            }
            tracing::info!("shutting down: finishing in-flight requests");
            signal_token.cancel();
        });
        if !accept::serve(self.listener, app, limits, token, SHUTDOWN_GRACE).await {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open; stopping anyway");
        }
        tracing::info!("stopped");
        Ok(())
    }
}
