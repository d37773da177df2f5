//! Crash safety: a real `cloud serve` process is killed with SIGKILL while several
//! writers stream batches into one project. After a restart on the same database:
//! - every acknowledged batch (a `200` answer reached its writer) is in the log with
//!   exactly the seqs it was answered with;
//! - seqs are dense, `1..=last_seq`, and every event belongs to a batch we sent;
//! - no batch is half-written: each batch is in the log whole (all its changes, in
//!   order, on consecutive seqs) or not at all, and `remote_files` agrees with the log;
//! - re-posting each unacknowledged batch replays it if it had committed and applies
//!   it fresh if not, never twice;
//! - WebSocket subscribers connected all along (the companion's own cloud link, which
//!   reconnects, each subscribing again from the last seq it holds) end with exactly
//!   the log, `1..=last_seq` in order: no gap, no duplicate. Each kill waits until
//!   every subscriber has had events that round, so it lands while pushes are in
//!   flight; one subscriber joins the last round with cursor 0, so that kill may land
//!   during its catch-up from the log.
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloud_protocol::retry::Backoff;
use cloud_protocol::{Change, ClientMessage, Event, ServerMessage, UpdateFilesRequest, UpdateFilesResponse};
use companion::cloud_client::CloudClient;
use companion::cloud_client::socket::{self, LinkConfig, LinkEvent};
use e2e::cloud::{CloudDb, CloudProc, add_user, cloud_command};
use nix::sys::signal::Signal;
use reqwest::{Method, StatusCode};
use support::server::{Client, DEADLINE, create};
use syncthing_fixtures::poll::eventually_async;
use syncthing_fixtures::ports::free_port;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Concurrent writers: several transactions queue at any moment, so a kill finds
/// some in flight.
const WRITERS: usize = 4;
const CHANGES_PER_BATCH: usize = 50;
/// One kill per entry, after this many acknowledged batches of that round.
const KILL_AFTER_ACKS: [usize; 3] = [3, 25, 60];

/// Starts `cloud serve` (the kit's process harness, without a rate limit) on
/// `port` and waits until it answers `/readyz`; its log goes to `log_dir`. A
/// restart reuses the port, so the subscribers' links find it again.
async fn start(db: &CloudDb, log_dir: &Path, port: u16) -> CloudProc {
    let mut cmd = cloud_command().expect("the cloud binary");
    // Only the start-up lines are of use; per-request logs would just fill the file.
    cmd.env("RUST_LOG", "warn,cloud::server=info");
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

/// What one subscriber holds: every event it took, in order, and how its link fared.
#[derive(Default)]
struct Seen {
    events: Vec<Event>,
    connects: usize,
    resyncs: usize,
    /// The first broken promise (a gap, a duplicate, an unexpected message).
    fault: Option<String>,
}

impl Seen {
    fn cursor(&self) -> i64 {
        self.events.last().map_or(0, |e| e.seq)
    }

    /// Takes events that must each be exactly the one after the cursor.
    fn take(&mut self, events: Vec<Event>, how: &str) {
        for event in events {
            if self.fault.is_none() && event.seq != self.cursor() + 1 {
                self.fault = Some(format!("{how}: seq {} after seq {}", event.seq, self.cursor()));
            }
            if self.fault.is_none() {
                self.events.push(event);
            }
        }
    }
}

/// A subscriber as the companion is one: the companion's own cloud link
/// (reconnecting with backoff, quicker than its default so the test stays
/// short), subscribing after each connect from its cursor, and on `resync`
/// pulling `GET …/events` before subscribing again.
async fn subscribe(client: CloudClient, project: Uuid, seen: Arc<Mutex<Seen>>, shutdown: CancellationToken) {
    let backoff = Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(200), ..Backoff::default() };
    let (link, mut incoming) = socket::spawn(&client, LinkConfig { backoff, ..LinkConfig::default() }, shutdown);
    let resubscribe = |since_seq| ClientMessage::Subscribe { project_id: project, since_seq };
    while let Some(event) = incoming.recv().await {
        let cursor = seen.lock().expect("seen").cursor();
        match event {
            LinkEvent::Connected => {
                seen.lock().expect("seen").connects += 1;
                // Refused only if the socket died already: the next `Connected` subscribes.
                let _ = link.send(resubscribe(cursor)).await;
            }
            LinkEvent::Disconnected { .. } => {}
            LinkEvent::Message(ServerMessage::Events { project_id, events, last_seq }) => {
                let mut seen = seen.lock().expect("seen");
                if project_id != project || events.last().map(|e| e.seq) != Some(last_seq) {
                    seen.fault.get_or_insert(format!("bad events message (last_seq {last_seq})"));
                }
                seen.take(events, "pushed");
            }
            LinkEvent::Message(ServerMessage::Resync { .. }) => {
                seen.lock().expect("seen").resyncs += 1;
                let mut since = cursor;
                // A pull cut short by a kill is resumed by the next `Connected`.
                while let Ok(page) = client.events(project, since, None).await {
                    since = page.next_seq;
                    seen.lock().expect("seen").take(page.events, "pulled");
                    if !page.has_more {
                        let _ = link.send(resubscribe(since)).await;
                        break;
                    }
                }
            }
            LinkEvent::Message(other) => {
                seen.lock().expect("seen").fault.get_or_insert(format!("unexpected message {other:?}"));
            }
        }
    }
}

