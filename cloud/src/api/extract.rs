//! Extractors that fail with the wire error body.
//!
//! axum's own `Json`, `Path` and `Query` reject with plain text and their own
//! status codes; clients of this API branch on `{"error": {"code"}}`, so every
//! extraction failure goes through here and becomes an [`ApiError`] that names
//! what was wrong (the JSON path and serde's reason, or the URL parameter).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// `Json<T>` whose rejections are wire errors.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.settings.body_limit;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection, limit)),
        }
    }
}

/// A JSON body that may be left out entirely: an empty body, or JSON `null`,
/// gives `None`.
/// Used where every field is optional (`POST …/invites`).
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.settings.body_limit;
        let headers = req.headers().clone();
        let bytes = Bytes::from_request(req, state).await.map_err(|r| bytes_rejection(r, limit))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !is_json(&headers) {
            return Err(missing_content_type());
        }
        axum::Json::<Option<T>>::from_bytes(&bytes)
            .map(|axum::Json(value)| OptionalJson(value))
            .map_err(|r| json_rejection(r, limit))
    }
}

/// `Path<T>` whose rejections are wire errors naming the bad parameter.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

/// `Query<T>` whose rejections are wire errors.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn missing_content_type() -> ApiError {
    ApiError::UnsupportedMediaType("the request body must be JSON; send `Content-Type: application/json`".into())
}

/// The part of a rejection that describes the input (serde's message with its
/// JSON path), without axum's generic prefix.
fn inner_message(err: &dyn std::error::Error) -> String {
    err.source().map_or_else(|| err.to_string(), ToString::to_string)
}

fn json_rejection(rejection: JsonRejection, limit: usize) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request("malformed_json", format!("request body is not valid JSON: {}", inner_message(&e)))
        }
        JsonRejection::JsonDataError(e) => ApiError::bad_request(
            "invalid_body",
            format!("request body does not have the expected fields: {}", inner_message(&e)),
        ),
        JsonRejection::MissingJsonContentType(_) => missing_content_type(),
        JsonRejection::BytesRejection(e) => bytes_rejection(e, limit),
        // `JsonRejection` is non-exhaustive; anything new is still a bad body.
        other => ApiError::bad_request("invalid_body", format!("could not read the request body: {other}")),
    }
}

fn bytes_rejection(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(limit)
    } else {
        ApiError::bad_request("invalid_body", "could not read the request body")
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind;
    match rejection {
        PathRejection::FailedToDeserializePathParams(e) => match e.into_kind() {
            ErrorKind::ParseErrorAtKey { key, value, .. } | ErrorKind::DeserializeError { key, value, .. } => {
                ApiError::bad_request("invalid_id", format!("`{key}` in the URL must be a UUID, not {value:?}"))
            }
            ErrorKind::ParseErrorAtIndex { value, .. } | ErrorKind::ParseError { value, .. } => {
                ApiError::bad_request("invalid_id", format!("{value:?} in the URL must be a UUID"))
            }
            ErrorKind::InvalidUtf8InPathParam { key } => {
                ApiError::bad_request("invalid_id", format!("`{key}` in the URL is not valid UTF-8"))
            }
            other => ApiError::bad_request("invalid_id", format!("the URL is not valid: {other}")),
        },
        other => ApiError::Internal(anyhow::anyhow!("path parameters unavailable: {other}")),
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    match rejection {
        QueryRejection::FailedToDeserializeQueryString(e) => {
            ApiError::bad_request("invalid_query", format!("the query string is not valid: {}", inner_message(&e)))
        }
        other => ApiError::bad_request("invalid_query", format!("the query string is not valid: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for (ct, want) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/problem+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(is_json(&h), want, "{ct}");
        }
    }
}
