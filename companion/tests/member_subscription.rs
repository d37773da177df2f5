//! One member project's task against a real cloud over a real WebSocket,
//! without Syncthing: live events are applied in order; lost live events
//! (a gap) and a `resync` are filled by pulling `GET …/events`, never
//! skipped; badge changes go out as `progress` and reach the owner's
//! `GET …/progress`; a revocation ends the task and marks the project.

use crate::owner_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cloud_protocol::{Change, FileProgress, FileState, Op, Role, ServerMessage, UpdateFilesRequest};
use companion::cloud_client::api::CloudClient;
use companion::cloud_client::socket::{self, LinkConfig, LinkEvent};
use companion::invitee::{ProjectOutcome, ProjectTask, Routed};
use companion::live::Live;
use companion::manifest::db::Db;
use companion::manifest::{Manifest, ProjectRow, ProjectStatus};
use owner_support::{DEADLINE, alice_and_bob, start_cloud};
use syncthing_fixtures::poll::{eventually, eventually_async};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const HASH: &str = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

async fn post(alice: &CloudClient, project: Uuid, paths: &[&str]) -> i64 {
    let changes = paths.iter().map(|p| Change::upsert(Op::Create, *p, HASH, 0, 1)).collect();
    let request = UpdateFilesRequest { batch_id: Uuid::new_v4(), changes };
    alice.update_files(project, &request).await.expect("batch accepted").last_seq
}

async fn wait_cursor(db: &Db, project: Uuid, want: i64) {
    eventually_async(&format!("the cursor at {want}"), DEADLINE, || async {
        let cursor = db.call(move |m| m.project(project)).await.unwrap().unwrap().last_seq;
        if cursor == want { Ok(()) } else { Err(format!("cursor {cursor}")) }
    })
    .await
}

