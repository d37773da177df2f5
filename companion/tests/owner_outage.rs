//! A cloud outage delays changes but loses none; a companion killed with
//! SIGKILL between enqueue and acknowledgement loses none and sequences
//! none twice after its restart; changes made while it was stopped are
//! sent at its next start; a manifest that stays locked delays a change but
//! does not drop it.

use crate::owner_support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use cloud_protocol::{Event, Op};
use owner_support::*;
use syncthing_fixtures::poll::eventually;
use uuid::Uuid;

/// The cloud's snapshot equals the folder: every file with its hash, every
/// other path deleted.
async fn assert_cloud_matches(
    api: &companion::cloud_client::api::CloudClient,
    project: Uuid,
    root: &Path,
    files: &[&str],
) {
    let snapshot = api.files(project).await.expect("snapshot");
    let live: BTreeMap<&str, &str> =
        snapshot.files.iter().filter(|f| f.deleted_at.is_none()).map(|f| (f.path.as_str(), f.hash.as_str())).collect();
    let on_disk: BTreeMap<&str, String> = files.iter().map(|f| (*f, blake3_of(&root.join(f)))).collect();
    let on_disk: BTreeMap<&str, &str> = on_disk.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(live, on_disk);
}

/// No change was sequenced twice: each (op, path, hash) appears once.
fn assert_no_repeats(events: &[Event]) {
    let mut seen: HashMap<(Op, &str, Option<&str>), i64> = HashMap::new();
    for e in events {
        let key = (e.change.op, e.change.path.as_str(), e.change.hash.as_deref());
        if let Some(first) = seen.insert(key, e.seq) {
            panic!("sequenced twice (seq {first} and {}): {:?}; log {}", e.seq, e.change, show(events));
        }
    }
}

/// A cloud, a Syncthing pair and a running owner companion that already sent
/// `first` (written with `content`) to the cloud.
struct Running {
    cloud: TestCloud,
    token: String,
    _cluster: syncthing_fixtures::Cluster,
    root: std::path::PathBuf,
    companion: Companion,
    project: Uuid,
}

async fn running_with(first: &str, content: &[u8]) -> Running {
    running_on(pair(&["proj"], 1).await, first, content).await
}

async fn running_on(cluster: syncthing_fixtures::Cluster, first: &str, content: &[u8]) -> Running {
    let cloud = start_cloud().await;
    let (_, token) = cloud.add_user("alice").await;
    let root = cluster.node(0).folder_path("proj");
    let mut companion = Companion::new(cluster.node(0));
    let project = companion.login_and_share(&cloud.url(), &token, "proj");
    companion.start();
    std::fs::write(root.join(first), content).unwrap();
    wait_count(&cloud.client(&token), project, 1).await;
    Running { cloud, token, _cluster: cluster, root, companion, project }
}

/// Writes each `(path, content)` under `root`.
fn write_files(root: &std::path::Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        std::fs::write(root.join(path), content).unwrap();
    }
}

