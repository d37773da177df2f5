//! Delivery: how long a committed event takes to reach 1,000 WebSocket subscribers
//! of one project while a writer commits 1,000 events/s, and whether all arrive.
//!
//! Subscribers are real tokio-tungstenite clients, spread over a few accepted
//! members, each subscribed with `since_seq = 0` after a warm-up event (seq 1) whose
//! backlog delivery proves the subscription is live before the clock starts. The
//! writer posts a batch of 10 every 10 ms, each on its own task so a slow commit does
//! not hold back the next one, and notes when it sent each batch and when the answer
//! came back. Each subscriber notes when each `events` message arrived (same process,
//! same monotonic clock) and checks the seqs run on with no gap and no duplicate.
//!
//! Two latencies per event and subscriber: **commit → received** from the moment the
//! writer got its `200` (the commit is known durable then; the push may even beat the
//! answer to the client, which counts as zero and is reported), and **sent →
//! received**, which adds the whole request (validation and the transaction).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cloud_protocol::{ClientMessage, UpdateFilesRequest, UpdateFilesResponse};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cpu::CpuTimes;
use crate::stats::{Percentiles, micros, ms, thousands};
use crate::support::server::{Client, create, ok};
use crate::{Backend, Scale, ServerSide};

/// Subscribers are spread over this many accepted members.
const MEMBERS: usize = 10;

/// How the writer spreads its 1,000 events/s: what costs the server is frames
/// (one per batch per subscriber), so the same event rate is run at two paces.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub events_per_batch: usize,
    pub every: Duration,
}

impl Pace {
    /// The pace: 100 small commits a second.
    pub const FINE: Pace = Pace { events_per_batch: 10, every: Duration::from_millis(10) };
    /// A debounced companion's pace: 10 commits a second.
    pub const COARSE: Pace = Pace { events_per_batch: 100, every: Duration::from_millis(100) };

    fn describe(self) -> String {
        format!("{} every {} ms", self.events_per_batch, self.every.as_millis())
    }
}
/// WebSocket handshakes in flight at once while subscribers connect.
const CONNECTING: usize = 32;
/// How long subscribers may take to subscribe, and to drain after the last commit.
const SETTLE: Duration = Duration::from_secs(60);

/// One backend's figures.
pub struct DeliveryFigures {
    pub backend: Backend,
    pub pace: Pace,
    pub subscribers: usize,
    /// Time for every subscriber to connect, subscribe and get its backlog.
    pub subscribed_in: Duration,
    /// Events written during the run and the rate actually achieved.
    pub written: usize,
    pub written_per_s: f64,
    /// Events received in order, summed over subscribers, and how many got all.
    pub delivered: u64,
    pub complete: usize,
    pub commit_to_received: Percentiles,
    pub sent_to_received: Percentiles,
    /// Deliveries that reached the subscriber before the answer reached the writer.
    pub before_answer: u64,
    /// The writer's requests (post → answer).
    pub request: Percentiles,
    /// `events` messages received after the warm-up, summed over subscribers.
    pub frames: u64,
    /// CPU spent by role from the first post until every subscriber was done, and
    /// that window's length.
    pub cpu: CpuTimes,
    pub window: Duration,
    /// Anything other than in-order events: gaps, resyncs, errors, closes; and
    /// writer requests that failed (their events are not counted as written).
    pub problems: Vec<String>,
}

/// The part of a server message the bench reads; serde skips the rest unallocated,
/// so 1,000 clients parsing 100 messages/s each cost the machine as little as possible.
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<SeqOnly>,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: i64,
}

/// One `events` message: seqs `first..first + count`, received at `at`.
struct Received {
    first: i64,
    count: u32,
    at: Instant,
}

#[derive(Default)]
struct SubscriberLog {
    received: Vec<Received>,
    problems: Vec<String>,
}

