//! The reporter against a real manifest and a socket-less link: badges are
//! reported only on acknowledgement, and what is not acknowledged goes again.

use std::time::Duration;

use cloud_protocol::{ClientMessage, FileProgress, FileState, Role};
use tempfile::TempDir;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{ACK_TIMEOUT, MAX_IN_FLIGHT, Reporter};
use crate::cloud_client::socket::{LinkHandle, detached};
use crate::manifest::db::Db;
use crate::manifest::{Manifest, ProjectRow};

const LONG: Duration = Duration::from_secs(3600);

/// A manifest in a temp dir (kept alive by the caller) with one project and
/// a ✓ badge for each of `paths`.
fn manifest_with_badges(paths: &[&str]) -> (TempDir, Db, Uuid) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut m = Manifest::open_in(dir).unwrap();
    let project = Uuid::new_v4();
    m.insert_project(&ProjectRow::new(project, "http://cloud", "p", "f", dir, Role::Member)).unwrap();
    let badges: Vec<_> = paths
        .iter()
        .map(|p| {
            let progress = FileProgress {
                path: (*p).into(),
                state: FileState::Synced,
                percent: 100.0,
                local_hash: None,
                error: None,
            };
            (progress, None)
        })
        .collect();
    m.save_badges(project, &badges).unwrap();
    (tmp, Db::new(m), project)
}

/// The next `progress` message sent: its seq and paths.
fn sent(rx: &mut mpsc::Receiver<ClientMessage>) -> Option<(u64, Vec<String>)> {
    match rx.try_recv().ok()? {
        ClientMessage::Progress { seq, files, .. } => {
            Some((seq.expect("a seq"), files.into_iter().map(|f| f.path).collect()))
        }
        other => panic!("expected progress, got {other:?}"),
    }
}

/// One round of the reporter, then the message it sent (see [`sent`]).
async fn report(
    reporter: &mut Reporter,
    db: &Db,
    link: &LinkHandle,
    rx: &mut mpsc::Receiver<ClientMessage>,
) -> Option<(u64, Vec<String>)> {
    reporter.report(db, link).await;
    sent(rx)
}

async fn unreported(db: &Db, project: Uuid) -> usize {
    db.call(move |m| m.unreported_badges(project, 100)).await.unwrap().len()
}

#[tokio::test(start_paused = true)]
async fn badges_are_reported_only_when_acknowledged_and_resent_after_the_timeout() {
    let (_dir, db, project) = manifest_with_badges(&["a", "b"]);
    let (link, mut rx, _connected) = detached();
    let mut reporter = Reporter::with_heartbeat(project, LONG);

    let (seq, paths) = report(&mut reporter, &db, &link, &mut rx).await.expect("a report");
    assert_eq!(paths, ["a", "b"]);
    // Sent is not stored: still unreported, and not sent twice while waiting.
    assert_eq!(unreported(&db, project).await, 2);
    assert_eq!(report(&mut reporter, &db, &link, &mut rx).await, None);

    // No ack within the timeout: the same badges go again, under a new seq.
    tokio::time::advance(ACK_TIMEOUT).await;
    let (again, paths) = report(&mut reporter, &db, &link, &mut rx).await.expect("sent again");
    assert!(again > seq);
    assert_eq!(paths, ["a", "b"]);

    // A late ack of the first message counts for nothing; the second one's does.
    reporter.acked(&db, seq).await;
    assert_eq!(unreported(&db, project).await, 2);
    reporter.acked(&db, again).await;
    assert_eq!(unreported(&db, project).await, 0);
    assert_eq!(report(&mut reporter, &db, &link, &mut rx).await, None);
}

#[tokio::test(start_paused = true)]
async fn a_new_socket_gets_what_the_old_one_never_acknowledged() {
    let (_dir, db, project) = manifest_with_badges(&["a"]);
    let (link, mut rx, connected) = detached();
    let mut reporter = Reporter::with_heartbeat(project, LONG);
    let (seq, _) = report(&mut reporter, &db, &link, &mut rx).await.expect("a report");

    // The socket drops with the report on it; nothing is sent while down.
    connected.send(false).unwrap();
    assert_eq!(report(&mut reporter, &db, &link, &mut rx).await, None);
    connected.send(true).unwrap();
    reporter.connected();
    let (resent, paths) = report(&mut reporter, &db, &link, &mut rx).await.expect("sent again on the new socket");
    assert!(resent > seq);
    assert_eq!(paths, ["a"]);
    reporter.acked(&db, resent).await;
    assert_eq!(unreported(&db, project).await, 0);
}

#[tokio::test(start_paused = true)]
async fn in_flight_messages_are_bounded_and_a_badge_that_changed_is_sent_again() {
    let (_dir, db, project) = manifest_with_badges(&["a"]);
    let (link, mut rx, _connected) = detached();
    let mut reporter = Reporter::with_heartbeat(project, LONG);
    let (first, _) = report(&mut reporter, &db, &link, &mut rx).await.unwrap();
    // Each change while the previous message waits goes out, up to the bound.
    for n in 1..=MAX_IN_FLIGHT + 2 {
        let progress = FileProgress {
            path: "a".into(),
            state: FileState::Syncing,
            percent: n as f64,
            local_hash: None,
            error: None,
        };
        db.call(move |m| m.save_badges(project, &[(progress, None)])).await.unwrap();
        // Each save gets its own `updated_at` (RFC 3339 to the nanosecond).
        reporter.mark_dirty();
        reporter.report(&db, &link).await;
    }
    let mut count = 1;
    while sent(&mut rx).is_some() {
        count += 1;
    }
    assert_eq!(count, MAX_IN_FLIGHT);
    assert_eq!(reporter.in_flight(), MAX_IN_FLIGHT);
    // The ack of a stale message does not mark the newer badge reported.
    reporter.acked(&db, first).await;
    assert_eq!(unreported(&db, project).await, 1);
}

#[tokio::test(start_paused = true)]
async fn an_idle_member_says_it_is_still_there() {
    let (_dir, db, project) = manifest_with_badges(&[]);
    let (link, mut rx, _connected) = detached();
    let heartbeat = Duration::from_secs(30);
    let mut reporter = Reporter::with_heartbeat(project, heartbeat);
    let (seq, paths) = report(&mut reporter, &db, &link, &mut rx).await.expect("hello on connect");
    assert!(paths.is_empty());
    reporter.acked(&db, seq).await;
    assert_eq!(report(&mut reporter, &db, &link, &mut rx).await, None);
    tokio::time::advance(heartbeat).await;
    assert_eq!(report(&mut reporter, &db, &link, &mut rx).await.map(|(_, p)| p.len()), Some(0));
}
