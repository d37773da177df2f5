//! Who may do what to a project: the one place the access rules live.
//!
//! - the owner reads and writes;
//! - accepted members read;
//! - everyone else (a stranger, someone invited who has not accepted yet, a
//!   revoked member) and unknown projects get the same `404 not_found`, so a
//!   project's existence is never revealed to outsiders;
//! - a member attempting an owner-only action gets `403 forbidden` (they know
//!   the project exists already).

use cloud_protocol::{Project, Role};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Access, rfc3339};

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