/// Connects (at most `CONNECTING` at a time), subscribes, then records every
/// message (and the last seq in `seen`) until `stop` fires.
async fn subscriber(
    url: String,
    token: String,
    project: Uuid,
    gate: Arc<Semaphore>,
    ready: Arc<AtomicUsize>,
    seen: Arc<AtomicI64>,
    stop: CancellationToken,
) -> SubscriberLog {
    let mut log = SubscriberLog::default();
    let mut ws = {
        let _turn = gate.acquire().await.expect("gate");
        let mut req = url.into_client_request().expect("ws url");
        let auth = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
        req.headers_mut().insert("authorization", auth);
        // tungstenite zeroes its whole read buffer (128 KiB by default) on every read:
        // with 1,000 clients that memset alone took a tenth of the machine.
        let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
        let (mut ws, _) = match tokio_tungstenite::connect_async_with_config(req, Some(config), true).await {
            Ok(ok) => ok,
            Err(e) => {
                log.problems.push(format!("connect: {e}"));
                return log;
            }
        };
        let subscribe = serde_json::to_string(&ClientMessage::Subscribe { project_id: project, since_seq: 0 });
        if let Err(e) = ws.send(Message::text(subscribe.expect("json"))).await {
            log.problems.push(format!("subscribe: {e}"));
            return log;
        }
        ws
    };
    let mut expected = 1;
    loop {
        let next = tokio::select! {
            next = ws.next() => next,
            () = stop.cancelled() => break,
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                log.problems.push(format!("closed by the server: {frame:?}"));
                break;
            }
            // Pings are answered by tungstenite itself.
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                log.problems.push(format!("read: {e}"));
                break;
            }
            None => {
                log.problems.push("connection ended".into());
                break;
            }
        };
        let at = Instant::now();
        let msg: Incoming = match serde_json::from_str(&text) {
            Ok(msg) => msg,
            Err(e) => {
                log.problems.push(format!("unreadable message ({e}): {text}"));
                break;
            }
        };
        if msg.kind != "events" {
            log.problems.push(format!("unexpected message: {text}"));
            break;
        }
        let (Some(first), Some(last)) = (msg.events.first(), msg.events.last()) else { continue };
        let contiguous = msg.events.windows(2).all(|w| w[1].seq == w[0].seq + 1);
        if first.seq != expected || !contiguous {
            log.problems.push(format!("out of order: expected seq {expected}, got {}..={}", first.seq, last.seq));
            break;
        }
        if expected == 1 {
            ready.fetch_add(1, Ordering::SeqCst);
        }
        log.received.push(Received { first: first.seq, count: msg.events.len() as u32, at });
        expected = last.seq + 1;
        seen.store(last.seq, Ordering::SeqCst);
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    log
}

/// One batch as the writer saw it.
struct Posted {
    sent: Instant,
    answered: Instant,
    answer: UpdateFilesResponse,
}

