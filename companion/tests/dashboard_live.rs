//! The invitee's dashboard in a real headless Chromium (Debian's
//! `chromium` + `chromium-driver`, driven with fantoccini): a file moves
//! pending → syncing → ✓ without a reload, a file named like an XSS
//! payload is shown as text, and the page refuses a browser without the
//! secret.

use crate::member_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use member_support::*;
use serde_json::{Value, json};
use syncthing_fixtures::poll::{eventually, eventually_async};

const EVIL: &str = "<img src=x onerror=alert(1)>.txt";
/// With U+202E (right-to-left override) after "invoice", this name reads as
/// "invoiceexe.pdf" unless the override is shown escaped.
const BIDI: &str = "invoice\u{202E}fdp.exe";

/// A chromedriver we started, killed (by its pid) on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Driver {
    let port = syncthing_fixtures::ports::free_port().expect("a free port");
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (apt-get install chromium chromium-driver)");
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    eventually("chromedriver answers", DEADLINE, || std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ()))
        .await;
    driver
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let caps = json!({"browserName": "chrome", "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}});
    let Value::Object(caps) = caps else { unreachable!() };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    eventually_async("headless chromium starts", DEADLINE, || {
        let (connector, caps) = (connector.clone(), caps.clone());
        async move { ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await }
    })
    .await
}

/// `[path, state, percent]` of every file row on the page.
async fn rows(c: &Client) -> Vec<(String, String, f64)> {
    let v = c
        .execute(
            "return [...document.querySelectorAll('tr.file')].map(tr => \
             [tr.dataset.path, tr.dataset.state, Number(tr.dataset.percent)]);",
            vec![],
        )
        .await
        .expect("script runs");
    serde_json::from_value(v).unwrap_or_default()
}

async fn state_of(c: &Client, path: &str) -> Option<(String, f64)> {
    rows(c).await.into_iter().find(|(p, _, _)| p == path).map(|(_, s, pct)| (s, pct))
}

/// Waits until the page shows a row for `path` whose state passes `ok`.
async fn wait_row(c: &Client, what: &str, path: &str, ok: impl Fn(&str) -> bool) {
    eventually_async(what, DEADLINE, || async {
        let rows = rows(c).await;
        match rows.iter().find(|(p, _, _)| p == path) {
            Some((_, st, _)) if ok(st) => Ok(()),
            _ => Err(format!("{rows:?}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_updates_live_and_shows_names_as_text() {
    // 2 MiB/s: 12 MiB take about 6 s, with a progress tick every second.
    let s = setup(Knobs { recv_limit_kibps: Some(2 * 1024), ..Knobs::default() }).await;
    s.write_synced("hello.txt", b"up\n").await;
    let url =
        eventually("the dashboard URL", DEADLINE, || companion::ui::status::dashboard_url(&s.member.state_dir())).await;
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("?key="), "{url}");
    // status prints it too.
    assert!(s.member.ok(&["status"]).contains(&url));

    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;

    // Without the secret: nothing.
    let bare = url.split('?').next().unwrap().to_owned();
    c.goto(&bare).await.unwrap();
    let body: String =
        serde_json::from_value(c.execute("return document.body.innerText;", vec![]).await.unwrap()).unwrap();
    assert!(body.contains("open the dashboard URL"), "{body}");

    c.goto(&url).await.unwrap();
    wait_row(&c, "hello.txt ✓ on the page", "hello.txt", |st| st == "synced").await;
    let current: String = serde_json::from_value(c.execute("return location.href;", vec![]).await.unwrap()).unwrap();
    assert!(!current.contains("key="), "the secret left the address bar: {current}");
    c.execute("window.__notReloaded = true;", vec![]).await.unwrap();

    // B's Syncthing stops pulling from A: the new file stays pending.
    s.cluster.pause_device(1, 0).await.unwrap();
    syncthing_fixtures::write_noise(&s.a("movie.bin"), 12 << 20, 7).unwrap();
    std::fs::write(s.a(EVIL), b"just a file with a nasty name\n").unwrap();
    std::fs::write(s.a(BIDI), b"a file whose name turns around\n").unwrap();
    let mut seen: Vec<(String, f64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut resumed = false;
    loop {
        if let Some(now) = state_of(&c, "movie.bin").await
            && seen.last() != Some(&now)
        {
            seen.push(now);
        }
        if !resumed && seen.iter().any(|(st, _)| st == "pending") {
            s.cluster.resume_device(1, 0).await.unwrap();
            resumed = true;
        }
        if seen.last().is_some_and(|(st, _)| st == "synced") {
            break;
        }
        assert!(Instant::now() < deadline, "movie.bin on the page: {seen:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    eprintln!("movie.bin on the page: {seen:?}");
    let states: Vec<&str> = seen.iter().map(|(st, _)| st.as_str()).collect();
    let pending = states.iter().position(|st| *st == "pending").expect("pending shown");
    let syncing = states.iter().position(|st| *st == "syncing").expect("syncing shown");
    assert!(pending < syncing, "{seen:?}");
    let still: Value = c.execute("return window.__notReloaded === true;", vec![]).await.unwrap();
    assert_eq!(still, json!(true), "the page was not reloaded");

    // The nasty name is text: no <img> anywhere, no alert, the cell says it as is.
    wait_row(&c, "the evil file on the page", EVIL, |_| true).await;
    let shown: Value = c
        .execute(
            "const tr = [...document.querySelectorAll('tr.file')].find(r => r.dataset.path === arguments[0]); \
             return [tr.querySelector('td.path').textContent, document.querySelectorAll('img').length];",
            vec![json!(EVIL)],
        )
        .await
        .unwrap();
    assert_eq!(shown, json!([EVIL, 0]));
    assert!(c.get_alert_text().await.is_err(), "no alert may open");
    // Invisible format characters are shown, escaped, as `companion status` does.
    wait_row(&c, "the bidi file on the page", BIDI, |_| true).await;
    let shown: Value = c
        .execute(
            "const tr = [...document.querySelectorAll('tr.file')].find(r => r.dataset.path === arguments[0]); \
             return tr.querySelector('td.path').textContent;",
            vec![json!(BIDI)],
        )
        .await
        .unwrap();
    assert_eq!(shown, json!("invoice\\u{202e}fdp.exe"));
    assert!(s.member.ok(&["status"]).contains("invoice\\u{202e}fdp.exe"), "status escapes it too");

    // The owner's dashboard shows bob's progress, names as text there too.
    let owner_url = eventually("the owner's dashboard URL", DEADLINE, || {
        companion::ui::status::dashboard_url(&s.owner.state_dir())
    })
    .await;
    c.goto(&owner_url).await.unwrap();
    let script = "return [...document.querySelectorAll('table.member-files tr.file')].map(tr => \
                  [tr.dataset.path, tr.dataset.state, Number(tr.dataset.percent)]);";
    eventually_async("bob's rows on the owner's page", DEADLINE, || async {
        let v = c.execute(script, vec![]).await.unwrap();
        let member_rows: Vec<(String, String, f64)> = serde_json::from_value(v).unwrap_or_default();
        let synced = |name: &str| member_rows.iter().any(|(p, st, _)| p == name && st == "synced");
        if synced("movie.bin") && synced(EVIL) { Ok(()) } else { Err(format!("{member_rows:?}")) }
    })
    .await;
    let headings: String = serde_json::from_value(
        c.execute("return [...document.querySelectorAll('h3.member')].map(h => h.textContent).join('|');", vec![])
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(headings.contains("Member bob"), "{headings}");
    let images: Value = c.execute("return document.querySelectorAll('img').length;", vec![]).await.unwrap();
    assert_eq!(images, json!(0));

    // Back to the invitee's page in the same browser: opening the owner's
    // dashboard did not log it out (each port has its own cookie).
    c.goto(&bare).await.unwrap();
    wait_row(&c, "the invitee's page after visiting the owner's", "hello.txt", |st| st == "synced").await;
    c.close().await.unwrap();
}

/// What `fetch(path)` answers on the current page: the HTTP status.
async fn fetch_status(c: &Client, path: &str) -> u16 {
    let v = c
        .execute("return fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.status);", vec![json!(path)])
        .await
        .expect("fetch runs");
    serde_json::from_value(v).expect("a status")
}

/// Two dashboards on 127.0.0.1 (two ports, two secrets) opened in one
/// browser: both keep answering, because each has its own cookie, and no
/// cookie carries a dashboard's secret (any other local server the browser
/// visits on 127.0.0.1 would receive it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dashboards_in_one_browser_both_keep_working() {
    let state = tempfile::tempdir().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut urls = Vec::new();
    for _ in 0..2 {
        let db = companion::manifest::db::Db::open_in(state.path()).unwrap();
        let dashboard = companion::ui::Dashboard::bind("127.0.0.1:0", db, companion::live::Live::new()).await.unwrap();
        urls.push(dashboard.url());
        tokio::spawn(dashboard.serve(shutdown.clone()));
    }
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    for url in &urls {
        c.goto(url).await.unwrap();
        assert_eq!(fetch_status(&c, "/api/status").await, 200, "{url} right after opening it");
    }
    // Both, again, without the key: each still has its session.
    for url in &urls {
        let bare = url.split('?').next().unwrap();
        c.goto(bare).await.unwrap();
        assert_eq!(fetch_status(&c, "/api/status").await, 200, "{bare} after both were opened");
        let secret = url.split("?key=").nth(1).unwrap();
        let cookies = c.get_all_cookies().await.unwrap();
        assert!(!cookies.is_empty());
        for cookie in &cookies {
            assert_ne!(cookie.value(), secret, "the cookie {} carries the dashboard's secret", cookie.name());
            assert!(cookie.http_only().unwrap_or(false), "{} is HttpOnly", cookie.name());
        }
    }
    c.close().await.unwrap();
    shutdown.cancel();
}
