//! README command one: the demo starts, prints both dashboard URLs, the
//! invitee's dashboard shows every sample file ✓, and SIGINT stops it leaving
//! no process behind.

use std::process::Stdio;
use std::time::Duration;

use e2e::{bins, dashboard_status};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use syncthing_fixtures::poll::eventually_async;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_shows_synced_files_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bins::bin("demo").unwrap())
        .args(["--no-watch", "--large-mib", "4", "--recv-limit-kibps", "0", "--fs-watcher-delay-s", "1", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let (mut pids, mut owner_url, mut invitee_url) = (Vec::new(), None, None);
    let read = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            eprintln!("demo: {line}");
            if let Some(rest) = line.strip_prefix("processes: ") {
                pids = rest.split([' ', ',', '=']).filter_map(|s| s.parse::<i32>().ok()).collect();
            } else if let Some(url) = line.strip_prefix("Owner dashboard:") {
                owner_url = Some(url.trim().to_owned());
            } else if let Some(url) = line.strip_prefix("Invitee dashboard:") {
                invitee_url = Some(url.trim().to_owned());
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the demo printed no dashboard URLs within 120 s");
    assert_eq!(pids.len(), 5, "cloud, two companions and two Syncthing nodes: {pids:?}");
    let owner_url = owner_url.expect("owner dashboard URL");
    let invitee_url = invitee_url.expect("invitee dashboard URL");
    assert!(owner_url.starts_with("http://127.0.0.1:") && invitee_url.starts_with("http://127.0.0.1:"));

    // Every sample file ✓ on the invitee's dashboard.
    eventually_async("every sample file synced on the invitee's dashboard", Duration::from_secs(120), || async {
        let status = dashboard_status(&invitee_url).await.ok()?;
        let files = status["projects"][0]["files"].as_array()?.clone();
        (files.len() >= 4 && files.iter().all(|f| f["state"] == "synced")).then_some(())
    })
    .await;
    // The owner's dashboard answers too.
    dashboard_status(&owner_url).await.unwrap();

    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait()).await.expect("demo stops").unwrap();
    assert!(status.success(), "demo exit status {status}");
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("demo: {line}");
    }
    for pid in pids {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid), "process {pid} left behind");
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.contains(") Z ")).unwrap_or(true)
}
