//! Operations over real HTTP: health and readiness, Prometheus metrics, wire
//! errors for unknown routes and methods, request ids, the per-token rate
//! limit, and graceful shutdown letting an in-flight request finish.

use std::sync::Arc;

use crate::support;

use cloud::state::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::server::{Clients, DEADLINE, TestCloud, create, expect_error, ok};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let cloud = TestCloud::start_sqlite().await;
    let anonymous = cloud.anonymous();
    assert_eq!(ok::<Value>(anonymous.get("/healthz").await).await, json!({"status": "ok"}));
    assert_eq!(ok::<Value>(anonymous.get("/readyz").await).await, json!({"status": "ready"}));

    // Some traffic to count: a batch and a refused call.
    let (_, token) = cloud.add_user("olivia").await;
    let owner = cloud.client(&token);
    let p = owner.create_project("Shots", "f").await.id;
    owner.update(p, Uuid::new_v4(), vec![create("a", 1), create("b", 2)]).await;
    expect_error(anonymous.get("/api/me").await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let resp = anonymous.get("/metrics").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = resp.text().await.unwrap();
    for needle in [
        "# TYPE cloud_events_written_total counter",
        "cloud_batches_total{outcome=\"applied\"}",
        "cloud_http_requests_total{method=\"POST\",route=\"/api/projects/{id}/files/update\",status=\"200\"}",
        "cloud_http_requests_total{method=\"GET\",route=\"/api/me\",status=\"401\"}",
        "cloud_http_request_duration_seconds_bucket",
        "# TYPE cloud_ws_subscribers gauge",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle:?}:\n{text}");
    }
    let written = metric_value(&text, "cloud_events_written_total");
    assert!(written >= 2.0, "events written {written}");
    cloud.shutdown().await;
}

/// The value of an unlabelled sample.
fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name}"))
}

#[tokio::test]
async fn unknown_routes_and_methods_get_wire_errors_and_request_ids() {
    let cloud = TestCloud::start_sqlite().await;
    let (_, token) = cloud.add_user("olivia").await;
    let client = cloud.client(&token);
    for path in ["/nope", "/api/nope", "/api/projects/x/y/z"] {
        let err = expect_error(client.get(path).await, StatusCode::NOT_FOUND, "not_found").await;
        assert!(err.error.message.contains(path), "{}", err.error.message);
    }
    let err =
        expect_error(client.post_raw("/api/me", None, "").await, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            .await;
    assert!(err.error.message.contains("POST"), "{}", err.error.message);
    expect_error(client.delete("/api/projects").await, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    // Answers from code outside the API (the WebSocket upgrade refusing a plain
    // GET) are in the wire format too.
    let resp = client.get("/api/ws").await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let status = resp.status();
    let body: cloud_protocol::ErrorBody = resp.json().await.expect("wire error body");
    assert!(!body.error.message.is_empty(), "{status}: {body:?}");

    let resp = client.get("/api/me").await;
    let id = resp.headers().get("x-request-id").expect("x-request-id").to_str().unwrap();
    assert!(Uuid::parse_str(id).is_ok(), "{id}");
    let resp = client.request(reqwest::Method::GET, "/api/me").header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123", "a caller's request id is kept");
    cloud.shutdown().await;
}

#[tokio::test]
async fn rate_limit_is_per_token_with_retry_after() {
    let cloud = TestCloud::start_sqlite_with(Settings { rate_limit_per_s: 1, ..Settings::default() }).await;
    let (_, fast) = cloud.add_user("fast").await;
    let (_, calm) = cloud.add_user("calm").await;
    let fast = cloud.client(&fast);
    // 1/s with bursts of 2: within a handful of back-to-back calls, one is refused.
    let mut refused = None;
    for _ in 0..10 {
        let resp = fast.get("/api/me").await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(resp);
            break;
        }
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = refused.expect("a 429 within 10 rapid calls");
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Others are not slowed down, and health checks are not limited.
    assert_eq!(cloud.client(&calm).get("/api/me").await.status(), StatusCode::OK);
    assert_eq!(fast.get("/healthz").await.status(), StatusCode::OK);
    cloud.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let cloud = TestCloud::start_sqlite().await;
    let (_, token) = cloud.add_user("olivia").await;
    let owner = cloud.client(&token);
    let p = owner.create_project("Shots", "f").await.id;

    // A raw HTTP/1.1 request with `Expect: 100-continue`: the server answers
    // `100 Continue` only once the handler reads the body, so we know the
    // request is in flight before shutting down.
    let body = json!({"batch_id": Uuid::new_v4(), "changes": [create("late.txt", 1)]}).to_string();
    let head = format!(
        "POST /api/projects/{p}/files/update HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        cloud.addr(),
        body.len()
    );
    let mut tcp = TcpStream::connect(cloud.addr()).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let interim = read_until(&mut tcp, b"\r\n\r\n").await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");

    cloud.state().shutdown.cancel();
    tcp.write_all(body.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, tcp.read_to_end(&mut answer)).await.expect("answer in time").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""first_seq":1"#), "{answer}");

    let stopped = cloud.shutdown().await;
    // The batch committed before the server stopped. Several reads at once make
    // the store open new connections: the database must still be there (it was
    // not when the test cloud's temp dir went with the server: SQLite code 14).
    let store = stopped.store();
    let reads = (0..4).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.events_since(p, 0, 10).await.map(|events| events.len()) })
    });
    for read in reads.collect::<Vec<_>>() {
        assert_eq!(read.await.unwrap().expect("the store still reads after shutdown"), 1);
    }
}

/// Reads from `tcp` until `end` has been seen; returns what was read.
async fn read_until(tcp: &mut TcpStream, end: &[u8]) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(DEADLINE, async {
        while !buf.ends_with(end) {
            let n = tcp.read(&mut byte).await.unwrap();
            assert!(n > 0, "connection closed after {:?}", String::from_utf8_lossy(&buf));
            buf.push(byte[0]);
        }
    })
    .await
    .expect("interim answer in time");
    String::from_utf8_lossy(&buf).into_owned()
}
