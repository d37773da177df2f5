//! Members: `GET /api/projects/{id}/members` (owner and accepted members) and
//! `DELETE /api/projects/{id}/members/{user_id}` (owner): the member is revoked
//! at once, and their open sockets lose the project right after the revoke is
//! stored.

use axum::Json;
use axum::extract::State;
use cloud_protocol::{ErrorBody, Member, MemberList};
use serde::Deserialize;
use uuid::Uuid;

use super::access::{ProjectCall, owned};
use super::extract::ApiPath;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{StoreError, now_ms};

#[derive(Debug, Deserialize)]
pub struct MemberPath {
    pub id: Uuid,
    pub user_id: Uuid,
}

/// Everyone invited to, in, or revoked from the project.
#[utoipa::path(get, path = "/api/projects/{id}/members", operation_id = "listMembers", tag = "members", security(("bearer" = [])), params(("id" = Uuid, Path, description = "the project")),
    responses(
        (status = 200, description = "the members", body = MemberList, links(
            ("revokeMember" = (operation_id = "revokeMember", parameters(
                ("id" = "$request.path.id"), ("user_id" = "$response.body#/members/0/user_id")
            )))
        )),
    ))]
pub async fn list(State(state): State<AppState>, call: ProjectCall) -> Result<Json<MemberList>, ApiError> {
    call.readable(&state).await?;
    Ok(Json(MemberList { members: state.store.list_members(call.id).await? }))
}

/// Revokes a member (owner only); their sockets lose the project at once.
#[utoipa::path(delete, path = "/api/projects/{id}/members/{user_id}", operation_id = "revokeMember", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the project"), ("user_id" = Uuid, Path, description = "the member to revoke")),
    responses(
        (status = 200, description = "the revoked membership", body = Member),
        (status = 400, description = "`invalid_id`: the project or user id is not a UUID", body = ErrorBody),
        (status = 403, description = "the caller is a member, not the owner", body = ErrorBody),
        (status = 404, description = "no such project, or that user is not a member", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(path): ApiPath<MemberPath>,
) -> Result<Json<Member>, ApiError> {
    owned(&state, path.id, &user, "remove members").await?;
    let member = state.store.revoke_member(path.id, path.user_id, now_ms()).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("user {} is not a member of this project", path.user_id)),
        other => other.into(),
    })?;
    tracing::info!(project = %path.id, user = %path.user_id, "member revoked");
    state.hub.revoked(path.id, path.user_id).await;
    Ok(Json(member))
}
