//! A real `cloud serve` against hostile HTTP clients: junk methods and paths
//! must not grow `/metrics`; slow-header clients are cut after the header-read
//! timeout; half-sent requests cannot starve a normal one of connections (even
//! with few file descriptors); a trickling body is answered 408; invite codes
//! never reach the request log.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use cloud::state::Settings;
use e2e::cloud::{CloudDb, CloudProc, add_user, cloud_command, wrapped_cloud_command};
use rand::RngExt;
use reqwest::StatusCode;
use support::server::{Client, DEADLINE, TestCloud};
use syncthing_fixtures::poll::eventually_async;
use syncthing_fixtures::ports::free_port;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

fn sqlite(dir: &Path) -> CloudDb {
    CloudDb::DataDir(dir.join("data"))
}

/// `cmd serve` on SQLite in `home` and a free port, logging JSON, with `extra` flags.
async fn serve_with(cmd: Command, home: &Path, extra: &[&str]) -> CloudProc {
    let args: Vec<&str> = ["--log-format", "json"].iter().chain(extra).copied().collect();
    let port = free_port().expect("a free port");
    CloudProc::spawn(cmd, sqlite(home), home, port, &args).await.expect("cloud serve starts")
}

/// `cloud serve` on SQLite in `home`, with `extra` flags.
async fn serve(home: &Path, extra: &[&str]) -> CloudProc {
    serve_with(cloud_command().expect("the cloud binary"), home, extra).await
}

/// Sends `request` on a new connection and reads until the server closes it.
async fn raw(addr: &str, request: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, tcp.read_to_end(&mut answer)).await.expect("answer in time").expect("read");
    answer
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}

/// `n` requests with random methods of 100..4000 letters on random paths.
async fn junk(addr: &str, n: usize) {
    for i in 0..n {
        let (method_len, path_len) = {
            let mut rng = rand::rng();
            (rng.random_range(100..4000), rng.random_range(1..200))
        };
        let method = random_text(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", method_len);
        let tail = random_text(b"abcdefghijklmnopqrstuvwxyz0123456789-_", path_len);
        let path = match i % 3 {
            0 => format!("/{tail}"),
            1 => format!("/api/projects/{tail}"),
            _ => format!("/api/invites/{tail}/accept"),
        };
        let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let answer = raw(addr, request.as_bytes()).await;
        assert!(answer.starts_with(b"HTTP/1.1 "), "no answer to junk request {i}");
    }
}

/// The `/metrics` text and its series (a sample line without its value).
async fn scrape(url: &str) -> (String, BTreeSet<String>) {
    let text = Client::new(url, None).get("/metrics").await.text().await.expect("metrics body");
    let series = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect();
    (text, series)
}

/// Every value of `label` on the `cloud_http_requests_total` series.
fn label_values(series: &BTreeSet<String>, label: &str) -> BTreeSet<String> {
    let needle = format!("{label}=\"");
    series
        .iter()
        .filter(|s| s.starts_with("cloud_http_requests_total{"))
        .filter_map(|s| s.split_once(&needle).and_then(|(_, rest)| rest.split_once('"')).map(|(v, _)| v.to_owned()))
        .collect()
}

#[tokio::test]
async fn junk_methods_and_paths_do_not_grow_metrics() {
    let home = tempfile::tempdir().unwrap();
    let served = serve(home.path(), &[]).await;
    let addr = served.addr();
    scrape(&served.url).await; // so the scrape's own series exist from here on
    junk(&addr, 1000).await;
    let (first, first_series) = scrape(&served.url).await;
    junk(&addr, 1000).await;
    let (second, second_series) = scrape(&served.url).await;

    let methods = label_values(&second_series, "method");
    let allowed: BTreeSet<String> =
        ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "other"].map(String::from).into();
    let odd: Vec<String> = methods.difference(&allowed).take(3).map(|m| m.chars().take(40).collect()).collect();
    assert!(odd.is_empty(), "{} method labels beyond the fixed set, such as {odd:?}", methods.len());
    let routes = label_values(&second_series, "route");
    let templates: BTreeSet<String> =
        ["unmatched", "/metrics", "/healthz", "/readyz", "/api/projects/{id}", "/api/invites/{code}/accept"]
            .map(String::from)
            .into();
    let odd: Vec<String> = routes.difference(&templates).take(3).map(|r| r.chars().take(60).collect()).collect();
    assert!(odd.is_empty(), "route labels that are not templates, such as {odd:?}");
    let added: Vec<_> = second_series.difference(&first_series).take(5).collect();
    assert!(added.is_empty(), "1000 more junk requests added series, such as {added:?}");
    eprintln!("/metrics after 1000 junk requests: {} bytes; after 2000: {} bytes", first.len(), second.len());
    assert!(second.len() <= first.len() + 256, "/metrics grew from {} to {} bytes", first.len(), second.len());
}

