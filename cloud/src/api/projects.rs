//! Projects: `POST /api/projects` (the caller becomes the owner),
//! `GET /api/projects` (owned or accepted-member projects) and
//! `GET /api/projects/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cloud_protocol::{CreateProjectRequest, ErrorBody, Project, ProjectList};

use super::access::{ProjectCall, project_view};
use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::now_ms;

/// Longest project name, in characters: it is a label for people.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest folder id, in characters (like the name, so the OpenAPI document's
/// `maxLength` says exactly what is accepted). Syncthing's own ids are short
/// (`abcde-fghij`); the bound only keeps junk out.
pub const MAX_FOLDER_ID_CHARS: usize = 256;

/// Creates a project owned by the caller.
#[utoipa::path(post, path = "/api/projects", operation_id = "createProject", tag = "projects", security(("bearer" = [])),
    request_body = CreateProjectRequest,
    responses(
        (status = 201, description = "created; the caller is its owner", body = Project, links(
            ("getProject" = (operation_id = "getProject", parameters(("id" = "$response.body#/id")))),
            ("updateFiles" = (operation_id = "updateFiles", parameters(("id" = "$response.body#/id")))),
            ("getFiles" = (operation_id = "getFiles", parameters(("id" = "$response.body#/id")))),
            ("listEvents" = (operation_id = "listEvents", parameters(("id" = "$response.body#/id")))),
            ("createInvite" = (operation_id = "createInvite", parameters(("id" = "$response.body#/id")))),
            ("listMembers" = (operation_id = "listMembers", parameters(("id" = "$response.body#/id")))),
            ("getProgress" = (operation_id = "getProgress", parameters(("id" = "$response.body#/id"))))
        )),
        (status = 400, description = "`malformed_json`, `invalid_body` or `invalid_field` (empty, too long, control characters)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateProjectRequest>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let name = req.name.trim();
    // Measured before trimming: the document's `maxLength` bounds what is sent.
    check_text("name", name, MAX_NAME_CHARS, req.name.chars().count())?;
    // The folder id must match Syncthing's byte for byte, so it is not trimmed.
    check_text("folder_id", &req.folder_id, MAX_FOLDER_ID_CHARS, req.folder_id.chars().count())?;
    if req.folder_id.trim() != req.folder_id {
        return Err(ApiError::bad_request("invalid_field", "folder_id must not start or end with whitespace"));
    }
    let row = state.store.create_project(user.0.id, name, &req.folder_id, now_ms()).await?;
    tracing::info!(project = %row.id, owner = %user.0.id, "project created");
    let access = crate::store::Access { project: row, role: cloud_protocol::Role::Owner };
    Ok((StatusCode::CREATED, Json(project_view(&access))))
}

/// The projects the caller owns or is an accepted member of.
#[utoipa::path(get, path = "/api/projects", operation_id = "listProjects", tag = "projects", security(("bearer" = [])),
    responses((status = 200, description = "owned and joined projects", body = ProjectList)))]
pub async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<ProjectList>, ApiError> {
    let projects = state.store.list_projects(user.0.id).await?;
    Ok(Json(ProjectList { projects: projects.iter().map(project_view).collect() }))
}

/// One project, as the caller sees it.
#[utoipa::path(get, path = "/api/projects/{id}", operation_id = "getProject", tag = "projects", security(("bearer" = [])), params(("id" = Uuid, Path, description = "the project")),
    responses(
        (status = 200, description = "the project", body = Project),
    ))]
pub async fn get(State(state): State<AppState>, call: ProjectCall) -> Result<Json<Project>, ApiError> {
    let access = call.readable(&state).await?;
    Ok(Json(project_view(&access)))
}

/// Non-empty, at most `max` (in the unit `len` is measured in), no control characters.
fn check_text(field: &str, value: &str, max: usize, len: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::bad_request("invalid_field", format!("{field} must not be empty")));
    }
    if len > max {
        return Err(ApiError::bad_request("invalid_field", format!("{field} is longer than {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_field", format!("{field} must not contain control characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert!(check_text("name", "Shots", 10, 5).is_ok());
        assert!(check_text("name", "  ", 10, 2).is_err());
        assert!(check_text("name", "", 10, 0).is_err());
        assert!(check_text("name", "x", 0, 1).is_err());
        let err = check_text("folder_id", "a\nb", 10, 3).unwrap_err();
        assert!(err.to_string().contains("folder_id"), "{err}");
    }
}
