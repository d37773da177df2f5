//! Rate limits against clients without a valid token: requests with no token
//! or random tokens are limited per client address (here told apart with
//! `X-Forwarded-For` and `--trust-forwarded-for`), and a real user's quota is
//! charged only once their token is verified, so nobody else can use it up.
//! And the per-project path quota, as an owner meets it.

use crate::support;

use cloud::state::Settings;
use cloud_protocol::UpdateFilesRequest;
use reqwest::{Method, StatusCode};
use support::server::{Client, TestCloud, create, expect_error};
use uuid::Uuid;

/// A request from `ip` (through the trusted proxy header) with `token`.
async fn from(cloud: &TestCloud, ip: &str, token: Option<&str>) -> reqwest::Response {
    let client = Client::new(&cloud.url(), token.map(str::to_owned));
    client.request(Method::GET, "/api/me").header("x-forwarded-for", format!("10.9.9.9, {ip}")).send().await.unwrap()
}

#[tokio::test]
async fn random_tokens_are_limited_per_address_and_spare_real_users() {
    let settings =
        Settings { ip_rate_limit_per_s: 5, rate_limit_per_s: 5, trust_forwarded_for: true, ..Settings::default() };
    let cloud = TestCloud::start_sqlite_with(settings).await;
    let (_, token) = cloud.add_user("olivia").await;

    // Random tokens from one address: 401 for the burst (2 × 5, plus what
    // refills meanwhile), then 429.
    let mut statuses = Vec::new();
    let mut refusal = None;
    for _ in 0..30 {
        let resp = from(&cloud, "198.51.100.7", Some(&cloud::auth::generate_token())).await;
        statuses.push(resp.status());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS && refusal.is_none() {
            refusal = Some(resp);
        }
    }
    let first_refusal = statuses.iter().position(|s| *s == StatusCode::TOO_MANY_REQUESTS);
    assert!(matches!(first_refusal, Some(n) if n <= 20), "random tokens were never refused: {statuses:?}");
    assert!(statuses[..first_refusal.unwrap()].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    let resp = refusal.expect("a refusal");
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // No token at all is limited the same way.
    let mut refused = false;
    for _ in 0..30 {
        refused |= from(&cloud, "203.0.113.5", None).await.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused, "requests without a token were never refused");

    // The real user, from another address, has their whole quota: a burst of
    // 10 passes although others sent 60 requests with bad tokens meanwhile.
    for n in 0..10 {
        let resp = from(&cloud, "192.0.2.10", Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK, "the user's request {n} was refused");
    }
    // And their own quota still applies to them.
    let mut own_limit = false;
    for _ in 0..20 {
        own_limit |= from(&cloud, "192.0.2.10", Some(&token)).await.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(own_limit, "the per-token limit no longer applies");
    cloud.shutdown().await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_trusted() {
    let settings = Settings { ip_rate_limit_per_s: 2, ..Settings::default() };
    let cloud = TestCloud::start_sqlite_with(settings).await;
    // Each request claims another address; untrusted, they all count for 127.0.0.1.
    let mut refused = false;
    for n in 0..20 {
        refused |= from(&cloud, &format!("198.51.100.{n}"), None).await.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused, "a client escaped the limit by varying X-Forwarded-For");
    cloud.shutdown().await;
}

#[tokio::test]
async fn a_batch_past_the_path_quota_is_refused_whole() {
    let cloud = TestCloud::start_sqlite_with(Settings { max_paths_per_project: 3, ..Settings::default() }).await;
    let (_, token) = cloud.add_user("olivia").await;
    let owner = cloud.client(&token);
    let project = owner.create_project("Shots", "f").await.id;
    owner.update(project, Uuid::new_v4(), vec![create("a", 1), create("b", 2)]).await;
    let body = UpdateFilesRequest { batch_id: Uuid::new_v4(), changes: vec![create("c", 3), create("d", 4)] };
    let resp = owner.post_json(&format!("/api/projects/{project}/files/update"), &body).await;
    let err = expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "quota_exceeded").await;
    assert!(err.error.message.contains("more than the 3 allowed"), "{}", err.error.message);
    assert_eq!(owner.files(project).await.files.len(), 2, "nothing of the refused batch was stored");
    cloud.shutdown().await;
}
