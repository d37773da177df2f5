//! The whole path with every piece real and separate: owner writes, the invitee
//! sees `pending` before its own Syncthing has heard of the change, then
//! `syncing`, then ✓ with the verified hash, while the owner sees the member
//! reach 100%; then a delete and a rename. Run on SQLite and on PostgreSQL.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use e2e::docker_stack::{member_file, write_random};
use e2e::kit::support::postgres;
use e2e::{Stack, StackOptions, file_entry};
use serde_json::Value;
use syncthing_fixtures::poll::try_eventually_async;

const BIG: &str = "footage/take-01.mov";
const BIG_MIB: usize = 12;
const LONG: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn whole_path_on_sqlite() {
    whole_path(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_path_on_postgres() {
    whole_path(Some(postgres::fresh_database().await)).await.unwrap();
}

async fn whole_path(postgres_url: Option<String>) -> anyhow::Result<()> {
    let mut dir = tempfile::tempdir()?;
    let options = StackOptions {
        // Syncthing's default: the companion must be far ahead of it.
        fs_watcher_delay_s: 10,
        invitee_recv_limit_kibps: Some(2048),
        postgres_url,
        ..StackOptions::default()
    };
    let mut stack = Stack::start(dir.path(), options).await?;
    let result = scenario(&stack).await;
    stack.stop_after(&mut dir, result).await
}

async fn scenario(stack: &Stack) -> anyhow::Result<()> {
    let expected = write_random(&stack.owner_folder().join(BIG), BIG_MIB << 20)?;

    // Pending, while the invitee's Syncthing has not heard of the file yet.
    let b = stack.cluster.node(1);
    let folder = &stack.options.folder;
    try_eventually_async("the invitee to show the file as pending", LONG, || async {
        let status = stack.invitee.status_json().await.ok()?;
        (file_entry(&status, BIG)?["state"] == "pending").then_some(())
    })
    .await?;
    let known = b.get_json(&format!("/rest/db/file?folder={folder}&file={BIG}")).await;
    assert!(
        known.is_err() || known.as_ref().is_ok_and(|f| f["global"]["name"] != BIG),
        "the invitee's Syncthing already knew {BIG} when the companion showed it pending: {known:?}"
    );

    // Syncing with rising percentages, then synced with the owner's hash.
    // Every percentage seen on the way (the probe runs once at a time).
    let percents = RefCell::new(BTreeSet::new());
    let synced = try_eventually_async("the file synced on the invitee", LONG, || async {
        let status = stack.invitee.status_json().await.map_err(|e| e.to_string())?;
        let file = file_entry(&status, BIG).ok_or_else(|| status.to_string())?;
        match file["state"].as_str() {
            Some("synced") => Ok(file.clone()),
            Some("syncing") => {
                percents.borrow_mut().insert(file["percent"].as_f64().unwrap_or(0.0) as u64);
                Err(file.to_string())
            }
            _ => Err(file.to_string()),
        }
    })
    .await?;
    let percents = percents.into_inner();
    assert!(!percents.is_empty(), "the file never showed as syncing");
    assert_eq!(synced["local_hash"], Value::from(expected.clone()), "{synced}");
    assert_eq!(synced["expected_hash"], Value::from(expected.clone()), "{synced}");
    assert_eq!(synced["percent"].as_f64(), Some(100.0));
    eprintln!("syncing percentages seen: {percents:?}");

    // The owner sees the member reach 100% for it.
    try_eventually_async("the owner to see the invitee at 100%", LONG, || async {
        let status = stack.owner.status_json().await.ok()?;
        let file = member_file(&status, "invitee", BIG)?;
        (file["state"] == "synced" && file["percent"].as_f64() == Some(100.0)).then_some(())
    })
    .await?;

    // Delete: the invitee's badge turns `deleted` once the file is gone there.
    std::fs::remove_file(stack.owner_folder().join(BIG))?;
    let invitee_copy = stack.invitee_folder().join(BIG);
    wait_state(stack, BIG, "deleted").await?;
    assert!(!invitee_copy.exists(), "deleted is shown while the file is still on the invitee's disk");

    // Rename: the old name is deleted, the new one synced with the same hash.
    let small = write_random(&stack.owner_folder().join("notes/a.txt"), 4096)?;
    wait_state(stack, "notes/a.txt", "synced").await?;
    std::fs::rename(stack.owner_folder().join("notes/a.txt"), stack.owner_folder().join("notes/b.txt"))?;
    wait_state(stack, "notes/a.txt", "deleted").await?;
    let b_txt = wait_state(stack, "notes/b.txt", "synced").await?;
    assert_eq!(b_txt["local_hash"], Value::from(small));
    Ok(())
}

/// Waits until the invitee shows `path` in `state`; returns its entry.
async fn wait_state(stack: &Stack, path: &str, state: &str) -> anyhow::Result<Value> {
    let entry = try_eventually_async(&format!("the invitee to show {path} as {state}"), LONG, || async {
        let status = stack.invitee.status_json().await.ok()?;
        let file = file_entry(&status, path)?.clone();
        (file["state"] == state).then_some(file)
    })
    .await?;
    Ok(entry)
}
