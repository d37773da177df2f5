//! Cloud outage in containers: the cloud container is stopped while the owner
//! writes 50 files and edits 10 of them again, then started again. Every change
//! reaches the cloud once, each file's changes in the order they were made,
//! with no gap in the sequence; the invitee's companion reconnects by itself
//! (its container is never restarted), its cursor ends on the cloud's last
//! sequence number, and every file ends ✓ with its last hash.
//!
//! Files written within the same few milliseconds may reach the cloud in any
//! order: the owner's watcher sends each file once its writer closed it, and a
//! loaded machine can report one file's close a debounce tick after the next
//! file's (seen: `f-08` sequenced after `f-49`, in a batch of its own).

use std::collections::HashMap;
use std::time::Duration;

use e2e::docker_stack::{DockerOptions, DockerStack, file_entry, run_in_containers, write_file};
use serde_json::Value;
use syncthing_fixtures::poll::try_eventually_async;

const LONG: Duration = Duration::from_secs(180);
const FILES: usize = 50;
/// How many of them are changed a second time during the outage.
const EDITED: usize = 10;

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
    for (i, (path, hash)) in expected.iter_mut().enumerate().take(EDITED) {
        let edit = format!("change {i} edited during the outage\n");
        *hash = write_file(&stack.owner_folder().join(path.as_str()), edit.as_bytes())?;
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

    // The cloud's log: no gap, no change twice, and each file's last change
    // is the last one made to it (an edit made before the watcher reported
    // the file may go out with its create, as one change).
    let events = try_eventually_async("the cloud to hold each file's last change", LONG, || async {
        let events = stack.cloud_events(before_seq).await.map_err(|e| e.to_string())?;
        let last = last_hash_of(&events);
        let behind = expected.iter().filter(|(p, h)| last.get(p.as_str()) != Some(&h.as_str())).count();
        (behind == 0).then_some(events).ok_or_else(|| format!("{behind} of {FILES} not at their last change"))
    })
    .await?;
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    let consecutive: Vec<i64> = (before_seq + 1..).take(seqs.len()).collect();
    assert_eq!(seqs, consecutive, "the cloud's sequence after {before_seq} has a gap or a repeat");
    let mut seen = HashMap::new();
    for e in &events {
        let change = (e["change"]["path"].as_str(), e["change"]["hash"].as_str());
        if let Some(first) = seen.insert(change, e["seq"].clone()) {
            panic!("{change:?} sent twice: seq {first} and {}", e["seq"]);
        }
    }
    for (path, _) in &expected {
        let first = events.iter().find(|e| e["change"]["path"].as_str() == Some(path.as_str()));
        assert_eq!(first.map(|e| &e["change"]["op"]), Some(&Value::from("create")), "{path}'s first change: {first:?}");
    }
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

/// Each path's hash in its last event that has one (a delete has none).
fn last_hash_of(events: &[Value]) -> HashMap<&str, &str> {
    let mut last = HashMap::new();
    for e in events {
        if let (Some(path), Some(hash)) = (e["change"]["path"].as_str(), e["change"]["hash"].as_str()) {
            last.insert(path, hash);
        }
    }
    last
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
