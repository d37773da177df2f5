//! The access matrix: every endpoint × every kind of caller (no token, bad
//! token, stranger, invited-not-accepted, member, revoked member, owner) gets
//! the right status and error code, over real HTTP against a real server.
//!
//! Outsiders get `404 not_found` for a project whether or not it exists; a
//! member trying an owner-only action gets `403 forbidden`. The WebSocket row
//! lives with the push tests and reuses `support::server::{Cast, Who}`.

use crate::support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::server::{Cast, Clients, TestCloud, Who, create};
use uuid::Uuid;

/// What a call should give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Ok(StatusCode),
    Err(StatusCode, &'static str),
}

const UNAUTHORIZED: Want = Want::Err(StatusCode::UNAUTHORIZED, "unauthorized");
const HIDDEN: Want = Want::Err(StatusCode::NOT_FOUND, "not_found");
const FORBIDDEN: Want = Want::Err(StatusCode::FORBIDDEN, "forbidden");
const OK: Want = Want::Ok(StatusCode::OK);
const CREATED: Want = Want::Ok(StatusCode::CREATED);

/// Any authenticated user may.
fn anyone(who: Who, ok: Want) -> Want {
    match who {
        Who::NoToken | Who::BadToken => UNAUTHORIZED,
        _ => ok,
    }
}

/// Owner and accepted members read; outsiders do not learn it exists.
fn readers(who: Who) -> Want {
    match who {
        Who::NoToken | Who::BadToken => UNAUTHORIZED,
        Who::Stranger | Who::Invited | Who::Revoked => HIDDEN,
        Who::Member | Who::Owner => OK,
    }
}

/// Only the owner writes; members are told no, outsiders see nothing.
fn owner_only(who: Who, ok: Want) -> Want {
    match who {
        Who::NoToken | Who::BadToken => UNAUTHORIZED,
        Who::Stranger | Who::Invited | Who::Revoked => HIDDEN,
        Who::Member => FORBIDDEN,
        Who::Owner => ok,
    }
}

/// One endpoint: how to call it, and what each caller should get.
struct Row {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    want: fn(Who) -> Want,
}

impl Row {
    fn get(name: &'static str, path: impl Into<String>, want: fn(Who) -> Want) -> Row {
        Row { name, method: Method::GET, path: path.into(), body: None, want }
    }

    fn post(name: &'static str, path: impl Into<String>, body: Value, want: fn(Who) -> Want) -> Row {
        Row { name, method: Method::POST, path: path.into(), body: Some(body), want }
    }

    fn delete(name: &'static str, path: impl Into<String>, want: fn(Who) -> Want) -> Row {
        Row { name, method: Method::DELETE, path: path.into(), body: None, want }
    }
}

#[tokio::test]
async fn every_endpoint_for_every_caller() {
    let (cloud, cast) = Cast::start().await;
    let p = cast.project;
    // Someone the owner can remove in the DELETE row without changing the cast.
    let (extra_id, extra_token) = cloud.add_user("extra").await;
    let owner = cloud.client(&cast.owner.1);
    let code = owner.invite(p, None).await.code;
    cloud.client(&extra_token).accept(&code).await;

    let batch = || json!({"batch_id": Uuid::new_v4(), "changes": [create("a.txt", 1)]});
    let rows = vec![
        Row::get("me", "/api/me", |w| anyone(w, OK)),
        Row::post("create project", "/api/projects", json!({"name": "mine", "folder_id": "f"}), |w| anyone(w, CREATED)),
        Row::get("list projects", "/api/projects", |w| anyone(w, OK)),
        Row::get("get project", format!("/api/projects/{p}"), readers),
        Row::post("update files", format!("/api/projects/{p}/files/update"), batch(), |w| owner_only(w, OK)),
        Row::get("events", format!("/api/projects/{p}/events?since_seq=0"), readers),
        Row::get("files", format!("/api/projects/{p}/files"), readers),
        Row::post("create invite", format!("/api/projects/{p}/invites"), json!({}), |w| owner_only(w, CREATED)),
        Row::get("members", format!("/api/projects/{p}/members"), readers),
        Row::get("progress", format!("/api/projects/{p}/progress"), readers),
        Row::delete("revoke member", format!("/api/projects/{p}/members/{extra_id}"), |w| owner_only(w, OK)),
    ];

    let mut failures = Vec::new();
    for row in &rows {
        for who in Who::ALL {
            // A fresh batch id per call, so the owner's call is a new batch.
            let body = if row.name == "update files" { Some(batch()) } else { row.body.clone() };
            let got = call(&cast, &cloud, who, &row.method, &row.path, body).await;
            let want = (row.want)(who);
            if got != want {
                failures.push(format!("{} as {who:?}: want {want:?}, got {got:?}", row.name));
            }
        }
    }
    // The same rules for a project that does not exist: nobody can tell the difference.
    let ghost = Uuid::new_v4();
    for who in Who::ALL {
        let got = call(&cast, &cloud, who, &Method::GET, &format!("/api/projects/{ghost}"), None).await;
        let want = anyone(who, HIDDEN);
        if got != want {
            failures.push(format!("unknown project as {who:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "access matrix:\n{}", failures.join("\n"));
    cloud.shutdown().await;
}

/// Accepting an invite: any authenticated user with the code, except the owner.
#[tokio::test]
async fn accepting_invites_by_caller() {
    let (cloud, cast) = Cast::start().await;
    let owner = cloud.client(&cast.owner.1);
    for who in Who::ALL {
        let code = owner.invite(cast.project, None).await.code;
        let path = format!("/api/invites/{code}/accept");
        let got = call(&cast, &cloud, who, &Method::POST, &path, None).await;
        let want = match who {
            Who::NoToken | Who::BadToken => UNAUTHORIZED,
            Who::Owner => Want::Err(StatusCode::CONFLICT, "owner_cannot_join"),
            // Strangers join; the invited and the revoked (re)join; a member stays one.
            Who::Stranger | Who::Invited | Who::Revoked | Who::Member => OK,
        };
        assert_eq!(got, want, "accept as {who:?}");
    }
    let unknown = cloud.client(&cast.stranger.1).post_raw("/api/invites/nope/accept", None, "").await;
    support::server::expect_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
    cloud.shutdown().await;
}

/// Makes one call and reduces the answer to a [`Want`], checking that errors
/// carry the wire body.
async fn call(cast: &Cast, cloud: &TestCloud, who: Who, method: &Method, path: &str, body: Option<Value>) -> Want {
    let client = cast.client(cloud, who);
    let mut req = client.request(method.clone(), path);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    if status.is_success() {
        return Want::Ok(status);
    }
    let body: cloud_protocol::ErrorBody = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path} as {who:?}: not a wire error ({e}): {text}"));
    let code = match body.error.code.as_str() {
        "unauthorized" => "unauthorized",
        "not_found" => "not_found",
        "forbidden" => "forbidden",
        "owner_cannot_join" => "owner_cannot_join",
        other => panic!("{method} {path} as {who:?}: unexpected code {other}: {text}"),
    };
    Want::Err(status, code)
}