async fn wait_pending(companion: &Companion, min_attempts: u32) {
    eventually("changes waiting in the outbox", DEADLINE, || {
        let m = companion.manifest();
        let projects = m.projects().ok()?;
        let batch = m.next_batch(projects.first()?.project_id).ok()??;
        (batch.attempts >= min_attempts).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_outage_delays_but_loses_nothing() {
    let Running { mut cloud, token, root, mut companion, project, _cluster } =
        running_with("f1.txt", b"before the outage").await;

    cloud.down().await;
    std::fs::create_dir_all(root.join("dir")).unwrap();
    write_files(
        &root,
        &[
            ("o1.txt", "made during the outage"),
            ("f1.txt", "changed during the outage"),
            ("dir/o2.txt", "nested, during the outage"),
        ],
    );
    // Several attempts failed: the batches wait, they are not dropped.
    wait_pending(&companion, 2).await;

    cloud.up().await;
    let api = cloud.client(&token);
    let events = wait_count(&api, project, 4).await;
    assert_quiet(&api, project, 4, Duration::from_secs(3)).await;
    assert_no_repeats(&events);
    let ops: BTreeMap<&str, Vec<Op>> = events.iter().fold(BTreeMap::new(), |mut m, e| {
        m.entry(e.change.path.as_str()).or_default().push(e.change.op);
        m
    });
    assert_eq!(ops["f1.txt"], [Op::Create, Op::Update]);
    assert_eq!(ops["o1.txt"], [Op::Create]);
    assert_eq!(ops["dir/o2.txt"], [Op::Create]);
    assert_cloud_matches(&api, project, &root, &["f1.txt", "o1.txt", "dir/o2.txt"]).await;
    assert!(companion.log().contains("cloud unavailable; will retry"), "{}", companion.log());
    companion.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_and_repeats_nothing() {
    let Running { mut cloud, token, root, mut companion, project, _cluster } =
        running_with("gone.txt", b"will be deleted while stopped").await;

    // Queued but never acknowledged, then killed.
    cloud.down().await;
    write_files(&root, &[("k1.txt", "queued, then killed"), ("k2.txt", "queued too")]);
    wait_pending(&companion, 1).await;
    companion.kill().await;

    // Changed while the companion is not running.
    write_files(&root, &[("k1.txt", "changed while stopped"), ("s1.txt", "made while stopped")]);
    std::fs::remove_file(root.join("gone.txt")).unwrap();

    cloud.up().await;
    let api = cloud.client(&token);
    companion.start();
    let events = wait_count(&api, project, 6).await;
    assert_quiet(&api, project, 6, Duration::from_secs(3)).await;
    assert_no_repeats(&events);
    let summary: Vec<(Op, &str)> = events.iter().map(|e| (e.change.op, e.change.path.as_str())).collect();
    for expected in [
        (Op::Create, "gone.txt"),
        (Op::Create, "k1.txt"),
        (Op::Create, "k2.txt"),
        (Op::Update, "k1.txt"),
        (Op::Create, "s1.txt"),
        (Op::Delete, "gone.txt"),
    ] {
        assert!(summary.contains(&expected), "{expected:?} missing from {}", show(&events));
    }
    assert_cloud_matches(&api, project, &root, &["k1.txt", "k2.txt", "s1.txt"]).await;

    // Killed in the middle of sending a burst: some batches may be sequenced
    // by the cloud and not yet acknowledged. After the restart each file is
    // created exactly once.
    let before = events.len();
    std::fs::create_dir_all(root.join("burst")).unwrap();
    let names: Vec<String> = (0..300).map(|i| format!("burst/{i:03}.bin")).collect();
    for (i, name) in names.iter().enumerate() {
        std::fs::write(root.join(name), format!("burst file {i}")).unwrap();
    }
    wait_count(&api, project, before + 1).await;
    companion.kill().await;
    companion.start();
    let events = wait_count(&api, project, before + 300).await;
    assert_quiet(&api, project, before + 300, Duration::from_secs(3)).await;
    assert_no_repeats(&events);
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.extend(["k1.txt", "k2.txt", "s1.txt"]);
    assert_cloud_matches(&api, project, &root, &all).await;
    assert_eq!(companion.manifest().pending_count(None).unwrap().changes, 0);
    companion.stop().await;
}

/// Another process holds the manifest's write lock past the companion's busy
/// timeout while a file changes: recording the change fails, and the
/// companion compares the folder again once it can. Syncthing's own watcher
/// is slowed to an hour so that its event cannot be what rescues the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_manifest_delays_a_change_but_does_not_drop_it() {
    let Running { cloud, token, root, companion, project, _cluster } =
        running_on(pair(&["proj"], 3600).await, "f1.txt", b"before the lock").await;

    let lock = rusqlite::Connection::open(companion.state_dir().join(companion::state_dir::MANIFEST_FILE)).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::fs::write(root.join("during-lock.txt"), b"written while the manifest was locked").unwrap();
    eventually("the companion failing to record the change", DEADLINE, || {
        companion.log().contains("cannot record changes").then_some(())
    })
    .await;
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);

    let events = wait_count(&cloud.client(&token), project, 2).await;
    assert_upsert(&events[1].change, Op::Create, "during-lock.txt", &root.join("during-lock.txt"));
    assert!(companion.log().contains("compare the folder again"), "{}", companion.log());
}
