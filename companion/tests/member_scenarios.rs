//! Each everyday change ends in the right badge on the invitee, with the
//! right message, measured on the invitee's disk: a small file, a modify,
//! a delete, a rename, a conflict (pause, edit both sides, resume) and two
//! Syncthing errors (an immutable target; the folder's minDiskFree above
//! the free space). Real pair, real cloud, two real companions.

use crate::member_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use cloud_protocol::FileState;
use member_support::*;
use syncthing_fixtures::poll::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_modify_delete_rename() {
    let s = setup(Knobs::default()).await;
    s.write_synced("a.txt", b"first version\n").await;

    std::fs::write(s.a("a.txt"), b"second version, longer\n").unwrap();
    let want = blake3_of(&s.a("a.txt"));
    let b = s.wait_badge("a.txt", "the new version ✓", |b| b.local_hash.as_deref() == Some(want.as_str())).await;
    assert_eq!(b.state, FileState::Synced);

    std::fs::remove_file(s.a("a.txt")).unwrap();
    let b = s.wait_badge("a.txt", "deleted", |b| b.state == FileState::Deleted).await;
    assert!(!s.b("a.txt").exists() && b.error.is_none());

    s.write_synced("old-name.txt", b"moving\n").await;
    std::fs::rename(s.a("old-name.txt"), s.a("new-name.txt")).unwrap();
    s.wait_badge("old-name.txt", "deleted", |b| b.state == FileState::Deleted).await;
    s.wait_synced("new-name.txt").await;
    // The owner sees the same.
    s.wait_owner_view("new-name.txt", "✓", |r| r.progress.state == FileState::Synced).await;
    s.wait_owner_view("old-name.txt", "deleted", |r| r.progress.state == FileState::Deleted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_flagged_with_its_copy() {
    let s = setup(Knobs::default()).await;
    s.write_synced("conflict.txt", b"base\n").await;

    s.pause_pair().await;
    std::fs::write(s.a("conflict.txt"), b"edit on A\n").unwrap();
    let a_hash = blake3_of(&s.a("conflict.txt"));
    // The owner's edit is announced; B's Syncthing cannot get it: pending.
    s.wait_badge("conflict.txt", "pending", |b| b.state == FileState::Pending).await;
    // B edits too, later (its mtime wins when they meet again).
    std::fs::write(s.b("conflict.txt"), b"edit on B (later)\n").unwrap();
    let later = SystemTime::now() + Duration::from_secs(30);
    std::fs::File::options().write(true).open(s.b("conflict.txt")).unwrap().set_modified(later).unwrap();
    let b = s.wait_badge("conflict.txt", "conflict (edited here)", |b| b.state == FileState::Conflict).await;
    assert!(b.error.as_deref().unwrap_or("").contains("changed on this machine"), "{b:?}");
    assert_ne!(b.local_hash.as_deref(), Some(a_hash.as_str()));

    s.resume_pair().await;
    // Syncthing keeps B's text and makes a conflict copy of A's, which syncs to B.
    let b = s
        .wait_badge("conflict.txt", "conflict naming the copy", |b| {
            b.state == FileState::Conflict && b.error.as_deref().unwrap_or("").contains(".sync-conflict-")
        })
        .await;
    eprintln!("conflict badge: {b:?}");
    s.wait_owner_view("conflict.txt", "conflict", |r| r.progress.state == FileState::Conflict).await;
}

/// Writes `bytes` to `path` and sets its mtime.
fn write_with_mtime(path: PathBuf, bytes: &[u8], mtime: SystemTime) {
    std::fs::write(&path, bytes).unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
}

/// A delete against a concurrent edit, both ways (pause, B edits kept.txt
/// while A deletes it, A edits back.txt while B deletes it, resume). The
/// edits carry an mtime an hour old, so each delete is the newer change.
/// Syncthing 1.x lets the edit win anyway (syncthing/syncthing
/// lib/protocol/bep_fileinfo.go `WinsConflict` before commit 7c07610ab of
/// 2.0: "If a modification is in conflict with a delete, we pick the
/// modification"): both files come back everywhere, with the edited bytes,
/// and no conflict copy is made. 2.x lets the newer delete win instead and
/// keeps the edit as a conflict copy (syncthing/syncthing lib/model/
/// folder_sendrecv.go `deleteFileWithCurrent`, relnotes/v2.0.md); that
/// case is badge_delete_wins, from 2.x's event shapes, and the branch
/// below for anyone running the suite on a 2.x binary. The badges end
/// truthful: ✓ with the hash of the bytes on disk, nothing left "deleted"
/// or ⚠.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_beats_a_concurrent_delete_and_the_badges_follow() {
    let s = setup(Knobs::default()).await;
    let version = s.cluster.syncthing_version();
    std::fs::write(s.a("kept.txt"), b"kept: base\n").unwrap();
    std::fs::write(s.a("back.txt"), b"back: base\n").unwrap();
    s.wait_synced("kept.txt").await;
    s.wait_synced("back.txt").await;

    s.pause_pair().await;
    wait_apart(&s).await;
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    write_with_mtime(s.b("kept.txt"), b"kept: edited on B, an hour ago\n", hour_ago);
    write_with_mtime(s.a("back.txt"), b"back: edited on A, an hour ago\n", hour_ago);
    let (kept_b, back_a) = (blake3_of(&s.b("kept.txt")), blake3_of(&s.a("back.txt")));
    // Each Syncthing has its edit (B's shows as "changed on this machine").
    s.wait_badge("kept.txt", "conflict (edited here)", |b| b.state == FileState::Conflict).await;
    s.wait_badge("back.txt", "pending (the owner's edit)", |b| b.state == FileState::Pending).await;
    std::fs::remove_file(s.a("kept.txt")).unwrap();
    std::fs::remove_file(s.b("back.txt")).unwrap();
    let b = s
        .wait_badge("back.txt", "conflict (deleted here)", |b| {
            b.state == FileState::Conflict && b.error.as_deref().unwrap_or("").contains("deleted on this machine")
        })
        .await;
    assert_eq!(b.local_hash, None);
    eventually("the invitee hearing of the owner's delete of kept.txt", DEADLINE, || {
        s.member.manifest().remote_file(s.project, "kept.txt").ok()??.deleted_at.map(|_| ())
    })
    .await;
    // The owner deleted it; B still has its edit: ⚠ (once Syncthing is
    // asked about the news), never "deleted".
    let b = s
        .wait_badge("kept.txt", "conflict after the owner's delete", |b| {
            assert_ne!(b.state, FileState::Deleted, "{b:?}");
            b.state == FileState::Conflict && b.error.as_deref().unwrap_or("").contains("changed on this machine")
        })
        .await;
    assert_eq!(b.local_hash.as_deref(), Some(kept_b.as_str()), "{b:?}");

    s.resume_pair().await;
    if version.major >= 2 {
        // Not run here (no 2.x binary): the newer deletes win, each edit
        // survives as a conflict copy that syncs like any file.
        for (path, stem, edit) in
            [("kept.txt", "kept.sync-conflict-", &kept_b), ("back.txt", "back.sync-conflict-", &back_a)]
        {
            s.wait_badge(path, "deleted", |b| b.state == FileState::Deleted).await;
            let copy = eventually("the conflict copy on B", DEADLINE, || {
                conflict_copies(&s.b("")).into_iter().find(|c| c.starts_with(stem))
            })
            .await;
            let b = s.wait_synced(&copy).await;
            assert_eq!(b.local_hash.as_deref(), Some(edit.as_str()), "{copy} holds the losing edit");
            assert!(!s.b(path).exists());
        }
        return;
    }
    // 1.x: kept.txt comes back on A with B's bytes; the owner announces
    // them and B's badge is ✓ with that hash.
    let want = kept_b.clone();
    s.wait_badge("kept.txt", "✓ with B's edit", |b| {
        b.state == FileState::Synced && b.local_hash.as_deref() == Some(want.as_str())
    })
    .await;
    assert_eq!(blake3_of(&s.a("kept.txt")), kept_b, "A got B's edit back");
    // back.txt comes back on B with A's bytes.
    let want = back_a.clone();
    s.wait_badge("back.txt", "✓ with A's edit", |b| {
        b.state == FileState::Synced && b.local_hash.as_deref() == Some(want.as_str())
    })
    .await;
    s.wait_synced("back.txt").await;
    s.wait_synced("kept.txt").await;
    // No conflict copy either side, hence no ⚠ to show; the owner sees ✓.
    for node in 0..2 {
        let copies = conflict_copies(&s.cluster.node(node).folder_path(FOLDER));
        assert!(copies.is_empty(), "node {node} has conflict copies on {version}: {copies:?}");
    }
    s.wait_owner_view("kept.txt", "✓", |r| r.progress.state == FileState::Synced).await;
    s.wait_owner_view("back.txt", "✓", |r| r.progress.state == FileState::Synced).await;
}

/// The `.sync-conflict-` files at the top of a folder.
fn conflict_copies(root: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".sync-conflict-"))
        .collect()
}

