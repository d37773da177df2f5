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
pub mod openapi;
pub mod progress;
pub mod projects;
pub mod wire;
pub mod ws;

use axum::http::{Method, Uri};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::metrics;
use crate::state::AppState;

/// Every `/api/…` route. Auth is per handler (the `AuthUser` extractor), so a
/// route cannot be added without deciding who may call it. Each handler's
/// `#[utoipa::path]` gives both its route and its entry in the OpenAPI document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me::me))
        .routes(routes!(projects::create, projects::list))
        .routes(routes!(projects::get))
        .routes(routes!(files::update))
        .routes(routes!(files::snapshot))
        .routes(routes!(events::list))
        .routes(routes!(invites::create))
        .routes(routes!(invites::accept))
        .routes(routes!(members::list))
        .routes(routes!(members::revoke))
        .routes(routes!(progress::report))
        .routes(routes!(ws::ws_handler))
}

/// The whole HTTP surface and its document: [`routes`] wrapped by `limit` (the
/// rate limiter, which must not cover the probes), the probes, `/metrics` when
/// it is served here, and the OpenAPI document itself.
pub fn surface(
    metrics: bool,
    limit: impl FnOnce(OpenApiRouter<AppState>) -> OpenApiRouter<AppState>,
) -> OpenApiRouter<AppState> {
    let mut public = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi::serve));
    if metrics {
        public = public.routes(routes!(metrics::render));
    }
    let mut all = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()).merge(limit(routes())).merge(public);
    *all.get_openapi_mut() = openapi::finish(all.get_openapi().clone());
    all
}

/// Unknown routes get the wire error body too.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", uri.path()))
}

/// A known path with the wrong method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
