//! Invites: `POST /api/projects/{id}/invites` (owner; makes a single-use,
//! expiring code) and `POST /api/invites/{code}/accept` (anyone with a token and
//! the code becomes an accepted member).
//!
//! Only the code's digest is stored, like tokens: a database leak gives no
//! usable codes. An invite may be addressed to one user (`{"user_id": …}`);
//! that user then shows as `invited` in the member list until accepting, and
//! nobody else can use the code. An empty body makes an open invite.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cloud_protocol::{ErrorBody, Invite, Member};
use serde::Deserialize;
use uuid::Uuid;

use super::access::ProjectCall;
use super::extract::{ApiPath, OptionalJson};
use crate::auth::{AuthUser, digest, generate_invite_code};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{NewInvite, StoreError, now_ms, rfc3339};

/// `POST /api/projects/{id}/invites` body; the body itself is optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInviteRequest {
    /// Address the invite to this user.
    #[serde(default)]
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
pub struct CodePath {
    pub code: String,
}

/// Makes a single-use, expiring invite code (owner only). The body is optional.
#[utoipa::path(post, path = "/api/projects/{id}/invites", operation_id = "createInvite", tag = "members", security(("bearer" = [])), params(("id" = Uuid, Path, description = "the project")),
    request_body(content = Option<CreateInviteRequest>, description = "optional: address the invite to one user"),
    responses(
        (status = 201, description = "the invite; its code is shown this once", body = Invite, links(
            ("acceptInvite" = (operation_id = "acceptInvite", parameters(("code" = "$response.body#/code"))))
        )),
        (status = 403, description = "the caller is a member, not the owner", body = ErrorBody),
        (status = 409, description = "`owner_cannot_join`: the invite is addressed to the owner", body = ErrorBody),
        (status = 415, description = "a non-empty body not sent as `application/json`", body = ErrorBody),
        (status = 422, description = "`unknown_user`: no user has that `user_id`", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    call: ProjectCall,
    OptionalJson(body): OptionalJson<CreateInviteRequest>,
) -> Result<(StatusCode, Json<Invite>), ApiError> {
    let access = call.owned(&state, "invite people").await?;
    let invitee = body.unwrap_or_default().user_id;
    if invitee == Some(access.project.owner_id) {
        return Err(ApiError::from(StoreError::OwnerCannotJoin));
    }
    let code = generate_invite_code();
    let now = now_ms();
    let ttl_ms = i64::try_from(state.settings.invite_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at_ms = now.saturating_add(ttl_ms);
    let invite = NewInvite { project_id: call.id, code_hash: digest(&code), invitee, expires_at_ms };
    state.store.create_invite(invite, now).await.map_err(|e| match e {
        // An addressed invite for a user id that does not exist.
        StoreError::NotFound => ApiError::UnknownUser(invitee.unwrap_or_default()),
        other => other.into(),
    })?;
    tracing::info!(project = %call.id, addressed = invitee.is_some(), "invite created");
    Ok((StatusCode::CREATED, Json(Invite { code, project_id: call.id, expires_at: rfc3339(expires_at_ms) })))
}

/// Uses an invite code: the caller becomes an accepted member.
#[utoipa::path(post, path = "/api/invites/{code}/accept", operation_id = "acceptInvite", tag = "members", security(("bearer" = [])),
    params(("code" = String, Path, description = "the invite code")),
    responses(
        (status = 200, description = "the caller's membership", body = Member),
        (status = 403, description = "the invite is addressed to another user", body = ErrorBody),
        (status = 404, description = "unknown invite code", body = ErrorBody),
        (status = 409, description = "`owner_cannot_join`: the caller owns the project", body = ErrorBody),
        (status = 410, description = "the invite expired or was used", body = ErrorBody),
    ))]
pub async fn accept(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(path): ApiPath<CodePath>,
) -> Result<Json<Member>, ApiError> {
    let member = state.store.accept_invite(digest(path.code.trim()), user.0.id, now_ms()).await?;
    tracing::info!(project = %member.project_id, user = %user.0.id, "invite accepted");
    Ok(Json(member))
}
