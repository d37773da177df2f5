//! Crash safety: a real `cloud serve` process is killed with SIGKILL while several
//! writers stream batches into one project. After a restart on the same database:
//! - every acknowledged batch (a `200` answer reached its writer) is in the log with
//!   exactly the seqs it was answered with;
//! - seqs are dense, `1..=last_seq`, and every event belongs to a batch we sent;
//! - no batch is half-written: each batch is in the log whole (all its changes, in
//!   order, on consecutive seqs) or not at all, and `remote_files` agrees with the log;
//! - re-posting each unacknowledged batch replays it if it had committed and applies
//!   it fresh if not, never twice.
//!
//! Several kills per backend, each after a different number of acknowledgements, so
//! the kill lands at various points of the write path (mid-request, mid-transaction,
//! mid-fsync, between commit and answer). SQLite runs as `cloud serve` does by
//! default (a data directory, WAL, `synchronous=FULL`); PostgreSQL through
//! `--database-url` (the test server itself stays up: it is the cloud that crashes).

use crate::support;

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cloud_protocol::{Change, UpdateFilesRequest, UpdateFilesResponse};
use e2e::cloud::{CloudDb, CloudProc, add_user, cloud_command};
use nix::sys::signal::Signal;
use reqwest::{Method, StatusCode};
use support::server::{Client, DEADLINE, create};
use syncthing_fixtures::poll::eventually_async;
use syncthing_fixtures::ports::free_port;
use uuid::Uuid;

/// Concurrent writers: several transactions queue at any moment, so a kill finds
/// some in flight.
const WRITERS: usize = 4;
const CHANGES_PER_BATCH: usize = 50;
/// One kill per entry, after this many acknowledged batches of that round.
const KILL_AFTER_ACKS: [usize; 3] = [3, 25, 60];

/// Starts `cloud serve` (the kit's process harness, without a rate limit) on a
/// free port and waits until it answers `/readyz`; its log goes to `log_dir`.
async fn start(db: &CloudDb, log_dir: &Path) -> CloudProc {
    let mut cmd = cloud_command().expect("the cloud binary");
    // Only the start-up lines are of use; per-request logs would just fill the file.
    cmd.env("RUST_LOG", "warn,cloud::server=info");
    let port = free_port().expect("a free port");
    CloudProc::spawn(cmd, db.clone(), log_dir, port, &["--rate-limit", "0"]).await.expect("cloud serve starts")
}

/// SIGKILL (no chance to finish anything), then waits for the process to be gone.
async fn kill_hard(mut served: CloudProc) {
    served.proc.signal(Signal::SIGKILL).expect("SIGKILL");
    let status = tokio::time::timeout(DEADLINE, served.proc.wait()).await.expect("dies").expect("wait");
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32), "{status}: {}", served.log_text());
}

/// A batch as its writer built it, and what the writer learnt of its fate.
#[derive(Clone)]
struct Sent {
    id: Uuid,
    changes: Vec<Change>,
    /// The answer, if one reached the writer.
    acked: Option<UpdateFilesResponse>,
}

/// The batch every path belongs to: paths are unique per batch and change.
fn batch_of_changes(round: usize, writer: usize, n: usize) -> Vec<Change> {
    (0..CHANGES_PER_BATCH)
        .map(|i| {
            let unique = (round * WRITERS + writer) as u64 * 1_000_000 + (n * CHANGES_PER_BATCH + i) as u64;
            create(&format!("crash/r{round}/w{writer}/b{n:05}/f{i:02}.mp4"), unique)
        })
        .collect()
}

/// Posts batches back to back until the server stops answering; returns every batch
/// it attempted (the last one unacknowledged).
async fn write_until_dead(
    client: Client,
    project: Uuid,
    round: usize,
    writer: usize,
    acks: Arc<AtomicUsize>,
) -> Vec<Sent> {
    let path = format!("/api/projects/{project}/files/update");
    let mut sent = Vec::new();
    for n in 0.. {
        let changes = batch_of_changes(round, writer, n);
        let id = Uuid::new_v4();
        let body = UpdateFilesRequest { batch_id: id, changes: changes.clone() };
        let answer = match client.request(Method::POST, &path).json(&body).send().await {
            Ok(resp) => {
                let status = resp.status();
                // A body cut off by the kill is no acknowledgement.
                let text = resp.text().await.ok();
                if text.is_some() {
                    assert_eq!(status, StatusCode::OK, "batch {id} refused: {text:?}");
                }
                text.and_then(|t| serde_json::from_str::<UpdateFilesResponse>(&t).ok())
            }
            Err(_) => None,
        };
        let dead = answer.is_none();
        if !dead {
            acks.fetch_add(1, Ordering::SeqCst);
        }
        sent.push(Sent { id, changes, acked: answer });
        if dead {
            break;
        }
    }
    sent
}

