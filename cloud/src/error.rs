//! `ApiError`: every failure a handler can return, mapped to a status and the
//! wire error body. Internal causes are logged, never sent to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cloud_protocol::{ErrorBody, InvalidChange};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, a malformed header or an unknown token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated but not allowed (e.g. a member writing).
    #[error("{0}")]
    Forbidden(String),
    /// Unknown project or not a member: existence is not revealed.
    #[error("{0}")]
    NotFound(String),
    /// Malformed request; `code` is the snake_case error code.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Some changes of a batch are invalid: none was applied.
    #[error("{} of the changes are invalid; nothing was applied", .0.len())]
    InvalidChanges(Vec<InvalidChange>),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    Gone(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// A batch with more changes than one request may carry.
    #[error("a batch holds at most {max} changes, this one has {count}; split it into several batches")]
    TooManyChanges { count: usize, max: usize },
    /// A body sent without `Content-Type: application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The path exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A batch that would bring its project past the path quota.
    #[error(
        "this batch would bring the project to {would} paths, more than the {max} allowed \
         (--max-paths-per-project); nothing was applied"
    )]
    QuotaExceeded { would: u64, max: u64 },
    /// An invite addressed to a user id nobody has. Not `404`: that would read
    /// as the project in the URL missing (schemathesis took it so).
    #[error("no user with user_id {0}; check the id")]
    UnknownUser(uuid::Uuid),
    #[error("too many requests; slow down and retry")]
    TooManyRequests,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code, message: message.into() }
    }

    pub fn project_not_found() -> Self {
        ApiError::NotFound("no such project, or you are not a member of it".into())
    }

    /// HTTP status and the stable error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::InvalidChanges(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_change"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::Gone(_) => (StatusCode::GONE, "gone"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::TooManyChanges { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_changes"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::QuotaExceeded { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "quota_exceeded"),
            ApiError::UnknownUser(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_user"),
            ApiError::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The wire body for this error.
    pub fn body(&self) -> ErrorBody {
        let (_, code) = self.status_and_code();
        let mut body = ErrorBody::new(code, self.to_string());
        if let ApiError::InvalidChanges(invalid) = self {
            body.error.invalid = invalid.clone();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %format!("{cause:#}"), "internal error");
        }
        (status, Json(self.body())).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::BatchConflict(id) => ApiError::Conflict {
                code: "batch_conflict",
                message: format!("batch_id {id} was already used with different changes; use a new batch_id"),
            },
            StoreError::UserExists(name) => {
                ApiError::Conflict { code: "user_exists", message: format!("a user named {name:?} already exists") }
            }
            StoreError::InviteUnknown => ApiError::NotFound("invite code is unknown".into()),
            StoreError::InviteExpired => ApiError::Gone("invite has expired; ask the owner for a new one".into()),
            StoreError::InviteUsed => ApiError::Gone("invite was already used; ask the owner for a new one".into()),
            StoreError::InviteForSomeoneElse => ApiError::Forbidden("this invite is addressed to another user".into()),
            StoreError::OwnerCannotJoin => ApiError::Conflict {
                code: "owner_cannot_join",
                message: "you own this project; owners do not join their own projects".into(),
            },
            StoreError::QuotaExceeded { would, max } => ApiError::QuotaExceeded { would, max },
            other => ApiError::Internal(other.into()),
        }
    }
}
