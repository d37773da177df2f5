//! The `cloud` binary itself: help and exit codes, `cloud user add` printing a
//! token that then works against a `cloud serve` child process (SQLite and
//! PostgreSQL), the default data directory, a clear bind failure, and a
//! prompt, clean exit on SIGTERM.

use crate::support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use e2e::cloud::{CloudDb, CloudProc, cloud_command};
use nix::sys::signal::Signal;
use serde_json::Value;
use support::server::{Client, DEADLINE};
use syncthing_fixtures::ports::free_port;
use tokio::process::Command;

/// The kit's [`cloud_command`] with XDG data under `home`.
fn cloud(home: &Path) -> Command {
    let mut cmd = cloud_command().expect("the cloud binary");
    cmd.env("XDG_DATA_HOME", home).env("HOME", home);
    cmd
}

async fn run(cmd: &mut Command) -> Output {
    tokio::time::timeout(Duration::from_secs(60), cmd.output()).await.expect("command finishes").expect("command runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn help_of_every_command_has_an_example_and_usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    for args in [&["--help"][..], &["serve", "--help"], &["user", "--help"], &["user", "add", "--help"]] {
        let out = run(cloud(home.path()).args(args)).await;
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = text(&out.stdout);
        assert!(help.contains("Example"), "{args:?} has no example:\n{help}");
        assert!(help.contains("Exit codes"), "{args:?} does not document exit codes:\n{help}");
    }
    for args in [&["serve", "--bogus"][..], &["frobnicate"], &["user", "add"], &["serve", "--listen", "nowhere"]] {
        let out = run(cloud(home.path()).args(args)).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
    }
    let out = run(cloud(home.path()).args(["serve", "--data-dir", "d", "--database-url", "x.db"])).await;
    assert_eq!(out.status.code(), Some(2), "both database options: {}", text(&out.stderr));
}

/// Runs `cloud user add NAME` with `db` args; returns (user_id, token).
async fn user_add(home: &Path, db: &[String], name: &str, json: bool) -> (String, String) {
    let mut cmd = cloud(home);
    cmd.args(["user", "add", name]).args(db);
    if json {
        cmd.arg("--json");
    }
    let out = run(&mut cmd).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "user add failed: {stdout}{}", text(&out.stderr));
    if json {
        let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("--json output ({e}): {stdout}"));
        assert_eq!(v["name"], name);
        return (v["user_id"].as_str().unwrap().into(), v["token"].as_str().unwrap().into());
    }
    let field = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {key} line in {stdout}"))
    };
    (field("user_id:"), field("token:"))
}

async fn story(db: CloudDb, expect_database: &str) {
    let home = tempfile::tempdir().unwrap();
    let served_db = db.clone();
    let db = db.args();
    let (alice_id, alice_token) = user_add(home.path(), &db, "alice", false).await;
    let (bob_id, bob_token) = user_add(home.path(), &db, "bob", true).await;
    assert!(alice_token.starts_with("stc_") && bob_token.starts_with("stc_"));
    assert_ne!(alice_id, bob_id);

    let out = run(cloud(home.path()).args(["user", "add", "alice"]).args(&db)).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("already exists") && err.lines().count() == 1, "{err}");

    let port = free_port().unwrap();
    let mut served =
        CloudProc::spawn(cloud(home.path()), served_db, home.path(), port, &["--log-format", "json"]).await.unwrap();
    let logged = served.log_text();
    assert!(logged.contains(expect_database), "the log does not say which database:\n{logged}");

    let me = Client::new(&served.url, Some(alice_token)).me().await;
    assert_eq!((me.user_id.to_string(), me.name.as_str()), (alice_id, "alice"));
    let bob = Client::new(&served.url, Some(bob_token));
    assert_eq!(bob.me().await.user_id.to_string(), bob_id);
    bob.create_project("Shots", "f").await;

    // SIGTERM: a graceful stop, exit 0, promptly.
    let started = Instant::now();
    served.proc.signal(Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(DEADLINE, served.proc.wait()).await.expect("exits after SIGTERM").unwrap();
    assert!(status.success(), "{status}: {}", served.log_text());
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn user_add_then_serve_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("cloud-data");
    story(CloudDb::DataDir(dir.clone()), "SQLite at").await;
    assert!(dir.join("cloud.db").exists());
}

#[tokio::test]
async fn user_add_then_serve_on_postgres() {
    let url = support::postgres::fresh_database().await;
    story(CloudDb::Postgres(url), "PostgreSQL at").await;
}

#[tokio::test]
async fn no_flags_use_the_xdg_data_dir_and_env_vars_mirror_flags() {
    let home = tempfile::tempdir().unwrap();
    user_add(home.path(), &[], "alice", false).await;
    assert!(home.path().join("syncthing-companion-cloud/cloud.db").exists());

    // CLOUD_DATA_DIR stands for --data-dir; a flag beats DATABASE_URL from the environment.
    let elsewhere = home.path().join("elsewhere");
    let out = run(cloud(home.path()).env("CLOUD_DATA_DIR", &elsewhere).args(["user", "add", "bob"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(elsewhere.join("cloud.db").exists());
    let flagged = home.path().join("flagged");
    let out = run(cloud(home.path())
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .args(["user", "add", "carol", "--data-dir"])
        .arg(&flagged))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(flagged.join("cloud.db").exists());
}

#[tokio::test]
async fn bind_failure_is_one_plain_sentence() {
    let home = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(cloud(home.path()).args(["serve", "--listen", &addr, "--data-dir"]).arg(home.path())).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with(&format!("cloud: cannot listen on {addr}")), "{err}");
    assert!(last.contains("--listen"), "says what to do: {err}");
}

#[tokio::test]
async fn unreachable_postgres_fails_at_once_with_the_cause() {
    let home = tempfile::tempdir().unwrap();
    // A port nothing listens on: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://postgres@127.0.0.1:{closed}/postgres");
    let started = std::time::Instant::now();
    let out = run(cloud(home.path()).args(["user", "add", "x", "--database-url", &url])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("Connection refused"), "names the cause: {err}");
    // Not the pool's 30 s acquire timeout (the probe connects once, without retrying).
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
}