/// `chattr +i` on a file, undone on drop so the temp dir can go.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: PathBuf) -> Immutable {
        let ok = Command::new("chattr").arg("+i").arg(&path).status().expect("chattr runs").success();
        assert!(ok, "chattr +i {}", path.display());
        Immutable(path)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncthing_errors_are_shown_in_words() {
    let s = setup(Knobs::default()).await;
    s.write_synced("locked.txt", b"v1\n").await;

    // Root ignores permissions, not the immutable flag: Syncthing cannot
    // replace the file, and says why.
    let guard = Immutable::set(s.b("locked.txt"));
    std::fs::write(s.a("locked.txt"), b"v2, which B cannot write\n").unwrap();
    let b = s.wait_badge("locked.txt", "error", |b| b.state == FileState::Error).await;
    let message = b.error.clone().unwrap_or_default();
    assert!(message.to_lowercase().contains("not permitted"), "{b:?}");
    // Badges travel to the owner: folder-relative words only.
    let home = s.b("").to_string_lossy().trim_end_matches('/').to_owned();
    assert!(!message.contains(&home), "bob's absolute path in the badge: {message}");
    let seen = s.wait_owner_view("locked.txt", "error", |r| r.progress.state == FileState::Error).await;
    assert!(!seen.progress.error.unwrap_or_default().contains(&home), "bob's absolute path reached the owner");
    // Fixed on B, and the owner saves again: the pull succeeds, the badge clears
    // (without the new save, Syncthing would wait a minute before retrying).
    drop(guard);
    std::fs::write(s.a("locked.txt"), b"v3, which B can write again\n").unwrap();
    let want = blake3_of(&s.a("locked.txt"));
    let b = s.wait_badge("locked.txt", "v3 ✓", |b| b.local_hash.as_deref() == Some(want.as_str())).await;
    assert_eq!((b.state, b.error), (FileState::Synced, None));

    // A folder stopped for lack of space: files not yet here say so.
    let patch = serde_json::json!({"minDiskFree": {"value": 99.9, "unit": "%"}});
    s.cluster.patch_folder(1, FOLDER, patch).await.unwrap();
    std::fs::write(s.a("no-room.txt"), b"there is no room for me on B\n").unwrap();
    let b = s.wait_badge("no-room.txt", "error", |b| b.state == FileState::Error).await;
    eprintln!("minDiskFree badge: {b:?}");
    let message = b.error.unwrap_or_default().to_lowercase();
    assert!(!message.contains(&home.to_lowercase()), "bob's absolute path in the badge: {message}");
    assert!(message.contains("space") || message.contains("disk"), "{message}");
}