#[tokio::test]
async fn slow_header_clients_are_cut_after_the_timeout() {
    let home = tempfile::tempdir().unwrap();
    let served = serve(home.path(), &["--header-read-timeout", "1"]).await;
    let addr = served.addr();
    let started = Instant::now();
    let mut clients = Vec::new();
    for i in 0..20 {
        let addr = addr.clone();
        clients.push(tokio::spawn(async move {
            let mut tcp = TcpStream::connect(&addr).await.expect("connect");
            // One header line every 300 ms, for up to 10 s; the first write that
            // fails or the first read that ends says the server hung up.
            let mut lines = vec![format!("GET /healthz HTTP/1.1\r\n")];
            lines.extend((0..33).map(|n| format!("X-Slow-{i}-{n}: still here\r\n")));
            for line in lines {
                if tcp.write_all(line.as_bytes()).await.is_err() {
                    return Instant::now();
                }
                let mut byte = [0u8; 1];
                match tokio::time::timeout(Duration::from_millis(300), tcp.read(&mut byte)).await {
                    Ok(Ok(0) | Err(_)) => return Instant::now(),
                    Ok(Ok(_)) => {} // an error answer (408) may come first; the close follows
                    Err(_) => {}    // nothing yet: send the next line
                }
            }
            panic!("slow client {i} was still connected after 10 s");
        }));
    }
    // One that connects and sends nothing at all.
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    let mut rest = Vec::new();
    tokio::time::timeout(DEADLINE, silent.read_to_end(&mut rest)).await.expect("silent client cut").ok();
    let mut slowest = Duration::ZERO;
    for client in clients {
        slowest = slowest.max(client.await.expect("slow client").duration_since(started));
    }
    eprintln!("20 slow-header clients cut after at most {slowest:?} (timeout 1 s)");
    assert!(slowest < Duration::from_secs(5), "slowest cut after {slowest:?}");
    assert_eq!(Client::new(&served.url, None).get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn half_sent_requests_cannot_starve_a_normal_one() {
    let home = tempfile::tempdir().unwrap();
    // 256 descriptors, as a small box's limit would be; 400 half-sent requests
    // would take them all if the server kept accepting.
    let cmd = wrapped_cloud_command(&["prlimit", "--nofile=256:256", "--"]).expect("the cloud binary");
    let served = serve_with(cmd, home.path(), &["--header-read-timeout", "2", "--max-connections", "100"]).await;
    let addr = served.addr();
    let mut half_sent = Vec::new();
    for _ in 0..400 {
        // A server that stopped accepting fills its backlog: then stop adding.
        let Ok(Ok(mut tcp)) = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr)).await else {
            break;
        };
        if tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.is_ok() {
            half_sent.push(tcp);
        }
    }
    let started = Instant::now();
    let status = Client::new(&served.url, None).get("/healthz").await.status();
    eprintln!("a normal request behind 400 half-sent ones answered {status} in {:?}", started.elapsed());
    assert_eq!(status, StatusCode::OK);
    drop(half_sent);
}

#[tokio::test]
async fn invite_codes_stay_out_of_the_request_log() {
    let home = tempfile::tempdir().unwrap();
    let db = sqlite(home.path());
    let owner = add_user(&db, "owner").await.expect("cloud user add").token;
    let member = add_user(&db, "member").await.expect("cloud user add").token;
    let served = serve(home.path(), &[]).await;
    let owner = Client::new(&served.url, Some(owner));
    let project = owner.create_project("Shots", "f").await.id;
    let invite = owner.invite(project, None).await;
    Client::new(&served.url, Some(member)).accept(&invite.code).await;
    let log = eventually_async("the accept in the request log", DEADLINE, || async {
        let log = served.log_text();
        log.lines().any(|l| l.contains("finished processing request") && l.contains("/accept")).then_some(log)
    })
    .await;
    assert!(!log.contains(&invite.code), "the invite code is in the log:\n{log}");
    assert!(log.contains("/api/invites/{code}/accept"), "the route template is not logged:\n{log}");
}

#[tokio::test]
async fn a_request_whose_body_trickles_is_answered_408() {
    let settings = Settings { request_timeout: Duration::from_secs(1), ..Settings::default() };
    let cloud = TestCloud::start_sqlite_with(settings).await;
    let (_, token) = cloud.add_user("olivia").await;
    let mut tcp = TcpStream::connect(cloud.addr()).await.expect("connect");
    let head = format!(
        "POST /api/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(DEADLINE, tcp.read(&mut answer)).await.expect("an answer in time").expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    eprintln!("a trickling body was answered after {:?} (timeout 1 s)", started.elapsed());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"timeout""#), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5), "answered after {:?}", started.elapsed());
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let home = tempfile::tempdir().unwrap();
    let served = serve(home.path(), &["--metrics-listen", "127.0.0.1:0"]).await;
    let metrics_addr = served
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "metrics listening")
        .and_then(|v| v["fields"]["addr"].as_str().map(str::to_owned))
        .expect("the log says where metrics listen");
    let api = Client::new(&served.url, None);
    assert_eq!(api.get("/metrics").await.status(), StatusCode::NOT_FOUND, "/metrics left the API's listener");
    let text = Client::new(&format!("http://{metrics_addr}"), None).get("/metrics").await.text().await.unwrap();
    assert!(text.contains("cloud_http_requests_total"), "{text}");
}
