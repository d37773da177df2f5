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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_modify_delete_rename() {
    let s = setup(Knobs::default()).await;
    std::fs::write(s.a("a.txt"), b"first version\n").unwrap();
    s.wait_synced("a.txt").await;

    std::fs::write(s.a("a.txt"), b"second version, longer\n").unwrap();
    let want = blake3_of(&s.a("a.txt"));
    let b = s.wait_badge("a.txt", "the new version ✓", |b| b.local_hash.as_deref() == Some(want.as_str())).await;
    assert_eq!(b.state, FileState::Synced);

    std::fs::remove_file(s.a("a.txt")).unwrap();
    let b = s.wait_badge("a.txt", "deleted", |b| b.state == FileState::Deleted).await;
    assert!(!s.b("a.txt").exists() && b.error.is_none());

    std::fs::write(s.a("old-name.txt"), b"moving\n").unwrap();
    s.wait_synced("old-name.txt").await;
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
    std::fs::write(s.a("conflict.txt"), b"base\n").unwrap();
    s.wait_synced("conflict.txt").await;

    s.cluster.pause_device(0, 1).await.unwrap();
    s.cluster.pause_device(1, 0).await.unwrap();
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

    s.cluster.resume_device(0, 1).await.unwrap();
    s.cluster.resume_device(1, 0).await.unwrap();
    // Syncthing keeps B's text and makes a conflict copy of A's, which syncs to B.
    let b = s
        .wait_badge("conflict.txt", "conflict naming the copy", |b| {
            b.state == FileState::Conflict && b.error.as_deref().unwrap_or("").contains(".sync-conflict-")
        })
        .await;
    eprintln!("conflict badge: {b:?}");
    s.wait_owner_view("conflict.txt", "conflict", |r| r.progress.state == FileState::Conflict).await;
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
    std::fs::write(s.a("locked.txt"), b"v1\n").unwrap();
    s.wait_synced("locked.txt").await;

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
