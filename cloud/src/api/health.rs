//! Liveness and readiness for orchestrators, without auth: `GET /healthz` says
//! the process answers; `GET /readyz` says it can reach its database and is not
//! shutting down (so a load balancer stops sending it new work first).

use axum::Json;
use axum::extract::State;
use cloud_protocol::ErrorBody;
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// The probes' answer: `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    #[schema(examples("ok", "ready"))]
    pub status: &'static str,
}

#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "meta",
    responses((status = 200, description = "the process answers", body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "meta", responses(
    (status = 200, description = "the database is reachable and the server is not shutting down", body = Status),
    (status = 503, description = "shutting down, or the database is not reachable", body = ErrorBody),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::Unavailable("shutting down".into()));
    }
    if let Err(e) = state.store.ping().await {
        // The cause goes to the log only; the body stays generic.
        tracing::warn!(error = %e, "readiness check failed");
        return Err(ApiError::Unavailable("the database is not reachable".into()));
    }
    Ok(Json(Status { status: "ready" }))
}
