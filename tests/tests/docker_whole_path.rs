//! The whole path in containers: two Syncthing containers paired on a private
//! network, the cloud, and a companion sidecar beside each Syncthing. A file
//! written into the owner's volume reaches ✓ in the invitee's
//! `companion status --json` (read with `docker exec`) with the owner's hash,
//! and the owner sees the member at 100 %.

use std::time::Duration;

use e2e::docker_stack::{DockerOptions, DockerStack, file_entry, member_file, run_in_containers, write_random};
use serde_json::Value;
use syncthing_fixtures::poll::try_eventually_async;

const LONG: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn whole_path_in_containers() {
    run_in_containers("whole", "whole path", DockerOptions::default(), scenario).await;
}

async fn scenario(stack: &DockerStack<'_>) -> anyhow::Result<()> {
    let path = "footage/take-01.mov";
    let expected = write_random(&stack.owner_folder().join(path), 6 << 20)?;

    let synced = try_eventually_async("the invitee's badge to reach ✓", LONG, || async {
        let status = stack.status(&stack.invitee).await.map_err(|e| e.to_string())?;
        let file = file_entry(&status, path).ok_or_else(|| status.to_string())?;
        (file["state"] == "synced").then(|| file.clone()).ok_or_else(|| file.to_string())
    })
    .await?;
    assert_eq!(synced["local_hash"], Value::from(expected.clone()), "{synced}");
    assert_eq!(synced["expected_hash"], Value::from(expected.clone()), "{synced}");
    assert_eq!(synced["percent"].as_f64(), Some(100.0), "{synced}");
    let on_disk = std::fs::read(stack.invitee_folder().join(path))?;
    assert_eq!(format!("blake3:{}", blake3::hash(&on_disk).to_hex()), expected, "the invitee's bytes");

    try_eventually_async("the owner to see the invitee at 100 %", LONG, || async {
        let status = stack.status(&stack.owner).await.map_err(|e| e.to_string())?;
        let file = member_file(&status, "invitee", path).ok_or_else(|| status.to_string())?;
        let done = file["state"] == "synced" && file["percent"].as_f64() == Some(100.0);
        done.then_some(()).ok_or_else(|| file.to_string())
    })
    .await?;
    Ok(())
}
