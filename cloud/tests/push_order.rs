//! The ordering promise under load, on a real server (SQLite): concurrent
//! writers get dense seqs, and subscribers (connected throughout, or joining
//! mid-stream) receive every event exactly once, in order.

use crate::push_support;
use crate::support;

use std::sync::Arc;
use std::time::Instant;

use cloud::state::Settings;
use cloud_protocol::Change;
use push_support::connect;
use support::server::{Client, Clients, DEADLINE, TestCloud, create};
use syncthing_fixtures::poll::eventually_async;
use tokio::sync::watch;
use uuid::Uuid;

/// Writers share one owner token: the rate limit would only slow the test.
fn unlimited() -> Settings {
    Settings { rate_limit_per_s: 0, ..Settings::default() }
}

async fn owner_and_project(cloud: &TestCloud) -> (Client, Uuid, String) {
    let (_, token) = cloud.add_user("owner").await;
    let owner = cloud.client(&token);
    let project = owner.create_project("Shots", "abcde-fghij").await.id;
    (owner, project, token)
}

fn batch(writer: usize, batch: usize, size: usize) -> Vec<Change> {
    (0..size).map(|i| create(&format!("w{writer}/b{batch:03}/f{i:02}.bin"), (batch * size + i) as u64)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_and_a_subscriber_see_one_dense_order() {
    const WRITERS: usize = 8;
    const BATCHES: usize = 50;
    const SIZE: usize = 20;
    const TOTAL: i64 = (WRITERS * BATCHES * SIZE) as i64;
    let cloud = TestCloud::start_sqlite_with(unlimited()).await;
    let (owner, project, token) = owner_and_project(&cloud).await;
    let mut subscriber = connect(&cloud.ws_url(), &token).await;
    subscriber.subscribe(project, 0).await;
    // The subscription is live once the hub counts it.
    eventually_async("subscription", DEADLINE, || async { (cloud.state().hub.subscriber_count() == 1).then_some(()) })
        .await;

    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let owner = owner.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for b in 0..BATCHES {
                    let answer = owner.update(project, Uuid::new_v4(), batch(w, b, SIZE)).await;
                    assert_eq!(answer.last_seq - answer.first_seq + 1, SIZE as i64, "a batch's seqs are contiguous");
                    seqs.push(answer.first_seq);
                }
                seqs
            })
        })
        .collect();
    let received = subscriber.events_until(project, 0, TOTAL).await;
    let mut firsts = Vec::new();
    for writer in writers {
        firsts.extend(writer.await.expect("writer"));
    }
    eprintln!("{TOTAL} events from {WRITERS} writers pushed in {:?}", started.elapsed());

    firsts.sort_unstable();
    assert_eq!(firsts, (0..(WRITERS * BATCHES) as i64).map(|i| i * SIZE as i64 + 1).collect::<Vec<_>>());
    let stored = owner.all_events(project).await;
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=TOTAL).collect::<Vec<_>>());
    assert_eq!(received, stored, "the subscriber got exactly what was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribers_joining_mid_stream_get_everything_exactly_once() {
    const BATCHES: usize = 120;
    const SIZE: usize = 20;
    const TOTAL: i64 = (BATCHES * SIZE) as i64;
    let cloud = Arc::new(TestCloud::start_sqlite_with(unlimited()).await);
    let (owner, project, token) = owner_and_project(&cloud).await;

    let (progress_tx, progress_rx) = watch::channel(0usize);
    let writer = tokio::spawn(async move {
        for b in 0..BATCHES {
            owner.update(project, Uuid::new_v4(), batch(0, b, SIZE)).await;
            progress_tx.send_replace(b + 1);
        }
    });

    // Join at several points while the writer keeps going, each from seq 0.
    let mut joiners = Vec::new();
    for join_at in [1, 30, 60, 90] {
        let mut written = progress_rx.clone();
        let (cloud, token) = (Arc::clone(&cloud), token.clone());
        written.wait_for(|&n| n >= join_at).await.expect("writer alive");
        let mut ws = connect(&cloud.ws_url(), &token).await;
        ws.subscribe(project, 0).await;
        joiners.push(tokio::spawn(async move { ws.events_until(project, 0, TOTAL).await }));
    }
    writer.await.expect("writer");
    for joiner in joiners {
        let events = joiner.await.expect("subscriber");
        assert_eq!(events.len() as i64, TOTAL);
    }
}
