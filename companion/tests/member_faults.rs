//! Faults on the invitee's side of a live pair (issue 14's fault matrix):
//! a file edited here after ✓, the invitee's disk full during a pull, and
//! both Syncthings restarted while 1,500 changes happen (their 1,000-event
//! buffers overflowing). Each test says what a user must see afterwards.

use crate::member_support;

use std::time::{Duration, Instant};

use cloud_protocol::FileState;
use member_support::*;

/// The product's promise for a local edit: the badge leaves ✓ within 1 s.
/// Asserted with some slack for a loaded machine; the measured figure is printed.
const LOCAL_EDIT_SEEN: Duration = Duration::from_secs(3);

/// Syncthing's own watcher delay is 10 s by default: only the companion's
/// watcher can tell within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_edited_here_after_it_was_verified_leaves_synced_at_once_and_the_owner_sees_it() {
    let s = setup(Knobs { watcher_delay_s: Some(10), ..Knobs::default() }).await;
    s.write_synced("notes.txt", b"the owner's words\n").await;
    s.wait_owner_view("notes.txt", "synced", |r| r.progress.state == FileState::Synced).await;

    let edited = b"bob's words, written over the owner's\n";
    let at = Instant::now();
    std::fs::write(s.b("notes.txt"), edited).expect("edit on B");
    let mine = blake3_of(&s.b("notes.txt"));
    let left = badge_within(&s, "notes.txt", "leaves synced", LOCAL_EDIT_SEEN, |b| b.state != FileState::Synced).await;
    let badge_latency = at.elapsed();
    // Then judged on the new bytes: changed here (⚠), never ✓ on the old hash.
    let judged = s
        .wait_badge("notes.txt", "conflict on the new bytes", |b| b.local_hash.as_deref() == Some(mine.as_str()))
        .await;
    assert_eq!(judged.state, FileState::Conflict, "{judged:?} (first left ✓ as {left:?})");
    // The owner sees what bob holds now.
    let row = s
        .wait_owner_view("notes.txt", "bob's local edit", |r| r.progress.local_hash.as_deref() == Some(mine.as_str()))
        .await;
    let owner_latency = at.elapsed();
    assert_ne!(row.progress.state, FileState::Synced, "{row:?}");
    eprintln!(
        "local edit after ✓: the badge left ✓ after {} ms ({:?}), the owner saw bob's new hash after {} ms ({:?})",
        badge_latency.as_millis(),
        left.state,
        owner_latency.as_millis(),
        row.progress.state
    );
}

/// [`Setup::wait_badge`] with its own deadline.
async fn badge_within(
    s: &Setup,
    path: &str,
    what: &str,
    within: Duration,
    done: impl Fn(&cloud_protocol::FileProgress) -> bool,
) -> cloud_protocol::FileProgress {
    syncthing_fixtures::poll::eventually(&format!("{path}: {what}"), within, || match s.badge(path) {
        Some(b) if done(&b) => Ok(b),
        badge => Err(format!("badge {badge:?}")),
    })
    .await
}

/// The invitee's folder on a 4 MiB tmpfs, nearly filled by a file in
/// `.stfolder` (Syncthing's own, never synced nor announced): Syncthing
/// cannot pull a 1 MiB file. The badge says so in Syncthing's words and is
/// never ✓; once the filler is deleted the pull succeeds and the badge is ✓
/// with the verified hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_shows_syncthings_reason_and_the_file_arrives_once_space_returns() {
    let mut s = setup(Knobs::default()).await;
    // The folder is mounted before the invitee's Syncthing and companion
    // start (a watch set on the directory beneath would see nothing).
    // (Stopped once it runs: a SIGTERM during its start-up kills it.)
    s.member.dashboard_url().await.expect("the invitee's companion runs");
    s.member.stop().await;
    s.cluster.stop_node(1).await.expect("stop B");
    let disk = Tmpfs::mount(&s.b(""), "4m");
    std::fs::create_dir(s.b(".stfolder")).expect("folder marker");
    let filler = s.b(".stfolder/filler");
    let free = rustix::fs::statvfs(disk.path()).map(|v| v.f_bavail * v.f_frsize).expect("statvfs");
    syncthing_fixtures::write_noise(&filler, free - (256 << 10), 7).expect("filler");
    s.cluster.start_node(1).await.expect("start B");
    // Retry failed pulls after 1 s (doubling), not Syncthing's 60 s.
    s.cluster.patch_folder(1, FOLDER, serde_json::json!({"pullerPauseS": 1})).await.expect("pullerPauseS");
    s.member.start();

    syncthing_fixtures::write_noise(&s.a("big.bin"), 1 << 20, 1).expect("big.bin on A");
    let failed = s.wait_badge("big.bin", "an error", |b| b.state == FileState::Error).await;
    let words = failed.error.clone().unwrap_or_default();
    assert!(words.starts_with("Syncthing: ") && words.contains("space"), "Syncthing's reason: {failed:?}");
    let row = s.wait_owner_view("big.bin", "the error", |r| r.progress.state == FileState::Error).await;
    assert_eq!(row.progress.error, failed.error, "the owner sees the same words");
    eprintln!("disk full: badge {:?} {:?}", failed.state, words);
    // Syncthing retries (1, 2, 4 s…): still no room, never ✓.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let badge = s.badge("big.bin").expect("a badge");
        assert_ne!(badge.state, FileState::Synced, "{badge:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    std::fs::remove_file(&filler).expect("free the space");
    let badge = s.wait_synced("big.bin").await;
    assert_eq!(badge.error, None, "{badge:?}");
    s.wait_owner_view("big.bin", "synced", |r| r.progress.state == FileState::Synced && r.progress.error.is_none())
        .await;
}

/// A size-limited tmpfs mounted over a directory, unmounted when dropped.
/// Needs root (or CAP_SYS_ADMIN); fails loudly without.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Tmpfs {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a tmpfs (as root): mount -t tmpfs -o size={size} tmpfs {} failed: {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_owned())
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process still in it (a Syncthing stopping) must not leave it mounted.
        let done = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        if !done.as_ref().is_ok_and(|s| s.success()) {
            eprintln!("could not unmount {}: {done:?}", self.0.display());
        }
    }
}
