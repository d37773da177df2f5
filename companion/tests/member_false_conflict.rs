//! A conflict between the owner and the invitee, both ways, on a real pair
//! (both folders send-receive): the file is synced, the pair is paused,
//! both edit it, the pair is resumed. Syncthing keeps the newer edit and
//! moves the other into a `.sync-conflict-` copy, which syncs like any file
//! and which the owner's companion announces like any file. Once both
//! Syncthings are idle, what a user checks must hold on the invitee: every
//! announced path whose bytes here equal the announced hash reads ✓, the
//! copy included; none reads ⚠ "differs from the owner's version although
//! Syncthing reports it in sync" on matching bytes. The original itself is
//! ⚠ because a conflicting copy of it exists, and says so.
//!
//! The winner is made certain, not left to luck: Syncthing (1.x and 2.x,
//! `lib/protocol` `WinsConflict`) keeps the edit with the newer
//! modification time, and the two edits carry mtimes a minute apart.

use crate::member_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cloud_protocol::FileState;
use member_support::*;
use syncthing_fixtures::poll::{eventually, eventually_async};

/// Which side's edit Syncthing keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Winner {
    Owner,
    Invitee,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owners_losing_edit_arrives_as_a_copy_and_reads_synced() {
    collide_and_check(Winner::Invitee).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invitees_losing_edit_comes_back_announced_and_reads_synced() {
    collide_and_check(Winner::Owner).await;
}

async fn collide_and_check(winner: Winner) {
    let s = setup(Knobs::default()).await;
    s.write_synced("doc.txt", b"base\n").await;

    s.pause_pair().await;
    wait_apart(&s).await;
    // Both mtimes in the past, a minute apart: the newer one wins.
    let older = SystemTime::now() - Duration::from_secs(120);
    let newer = older + Duration::from_secs(60);
    let (owner_mtime, invitee_mtime) = match winner {
        Winner::Owner => (newer, older),
        Winner::Invitee => (older, newer),
    };
    write_with_mtime(&s.a("doc.txt"), b"the owner's edit\n", owner_mtime);
    write_with_mtime(&s.b("doc.txt"), b"the invitee's edit, longer\n", invitee_mtime);
    let (owner_edit, invitee_edit) = (blake3_of(&s.a("doc.txt")), blake3_of(&s.b("doc.txt")));
    // Each Syncthing has indexed its own edit before they meet again: the
    // owner's companion announced the owner's edit (it learns of it from
    // Syncthing's scan too), and the invitee's badge says it was edited here.
    eventually("the owner's edit announced to the invitee", DEADLINE, || {
        let row = s.member.manifest().remote_file(s.project, "doc.txt").ok()??;
        (row.hash == owner_edit).then_some(())
    })
    .await;
    s.wait_badge("doc.txt", "conflict (edited here)", |b| {
        b.state == FileState::Conflict && b.error.as_deref().unwrap_or("").contains("changed on this machine")
    })
    .await;
    wait_scanned(&s, 0).await;
    wait_scanned(&s, 1).await;

    s.resume_pair().await;
    let (kept, lost) = match winner {
        Winner::Owner => (&owner_edit, &invitee_edit),
        Winner::Invitee => (&invitee_edit, &owner_edit),
    };
    // Syncthing made the copy (on the losing side) and synced it both ways.
    let copy = eventually("a conflict copy on both sides", DEADLINE, || {
        let on_a = conflict_copies(&s.a(""));
        let on_b = conflict_copies(&s.b(""));
        (on_a.len() == 1 && on_a == on_b).then(|| on_a[0].clone())
    })
    .await;
    assert!(copy.starts_with("doc.sync-conflict-"), "{copy}");
    wait_idle(&s).await;
    assert_eq!(&blake3_of(&s.b("doc.txt")), kept, "{winner:?}'s edit is kept");
    assert_eq!(&blake3_of(&s.b(&copy)), lost, "the copy holds the losing edit");
    assert_eq!(blake3_of(&s.a(&copy)), blake3_of(&s.b(&copy)));
    // The owner announced what its disk now holds: the kept edit and the copy.
    eventually("the owner's announcements of both paths", DEADLINE, || {
        let m = s.member.manifest();
        let doc = m.remote_file(s.project, "doc.txt").ok()??;
        let c = m.remote_file(s.project, &copy).ok()??;
        (doc.hash == *kept && c.hash == *lost).then_some(())
    })
    .await;

    // What the user checks: matching bytes read ✓ (the copy) or ⚠ for the
    // copy's existence (the original), never the false "in sync" conflict.
    let what = format!("{winner:?} wins: truthful badges after both Syncthings went idle");
    eventually(&what, DEADLINE, || {
        let problems = untruthful_badges(&s);
        if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
    })
    .await;
    let c = s.badge(&copy).expect("the copy's badge");
    assert_eq!((c.state, c.local_hash.as_deref(), c.error), (FileState::Synced, Some(lost.as_str()), None));
    let d = s.badge("doc.txt").expect("the original's badge");
    assert_eq!(d.local_hash.as_deref(), Some(kept.as_str()), "{d:?}");
    assert!(d.error.as_deref().unwrap_or("").contains(&copy), "the original names its copy: {d:?}");
    // The owner hears the same of the copy.
    s.wait_owner_view(&copy, "✓", |r| r.progress.state == FileState::Synced).await;
}

/// Every announced path whose bytes on the invitee equal the announced
/// hash and whose badge says otherwise than ✓, in words. The one ⚠ allowed
/// on matching bytes is that of an original whose conflict copy exists here.
fn untruthful_badges(s: &Setup) -> Vec<String> {
    let manifest = s.member.manifest();
    let rows = manifest.remote_files(s.project).expect("announced paths");
    let copies = conflict_copies(&s.b(""));
    let mut problems = Vec::new();
    for row in rows.iter().filter(|r| r.deleted_at.is_none()) {
        let on_disk = std::fs::read(s.b(&row.path)).ok().map(|b| format!("blake3:{}", blake3::hash(&b).to_hex()));
        if on_disk.as_deref() != Some(row.hash.as_str()) {
            continue;
        }
        let badge = s.badge(&row.path);
        let ok = match &badge {
            Some(b) if b.state == FileState::Synced => b.local_hash.as_deref() == Some(row.hash.as_str()),
            Some(b) if b.state == FileState::Conflict => {
                let why = b.error.as_deref().unwrap_or("");
                let has_copy =
                    copies.iter().any(|c| companion::ignore::is_conflict_copy(c).as_deref() == Some(&row.path));
                has_copy && !why.contains("although Syncthing reports it in sync")
            }
            _ => false,
        };
        if !ok {
            problems.push(format!("{}: bytes match {}, badge {badge:?}", row.path, row.hash));
        }
    }
    problems
}

fn write_with_mtime(path: &Path, bytes: &[u8], mtime: SystemTime) {
    std::fs::write(path, bytes).unwrap();
    std::fs::File::options().write(true).open(path).unwrap().set_modified(mtime).unwrap();
}

/// The `.sync-conflict-` files at the top of a folder, sorted.
fn conflict_copies(root: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".sync-conflict-"))
        .collect();
    found.sort();
    found
}