pub async fn run(server: &ServerSide, backend: Backend, scale: Scale, pace: Pace) -> DeliveryFigures {
    let (database, _dir) = backend.fresh().await;
    let cloud = server.start_cloud(database).await;
    let (_, owner_token) = server.add_user(&cloud, "owner").await;
    let owner = Client::new(&cloud.url(), Some(owner_token));
    let project = owner.create_project("Delivery", "delivery-folder").await.id;
    let mut members = Vec::new();
    for m in 0..MEMBERS {
        let (_, token) = server.add_user(&cloud, &format!("member-{m}")).await;
        let invite = owner.invite(project, None).await;
        Client::new(&cloud.url(), Some(token.clone())).accept(&invite.code).await;
        members.push(token);
    }
    owner.update(project, Uuid::new_v4(), vec![create("warm-up/ready.txt", 0)]).await;

    let batches = (Duration::from_secs(scale.delivery_seconds).as_millis() / pace.every.as_millis()) as usize;
    let (gate, ready, stop) =
        (Arc::new(Semaphore::new(CONNECTING)), Arc::new(AtomicUsize::new(0)), CancellationToken::new());
    let seen: Vec<Arc<AtomicI64>> = (0..scale.subscribers).map(|_| Arc::new(AtomicI64::new(0))).collect();
    let started = Instant::now();
    let subscribers: Vec<_> = seen
        .iter()
        .enumerate()
        .map(|(i, seen)| {
            let token = members[i % MEMBERS].clone();
            let (gate, ready, seen, stop) = (gate.clone(), ready.clone(), seen.clone(), stop.clone());
            tokio::spawn(subscriber(cloud.ws_url(), token, project, gate, ready, seen, stop))
        })
        .collect();
    let deadline = Instant::now() + SETTLE;
    while ready.load(Ordering::SeqCst) < scale.subscribers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let subscribed_in = started.elapsed();
    eprintln!("  {} of {} subscribed in {}", ready.load(Ordering::SeqCst), scale.subscribers, ms(subscribed_in));

    // Bodies made beforehand: the writer's only work in the run is sending them.
    let path = format!("/api/projects/{project}/files/update");
    let bodies: Vec<String> = (0..batches)
        .map(|b| {
            let changes = (0..pace.events_per_batch)
                .map(|i| {
                    create(&format!("live/batch-{b:05}/file-{i:03}.mov"), (b * pace.events_per_batch + i) as u64 + 1)
                })
                .collect();
            serde_json::to_string(&UpdateFilesRequest { batch_id: Uuid::new_v4(), changes }).expect("body")
        })
        .collect();
    let (cpu_before, window_start) = (CpuTimes::now(), Instant::now());
    let mut tick = tokio::time::interval(pace.every);
    let mut posts = Vec::with_capacity(batches);
    for body in bodies {
        tick.tick().await;
        let (client, path) = (owner.clone(), path.clone());
        posts.push(tokio::spawn(async move {
            let sent = Instant::now();
            let resp = client.post_serialized(&path, body).await;
            match resp {
                Ok(resp) => Ok(Posted { sent, answer: ok(resp).await, answered: Instant::now() }),
                // An overloaded server is a result to report, not a reason to stop.
                Err(e) => Err(format!("post after {}: {e}", ms(sent.elapsed()))),
            }
        }));
    }
    let (mut posted, mut failed) = (Vec::with_capacity(batches), Vec::new());
    for post in posts {
        match post.await.expect("writer task") {
            Ok(p) => posted.push(p),
            Err(e) => failed.push(e),
        }
    }
    let written = posted.len() * pace.events_per_batch;
    let first_sent = posted.iter().map(|p| p.sent).min().unwrap_or(started);
    let last_answer = posted.iter().map(|p| p.answered).max().unwrap_or(started);
    let written_per_s = written as f64 / (last_answer - first_sent).as_secs_f64().max(1e-9);
    eprintln!("  written {written} events at {}/s, {} posts failed", thousands(written_per_s), failed.len());

    // What the log holds now (a post that timed out may still have committed):
    // subscribers are done once each has seen it, or after SETTLE.
    let last_seq = owner.project(project).await.last_seq;
    let deadline = Instant::now() + SETTLE;
    while seen.iter().any(|s| s.load(Ordering::SeqCst) < last_seq) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (cpu, window) = (CpuTimes::now().since(cpu_before), window_start.elapsed());
    stop.cancel();
    let mut logs = Vec::with_capacity(subscribers.len());
    for sub in subscribers {
        logs.push(sub.await.expect("subscriber task"));
    }
    server.run(cloud.shutdown()).await;

    // seq → the batch that carried it.
    let top_seq = posted.iter().map(|p| p.answer.last_seq).max().unwrap_or(1);
    let mut batch_of = vec![usize::MAX; top_seq as usize + 1];
    for (b, p) in posted.iter().enumerate() {
        for seq in p.answer.first_seq..=p.answer.last_seq {
            batch_of[seq as usize] = b;
        }
    }
    let (mut commit, mut sent) = (Vec::new(), Vec::new());
    let (mut delivered, mut before_answer, mut complete, mut frames) = (0u64, 0u64, 0usize, 0u64);
    let mut problems = failed;
    for log in &logs {
        let mut got = 0u64;
        for r in &log.received {
            frames += u64::from(r.first > 1);
            for seq in r.first..r.first + i64::from(r.count) {
                let Some(p) = batch_of.get(seq as usize).and_then(|&b| posted.get(b)) else { continue };
                got += 1;
                if r.at < p.answered {
                    before_answer += 1;
                }
                commit.push(micros(r.at.saturating_duration_since(p.answered)));
                sent.push(micros(r.at - p.sent));
            }
        }
        delivered += got;
        if got == written as u64 {
            complete += 1;
        }
        problems.extend(log.problems.iter().cloned());
    }
    let mut request: Vec<u32> = posted.iter().map(|p| micros(p.answered - p.sent)).collect();
    DeliveryFigures {
        backend,
        pace,
        subscribers: scale.subscribers,
        subscribed_in,
        written,
        written_per_s,
        delivered,
        complete,
        commit_to_received: Percentiles::of_micros(&mut commit),
        sent_to_received: Percentiles::of_micros(&mut sent),
        before_answer,
        request: Percentiles::of_micros(&mut request),
        frames,
        cpu,
        window,
        problems,
    }
}