/// What the log holds: batch id → its seqs, checked to be whole and in order.
fn check_log(
    events: &[cloud_protocol::Event],
    last_seq: i64,
    ledger: &HashMap<Uuid, Sent>,
    owner: &HashMap<String, Uuid>,
) -> HashMap<Uuid, UpdateFilesResponse> {
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let dense: Vec<i64> = (1..=last_seq).collect();
    assert!(seqs == dense, "seqs are not exactly 1..={last_seq} ({} events)", events.len());
    let mut present: HashMap<Uuid, Vec<&cloud_protocol::Event>> = HashMap::new();
    for event in events {
        let batch = owner
            .get(&event.change.path)
            .unwrap_or_else(|| panic!("event {} ({}) belongs to no batch we sent", event.seq, event.change.path));
        present.entry(*batch).or_default().push(event);
    }
    let mut found = HashMap::new();
    for (batch, stored) in present {
        let sent = &ledger[&batch];
        assert_eq!(
            stored.len(),
            sent.changes.len(),
            "batch {batch} is half-written: {} of {} changes",
            stored.len(),
            sent.changes.len()
        );
        let first = stored[0].seq;
        for (i, (event, change)) in stored.iter().zip(&sent.changes).enumerate() {
            assert_eq!(event.seq, first + i as i64, "batch {batch} is not on consecutive seqs");
            assert_eq!(&event.change, change, "batch {batch}: seq {} holds another change", event.seq);
        }
        let last = stored[stored.len() - 1].seq;
        found.insert(batch, UpdateFilesResponse { first_seq: first, last_seq: last, synced: stored.len() as u32 });
    }
    for sent in ledger.values() {
        if let Some(acked) = &sent.acked {
            assert_eq!(found.get(&sent.id), Some(acked), "acknowledged batch {} lost or moved", sent.id);
        }
    }
    found
}

/// The whole log and the project's `last_seq`, checked against every batch ever sent.
async fn verify(
    client: &Client,
    project: Uuid,
    ledger: &HashMap<Uuid, Sent>,
) -> (i64, HashMap<Uuid, UpdateFilesResponse>) {
    let owner: HashMap<String, Uuid> =
        ledger.values().flat_map(|s| s.changes.iter().map(move |c| (c.path.clone(), s.id))).collect();
    let last_seq = client.project(project).await.last_seq;
    let events = client.all_events(project).await;
    let found = check_log(&events, last_seq, ledger, &owner);
    // remote_files was written in the same transactions: exactly the logged paths.
    let snapshot = client.files(project).await;
    assert_eq!(snapshot.as_of_seq, last_seq);
    let files: HashSet<&str> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
    let logged: HashSet<&str> = events.iter().map(|e| e.change.path.as_str()).collect();
    assert!(files == logged, "remote_files ({}) disagrees with the log ({})", files.len(), logged.len());
    (last_seq, found)
}

/// Kills the cloud during a stream of batches several times, checking after each restart.
async fn crash_story(db: CloudDb, backend: &str) {
    let logs = tempfile::tempdir().expect("temp dir");
    let token = add_user(&db, "owner").await.expect("cloud user add").token;
    let mut served = start(&db, logs.path()).await;
    let project = Client::new(&served.url, Some(token.clone())).create_project("Crash", "crash-fldr").await.id;
    let mut ledger: HashMap<Uuid, Sent> = HashMap::new();

    for (round, kill_after) in KILL_AFTER_ACKS.into_iter().enumerate() {
        let started = Instant::now();
        let acks = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let client = Client::new(&served.url, Some(token.clone()));
                tokio::spawn(write_until_dead(client, project, round, w, Arc::clone(&acks)))
            })
            .collect();
        eventually_async("acknowledged batches", DEADLINE, || async {
            (acks.load(Ordering::SeqCst) >= kill_after).then_some(())
        })
        .await;
        kill_hard(served).await;
        let killed_at = started.elapsed();
        for writer in writers {
            for sent in tokio::time::timeout(DEADLINE, writer).await.expect("writer stops").expect("writer") {
                ledger.insert(sent.id, sent);
            }
        }

        let restart = Instant::now();
        served = start(&db, logs.path()).await;
        let restarted_in = restart.elapsed();
        let client = Client::new(&served.url, Some(token.clone()));
        let (mut last_seq, found) = verify(&client, project, &ledger).await;

        // Re-post what got no answer: a committed batch replays, a lost one applies fresh.
        let mut unanswered: Vec<Sent> = ledger.values().filter(|s| s.acked.is_none()).cloned().collect();
        unanswered.sort_by_key(|s| s.changes[0].path.clone());
        let (mut replayed, mut fresh) = (0, 0);
        for sent in unanswered {
            let answer = client.update(project, sent.id, sent.changes.clone()).await;
            match found.get(&sent.id) {
                Some(stored) => {
                    assert_eq!(&answer, stored, "committed batch {} did not replay its seqs", sent.id);
                    replayed += 1;
                }
                None => {
                    assert_eq!(answer.first_seq, last_seq + 1, "lost batch {} not appended fresh", sent.id);
                    last_seq = answer.last_seq;
                    fresh += 1;
                }
            }
            ledger.get_mut(&sent.id).expect("in the ledger").acked = Some(answer);
        }
        let (final_seq, found) = verify(&client, project, &ledger).await;
        assert_eq!(final_seq, last_seq, "re-posting wrote more than the lost batches");
        assert_eq!(found.len(), ledger.len(), "every batch sent is in the log exactly once");
        assert_eq!(final_seq as usize, ledger.len() * CHANGES_PER_BATCH);
        eprintln!(
            "{backend} round {round}: killed after {killed_at:?} ({} batches acknowledged this round), \
             restarted in {restarted_in:?}; unanswered: {replayed} had committed (replayed), {fresh} had not \
             (applied fresh); log now {final_seq} events, checked in {:?}",
            acks.load(Ordering::SeqCst),
            restart.elapsed()
        );
    }
    kill_hard(served).await;
}

#[tokio::test]
async fn sigkill_during_writes_loses_no_acknowledged_batch_on_sqlite() {
    let data = tempfile::tempdir().expect("temp dir");
    crash_story(CloudDb::DataDir(data.path().to_owned()), "SQLite").await;
}

#[tokio::test]
async fn sigkill_during_writes_loses_no_acknowledged_batch_on_postgres() {
    let url = support::postgres::fresh_database().await;
    crash_story(CloudDb::Postgres(url), "PostgreSQL").await;
}
