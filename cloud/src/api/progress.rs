//! `GET /api/projects/{id}/progress`: the latest reported state per member and file.
//!
//! The owner sees every member (DESIGN: "the owner sees who has what, even for
//! members who are offline now"). A member sees only their own entries: enough
//! to check what the cloud holds for them, without learning what other members
//! have. Members report progress over the WebSocket, not here.

use axum::Json;
use axum::extract::State;
use cloud_protocol::{ProgressReport, Role};

use super::access::readable;
use super::extract::ApiPath;
use super::projects::ProjectPath;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn report(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(path): ApiPath<ProjectPath>,
) -> Result<Json<ProgressReport>, ApiError> {
    let access = readable(&state, path.id, &user).await?;
    let mut report = state.store.progress(path.id).await?;
    if access.role == Role::Member {
        report.members.retain(|m| m.user_id == user.0.id);
    }
    Ok(Json(report))
}
