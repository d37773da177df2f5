//! The OpenAPI document (`GET /api/openapi.json`) against the server that
//! serves it: every route the server answers is in the document, and every
//! status the document promises is reached by a test of ours ([`COVERAGE`]).
//! schemathesis (scripts/schemathesis) then checks the answers against it.

use std::collections::BTreeSet;

use axum::body::Body;
use cloud::state::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::server::{TestCloud, expect_error};
use tower::ServiceExt;
use uuid::Uuid;

use crate::support;

/// Which test reaches each documented `(operationId, status)`. "openapi" is
/// [`the_document_is_the_surface`] below, which calls every operation of the
/// document without a token (401), with an id that is not a UUID (400), with
/// an unknown project (404), and each that takes a body with one too large
/// (413) or not JSON (415). A status added to the document without a
/// line here fails that test.
const COVERAGE: &[(&str, u16, &str)] = &[
    ("getMe", 200, "api_auth::every_endpoint_for_every_caller"),
    ("listProjects", 200, "api_auth::every_endpoint_for_every_caller"),
    ("createProject", 201, "api_auth::every_endpoint_for_every_caller"),
    ("createProject", 400, "api_input::bad_projects_and_invites"),
    ("createProject", 413, "openapi"),
    ("createProject", 415, "openapi"),
    ("getProject", 200, "api_auth::every_endpoint_for_every_caller"),
    ("getProject", 400, "openapi"),
    ("getProject", 404, "api_auth::every_endpoint_for_every_caller"),
    ("updateFiles", 200, "api_auth::every_endpoint_for_every_caller"),
    ("updateFiles", 400, "api_input::malformed_bodies_name_the_problem"),
    ("updateFiles", 403, "api_auth::every_endpoint_for_every_caller"),
    ("updateFiles", 404, "api_auth::every_endpoint_for_every_caller"),
    ("updateFiles", 409, "api_input::reused_batch_id_with_other_changes_conflicts"),
    ("updateFiles", 413, "api_input::batch_sizes_and_body_limit"),
    ("updateFiles", 415, "api_input::malformed_bodies_name_the_problem"),
    ("updateFiles", 422, "api_input::invalid_changes_are_refused_all_or_nothing"),
    ("getFiles", 200, "api_auth::every_endpoint_for_every_caller"),
    ("getFiles", 400, "openapi"),
    ("getFiles", 404, "api_auth::every_endpoint_for_every_caller"),
    ("listEvents", 200, "api_auth::every_endpoint_for_every_caller"),
    ("listEvents", 400, "api_input::bad_queries_and_ids_name_the_parameter"),
    ("listEvents", 404, "api_auth::every_endpoint_for_every_caller"),
    ("createInvite", 201, "api_auth::every_endpoint_for_every_caller"),
    ("createInvite", 400, "api_input::bad_projects_and_invites"),
    ("createInvite", 403, "api_auth::every_endpoint_for_every_caller"),
    ("createInvite", 404, "api_auth::every_endpoint_for_every_caller"),
    ("createInvite", 409, "api_input::bad_projects_and_invites"),
    ("createInvite", 413, "openapi"),
    ("createInvite", 415, "api_input::bad_projects_and_invites"),
    ("createInvite", 422, "api_input::bad_projects_and_invites"),
    ("acceptInvite", 200, "api_auth::accepting_invites_by_caller"),
    ("acceptInvite", 403, "api_story::story_on_sqlite"),
    ("acceptInvite", 404, "api_auth::accepting_invites_by_caller"),
    ("acceptInvite", 409, "api_auth::accepting_invites_by_caller"),
    ("acceptInvite", 410, "api_story::story_on_sqlite"),
    ("listMembers", 200, "api_auth::every_endpoint_for_every_caller"),
    ("listMembers", 400, "openapi"),
    ("listMembers", 404, "api_auth::every_endpoint_for_every_caller"),
    ("revokeMember", 200, "api_auth::every_endpoint_for_every_caller"),
    ("revokeMember", 400, "openapi"),
    ("revokeMember", 403, "api_auth::every_endpoint_for_every_caller"),
    ("revokeMember", 404, "api_auth::every_endpoint_for_every_caller"),
    ("getProgress", 200, "api_auth::every_endpoint_for_every_caller"),
    ("getProgress", 400, "hardening_progress::the_progress_report_comes_in_pages"),
    ("getProgress", 404, "api_auth::every_endpoint_for_every_caller"),
    ("openWebSocket", 101, "push_ws::upgrade_needs_a_token_and_an_allowed_origin"),
    ("openWebSocket", 400, "openapi"),
    ("openWebSocket", 403, "push_ws::upgrade_needs_a_token_and_an_allowed_origin"),
    ("healthz", 200, "api_ops::health_readiness_and_metrics"),
    ("readyz", 200, "api_ops::health_readiness_and_metrics"),
    ("readyz", 503, "openapi"),
    ("metrics", 200, "api_ops::health_readiness_and_metrics"),
    ("openapi", 200, "openapi"),
];

/// Added to every operation that needs the token (cloud::api::openapi::finish):
/// 401 is reached for each by the test below, 429 by the rate-limit tests
/// (api_ops::rate_limit_is_per_token_with_retry_after, hardening_limits),
/// which hold for every route the limiter's one `route_layer` covers.
const SECURED: &[u16] = &[401, 429];

