//! Integration tests against the real `syncthing` binary. They live in one
//! file so they run in parallel in one process (total time matters on a
//! 2-core machine). No fixed sleeps: every wait polls a condition with a
//! deadline.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use syncthing_fixtures::poll::{eventually, eventually_async};
use syncthing_fixtures::{Cluster, FixtureError, FolderType, KEEP_LOGS_ENV, Node};

const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until `path` holds exactly `expected`.
async fn wait_for_content(path: &Path, expected: &[u8]) {
    let what = format!("{} with {} expected bytes", path.display(), expected.len());
    eventually(&what, SYNC_TIMEOUT, || match std::fs::read(path) {
        Ok(got) if got == expected => Ok(()),
        Ok(got) => Err(format!("{} bytes, not the expected ones", got.len())),
        Err(e) => Err(e.to_string()),
    })
    .await
}

/// PIDs whose parent is `pid` (from /proc/*/stat).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| {
            let child: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // "pid (comm) state ppid ...": comm may contain spaces, so
            // split after its closing parenthesis.
            let ppid: u32 = stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn cmdline(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|&b| b == 0).map(|arg| String::from_utf8_lossy(arg).into_owned()).collect()
}

async fn folder_config(node: &Node, folder: &str) -> serde_json::Value {
    node.get_json(&format!("/rest/config/folders/{folder}")).await.unwrap()
}

#[tokio::test]
async fn pair_syncs_a_file_then_drop_cleans_up() {
    let started = Instant::now();
    let cluster = Cluster::builder().fs_watcher_delay_s(1).start().await.unwrap();
    eprintln!("pair ready after {:?}", started.elapsed());

    // The PID we hold is the server itself, not a monitor parent.
    for node in cluster.nodes() {
        let pid = node.pid().unwrap();
        let args = cmdline(pid);
        assert!(args.iter().any(|a| a == "serve"), "{args:?}");
        assert!(children_of(pid).is_empty(), "node {} has children {:?}", node.name, children_of(pid));
        assert!(node.home.join("config.xml").is_file());
        assert!(node.folder_path("proj").join(".stfolder").is_dir());
    }

    let (a, b) = (cluster.node(0), cluster.node(1));
    let content = b"hello from A\n".repeat(100);
    let written = Instant::now();
    std::fs::write(a.folder_path("proj").join("hello.txt"), &content).unwrap();
    wait_for_content(&b.folder_path("proj").join("hello.txt"), &content).await;
    eprintln!("file on B {:?} after the write", written.elapsed());

    let homes: Vec<PathBuf> = cluster.nodes().iter().map(|n| n.home.clone()).collect();
    let pids: Vec<u32> = cluster.nodes().iter().filter_map(Node::pid).collect();
    let root = cluster.root().unwrap().to_path_buf();
    let stopping = Instant::now();
    drop(cluster);
    eprintln!("drop took {:?}", stopping.elapsed());
    for pid in pids {
        assert!(!process_exists(pid), "pid {pid} still exists");
    }
    if std::env::var_os(KEEP_LOGS_ENV).is_none() {
        assert!(!root.exists(), "{} not removed", root.display());
        for home in homes {
            assert!(!home.exists());
        }
    }
}

#[tokio::test]
async fn receive_limit_slows_a_transfer() {
    let cluster = Cluster::builder().fs_watcher_delay_s(1).start().await.unwrap();
    cluster.set_recv_limit_kibps(1, 1024).await.unwrap();
    let options = cluster.node(1).get_json("/rest/config/options").await.unwrap();
    assert_eq!(options["maxRecvKbps"], 1024);

    let data = syncthing_fixtures::noise(4 * 1024 * 1024, 1);
    let written = Instant::now();
    std::fs::write(cluster.node(0).folder_path("proj").join("big.bin"), &data).unwrap();
    wait_for_content(&cluster.node(1).folder_path("proj").join("big.bin"), &data).await;
    let elapsed = written.elapsed();
    eprintln!("4 MiB at 1024 KiB/s arrived after {elapsed:?}");
    // 1 s watcher delay + 4 MiB at 1 MiB/s (less the limiter's burst);
    // unlimited, the whole thing takes about 1.2 s on loopback.
    assert!(elapsed >= Duration::from_secs(3), "too fast for the limit: {elapsed:?}");
}

