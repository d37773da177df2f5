//! `GET /api/projects/{id}/progress`: the latest reported state per member and
//! file, one page at a time (`?limit=` rows, default 1000, at most 5000; follow
//! `next_cursor` with `?cursor=`).
//!
//! The owner sees every member (docs/architecture.md, step 8: the owner sees
//! who has what, even for members who are offline now). A member sees only their own entries: enough
//! to check what the cloud holds for them, without learning what other members
//! have. Members report progress over the WebSocket, not here.

use axum::Json;
use axum::extract::State;
use cloud_protocol::{DEFAULT_PROGRESS_PAGE, ErrorBody, MAX_PROGRESS_PAGE, ProgressReport, Role};
use serde::Deserialize;

use super::access::ProjectCall;
use super::extract::ApiQuery;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{ProgressCursor, ProgressQuery};

/// `?cursor=…&limit=…`, both optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// The latest reported state per member and file, one page (the owner sees
/// every member, a member only themself).
#[utoipa::path(get, path = "/api/projects/{id}/progress", operation_id = "getProgress", tag = "members", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "the project"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 5000, description = "rows per page (default 1000)"),
    ),
    responses(
        (status = 200, description = "one page of progress", body = ProgressReport),
        (status = 400, description = "`invalid_id` or `invalid_query`", body = ErrorBody),
    ))]
pub async fn report(
    State(state): State<AppState>,
    call: ProjectCall,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<ProgressReport>, ApiError> {
    let limit = match page.limit.unwrap_or(DEFAULT_PROGRESS_PAGE) {
        n @ 1..=MAX_PROGRESS_PAGE => n,
        n => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("limit must be between 1 and {MAX_PROGRESS_PAGE}, not {n}"),
            ));
        }
    };
    let after = match page.cursor.as_deref() {
        None => None,
        Some(text) => Some(ProgressCursor::decode(text).ok_or_else(|| {
            ApiError::bad_request("invalid_query", "cursor is not one this server handed out; start without it")
        })?),
    };
    let access = call.readable(&state).await?;
    let only = (access.role == Role::Member).then_some(call.user.0.id);
    Ok(Json(state.store.progress(call.id, &ProgressQuery { user: only, after, limit }).await?))
}
