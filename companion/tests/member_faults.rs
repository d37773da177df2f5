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