/// The Markdown table of every run's figures, then any problem seen.
pub fn table(figures: &[DeliveryFigures], scale: Scale) -> String {
    let mut out = format!(
        "### Delivery — {} subscribers on one project, 1,000 events/s for {} s\n\n\
         | backend | pace (events per commit) | written (events/s achieved) | delivered / expected | subscribers with all | commit → received p50 / p99 / max | sent → received p50 / p99 / max | pushed before the answer | writer request p50 / p99 / max | subscribe all |\n\
         |---|---|---:|---:|---:|---|---|---:|---|---:|\n",
        scale.subscribers, scale.delivery_seconds
    );
    for f in figures {
        out.push_str(&format!(
            "| {} | {} | {} ({}) | {} / {} | {} / {} | {} | {} | {:.1} % | {} | {} |\n",
            f.backend.name(),
            f.pace.describe(),
            thousands(f.written as f64),
            thousands(f.written_per_s),
            thousands(f.delivered as f64),
            thousands((f.written * f.subscribers) as f64),
            f.complete,
            f.subscribers,
            f.commit_to_received.ms(),
            f.sent_to_received.ms(),
            100.0 * f.before_answer as f64 / f.delivered.max(1) as f64,
            f.request.ms(),
            ms(f.subscribed_in)
        ));
    }
    out.push_str(
        "\nWhere the CPU went (from the first post until every subscriber was done; `cores` = CPU time ÷ wall time; database = SQLite's worker threads, or the PostgreSQL processes this bench started):\n\n\
         | backend | pace | frames pushed | events per frame | cloud runtime cores | cloud CPU per frame | database cores | clients cores |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for f in figures {
        let cores = |d: Duration| d.as_secs_f64() / f.window.as_secs_f64().max(1e-9);
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.1} µs | {:.2} | {:.2} |\n",
            f.backend.name(),
            f.pace.describe(),
            thousands(f.frames as f64),
            f.delivered as f64 / f.frames.max(1) as f64,
            cores(f.cpu.server),
            f.cpu.server.as_secs_f64() * 1e6 / f.frames.max(1) as f64,
            cores(f.cpu.sqlite + f.cpu.postgres),
            cores(f.cpu.clients),
        ));
    }
    for f in figures {
        if !f.problems.is_empty() {
            let run = format!("{}, {}", f.backend.name(), f.pace.describe());
            out.push_str(&format!("\n{run}: {} problem(s), first ones:\n", f.problems.len()));
            for p in f.problems.iter().take(5) {
                out.push_str(&format!("- {p}\n"));
            }
        }
    }
    out
}
