//! The dashboard published from a container: it listens on `0.0.0.0` and a
//! browser reaches it as `nas.local`. Real requests on a real listener, the
//! name resolved to it as a browser's resolver would: the listed name gets
//! in (with the secret), any other name is refused whatever it carries
//! (DNS rebinding), and the loopback names still work.

use std::net::SocketAddr;

use companion::ui::{Dashboard, UiError};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use tokio_util::sync::CancellationToken;

async fn dashboard(listen: &str, allowed: &[&str]) -> Result<(Dashboard, tempfile::TempDir), UiError> {
    let state = tempfile::tempdir().unwrap();
    let db = companion::manifest::db::Db::open_in(state.path()).unwrap();
    let allowed: Vec<String> = allowed.iter().map(|h| (*h).to_owned()).collect();
    let dashboard = Dashboard::bind_allowing(listen, &allowed, db, companion::live::Live::new()).await?;
    Ok((dashboard, state))
}

/// A client that resolves each of `names` to the dashboard's port on
/// loopback and sends `Host: name:port`, as a browser would.
fn browser(names: &[&str], port: u16) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    for name in names {
        builder = builder.resolve(name, SocketAddr::from(([127, 0, 0, 1], port)));
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_on_all_interfaces_answers_to_the_listed_names_only() {
    let (dashboard, _state) = dashboard("0.0.0.0:0", &["nas.local"]).await.unwrap();
    let port = dashboard.addr().port();
    assert!(dashboard.addr().ip().is_unspecified());
    // The URL names the listed host, so it opens from the user's browser.
    let url = dashboard.url();
    assert!(url.starts_with(&format!("http://nas.local:{port}/?key=")), "{url}");
    let shutdown = CancellationToken::new();
    tokio::spawn(dashboard.serve(shutdown.clone()));
    let http = browser(&["nas.local", "evil.example"], port);

    // The listed name, with the secret: a session cookie, then the API.
    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let cookie = first.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let status = http.get(format!("http://nas.local:{port}/api/status")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    let body: serde_json::Value = status.json().await.unwrap();
    assert!(body["projects"].is_array(), "{body}");

    // The listed name still needs the secret.
    let bare = http.get(format!("http://nas.local:{port}/api/status")).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);

    // A rebinding page's own name is refused, even with a valid session,
    // and the refusal says what the dashboard answers to.
    let rebound =
        http.get(format!("http://evil.example:{port}/api/status")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    let why = rebound.text().await.unwrap();
    assert!(why.contains("nas.local (any port)") && why.contains("allowed_hosts"), "{why}");
    assert!(!why.contains("evil.example"), "the refusal echoes the request's Host: {why}");
    let key = url.split("?key=").nth(1).unwrap();
    let rebound = http.get(format!("http://evil.example:{port}/?key={key}")).send().await.unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN, "a foreign name traded the secret for a cookie");

    // Loopback names keep working (a port published on the host's loopback).
    let local = http.get(format!("http://127.0.0.1:{port}/api/status")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(local.status(), StatusCode::OK);
    shutdown.cancel();
}

#[tokio::test]
async fn without_listed_names_a_wildcard_dashboard_is_reached_through_loopback() {
    let (dashboard, _state) = dashboard("0.0.0.0:0", &[]).await.unwrap();
    let port = dashboard.addr().port();
    assert!(dashboard.url().starts_with(&format!("http://127.0.0.1:{port}/?key=")), "{}", dashboard.url());
    assert_eq!(dashboard.hosts().describe(), format!("localhost:{port}, 127.0.0.1:{port}, [::1]:{port}"));
    let shutdown = CancellationToken::new();
    let url = dashboard.url();
    tokio::spawn(dashboard.serve(shutdown.clone()));
    let http = browser(&["nas.local"], port);
    let opened = http.get(&url).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    let unlisted = http.get(url.replace("127.0.0.1", "nas.local")).send().await.unwrap();
    assert_eq!(unlisted.status(), StatusCode::FORBIDDEN);
    shutdown.cancel();
}

#[tokio::test]
async fn a_bad_allowed_host_stops_the_dashboard_with_its_name() {
    let e = dashboard("0.0.0.0:0", &["https://nas.local:8385/"]).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, UiError::AllowedHost(_)), "{text}");
    assert!(text.contains("https://nas.local:8385/") && text.contains("allowed_hosts"), "{text}");
}
