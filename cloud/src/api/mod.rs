//! The HTTP API of the wire contract (docs/wire.md): one module per resource, the
//! extractors that turn every bad request into the wire error body, and the
//! access rules shared by all of them.

pub mod access;
pub mod events;
pub mod extract;
pub mod files;
pub mod health;
pub mod invites;
pub mod me;
pub mod members;
pub mod progress;
pub mod projects;
pub mod wire;
pub mod ws;

use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::{delete, get, post};

use crate::error::ApiError;
use crate::state::AppState;

/// Every `/api/…` route. Auth is per handler (the `AuthUser` extractor), so a
/// route cannot be added without deciding who may call it.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/me", get(me::me))
        .route("/api/projects", post(projects::create).get(projects::list))
        .route("/api/projects/{id}", get(projects::get))
        .route("/api/projects/{id}/files/update", post(files::update))
        .route("/api/projects/{id}/files", get(files::snapshot))
        .route("/api/projects/{id}/events", get(events::list))
        .route("/api/projects/{id}/invites", post(invites::create))
        .route("/api/invites/{code}/accept", post(invites::accept))
        .route("/api/projects/{id}/members", get(members::list))
        .route("/api/projects/{id}/members/{user_id}", delete(members::revoke))
        .route("/api/projects/{id}/progress", get(progress::report))
        .route("/api/ws", get(ws::ws_handler))
}

/// Unknown routes get the wire error body too.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", uri.path()))
}

/// A known path with the wrong method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
