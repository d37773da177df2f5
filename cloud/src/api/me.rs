//! `GET /api/me`: who the token belongs to. Companions call it to check a token
//! (`companion login`, `companion doctor`).

use axum::Json;
use cloud_protocol::Me;

use crate::auth::AuthUser;

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/me", operation_id = "getMe", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "the token's user", body = Me)))]
pub async fn me(AuthUser(user): AuthUser) -> Json<Me> {
    Json(Me { user_id: user.id, name: user.name })
}
