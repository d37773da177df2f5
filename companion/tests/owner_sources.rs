//! The second change source on its own: with the file watcher off, the
//! owner pipeline still queues a change from Syncthing's events alone, and
//! a `Missed` signal (events lost) makes it reconcile the folder and find
//! a change no event named. In-process pipeline, real Syncthing pair.

use crate::owner_support;

use std::sync::Arc;

use cloud_protocol::{Op, Role};
use companion::manifest::db::Db;
use companion::manifest::{Manifest, ProjectRow};
use companion::owner::watch::WatchConfig;
use companion::owner::{OwnerDeps, run_project};
use companion::syncthing::{Client, Event, EventStream, StreamConfig, StreamItem};
use owner_support::*;
use syncthing_fixtures::poll::eventually;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// True once `path` is queued (or sent) with the file's current content.
fn queued(state: &std::path::Path, project: Uuid, path: &str, file: &std::path::Path) -> bool {
    let manifest = Manifest::open_in(state).expect("manifest");
    let hash = blake3_of(file);
    manifest.local_file(project, path).ok().flatten().is_some_and(|f| f.last_sent_hash.as_deref() == Some(&hash))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncthing_events_and_reconciles_alone_catch_changes() {
    let cluster = pair(&["proj"], 1).await;
    let node = cluster.node(0);
    let root = node.folder_path("proj");
    let syncthing = Client::new(&node.api_url, &node.api_key).unwrap();
    let owner = Pipeline::start(node, &root, WatchConfig { enabled: false, ..WatchConfig::default() });
    let (tx, project, state_dir) = (owner.tx.clone(), owner.project, owner.state.path().to_owned());

    // Forward Syncthing's real events, as the daemon does.
    let forward_tx = tx.clone();
    let forward = tokio::spawn(async move {
        let mut stream = EventStream::spawn(syncthing, StreamConfig::default());
        while let Some(item) = stream.recv().await {
            let _ = forward_tx.send(item);
        }
    });

    // Only Syncthing can tell: its LocalChangeDetected names the file.
    let a = root.join("from-syncthing.txt");
    std::fs::write(&a, b"seen by Syncthing's scan").unwrap();
    eventually("the change queued from Syncthing's event", DEADLINE, || {
        queued(&state_dir, project, "from-syncthing.txt", &a).then_some(())
    })
    .await;

    // No event at all: a Missed signal makes the pipeline rescan.
    forward.abort();
    let b = root.join("from-reconcile.txt");
    std::fs::write(&b, b"named by no event").unwrap();
    // (With a watcher a scan would leave a file this fresh to it; without
    // one the scan takes it at once.)
    tx.send(StreamItem::Missed { expected_first: 10, got_first: 20 }).unwrap();
    eventually("the change queued by the reconcile", DEADLINE, || {
        queued(&state_dir, project, "from-reconcile.txt", &b).then_some(())
    })
    .await;

    owner.stop().await;
}

/// The batches queued for `project`, oldest first (taken off the outbox, as
/// the sender would send them).
fn drain_outbox(state: &std::path::Path, project: Uuid) -> Vec<Vec<(Op, String)>> {
    let mut manifest = Manifest::open_in(state).expect("manifest");
    let mut batches = Vec::new();
    while let Some(batch) = manifest.next_batch(project).expect("outbox") {
        batches.push(batch.changes.iter().map(|c| (c.op, c.path.clone())).collect());
        manifest.ack_batch(batch.id, 1, 1).expect("ack");
    }
    batches
}

/// Other passes than the watcher's can look at the folder while the watcher
/// still debounces a rename (its events are reported 200 ms later):
/// Syncthing's report of an earlier write to the file, coming seconds late,
/// and a reconcile (a recheck after the start-up scan, a `Missed`). Either
/// used to find the old name gone and send its delete alone, with the new
/// name following in a second batch. A rename must go out as one batch
/// (delete + create), so an invitee never sees the file gone before its new
/// name exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_is_one_batch_whatever_looks_at_the_folder_meanwhile() {
    let cluster = pair(&["proj"], 1).await;
    let node = cluster.node(0);
    let root = node.folder_path("proj");
    let owner = Pipeline::start(node, &root, WatchConfig::default());
    let (tx, project, state_dir) = (owner.tx.clone(), owner.project, owner.state.path().to_owned());
    let (a, b, c, d) = (root.join("a.txt"), root.join("b.txt"), root.join("c.txt"), root.join("d.txt"));
    for (file, name) in [(&a, "a.txt"), (&c, "c.txt")] {
        std::fs::write(file, name).unwrap();
        eventually(&format!("{name} queued by the watcher"), DEADLINE, || {
            queued(&state_dir, project, name, file).then_some(())
        })
        .await;
    }

    // Rename, and at once Syncthing's late report of the write to a.txt.
    std::fs::rename(&a, &b).unwrap();
    let late = serde_json::json!({"id": 1, "globalID": 1, "time": "2026-11-30T16:00:00.000000000Z",
        "type": "LocalChangeDetected", "data": {"action": "modified", "type": "file", "path": "a.txt",
        "folder": "proj", "folderID": "proj", "label": "proj", "modifiedBy": "ABC"}});
    tx.send(StreamItem::Event(Event::from_value(late).unwrap())).unwrap();
    eventually("b.txt queued", DEADLINE, || queued(&state_dir, project, "b.txt", &b).then_some(())).await;

    // Rename a file dated a minute ahead (as the flaky run's b.txt was), and
    // at once a reconcile.
    let ahead = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    std::fs::File::options().write(true).open(&c).unwrap().set_modified(ahead).unwrap();
    std::fs::rename(&c, &d).unwrap();
    tx.send(StreamItem::Missed { expected_first: 10, got_first: 20 }).unwrap();
    eventually("d.txt queued", DEADLINE, || queued(&state_dir, project, "d.txt", &d).then_some(())).await;

    let _state = owner.stop().await;
    let batches = drain_outbox(&state_dir, project);
    for (old, new) in [("a.txt", "b.txt"), ("c.txt", "d.txt")] {
        let rename = vec![(Op::Delete, old.to_string()), (Op::Create, new.to_string())];
        assert!(batches.contains(&rename), "{old} -> {new} sent as one batch: {batches:?}");
    }
}

