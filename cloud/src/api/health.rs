//! Liveness and readiness for orchestrators, without auth: `GET /healthz` says
//! the process answers; `GET /readyz` says it can reach its database and is not
//! shutting down (so a load balancer stops sending it new work first).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::Unavailable("shutting down".into()));
    }
    if let Err(e) = state.store.ping().await {
        // The cause goes to the log only; the body stays generic.
        tracing::warn!(error = %e, "readiness check failed");
        return Err(ApiError::Unavailable("the database is not reachable".into()));
    }
    Ok(Json(json!({"status": "ready"})))
}