/// `/rest/db/status` of the shared folder on node `i`.
async fn db_status(s: &Setup, i: usize) -> serde_json::Value {
    s.cluster.node(i).get_json(&format!("/rest/db/status?folder={FOLDER}")).await.unwrap_or_default()
}

/// Waits until node `i`'s Syncthing has indexed what is on its disk (its
/// edit made while paused): asks for a scan and waits for idle with the
/// local file's size in its index.
async fn wait_scanned(s: &Setup, i: usize) {
    let node = s.cluster.node(i);
    let path: PathBuf = node.folder_path(FOLDER).join("doc.txt");
    let size = std::fs::metadata(&path).unwrap().len();
    node.post(&format!("/rest/db/scan?folder={FOLDER}&sub=doc.txt")).await.unwrap();
    eventually_async(&format!("node {i} to index its edit"), DEADLINE, || async {
        let file = node.get_json(&format!("/rest/db/file?folder={FOLDER}&file=doc.txt")).await.unwrap_or_default();
        let status = db_status(s, i).await;
        if file["local"]["size"].as_u64() == Some(size) && status["state"] == "idle" { Ok(()) } else { Err(file) }
    })
    .await
}

/// Waits until both Syncthings are idle and need nothing.
async fn wait_idle(s: &Setup) {
    eventually_async("the pair idle", DEADLINE, || async {
        let (a, b) = (db_status(s, 0).await, db_status(s, 1).await);
        let idle = |st: &serde_json::Value| st["state"] == "idle" && st["needTotalItems"].as_u64() == Some(0);
        if idle(&a) && idle(&b) { Ok(()) } else { Err(format!("\nA {a}\nB {b}")) }
    })
    .await
}