#[tokio::test]
async fn restart_stop_and_start_nodes() {
    let mut cluster = Cluster::builder().fs_watcher_delay_s(1).start().await.unwrap();

    let old_pid = cluster.node(1).pid().unwrap();
    let t = Instant::now();
    cluster.restart_node(1).await.unwrap();
    let new_pid = cluster.node(1).pid().unwrap();
    assert_ne!(old_pid, new_pid);
    assert!(!process_exists(old_pid));
    cluster.node(1).ping().await.unwrap();
    cluster.wait_ready().await.unwrap();
    eprintln!("restart to ready again: {:?}", t.elapsed());

    let t = Instant::now();
    let a_pid = cluster.node(0).pid().unwrap();
    cluster.stop_node(0).await.unwrap();
    assert_eq!(cluster.node(0).pid(), None);
    assert!(!process_exists(a_pid));
    assert!(matches!(cluster.stop_node(0).await, Err(FixtureError::NotRunning(_))));
    assert!(matches!(cluster.pause_device(0, 1).await, Err(FixtureError::NotRunning(_))));
    // A file written on B while A is down reaches A once it is back.
    let content = b"written while A was down".to_vec();
    std::fs::write(cluster.node(1).folder_path("proj").join("later.txt"), &content).unwrap();
    cluster.start_node(0).await.unwrap();
    assert!(matches!(cluster.start_node(0).await, Err(FixtureError::AlreadyRunning(_))));
    cluster.wait_ready().await.unwrap();
    wait_for_content(&cluster.node(0).folder_path("proj").join("later.txt"), &content).await;
    eprintln!("stop + start + sync: {:?}", t.elapsed());
}

#[tokio::test]
async fn folder_types_options_patches_and_pause() {
    let cluster = Cluster::builder()
        .folder("proj", &[FolderType::SendOnly, FolderType::ReceiveOnly])
        .folder("both", &[FolderType::SendReceive])
        .fs_watcher_delay_s(1)
        .folder_fs_watcher_delay_s("both", 3)
        .progress_update_interval_s(1)
        .start()
        .await
        .unwrap();
    let (a, b) = (cluster.node(0), cluster.node(1));

    let proj_a = folder_config(a, "proj").await;
    let proj_b = folder_config(b, "proj").await;
    assert_eq!(proj_a["type"], "sendonly");
    assert_eq!(proj_b["type"], "receiveonly");
    assert_eq!(proj_a["fsWatcherDelayS"], 1);
    assert_eq!(proj_a["devices"].as_array().unwrap().len(), 2);
    assert_eq!(proj_a["maxConflicts"], 10, "untouched settings keep Syncthing's defaults");
    let both_b = folder_config(b, "both").await;
    assert_eq!(both_b["type"], "sendreceive");
    assert_eq!(both_b["fsWatcherDelayS"], 3);

    let options = a.get_json("/rest/config/options").await.unwrap();
    assert_eq!(options["listenAddresses"], json!([a.sync_address()]));
    assert_eq!(options["progressUpdateIntervalS"], 1);
    assert_eq!(options["urAccepted"], -1);
    assert_eq!(options["autoUpgradeIntervalH"], 0);
    assert_eq!(options["limitBandwidthInLan"], true);
    for off in ["globalAnnounceEnabled", "localAnnounceEnabled", "relaysEnabled", "natEnabled", "startBrowser"] {
        assert_eq!(options[off], false, "{off}");
    }
    assert_eq!(options["crashReportingEnabled"], false);
    let peer = a.get_json(&format!("/rest/config/devices/{}", b.device_id)).await.unwrap();
    assert_eq!(peer["name"], "B");
    assert_eq!(peer["addresses"], json!([b.sync_address()]));

    cluster.patch_folder(0, "proj", json!({"minDiskFree": {"value": 7, "unit": "%"}})).await.unwrap();
    assert_eq!(folder_config(a, "proj").await["minDiskFree"]["value"], 7);

    // Pause B on A: A reports it paused and disconnected; resume reconnects.
    cluster.pause_device(0, 1).await.unwrap();
    eventually_async("A to show B paused and disconnected", SYNC_TIMEOUT, || async {
        let c = a.get_json("/rest/system/connections").await.map_err(|e| e.to_string())?;
        let entry = &c["connections"][&b.device_id];
        if entry["paused"] == true && entry["connected"] == false { Ok(()) } else { Err(entry.to_string()) }
    })
    .await;
    let t = Instant::now();
    cluster.resume_device(0, 1).await.unwrap();
    cluster.wait_ready().await.unwrap();
    eprintln!("resume to connected: {:?}", t.elapsed());
}

#[tokio::test]
async fn missing_binary_says_how_to_install() {
    let err = Cluster::builder().binary("/nonexistent/syncthing").start().await.unwrap_err();
    assert!(matches!(err, FixtureError::BinaryNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("apt-get install -y syncthing"), "{err}");
}

#[tokio::test]
async fn bad_setup_is_an_error_not_a_panic() {
    let err = Cluster::builder().nodes(3).folder("f", &[FolderType::SendOnly, FolderType::ReceiveOnly]).start().await;
    assert!(matches!(err, Err(FixtureError::Setup(_))), "{err:?}");
}

#[test]
fn handles_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cluster>();
    assert_send_sync::<Node>();
    assert_send_sync::<FixtureError>();
}