/// One operation of the document.
#[derive(Debug)]
struct Operation {
    id: String,
    method: Method,
    path: String,
    statuses: BTreeSet<u16>,
    secured: bool,
    has_body: bool,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            let statuses = op["responses"].as_object().expect("responses").keys();
            ops.push(Operation {
                id: op["operationId"].as_str().expect("operationId").to_owned(),
                method,
                path: path.clone(),
                statuses: statuses.map(|s| s.parse().expect("a status")).collect(),
                has_body: op.get("requestBody").is_some(),
                secured: op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some())),
            });
        }
    }
    ops
}

/// The route templates of a router, from its `Debug` form (axum lists them
/// there and nowhere public). Fails rather than find none if that form changes.
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    let text = format!("{router:?}");
    let mut paths = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("RouteId(") {
        rest = &rest[at..];
        let Some(quote) = rest.find(": \"") else { break };
        let tail = &rest[quote + 3..];
        let end = tail.find('"').expect("closing quote");
        let path = &tail[..end];
        if !path.contains("__private__") {
            paths.insert(path.to_owned());
        }
        rest = &tail[end..];
    }
    assert!(paths.contains("/api/me") && paths.len() > 10, "cannot read the routes from {text:.500}");
    paths
}

/// A concrete URL for a route template: every parameter gets `value`.
fn fill(template: &str, value: &str) -> String {
    template.split('/').map(|s| if s.starts_with('{') { value } else { s }).collect::<Vec<_>>().join("/")
}

#[tokio::test]
async fn the_document_is_the_surface() {
    let settings = Settings { rate_limit_per_s: 0, ip_rate_limit_per_s: 0, ..Settings::default() };
    let cloud = TestCloud::start_sqlite_with(settings).await;
    let (_, token) = cloud.add_user("ada").await;
    let http = reqwest::Client::new();

    // Public: no token needed, and a wrong one does not stop it either.
    let resp = http.get(format!("{}/api/openapi.json", cloud.url())).bearer_auth("stc_wrong").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);

    // Every (method, path) the server routes is an operation of the document.
    // A method is routed when it is answered with anything but 405/404.
    let router = cloud::server::router(cloud.state().clone());
    let documented: BTreeSet<(String, String)> = ops.iter().map(|o| (o.method.to_string(), o.path.clone())).collect();
    let mut served = BTreeSet::new();
    for path in router_paths(&router) {
        for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let url = format!("{}{}", cloud.url(), fill(&path, &Uuid::new_v4().to_string()));
            let status = http.request(method.clone(), url).send().await.unwrap().status();
            if status != StatusCode::METHOD_NOT_ALLOWED && status != StatusCode::NOT_FOUND {
                served.insert((method.to_string(), path.clone()));
            }
        }
    }
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not in the document: {missing:?}");
    let phantom: Vec<_> = documented.difference(&served).collect();
    assert!(phantom.is_empty(), "in the document but not served: {phantom:?}");

    // Every documented status has a test that reaches it.
    let mut promised = BTreeSet::new();
    for op in &ops {
        for status in &op.statuses {
            if !(op.secured && SECURED.contains(status)) {
                promised.insert((op.id.clone(), *status));
            }
        }
    }
    let covered: BTreeSet<(String, u16)> = COVERAGE.iter().map(|(id, s, _)| ((*id).to_owned(), *s)).collect();
    assert_eq!(promised, covered, "documented statuses vs COVERAGE (left: the document)");

    // The ones this test reaches: 401 for every secured operation, and for
    // every `{id}` one 400 for an id that is not a UUID and 404 for an unknown project.
    for op in ops.iter().filter(|o| o.secured) {
        let url = format!("{}{}", cloud.url(), fill(&op.path, &Uuid::new_v4().to_string()));
        let resp = http.request(op.method.clone(), url).send().await.unwrap();
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
        if op.path.contains("{id}") {
            let url = format!("{}{}", cloud.url(), fill(&op.path, "not-a-uuid"));
            let resp = http.request(op.method.clone(), url).bearer_auth(&token).send().await.unwrap();
            expect_error(resp, StatusCode::BAD_REQUEST, "invalid_id").await;
            let url = format!("{}{}", cloud.url(), fill(&op.path, &Uuid::new_v4().to_string()));
            let mut req = http.request(op.method.clone(), url).bearer_auth(&token);
            if op.id == "updateFiles" {
                let batch = json!({"batch_id": Uuid::new_v4(), "changes": [{"path": "a", "op": "delete"}]});
                req = req.json(&batch);
            }
            assert!(op.statuses.contains(&404), "{}", op.id);
            expect_error(req.send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    let limit = cloud.state().settings.body_limit;
    for op in ops.iter().filter(|o| o.has_body) {
        let url = format!("{}{}", cloud.url(), fill(&op.path, &Uuid::new_v4().to_string()));
        let too_big = http.request(op.method.clone(), &url).bearer_auth(&token).json(&" ".repeat(limit));
        expect_error(too_big.send().await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
        let text = http.request(op.method.clone(), &url).bearer_auth(&token).header("content-type", "text/plain");
        let resp = text.body("{}").send().await.unwrap();
        expect_error(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    }
    let ws = http.get(format!("{}/api/ws", cloud.url())).bearer_auth(&token).send().await.unwrap();
    expect_error(ws, StatusCode::BAD_REQUEST, "bad_request").await;

    // Shutting down: readiness turns red first (503), asked of the router itself
    // since the listener is closing.
    cloud.state().shutdown.cancel();
    let req = axum::http::Request::get("/readyz").body(Body::empty()).unwrap();
    assert_eq!(router.oneshot(req).await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    cloud.shutdown().await;
}