/// Waits until every subscriber holds exactly the log (seqs `1..=last_seq`, the
/// same events, in order); fails at once on a subscriber's fault.
async fn subscribers_hold(subscribers: &[Arc<Mutex<Seen>>], log: &[Event]) {
    for (n, seen) in subscribers.iter().enumerate() {
        eventually_async("a subscriber to catch up with the log", DEADLINE, || async {
            let seen = seen.lock().expect("seen");
            if let Some(fault) = &seen.fault {
                panic!("subscriber {n}: {fault}");
            }
            if seen.events.len() < log.len() {
                return Err(format!("subscriber {n} at seq {} of {}", seen.cursor(), log.len()));
            }
            assert!(seen.events == log, "subscriber {n} holds other events than the log");
            Ok(())
        })
        .await;
    }
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
    let port = free_port().expect("a free port");
    let mut served = start(&db, logs.path(), port).await;
    let project = Client::new(&served.url, Some(token.clone())).create_project("Crash", "crash-fldr").await.id;
    let mut ledger: HashMap<Uuid, Sent> = HashMap::new();
    let shutdown = CancellationToken::new();
    let mut subscribers: Vec<Arc<Mutex<Seen>>> = Vec::new();
    let mut listening = Vec::new();
    let mut add_subscriber = |subscribers: &mut Vec<Arc<Mutex<Seen>>>| {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let client = CloudClient::new(&format!("http://127.0.0.1:{port}"), &token).expect("client");
        listening.push(tokio::spawn(subscribe(client, project, Arc::clone(&seen), shutdown.clone())));
        subscribers.push(seen);
    };
    add_subscriber(&mut subscribers);
    add_subscriber(&mut subscribers);

    for (round, kill_after) in KILL_AFTER_ACKS.into_iter().enumerate() {
        if round == KILL_AFTER_ACKS.len() - 1 {
            // Joins with cursor 0 when the log holds thousands of events: its
            // catch-up (pages from the store, then live pushes) may be under way
            // at the kill.
            add_subscriber(&mut subscribers);
        }
        let had: Vec<usize> = subscribers.iter().map(|s| s.lock().expect("seen").events.len()).collect();
        let started = Instant::now();
        let acks = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let client = Client::new(&served.url, Some(token.clone()));
                tokio::spawn(write_until_dead(client, project, round, w, Arc::clone(&acks)))
            })
            .collect();
        // Enough acknowledged, and every subscriber being pushed events of this round.
        eventually_async("acknowledged batches and pushed events", DEADLINE, || async {
            let pushed = subscribers.iter().zip(&had).all(|(s, had)| s.lock().expect("seen").events.len() > *had);
            (acks.load(Ordering::SeqCst) >= kill_after && pushed).then_some(())
        })
        .await;
        let held: Vec<i64> = subscribers.iter().map(|s| s.lock().expect("seen").cursor()).collect();
        kill_hard(served).await;
        let killed_at = started.elapsed();
        for writer in writers {
            for sent in tokio::time::timeout(DEADLINE, writer).await.expect("writer stops").expect("writer") {
                ledger.insert(sent.id, sent);
            }
        }

        let restart = Instant::now();
        served = start(&db, logs.path(), port).await;
        let restarted_in = restart.elapsed();
        let client = Client::new(&served.url, Some(token.clone()));
        let (mut last_seq, found) = verify(&client, project, &ledger).await;
        let survived = last_seq;

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
        subscribers_hold(&subscribers, &client.all_events(project).await).await;
        let links: Vec<String> = subscribers
            .iter()
            .zip(&held)
            .map(|(s, held)| {
                let s = s.lock().expect("seen");
                format!("at seq {held} of {survived} at the kill, {} connects, {} resyncs", s.connects, s.resyncs)
            })
            .collect();
        eprintln!(
            "{backend} round {round}: killed after {killed_at:?} ({} batches acknowledged this round), \
             restarted in {restarted_in:?}; unanswered: {replayed} had committed (replayed), {fresh} had not \
             (applied fresh); log now {final_seq} events, checked in {:?}; subscribers: {}",
            acks.load(Ordering::SeqCst),
            restart.elapsed(),
            links.join("; ")
        );
    }
    shutdown.cancel();
    for task in listening {
        tokio::time::timeout(DEADLINE, task).await.expect("subscriber stops").expect("subscriber");
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
