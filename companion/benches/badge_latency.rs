//! Owner write → invitee badge `pending`, against owner write → the
//! invitee Syncthing's own `RemoteIndexUpdated`, in the same run, at
//! Syncthing's default `fsWatcherDelayS=10`: real pair, real cloud, two real
//! companions. One write per round, each round waits for both signals and
//! for the file's ✓ before the next, so the timings do not overlap. Target:
//! the badge at least 10× sooner. Figures go to BENCHMARKS.md.
//!
//! Run: `cargo bench -p companion --bench badge_latency`
//! (`BADGE_LATENCY_ROUNDS=N`, default 20; each round takes about 13 s).

use e2e::kit::member_support;

use std::time::{Duration, Instant};

use cloud_protocol::FileState;
use companion::syncthing::{Client, EventKind, EventStream, StreamConfig, StreamItem};
use member_support::*;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(measure());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure() {
    let rounds: usize = std::env::var("BADGE_LATENCY_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let s = setup(Knobs { watcher_delay_s: Some(10), ..Knobs::default() }).await;
    s.write_synced("warm-up.txt", b"up\n").await;
    let node = s.cluster.node(1);
    let mut stream = EventStream::spawn(Client::new(&node.api_url, &node.api_key).unwrap(), StreamConfig::default());
    // Wait until the stream is subscribed, so no RemoteIndexUpdated is missed.
    while !matches!(stream.recv().await, Some(StreamItem::Connected { .. })) {}

    let (mut badge, mut riu) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let name = format!("round-{round:03}.txt");
        let t0 = Instant::now();
        std::fs::write(s.a(&name), format!("round {round}\n")).unwrap();
        let mut pending_at = None;
        let mut riu_at = None;
        let deadline = t0 + Duration::from_secs(90);
        while pending_at.is_none() || riu_at.is_none() {
            assert!(Instant::now() < deadline, "round {round}: pending {pending_at:?}, RemoteIndexUpdated {riu_at:?}");
            if pending_at.is_none() && s.badge(&name).is_some() {
                pending_at = Some(t0.elapsed());
            }
            if riu_at.is_none()
                && let Ok(Some(StreamItem::Event(e))) =
                    tokio::time::timeout(Duration::from_millis(5), stream.recv()).await
                && matches!(e.kind, EventKind::RemoteIndexUpdated(_))
            {
                riu_at = Some(t0.elapsed());
            }
            if riu_at.is_some() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let (p, r) = (pending_at.unwrap(), riu_at.unwrap());
        eprintln!("round {round}: badge {p:?}, RemoteIndexUpdated {r:?}");
        badge.push(p);
        riu.push(r);
        s.wait_badge(&name, "✓", |b| b.state == FileState::Synced).await;
    }
    badge.sort();
    riu.sort();
    let (b50, b99) = (percentile(&badge, 0.5), percentile(&badge, 0.99));
    let (r50, r99) = (percentile(&riu, 0.5), percentile(&riu, 0.99));
    println!("owner write → invitee badge, {rounds} rounds, fsWatcherDelayS=10");
    println!("  badge pending:            p50 {b50:?}  p99 {b99:?}");
    println!("  Syncthing RemoteIndexUpdated: p50 {r50:?}  p99 {r99:?}");
    println!(
        "  ratio (p50): {:.1}×, (p99): {:.1}×",
        r50.as_secs_f64() / b50.as_secs_f64(),
        r99.as_secs_f64() / b99.as_secs_f64()
    );
}
