//! Companion restart in a container: the invitee's companion container is
//! killed while a large file crawls in under a Syncthing receive limit, then
//! started again. Its badges rebuild from Syncthing and the disk; nothing ever
//! claims ✓ without the verified hash (not while it is down, read from its
//! manifest by a throwaway container, nor after), and it ends ✓ with the hash.

use std::cell::RefCell;
use std::time::Duration;

use e2e::docker::Spec;
use e2e::docker_stack::{DockerOptions, DockerStack, file_entry, run_in_containers, write_random};
use serde_json::Value;
use syncthing_fixtures::poll::try_eventually_async;

const LONG: Duration = Duration::from_secs(180);
const BIG: &str = "footage/take-02.mov";
const BIG_MIB: usize = 16;

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_companion_container_rebuilds_its_badges() {
    let options = DockerOptions { invitee_recv_limit_kibps: 1024, ..DockerOptions::default() };
    run_in_containers("restart", "companion restart", options, scenario).await;
}

async fn scenario(stack: &DockerStack<'_>) -> anyhow::Result<()> {
    let expected = write_random(&stack.owner_folder().join(BIG), BIG_MIB << 20)?;
    let before = try_eventually_async("the invitee to show the file syncing past 10 %", LONG, || async {
        let status = stack.status(&stack.invitee).await.map_err(|e| e.to_string())?;
        let file = file_entry(&status, BIG).ok_or("no badge yet")?.clone();
        check_claim(&file, &expected);
        let percent = file["percent"].as_f64().unwrap_or(0.0);
        (file["state"] == "syncing" && percent >= 10.0).then_some(file.clone()).ok_or_else(|| file.to_string())
    })
    .await?;
    stack.invitee.companion.kill().await?;
    eprintln!("killed the invitee's companion at {before}");

    // While it is down: what its manifest says, read by `companion status` in a throwaway container.
    let mut reader = Spec {
        name: "companion-invitee-reader".into(),
        image: stack.images.companion.clone(),
        network: "invitee".into(),
        mounts: vec![(stack.invitee.companion_dir.clone(), "/var/lib/companion".into(), true)],
        args: vec!["status".into(), "--json".into()],
        ..Spec::default()
    };
    reader.env.push(("COMPANION_SYNCTHING_URL".into(), "http://syncthing-invitee:8384".into()));
    let out = stack.run.run_once(&reader).await?;
    let down: Value = serde_json::from_str(&out)?;
    if let Some(file) = file_entry(&down, BIG) {
        check_claim(file, &expected);
        eprintln!("while the companion was down its manifest said: {file}");
    }

    let complete = stack.invitee_folder().join(BIG).exists();
    stack.invitee.companion.start().await?;
    assert!(!complete, "the transfer had finished before the companion came back: not a mid-transfer restart");

    // Back up: every observation is either not ✓ or ✓ with the verified hash, until ✓.
    let seen = RefCell::new(Vec::new());
    let synced = try_eventually_async("the invitee's badge to reach ✓ after the restart", LONG, || async {
        let status = stack.status(&stack.invitee).await.map_err(|e| e.to_string())?;
        let file = file_entry(&status, BIG).ok_or("no badge yet")?.clone();
        check_claim(&file, &expected);
        seen.borrow_mut().push(format!("{} {}", file["state"], file["percent"]));
        (file["state"] == "synced").then(|| file.clone()).ok_or_else(|| file.to_string())
    })
    .await?;
    let mut seen = seen.into_inner();
    seen.dedup();
    eprintln!("badges after the restart: {seen:?}");
    assert_eq!(synced["local_hash"], Value::from(expected.clone()), "{synced}");
    assert_eq!(synced["percent"].as_f64(), Some(100.0), "{synced}");
    let on_disk = std::fs::read(stack.invitee_folder().join(BIG))?;
    assert_eq!(format!("blake3:{}", blake3::hash(&on_disk).to_hex()), expected, "the invitee's bytes");
    Ok(())
}

/// ✓ only with the owner's hash verified on the invitee's disk.
fn check_claim(file: &Value, expected: &str) {
    if file["state"] == "synced" {
        assert_eq!(file["local_hash"], Value::from(expected), "✓ claimed without the verified hash: {file}");
    }
}
