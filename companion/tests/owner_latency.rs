//! With Syncthing's default watcher delay (10 s) the cloud has each change
//! before Syncthing's own `LocalIndexUpdated` (the order is asserted; the
//! write → cloud latency itself is measured by `benches/detection_latency.rs`).

use crate::owner_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use companion::syncthing::{Client, EventKind, EventStream, StreamConfig, StreamItem};
use owner_support::*;
use syncthing_fixtures::poll::eventually;
use uuid::Uuid;

/// Polls the cloud for new events; returns `(path, seen_at)` of each.
async fn poll_new(
    api: &companion::cloud_client::api::CloudClient,
    project: Uuid,
    since: &mut i64,
) -> Vec<(String, Instant)> {
    let page = api.events(project, *since, None).await.expect("events");
    let now = Instant::now();
    *since = page.next_seq;
    page.events.into_iter().map(|e| (e.change.path, now)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_hears_before_syncthing_indexes() {
    let Owner { cloud, token, api, cluster, root, mut companion } = Owner::new(10).await;
    let node = cluster.node(0);
    let project = share_and_run(&mut companion, &cloud, &token);
    // Our own view of Syncthing's events, connected before the writes.
    let mut stream = EventStream::spawn(Client::new(&node.api_url, &node.api_key).unwrap(), StreamConfig::default());
    until_connected(&mut stream).await;
    eventually("the companion is watching", DEADLINE, || companion.log().contains("watching").then_some(())).await;

    let names = ["one.txt", "two.txt", "three.txt"];
    let mut written = HashMap::new();
    for name in names {
        std::fs::write(root.join(name), format!("content of {name}")).unwrap();
        written.insert(name.to_owned(), Instant::now());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut in_cloud: HashMap<String, Instant> = HashMap::new();
    let mut indexed: HashMap<String, Instant> = HashMap::new();
    let mut since = 0;
    let deadline = Instant::now() + DEADLINE;
    while indexed.len() < names.len() || in_cloud.len() < names.len() {
        assert!(Instant::now() < deadline, "cloud saw {in_cloud:?}, Syncthing indexed {indexed:?}");
        for (path, at) in poll_new(&api, project, &mut since).await {
            in_cloud.entry(path).or_insert(at);
        }
        // Drain Syncthing's events without blocking the cloud polling.
        while let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(10), stream.recv()).await {
            if let StreamItem::Event(e) = item
                && let EventKind::LocalIndexUpdated(u) = &e.kind
            {
                let now = Instant::now();
                for f in &u.filenames {
                    indexed.entry(f.clone()).or_insert(now);
                }
            }
        }
    }
    for name in names {
        let (w, c, s) = (written[name], in_cloud[name], indexed[name]);
        eprintln!(
            "{name}: in the cloud after {:?}, Syncthing's LocalIndexUpdated after {:?}: the cloud was {:?} earlier",
            c - w,
            s - w,
            s.saturating_duration_since(c)
        );
        assert!(c < s, "{name}: the cloud ({:?}) must hear before Syncthing indexes ({:?})", c - w, s - w);
    }
    companion.stop().await;
}

async fn until_connected(stream: &mut EventStream) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, stream.recv()).await {
            Ok(Some(StreamItem::Connected { .. })) => return,
            Ok(Some(_)) => {}
            _ => panic!("Syncthing event stream did not connect"),
        }
    }
}
