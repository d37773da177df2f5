//! Rate limits against clients without a valid token: requests with no token
//! or random tokens are limited per client address (here told apart with
//! `X-Forwarded-For` and `--trust-forwarded-for`), and a real user's quota is
//! charged only once their token is verified, so nobody else can use it up.
//! And the per-project path quota, as an owner meets it.

use crate::support;

use cloud::state::Settings;
use std::time::{Duration, Instant};

use cloud_protocol::UpdateFilesRequest;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use support::server::{Client, Clients, TestCloud, create, expect_error};
use uuid::Uuid;

/// A request from `ip` (through the trusted proxy header) with `token`.
async fn from(cloud: &TestCloud, ip: &str, token: Option<&str>) -> reqwest::Response {
    let client = Client::new(&cloud.url(), token.map(str::to_owned));
    client.request(Method::GET, "/api/me").header("x-forwarded-for", format!("10.9.9.9, {ip}")).send().await.unwrap()
}

/// `n` requests sent at once from `ip`, each with the token `token()` gives,
/// and how long they took from the first send to the last answer.
async fn at_once(
    cloud: &TestCloud,
    ip: &str,
    n: usize,
    token: impl Fn() -> Option<String>,
) -> (Vec<reqwest::Response>, Duration) {
    let started = Instant::now();
    let sends = (0..n).map(|_| token()).collect::<Vec<_>>();
    let responses = join_all(sends.iter().map(|t| from(cloud, ip, t.as_deref()))).await;
    (responses, started.elapsed())
}

/// The most requests a GCRA quota of `per_s` a second (bursts of twice that)
/// can let through in `elapsed`: the burst, what refilled meanwhile, and one
/// for rounding. Bounds are computed from the time the requests really took,
/// so a slow machine makes them looser, never the test flaky.
fn most_allowed(per_s: u32, elapsed: Duration) -> usize {
    2 * per_s as usize + (f64::from(per_s) * elapsed.as_secs_f64()).ceil() as usize + 1
}

#[tokio::test]
async fn random_tokens_are_limited_per_address_and_spare_real_users() {
    const PER_S: u32 = 2;
    let settings = Settings {
        ip_rate_limit_per_s: PER_S,
        rate_limit_per_s: PER_S,
        trust_forwarded_for: true,
        ..Settings::default()
    };
    let cloud = TestCloud::start_sqlite_with(settings).await;
    let (_, token) = cloud.add_user("olivia").await;

    // Random tokens from one address: 401 for the burst (and what refills
    // meanwhile), 429 for the rest.
    let (responses, took) = at_once(&cloud, "198.51.100.7", 30, || Some(cloud::auth::generate_token())).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    let passed = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert!(
        statuses.iter().all(|s| [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(s)),
        "{statuses:?}"
    );
    assert!(passed >= 2 * PER_S as usize, "the burst itself was refused: {statuses:?}");
    assert!(passed <= most_allowed(PER_S, took), "{passed} random tokens got through in {took:?}: {statuses:?}");
    let refusal = responses.into_iter().find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS);
    let resp = refusal.unwrap_or_else(|| panic!("random tokens were never refused (30 in {took:?})"));
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // No token at all is limited the same way.
    let (responses, took) = at_once(&cloud, "203.0.113.5", 30, || None).await;
    let passed = responses.iter().filter(|r| r.status() != StatusCode::TOO_MANY_REQUESTS).count();
    assert!(passed < 30, "requests without a token were never refused (30 in {took:?})");
    assert!(passed <= most_allowed(PER_S, took), "{passed} requests without a token got through in {took:?}");

    // The real user, from another address, has their whole quota: a burst
    // passes although others sent 60 requests with bad tokens meanwhile.
    for n in 0..2 * PER_S {
        let resp = from(&cloud, "192.0.2.10", Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK, "the user's request {n} was refused");
    }
    // And their own quota still applies to them.
    let (responses, took) = at_once(&cloud, "192.0.2.10", 20, || Some(token.clone())).await;
    let passed = responses.iter().filter(|r| r.status() == StatusCode::OK).count();
    assert!(passed < 20, "the per-token limit no longer applies (20 in {took:?})");
    cloud.shutdown().await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_trusted() {
    const PER_S: u32 = 2;
    const N: usize = 40;
    let settings = Settings { ip_rate_limit_per_s: PER_S, ..Settings::default() };
    let cloud = TestCloud::start_sqlite_with(settings).await;
    // Each request claims another address; untrusted, they all count for
    // 127.0.0.1. Sent at once: one after another, a loaded machine can take
    // longer than the quota's refill between two of them (seen: 20 sequential
    // requests, none refused).
    let started = Instant::now();
    let ips: Vec<String> = (0..N).map(|n| format!("198.51.100.{n}")).collect();
    let responses = join_all(ips.iter().map(|ip| from(&cloud, ip, None))).await;
    let took = started.elapsed();
    let passed = responses.iter().filter(|r| r.status() != StatusCode::TOO_MANY_REQUESTS).count();
    assert!(
        passed <= most_allowed(PER_S, took),
        "a client escaped the limit by varying X-Forwarded-For: {passed} of {N} passed in {took:?}"
    );
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
