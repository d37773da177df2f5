//! The dashboard's HTTP surface: the page and its assets, `/api/status`
//! (the same JSON as `companion status --json`) and `/api/events`
//! (server-sent [`LiveUpdate`]s; a `reload` event when the reader lagged).

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast;

use super::auth::{HostCheck, Secret};
use crate::live::{Live, LiveUpdate};
use crate::manifest::db::Db;
use crate::ui::status::gather;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Debug, Clone)]
pub(super) struct UiState {
    pub secret: Secret,
    pub hosts: HostCheck,
    pub db: Db,
    pub live: Live,
    /// [`crate::config::Settings::heartbeat`]
    pub heartbeat: Duration,
}

pub(super) fn router(state: UiState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Host check on everything, the secret on everything but the assets and
/// the first visit (which brings the secret in the query).
async fn guard(State(state): State<UiState>, request: Request, next: Next) -> Response {
    if !state.hosts.allows(request.headers()) {
        // What it answers to, not what was sent: nothing of the request is echoed.
        let message = format!(
            "wrong Host header: this dashboard answers to {}; to browse it under another name, add that name \
             to [dashboard] allowed_hosts (or COMPANION_DASHBOARD_ALLOWED_HOSTS)",
            state.hosts.describe()
        );
        return (StatusCode::FORBIDDEN, message).into_response();
    }
    let path = request.uri().path();
    let open = matches!(path, "/app.js" | "/app.css") || (path == "/" && request.uri().query().is_some());
    if !open && !state.secret.in_cookie(request.headers()) {
        return (
            StatusCode::UNAUTHORIZED,
            "open the dashboard URL that `companion status` shows (or `companion run` printed on its terminal)",
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Debug, Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

async fn index(State(state): State<UiState>, Query(q): Query<KeyQuery>, headers: axum::http::HeaderMap) -> Response {
    match q.key {
        Some(key) if state.secret.matches(&key) => {
            // Trade the secret in the URL for a cookie, and drop it from the address bar.
            let mut response = Redirect::to("/").into_response();
            if let Ok(cookie) = HeaderValue::from_str(&state.secret.set_cookie()) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Some(_) => (StatusCode::UNAUTHORIZED, "wrong dashboard key").into_response(),
        None if state.secret.in_cookie(&headers) => asset("text/html; charset=utf-8", INDEX),
        None => (
            StatusCode::UNAUTHORIZED,
            "open the dashboard URL that `companion status` shows (or `companion run` printed on its terminal)",
        )
            .into_response(),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn status(State(state): State<UiState>) -> Response {
    match state.db.call(move |m| gather(m, None, state.heartbeat)).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "dashboard: cannot read the manifest");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the manifest").into_response()
        }
    }
}

async fn events(State(state): State<UiState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.live.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(update) => live_event(&update),
            // Missed news: the page reloads the whole state.
            Err(broadcast::error::RecvError::Lagged(_)) => Event::default().event("reload").data("lagged"),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn live_event(update: &LiveUpdate) -> Event {
    match serde_json::to_string(update) {
        Ok(json) => Event::default().event("update").data(json),
        Err(_) => Event::default().event("reload").data("unencodable"),
    }
}
