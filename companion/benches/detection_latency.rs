//! Detection latency of the owner side: write a file in a shared folder →
//! its event is in the cloud, p50/p99/max over 100 writes, with a real
//! Syncthing pair (default fsWatcherDelayS=10) and a real cloud. Target: p99
//! under 1 s including the debounce. Figures go to BENCHMARKS.md.
//!
//! Run: `cargo bench -p companion --bench detection_latency`

use e2e::kit::owner_support;

use std::time::{Duration, Instant};

use owner_support::*;
use syncthing_fixtures::poll::eventually;

const WRITES: usize = 100;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(measure());
}

async fn measure() {
    let Owner { cloud, token, api, cluster: _cluster, root, mut companion } = Owner::new(10).await;
    let project = share_and_run(&mut companion, &cloud, &token);
    eventually("the companion is watching", DEADLINE, || companion.log().contains("watching").then_some(())).await;
    std::fs::create_dir_all(root.join("lat")).unwrap();

    let mut latencies = Vec::with_capacity(WRITES);
    let mut since = 0;
    for i in 0..WRITES {
        let name = format!("lat/{i:03}.txt");
        let written = Instant::now();
        std::fs::write(root.join(&name), format!("write number {i}")).unwrap();
        'wait: loop {
            let page = api.events(project, since, None).await.expect("events");
            let now = Instant::now();
            since = page.next_seq;
            if page.events.iter().any(|e| e.change.path == name) {
                latencies.push(now - written);
                break 'wait;
            }
            assert!(written.elapsed() < DEADLINE, "{name} never reached the cloud");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1];
    println!("write -> event in the cloud over {WRITES} writes (fsWatcherDelayS=10, debounce included)");
    println!("  p50 {:>8.1} ms", at(0.50).as_secs_f64() * 1e3);
    println!("  p99 {:>8.1} ms   (target < 1000 ms)", at(0.99).as_secs_f64() * 1e3);
    println!("  max {:>8.1} ms", latencies[latencies.len() - 1].as_secs_f64() * 1e3);
    companion.stop().await;
}
