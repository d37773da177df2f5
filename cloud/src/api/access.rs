//! Who may do what to a project: the one place the access rules live.
//!
//! - the owner reads and writes;
//! - accepted members read;
//! - everyone else (a stranger, someone invited who has not accepted yet, a
//!   revoked member) and unknown projects get the same `404 not_found`, so a
//!   project's existence is never revealed to outsiders;
//! - a member attempting an owner-only action gets `403 forbidden` (they know
//!   the project exists already).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cloud_protocol::{Project, Role};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::ApiPath;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Access, rfc3339};

/// The `{id}` of `/api/projects/{id}/…` routes.
#[derive(Debug, Deserialize)]
struct ProjectPath {
    id: Uuid,
}

/// A call to a `/api/projects/{id}/…` route: who calls, about which
/// project. The token is checked first (`401`), then the id (`400`), as
/// the two extractors did one after the other.
#[derive(Debug, Clone)]
pub struct ProjectCall {
    pub user: AuthUser,
    /// The `{id}` of the path.
    pub id: Uuid,
}

impl FromRequestParts<AppState> for ProjectCall {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let ApiPath(ProjectPath { id }) = ApiPath::from_request_parts(parts, state).await?;
        Ok(ProjectCall { user, id })
    }
}

impl ProjectCall {
    /// [`readable`] for this call.
    pub async fn readable(&self, state: &AppState) -> Result<Access, ApiError> {
        readable(state, self.id, &self.user).await
    }

    /// [`owned`] for this call.
    pub async fn owned(&self, state: &AppState, action: &str) -> Result<Access, ApiError> {
        owned(state, self.id, &self.user, action).await
    }
}

/// The caller's access to `project`, or `404` if they have none.
pub async fn readable(state: &AppState, project: Uuid, user: &AuthUser) -> Result<Access, ApiError> {
    state.store.access(project, user.0.id).await?.ok_or_else(ApiError::project_not_found)
}

/// The caller's access to `project` if they own it; `403` for members, `404` for others.
/// `action` completes "only the project owner can …".
pub async fn owned(state: &AppState, project: Uuid, user: &AuthUser, action: &str) -> Result<Access, ApiError> {
    let access = readable(state, project, user).await?;
    match access.role {
        Role::Owner => Ok(access),
        Role::Member => Err(ApiError::Forbidden(format!("only the project owner can {action}"))),
    }
}

/// The wire form of a project as the caller sees it.
pub fn project_view(access: &Access) -> Project {
    let p = &access.project;
    Project {
        id: p.id,
        name: p.name.clone(),
        folder_id: p.folder_id.clone(),
        owner_id: p.owner_id,
        role: access.role,
        last_seq: p.last_seq,
        created_at: rfc3339(p.created_at_ms),
    }
}
