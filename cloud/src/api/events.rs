//! `GET /api/projects/{id}/events?since_seq=N&limit=L`: the event log, paged.
//!
//! Query parameters are parsed by hand (not by serde) so a bad value gets an
//! error naming the parameter and the accepted range.

use axum::Json;
use axum::extract::State;
use cloud_protocol::{ErrorBody, EventsPage, MAX_EVENTS_PAGE};
use serde::Deserialize;

use super::access::ProjectCall;
use super::extract::ApiQuery;
use crate::error::ApiError;
use crate::state::AppState;

/// The raw query: strings, so that `limit=abc` is our error, not serde's.
#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    since_seq: Option<String>,
    limit: Option<String>,
}

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub since_seq: i64,
    pub limit: u32,
}

impl EventsQuery {
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        let since_seq = match self.since_seq.as_deref() {
            None => 0,
            Some(raw) => raw.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::bad_request("invalid_query", format!("since_seq must be an integer >= 0, not {raw:?}"))
            })?,
        };
        let limit = match self.limit.as_deref() {
            None => MAX_EVENTS_PAGE,
            Some(raw) => {
                raw.trim().parse::<u32>().ok().filter(|n| (1..=MAX_EVENTS_PAGE).contains(n)).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("limit must be an integer from 1 to {MAX_EVENTS_PAGE}, not {raw:?}"),
                    )
                })?
            }
        };
        Ok(PageRequest { since_seq, limit })
    }
}

/// The event log after `since_seq`, one page.
#[utoipa::path(get, path = "/api/projects/{id}/events", operation_id = "listEvents", tag = "files", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "the project"),
        ("since_seq" = Option<i64>, Query, minimum = 0, description = "events after this seq (default 0)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "events per page (default 1000)"),
    ),
    responses(
        (status = 200, description = "one page of events", body = EventsPage),
        (status = 400, description = "`invalid_id` or `invalid_query`", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    call: ProjectCall,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    let page = query.parse()?;
    call.readable(&state).await?;
    // One more than asked tells whether more exist, without a count query.
    let mut events = state.store.events_since(call.id, page.since_seq, page.limit + 1).await?;
    let has_more = events.len() > page.limit as usize;
    events.truncate(page.limit as usize);
    let next_seq = events.last().map_or(page.since_seq, |e| e.seq);
    Ok(Json(EventsPage { events, next_seq, has_more }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(since: Option<&str>, limit: Option<&str>) -> Result<PageRequest, String> {
        EventsQuery { since_seq: since.map(Into::into), limit: limit.map(Into::into) }
            .parse()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(q(None, None), Ok(PageRequest { since_seq: 0, limit: 1000 }));
        assert_eq!(q(Some("7"), Some("1")), Ok(PageRequest { since_seq: 7, limit: 1 }));
        assert_eq!(q(Some("0"), Some("1000")), Ok(PageRequest { since_seq: 0, limit: 1000 }));
        for (since, limit, names) in [
            (Some("-1"), None, "since_seq"),
            (Some("x"), None, "since_seq"),
            (Some(""), None, "since_seq"),
            (Some("99999999999999999999"), None, "since_seq"),
            (None, Some("0"), "limit"),
            (None, Some("1001"), "limit"),
            (None, Some("-5"), "limit"),
            (None, Some("ten"), "limit"),
        ] {
            let err = q(since, limit).unwrap_err();
            assert!(err.starts_with(names), "{since:?} {limit:?}: {err}");
        }
    }
}
