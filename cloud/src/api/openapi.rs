//! The OpenAPI 3.1 document of the HTTP surface, served at `GET /api/openapi.json`.
//!
//! It is generated from the handlers' `#[utoipa::path]` annotations by the same
//! `OpenApiRouter` that mounts them ([`super::surface`]), so a route cannot be
//! served without being described. What operations of a kind share (`401` and
//! `429` with the bearer scheme; `400` and `404` under a project's id; `400`,
//! `413` and `415` with a body) is added here once, by [`finish`]; annotations
//! give only what is their own.
//!
//! The document is public, like `/healthz`: it describes the surface and holds
//! no secret, and clients and tools read it before they have a token. It is
//! serialized once at start-up, so serving it costs a copy of some bytes.

use axum::Extension;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use cloud_protocol::ErrorBody;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Components, OpenApi, RefOr, ResponseBuilder, Responses};
use utoipa::{Modify, ToSchema};

/// The name of the bearer scheme in `components.securitySchemes`.
pub const BEARER: &str = "bearer";

/// The document's fixed parts: info, the bearer scheme, the error body.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Syncthing companion cloud",
        description = "Sequences a project's file changes and pushes them to its members \
                       (wire contract v1, docs/wire.md). Every error answer is the `ErrorBody`.",
        version = "1"
    ),
    modifiers(&BearerScheme),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// `Authorization: Bearer <token>`, the tokens `cloud user add` prints.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Components::new);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some("a token printed by `cloud user add` (`stc_` and 64 hex digits)".into());
        components.add_security_scheme(BEARER, SecurityScheme::Http(http));
    }
}

/// Adds what every operation of a kind shares, so no annotation can forget it
/// (an operation's own description of a status wins):
/// - with the bearer token: `401`, and `429` (the rate limiter answers before the handler);
/// - under `/api/projects/{id}`: `404` (unknown project, or not a member) and `400`
///   `invalid_id` (the extractor refuses a malformed id before the handler);
/// - with a request body: `400` for an unreadable body, `413` and `415` (the body
///   extractor's answers).
pub fn finish(mut doc: OpenApi) -> OpenApi {
    for (path, item) in doc.paths.paths.iter_mut() {
        let in_project = path.starts_with("/api/projects/{id}");
        for op in [&mut item.get, &mut item.post, &mut item.delete].into_iter().flatten() {
            let secured = op
                .security
                .iter()
                .flatten()
                .any(|req| serde_json::to_value(req).is_ok_and(|v| v.get(BEARER).is_some()));
            let has_body = op.request_body.is_some();
            let responses = &mut op.responses;
            if secured {
                add_error(responses, "401", "no token, a malformed `Authorization` header, or an unknown token");
                add_error(responses, "429", "over the rate limit; retry after `Retry-After` seconds");
            }
            let bad_request = match (has_body, in_project) {
                (true, true) => "`malformed_json`, `invalid_body` or `invalid_id`",
                (true, false) => "`malformed_json` or `invalid_body`",
                (false, true) => "`invalid_id`: the project id is not a UUID",
                (false, false) => "",
            };
            if !bad_request.is_empty() {
                add_error(responses, "400", bad_request);
            }
            if in_project {
                add_error(responses, "404", "no such project, or the caller is not a member");
            }
            if has_body {
                add_error(responses, "413", "the body is larger than `--body-limit`");
                add_error(responses, "415", "the body is not sent as `application/json`");
            }
        }
    }
    doc
}

/// An error answer with the wire body, unless the operation describes it already.
fn add_error(responses: &mut Responses, status: &str, description: &str) {
    if !responses.responses.contains_key(status) {
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/json", utoipa::openapi::ContentBuilder::new().schema(Some(error_ref())).build())
            .build();
        responses.responses.insert(status.to_owned(), RefOr::T(response));
    }
}

fn error_ref() -> RefOr<utoipa::openapi::schema::Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(ErrorBody::name()))
}

/// The serialized document, handed to [`serve`] as an extension.
#[derive(Debug, Clone)]
pub struct Served(pub Bytes);

impl Served {
    pub fn new(doc: &OpenApi) -> Served {
        // Serializing plain data into a string does not fail.
        Served(Bytes::from(doc.to_pretty_json().unwrap_or_default()))
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json", operation_id = "openapi",
    tag = "meta",
    responses((status = 200, description = "this OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn serve(Extension(doc): Extension<Served>) -> Response {
    ([(CONTENT_TYPE, "application/json")], doc.0).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secured_operations_share_401_and_429() {
        let doc = serde_json::to_value(super::super::surface(true, |api| api).into_openapi()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["components"]["securitySchemes"][BEARER]["scheme"], "bearer");
        let me = &doc["paths"]["/api/me"]["get"];
        assert!(me["responses"]["401"].is_object() && me["responses"]["429"].is_object(), "{me}");
        let health = &doc["paths"]["/healthz"]["get"];
        assert!(health["responses"].get("401").is_none(), "{health}");
        // `ErrorBody`'s schema is referenced, so it must be present.
        assert!(doc["components"]["schemas"][ErrorBody::name().as_ref()].is_object());
    }
}