/// Waits until the router has dropped `n` live events in all.
async fn wait_dropped(dropped: &AtomicUsize, n: usize) {
    eventually(&format!("{n} live events delivered"), DEADLINE, || (dropped.load(Ordering::SeqCst) >= n).then_some(()))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_gap_free_reported_and_revocable() {
    let cloud = start_cloud().await;
    let [(_, _, alice), (bob_id, _, bob)] = alice_and_bob(&cloud).await;
    let project = alice.create_project("film", "proj").await.unwrap();
    let id = project.id;
    post(&alice, id, &["a", "b"]).await;
    let invite = alice.create_invite(id, None).await.unwrap();
    bob.accept_invite(&invite.code).await.unwrap();

    // What `join` does: the project and its snapshot in bob's manifest.
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let row = ProjectRow::new(id, cloud.url(), "film", "proj", dir.path().join("proj"), Role::Member);
    m.insert_project(&row).unwrap();
    m.load_snapshot(id, &bob.files(id).await.unwrap()).unwrap();
    let db = Db::new(m);

    // The link, and a router that can be told to lose live events.
    let stop = CancellationToken::new();
    let (link, mut link_events) = socket::spawn(&bob, LinkConfig::default(), stop.clone());
    let (inbox_tx, inbox) = mpsc::channel(64);
    let deaf = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (router_tx, router_deaf, router_dropped) = (inbox_tx.clone(), deaf.clone(), dropped.clone());
    tokio::spawn(async move {
        while let Some(event) = link_events.recv().await {
            let routed = match event {
                LinkEvent::Connected => Routed::Connected,
                LinkEvent::Message(ServerMessage::Events { events, .. }) => {
                    if router_deaf.load(Ordering::SeqCst) {
                        router_dropped.fetch_add(events.len(), Ordering::SeqCst);
                        continue;
                    }
                    Routed::Events(events)
                }
                LinkEvent::Message(ServerMessage::Resync { .. }) => Routed::Resync,
                LinkEvent::Message(ServerMessage::ProgressAck { seq, .. }) => Routed::Ack(seq),
                LinkEvent::Message(ServerMessage::Error { code, message, .. }) => Routed::Error { code, message },
                _ => continue,
            };
            let _ = router_tx.send(routed).await;
        }
    });
    let (announce, mut announced) = mpsc::channel(64);
    tokio::spawn(async move { while announced.recv().await.is_some() {} });
    let saved = Arc::new(Notify::new());
    let task = ProjectTask {
        db: db.clone(),
        cloud: bob.clone(),
        link,
        live: Live::new(),
        announce,
        saved: saved.clone(),
        project: row,
        heartbeat: companion::HEARTBEAT,
    };
    let running = tokio::spawn(task.run(inbox, stop.clone()));

    // Live events, in order.
    let last = post(&alice, id, &["c", "d", "e"]).await;
    wait_cursor(&db, id, last).await;

    // Lost live events: the next one shows a gap, which is pulled, not skipped.
    deaf.store(true, Ordering::SeqCst);
    post(&alice, id, &["lost-1", "lost-2", "lost-3"]).await;
    wait_dropped(&dropped, 3).await;
    deaf.store(false, Ordering::SeqCst);
    let last = post(&alice, id, &["after-gap"]).await;
    wait_cursor(&db, id, last).await;
    let files = db.call(move |m| m.remote_files(id)).await.unwrap();
    assert!(["lost-1", "lost-2", "lost-3", "after-gap"].iter().all(|p| files.iter().any(|f| f.path == *p)));

    // A resync: pull, then subscribe again.
    deaf.store(true, Ordering::SeqCst);
    let last = post(&alice, id, &["missed-by-resync"]).await;
    wait_dropped(&dropped, 4).await;
    deaf.store(false, Ordering::SeqCst);
    inbox_tx.send(Routed::Resync).await.unwrap();
    wait_cursor(&db, id, last).await;

    // Badge changes reach the owner.
    let badge =
        FileProgress { path: "c".into(), state: FileState::Syncing, percent: 42.0, local_hash: None, error: None };
    db.call(move |m| m.save_badges(id, &[(badge, None)])).await.unwrap();
    saved.notify_one();
    eventually_async("the progress reported", DEADLINE, || async {
        let report = alice.progress(id).await.unwrap();
        let bob_files =
            report.members.iter().find(|m| m.user_id == bob_id).map(|m| m.files.clone()).unwrap_or_default();
        let reported = bob_files.iter().any(|f| f.progress.path == "c" && f.progress.percent == 42.0);
        if reported { Ok(()) } else { Err(format!("{report:?}")) }
    })
    .await;
    // Marked reported once the cloud acknowledged it (just after storing it).
    eventually_async("the badge marked reported", DEADLINE, || async {
        let unreported = db.call(move |m| m.unreported_badges(id, 10)).await.unwrap();
        if unreported.is_empty() { Ok(()) } else { Err(format!("{unreported:?}")) }
    })
    .await;

    // A cursor past the cloud's last event (say the cloud was restored from
    // an older backup): the cloud refuses it, the task reloads the snapshot.
    let snapshot_now = bob.files(id).await.unwrap();
    let ahead = cloud_protocol::FilesSnapshot { files: Vec::new(), as_of_seq: snapshot_now.as_of_seq + 100 };
    db.call(move |m| m.load_snapshot(id, &ahead)).await.unwrap();
    inbox_tx.send(Routed::Connected).await.unwrap();
    wait_cursor(&db, id, snapshot_now.as_of_seq).await;
    let files = db.call(move |m| m.remote_files(id)).await.unwrap();
    assert_eq!(files.len(), snapshot_now.files.len());

    // Revoked: the task ends and the project is marked.
    alice.revoke_member(id, bob_id).await.unwrap();
    let outcome = tokio::time::timeout(DEADLINE, running).await.expect("task ends").unwrap();
    assert_eq!(outcome, ProjectOutcome::Revoked);
    let status = db.call(move |m| m.project(id)).await.unwrap().unwrap().status;
    assert_eq!(status, ProjectStatus::Revoked);
    stop.cancel();
}
