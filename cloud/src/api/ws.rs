//! `GET /api/ws`: authenticates the upgrade (the `AuthUser` extractor answers
//! 401 before any upgrade), refuses browser origins that are not allowed (403),
//! then hands the socket to [`connection`](crate::push::connection).

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::HeaderMap;
use axum::http::header::ORIGIN;
use axum::response::Response;
use cloud_protocol::ErrorBody;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::push::SocketDeps;
use crate::push::connection;
use crate::state::AppState;

/// How much one read from the socket takes in. tungstenite zeroes this much of
/// its buffer before every read attempt, and a socket's reader is woken after
/// nearly every push written to it: at the default (128 KiB) that memset took
/// about 8 % of the fan-out's CPU at 10 events per frame. Client requests are
/// small; a big one is just read in more steps.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// The WebSocket endpoint (docs/wire.md#websocket). Mount as `GET /api/ws`.
#[utoipa::path(get, path = "/api/ws", operation_id = "openWebSocket", tag = "push", security(("bearer" = [])),
    responses(
        (status = 101, description = "switched to the WebSocket protocol"),
        (status = 400, description = "not a WebSocket upgrade request", body = ErrorBody),
        (status = 403, description = "a browser `Origin` that is not allowed", body = ErrorBody),
    ))]
pub async fn ws_handler(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    check_origin(&headers, &state.settings.allowed_origins)?;
    // A bigger message ends the socket: nobody may make the server buffer more.
    let max_message = state.settings.ws_max_message;
    tracing::debug!(user = %user.id, "websocket upgrade");
    Ok(ws
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| connection::serve(socket, socket_deps(&state), user)))
}

/// A browser always sends `Origin`: it must be one of `allowed`. Other clients
/// send none and are judged by their token alone.
fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    if !origin.is_empty() && allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("origin {origin:?} may not open the WebSocket")))
    }
}

/// The part of the handlers' state a socket's connection uses.
fn socket_deps(state: &AppState) -> SocketDeps {
    SocketDeps { hub: Arc::clone(&state.hub), settings: Arc::clone(&state.settings), shutdown: state.shutdown.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_origin(origin: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(o) = origin {
            headers.insert(ORIGIN, HeaderValue::from_static(o));
        }
        headers
    }

    #[test]
    fn origins() {
        let allowed = vec!["http://localhost:8384/".to_string()];
        assert!(check_origin(&with_origin(None), &allowed).is_ok());
        assert!(check_origin(&with_origin(Some("http://localhost:8384")), &allowed).is_ok());
        assert!(check_origin(&with_origin(Some("HTTP://LOCALHOST:8384")), &allowed).is_ok());
        assert!(check_origin(&with_origin(Some("https://evil.example")), &allowed).is_err());
        assert!(check_origin(&with_origin(Some("null")), &allowed).is_err());
        assert!(check_origin(&with_origin(Some("http://localhost:8384")), &[]).is_err());
    }
}
