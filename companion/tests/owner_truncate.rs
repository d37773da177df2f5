//! A big file truncated while the real `companion run` hashes it (what
//! `truncate`, `cp` over a file, `rsync --inplace` and logrotate's
//! `copytruncate` do) must not kill the companion: hashing through a memory
//! map died of SIGBUS here. The companion keeps running and publishes the
//! file's final content. Real Syncthing pair, real cloud.

use crate::owner_support;

use std::time::{Duration, Instant};

use owner_support::*;
use syncthing_fixtures::poll::eventually_async;
use syncthing_fixtures::write_noise;

const SIZE: u64 = 64 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncating_a_file_while_it_is_hashed_does_not_kill_the_companion() {
    let Owner { cloud, token, api, cluster: _cluster, root, mut companion } = Owner::new(10).await;
    let project = share_and_run(&mut companion, &cloud, &token);
    std::fs::write(root.join("ready.txt"), b"watching").unwrap();
    wait_events(&api, project, "ready.txt", |e| e.iter().any(|e| e.change.path == "ready.txt")).await;

    // Write the whole file, then cut it short and grow it back every few
    // milliseconds for a while (the hasher starts on it about 200 ms after
    // the close, our watcher's debounce), until the companion's log says it
    // dealt with the file (queued a hash or gave up on it) — or it is dead.
    let big = root.join("big.bin");
    let deadline = Instant::now() + DEADLINE;
    let mut cuts = 0;
    for round in 0..4u64 {
        let seen = companion.log().matches("big.bin").count();
        write_noise(&big, SIZE, round + 1).unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
        let started = Instant::now();
        loop {
            file.set_len(4096).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            file.set_len(SIZE).unwrap();
            cuts += 1;
            if let Some(status) = companion.exited() {
                panic!("companion run died while a file was truncated under it ({status}): {}", companion.log());
            }
            let handled = companion.log().matches("big.bin").count() > seen;
            if (handled && started.elapsed() > Duration::from_millis(1500))
                || started.elapsed() > Duration::from_secs(6)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(file);
        assert!(Instant::now() < deadline, "the truncation rounds took too long");
    }
    let handled: Vec<String> = companion.log().lines().filter(|l| l.contains("big.bin")).map(str::to_owned).collect();
    eprintln!("{cuts} cuts; the companion on big.bin:\n{}", handled.join("\n"));

    // Alive, and the final content arrives.
    write_noise(&big, SIZE, 1000).unwrap();
    let want = blake3_of(&big);
    eventually_async("big.bin's final content published", DEADLINE, || {
        if let Some(status) = companion.exited() {
            panic!("companion run died while a file was truncated under it ({status}): {}", companion.log());
        }
        async {
            let events = all_events(&api, project).await;
            let published =
                events.iter().any(|e| e.change.path == "big.bin" && e.change.hash.as_deref() == Some(want.as_str()));
            if published { Ok(()) } else { Err(show(&events)) }
        }
    })
    .await;
    assert!(companion.exited().is_none(), "companion run is still alive");
    companion.stop().await;
}