/// A file dated in the future (set by a tool, or a clock that was ahead) is
/// not "being written": the start-up scan sends it, and does not leave it to
/// a watcher that will never report it (it changed before we watched).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_dated_in_the_future_goes_out_with_the_start_up_scan() {
    let cluster = pair(&["proj"], 1).await;
    let node = cluster.node(0);
    let root = node.folder_path("proj");
    let future = root.join("future.txt");
    std::fs::write(&future, b"dated tomorrow").unwrap();
    let tomorrow = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
    std::fs::File::options().write(true).open(&future).unwrap().set_modified(tomorrow).unwrap();
    let owner = Pipeline::start(node, &root, WatchConfig::default());
    let (project, state_dir) = (owner.project, owner.state.path().to_owned());
    eventually("future.txt queued", DEADLINE, || queued(&state_dir, project, "future.txt", &future).then_some(()))
        .await;
    owner.stop().await;
}

/// One owner pipeline (`run_project`) on a node's folder, with its own
/// manifest; `tx` feeds it Syncthing stream items as the daemon would.
struct Pipeline {
    state: tempfile::TempDir,
    project: Uuid,
    tx: broadcast::Sender<StreamItem>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Pipeline {
    fn start(node: &syncthing_fixtures::Node, root: &std::path::Path, watch: WatchConfig) -> Pipeline {
        let state = tempfile::tempdir().unwrap();
        let project = Uuid::new_v4();
        let mut manifest = Manifest::open_in(state.path()).unwrap();
        let row = ProjectRow::new(project, "http://127.0.0.1:9", "p", "proj", root, Role::Owner);
        manifest.insert_project(&row).unwrap();
        drop(manifest);
        let (tx, rx) = broadcast::channel(1024);
        let shutdown = CancellationToken::new();
        let deps = OwnerDeps {
            db: Db::open_in(state.path()).unwrap(),
            syncthing: Client::new(&node.api_url, &node.api_key).unwrap(),
            outbox_ready: Arc::new(Notify::new()),
            watch,
        };
        let row = ProjectRow::new(project, "", "p", "proj", root, Role::Owner);
        let task = tokio::spawn(run_project(deps, row, rx, shutdown.clone()));
        Pipeline { state, project, tx, shutdown, task }
    }

    /// Stops the pipeline and hands back its state directory, so the test
    /// can still read the outbox (dropping it would delete the manifest).
    async fn stop(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.task).await.expect("pipeline stops").expect("pipeline task");
        self.state
    }
}
