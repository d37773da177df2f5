//! Safety net: every error answer leaves in the wire format.
//!
//! Handlers and our extractors already answer with `ApiError`, but some
//! answers come from code we do not own (axum's `WebSocketUpgrade` rejection,
//! a future extractor someone forgets to wrap) and are plain text. Clients
//! branch on `{"error": {"code"}}`, so this middleware rewrites any 4xx/5xx
//! that is not JSON into the wire body, keeping the status and headers such as
//! `Allow` or `Retry-After`. A 4xx keeps its text as the message (it describes
//! the request); a 5xx text is logged and replaced, never sent.

use axum::Json;
use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cloud_protocol::ErrorBody;

/// Longest plain-text body read for the message; rejections are one line.
const MAX_TEXT: usize = 4096;
/// Longest message kept from such a body.
const MAX_MESSAGE_CHARS: usize = 300;

pub async fn ensure_wire_body(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = to_bytes(body, MAX_TEXT).await.ok().and_then(|b| String::from_utf8(b.to_vec()).ok()).unwrap_or_default();
    let text = text.trim();
    let message = if status.is_server_error() {
        if !text.is_empty() {
            tracing::error!(%status, body = text, "plain-text error answer replaced");
        }
        status.canonical_reason().unwrap_or("internal error").to_lowercase()
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("bad request").to_lowercase()
    } else {
        text.chars().take(MAX_MESSAGE_CHARS).collect()
    };
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(CONTENT_LENGTH);
    let mut rewritten = (status, Json(ErrorBody::new(code_for(status), message))).into_response();
    for (name, value) in &parts.headers {
        rewritten.headers_mut().insert(name.clone(), value.clone());
    }
    rewritten
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

/// The snake_case code for a status, matching `ApiError`'s where they overlap.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::GONE => "gone",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::UPGRADE_REQUIRED => "upgrade_required",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::HeaderValue;
    use axum::middleware::from_fn;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn through(status: StatusCode, text: &'static str) -> (StatusCode, HeaderMap, ErrorBody) {
        let app = Router::new()
            .route("/", get(move || async move { (status, [("retry-after", HeaderValue::from_static("3"))], text) }))
            .layer(from_fn(ensure_wire_body));
        let resp = app.oneshot(Request::new(Body::empty())).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = to_bytes(body, 1 << 16).await.unwrap();
        (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn plain_text_errors_become_wire_bodies() {
        let (status, headers, body) =
            through(StatusCode::BAD_REQUEST, "Connection header did not include 'upgrade'").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            (body.error.code.as_str(), body.error.message.as_str()),
            ("bad_request", "Connection header did not include 'upgrade'")
        );
        assert_eq!(headers["retry-after"], "3");
        assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));

        let (_, _, body) = through(StatusCode::INTERNAL_SERVER_ERROR, "secret stack trace").await;
        assert_eq!(body.error.code, "internal");
        assert!(!body.error.message.contains("secret"), "{}", body.error.message);

        let (_, _, body) = through(StatusCode::UPGRADE_REQUIRED, "").await;
        assert_eq!((body.error.code.as_str(), body.error.message.as_str()), ("upgrade_required", "upgrade required"));
    }
}
