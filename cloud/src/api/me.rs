//! `GET /api/me`: who the token belongs to. Companions call it to check a token
//! (`companion login`, `companion doctor`).

use axum::Json;
use cloud_protocol::Me;

use crate::auth::AuthUser;

pub async fn me(AuthUser(user): AuthUser) -> Json<Me> {
    Json(Me { user_id: user.id, name: user.name })
}
