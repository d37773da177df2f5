//! The second change source on its own: with the file watcher off, the
//! owner pipeline still queues a change from Syncthing's events alone, and
//! a `Missed` signal (events lost) makes it reconcile the folder and find
//! a change no event named. In-process pipeline, real Syncthing pair.

use crate::owner_support;

use std::sync::Arc;

use cloud_protocol::Role;
use companion::db::Db;
use companion::manifest::{Manifest, ProjectRow};
use companion::owner::{OwnerDeps, run_project};
use companion::syncthing::{Client, EventStream, StreamConfig, StreamItem};
use companion::watch::WatchConfig;
use owner_support::*;
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
    let state = tempfile::tempdir().unwrap();
    let project = Uuid::new_v4();
    let mut manifest = Manifest::open_in(state.path()).unwrap();
    manifest.insert_project(&ProjectRow::new(project, "http://127.0.0.1:9", "p", "proj", &root, Role::Owner)).unwrap();
    drop(manifest);

    let syncthing = Client::new(&node.api_url, &node.api_key).unwrap();
    let (tx, rx) = broadcast::channel(1024);
    let shutdown = CancellationToken::new();
    let deps = OwnerDeps {
        db: Db::open_in(state.path()).unwrap(),
        syncthing: syncthing.clone(),
        outbox_ready: Arc::new(Notify::new()),
        watch: WatchConfig { enabled: false, ..WatchConfig::default() },
    };
    let pipeline = tokio::spawn(run_project(
        deps,
        ProjectRow::new(project, "", "p", "proj", &root, Role::Owner),
        rx,
        shutdown.clone(),
    ));

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
    let state_dir = state.path().to_owned();
    until("the change queued from Syncthing's event", || {
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
    until("the change queued by the reconcile", || queued(&state_dir, project, "from-reconcile.txt", &b).then_some(()))
        .await;

    shutdown.cancel();
    tokio::time::timeout(DEADLINE, pipeline).await.expect("pipeline stops").expect("pipeline task");
}
