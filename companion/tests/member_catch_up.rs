//! The invitee's companion is stopped while the owner makes 200 changes;
//! started again, it catches up from its cursor with no gap and every badge
//! settles. Then the owner revokes the member: the subscription ends and
//! the project is marked revoked locally. A manifest locked past the busy
//! timeout mid-pull delays badges but does not stop them.

use crate::member_support;

use std::time::{Duration, Instant};

use cloud_protocol::{Change, FileState, Op, UpdateFilesRequest};
use companion::manifest::ProjectStatus;
use member_support::*;
use syncthing_fixtures::poll::eventually;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catches_up_200_changes_from_its_cursor() {
    let mut s = setup(Knobs::default()).await;
    s.write_synced("hello.txt", b"up\n").await;
    let before = s.member.manifest().project(s.project).unwrap().unwrap().last_seq;
    s.member.stop().await;

    for i in 0..200 {
        std::fs::write(s.a(&format!("f{i:03}.txt")), format!("file {i}\n")).unwrap();
    }
    let alice = s.cloud.client(&s.alice_token);
    let events = wait_count(&alice, s.project, before as usize + 200).await;
    let last = events.last().unwrap().seq;

    let started = Instant::now();
    s.member.start();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let m = s.member.manifest();
        let cursor = m.project(s.project).unwrap().unwrap().last_seq;
        let badges = m.badges(s.project).unwrap();
        let synced =
            badges.iter().filter(|b| b.progress.path.starts_with('f') && b.progress.state == FileState::Synced);
        if cursor == last && synced.count() == 200 {
            break;
        }
        if Instant::now() >= deadline {
            let unsettled: Vec<String> = badges
                .iter()
                .filter(|b| b.progress.state != FileState::Synced)
                .map(|b| format!("{} {:?} {:?}", b.progress.path, b.progress.state, b.progress.error))
                .collect();
            let badged: std::collections::HashSet<&str> = badges.iter().map(|b| b.progress.path.as_str()).collect();
            let unbadged: Vec<String> = m
                .remote_files(s.project)
                .unwrap()
                .into_iter()
                .map(|r| r.path)
                .filter(|p| !badged.contains(p.as_str()))
                .collect();
            panic!(
                "cursor {cursor}/{last}; not synced: {unsettled:?}; no badge: {unbadged:?}; log:\n{}",
                s.member.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("caught up 200 changes and settled in {:?}", started.elapsed());
    // Every announced path is there, each with the hash on disk.
    let m = s.member.manifest();
    let remote = m.remote_files(s.project).unwrap();
    assert_eq!(remote.len(), 201);
    for b in m.badges(s.project).unwrap() {
        let want = blake3_of(&s.b(&b.progress.path));
        assert_eq!(b.progress.local_hash.as_deref(), Some(want.as_str()), "{}", b.progress.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_member_stops_and_says_so() {
    let s = setup(Knobs::default()).await;
    s.write_synced("hello.txt", b"up\n").await;

    // What bob reports while the owner's companion is down reaches the owner
    // when it starts again (the cloud kept it). The announcement is posted
    // with alice's token directly, since her companion is down.
    let mut s = s;
    s.owner.stop().await;
    let alice = s.cloud.client(&s.alice_token);
    let hash = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
    let change = Change::upsert(Op::Create, "offline-report.txt", hash, 0, 1);
    let request = UpdateFilesRequest { batch_id: Uuid::new_v4(), changes: vec![change] };
    alice.update_files(s.project, &request).await.expect("posted");
    s.wait_badge("offline-report.txt", "pending", |b| b.state == FileState::Pending).await;
    s.owner.start();
    s.wait_owner_view("offline-report.txt", "bob's pending", |r| r.progress.state == FileState::Pending).await;

    alice.revoke_member(s.project, s.bob).await.expect("revoke");
    eventually("the project marked revoked", DEADLINE, || {
        (s.member_project_status() == Some(ProjectStatus::Revoked)).then_some(())
    })
    .await;
    assert!(s.member.log().contains("revoked"), "{}", s.member.log());
    let json: serde_json::Value = serde_json::from_str(&s.member.ok(&["status", "--json"])).unwrap();
    assert_eq!(json["projects"][0]["status"], "revoked");

    // Later changes no longer reach the revoked member's manifest.
    let cursor = s.member.manifest().project(s.project).unwrap().unwrap().last_seq;
    std::fs::write(s.a("after.txt"), b"not for bob\n").unwrap();
    let events = wait_count(&alice, s.project, cursor as usize + 1).await;
    assert!(events.iter().any(|e| e.change.path == "after.txt"));
    // An absence, checked for a bounded while.
    let quiet_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < quiet_until {
        let m = s.member.manifest();
        assert_eq!(m.project(s.project).unwrap().unwrap().last_seq, cursor);
        assert!(m.remote_file(s.project, "after.txt").unwrap().is_none());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Another process holds the invitee's manifest write lock past the busy
/// timeout while a file is being pulled: saving badges fails for a while,
/// and the badge engine carries on to ✓ once the lock is gone (it used to
/// stop for good, silently).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badges_outlive_a_manifest_locked_mid_pull() {
    // 2 MiB/s: 24 MiB take about 12 s, with a progress tick every second.
    let s = setup(Knobs { recv_limit_kibps: Some(2 * 1024), ..Knobs::default() }).await;
    syncthing_fixtures::write_noise(&s.a("slow.bin"), 24 << 20, 3).unwrap();
    s.wait_badge("slow.bin", "syncing", |b| b.state == FileState::Syncing).await;

    let manifest = s.member.state_dir().join(companion::state_dir::MANIFEST_FILE);
    let lock = rusqlite::Connection::open(manifest).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    eventually("the invitee failing to save badges", DEADLINE, || {
        s.member.log().contains("could not save badges").then_some(())
    })
    .await;
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);

    s.wait_synced("slow.bin").await;
    assert!(s.member.log().contains("badges are saved again"), "{}", s.member.log());
}
