//! Cloud outage in containers: the cloud container is stopped while the owner
//! writes 50 files, then started again. Every change reaches the cloud once, in
//! the order it was made, with no gap in the sequence; the invitee's companion
//! reconnects by itself (its container is never restarted), its cursor ends on
//! the cloud's last sequence number, and every file ends ✓ with its hash.

use std::collections::HashMap;
use std::time::Duration;

use e2e::docker_stack::{DockerOptions, DockerStack, file_entry, run_in_containers, write_file};
use serde_json::Value;
use syncthing_fixtures::poll::try_eventually_async;

const LONG: Duration = Duration::from_secs(180);
const FILES: usize = 50;

#[tokio::test(flavor = "multi_thread")]
async fn changes_made_while_the_cloud_is_down_arrive_once_in_order() {
    run_in_containers("outage", "cloud outage", DockerOptions::default(), scenario).await;
}

async fn scenario(stack: &DockerStack<'_>) -> anyhow::Result<()> {
    let first = write_file(&stack.owner_folder().join("before.txt"), b"before the outage\n")?;
    wait_synced(stack, "before.txt", &first).await?;
    let before_seq = stack.status(&stack.invitee).await?["projects"][0]["last_seq"].as_i64().unwrap_or(0);
    let invitee_started = stack.invitee.companion.inspect("{{.State.StartedAt}}").await?;

    stack.cloud.stop().await?;
    let mut expected = Vec::new();
    for i in 0..FILES {
        let path = format!("outage/f-{i:02}.txt");
        let hash =
            write_file(&stack.owner_folder().join(&path), format!("change {i} made during the outage\n").as_bytes())?;
        expected.push((path, hash));
    }
    // The owner's Syncthing has seen them all before the cloud comes back (the
    // companion's watcher is faster than Syncthing's), so they queued meanwhile.
    try_eventually_async("the owner's Syncthing to see the 50 files", LONG, || async {
        let s = stack
            .syncthing_rest(&stack.owner, "GET", "/rest/db/status?folder=proj")
            .await
            .map_err(|e| e.to_string())?;
        (s["localFiles"].as_u64().unwrap_or(0) as usize > FILES)
            .then_some(())
            .ok_or_else(|| s["localFiles"].to_string())
    })
    .await?;
    stack.cloud.start().await?;
    stack.wait_cloud().await?;

    // The cloud's log: each change once, in the order made, no gap.
    let events = try_eventually_async("the cloud to hold the 50 changes", LONG, || async {
        let events = stack.cloud_events(before_seq).await.map_err(|e| e.to_string())?;
        let n =
            events.iter().filter(|e| e["change"]["path"].as_str().is_some_and(|p| p.starts_with("outage/"))).count();
        (n >= FILES).then_some(events).ok_or_else(|| format!("{n} of {FILES}"))
    })
    .await?;
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    let consecutive: Vec<i64> = (before_seq + 1..).take(seqs.len()).collect();
    assert_eq!(seqs, consecutive, "the cloud's sequence after {before_seq} has a gap or a repeat");
    let mut seq_of: HashMap<&str, Vec<i64>> = HashMap::new();
    for e in &events {
        if let (Some(path), Some(seq)) = (e["change"]["path"].as_str(), e["seq"].as_i64()) {
            seq_of.entry(path).or_default().push(seq);
        }
    }
    let twice: Vec<_> = seq_of.iter().filter(|(p, s)| p.starts_with("outage/") && s.len() > 1).collect();
    assert!(twice.is_empty(), "changes sent more than once: {twice:?}");
    let order: Vec<i64> = expected.iter().map(|(p, _)| seq_of[p.as_str()][0]).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "changes out of the order they were made: {order:?}");
    let last_seq = *seqs.last().unwrap_or(&before_seq);

    // The invitee caught up by itself: every file ✓ with its hash, cursor on the last seq.
    let status = try_eventually_async("the invitee to show the 50 files ✓", LONG, || async {
        let status = stack.status(&stack.invitee).await.map_err(|e| e.to_string())?;
        let pending: Vec<&str> = expected
            .iter()
            .filter(|(p, _)| file_entry(&status, p).is_none_or(|f| f["state"] != "synced"))
            .map(|(p, _)| p.as_str())
            .collect();
        pending.is_empty().then(|| status.clone()).ok_or_else(|| format!("not ✓ yet: {pending:?}"))
    })
    .await?;
    for (path, hash) in &expected {
        let file = file_entry(&status, path).expect("checked above");
        assert_eq!(file["local_hash"], Value::from(hash.as_str()), "{file}");
    }
    let cursor = try_eventually_async("the invitee's cursor to reach the cloud's last seq", LONG, || async {
        let status = stack.status(&stack.invitee).await.map_err(|e| e.to_string())?;
        let cursor = status["projects"][0]["last_seq"].as_i64().unwrap_or(0);
        (cursor >= last_seq).then_some(cursor).ok_or_else(|| format!("cursor {cursor}, cloud at {last_seq}"))
    })
    .await?;
    assert_eq!(cursor, last_seq, "the invitee's cursor went past the cloud's log");
    let still = stack.invitee.companion.inspect("{{.State.StartedAt}}").await?;
    assert_eq!(still, invitee_started, "the invitee's companion container was restarted");
    eprintln!("outage: {} changes after seq {before_seq}, cloud and invitee cursor at {last_seq}", seqs.len());
    Ok(())
}

async fn wait_synced(stack: &DockerStack<'_>, path: &str, hash: &str) -> anyhow::Result<Value> {
    let what = format!("the invitee to show {path} ✓");
    let file = try_eventually_async(&what, LONG, || async {
        let status = stack.status(&stack.invitee).await.map_err(|e| e.to_string())?;
        let file = file_entry(&status, path).ok_or("no badge yet")?;
        (file["state"] == "synced").then(|| file.clone()).ok_or_else(|| file.to_string())
    })
    .await?;
    assert_eq!(file["local_hash"], Value::from(hash), "{file}");
    Ok(file)
}
