//! A batch the cloud refuses is quarantined with the cloud's reason, shown
//! by `doctor`, and never blocks what comes after it.
//!
//! The companion checks paths before sending, so the refusal has to be one
//! it cannot foresee: the companion is logged in as another user, who does
//! not own the first project (404, "not a member"), while a project of the
//! new user keeps flowing.

use crate::owner_support;

use std::time::Duration;

use cloud_protocol::Op;
use owner_support::*;
use syncthing_fixtures::poll::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_quarantined_and_the_rest_flows() {
    let cloud = start_cloud().await;
    let [(_, alice_token, alice), (_, bob_token, bob)] = alice_and_bob(&cloud).await;
    let cluster = pair(&["proj", "other"], 1).await;
    let (proj, other) = (cluster.node(0).folder_path("proj"), cluster.node(0).folder_path("other"));

    let mut companion = Companion::new(cluster.node(0));
    let first = companion.login_and_share(&cloud.url(), &alice_token, "proj");
    companion.start();
    std::fs::write(proj.join("accepted.txt"), b"sent while alice's token is in use").unwrap();
    wait_count(&alice, first, 1).await;
    companion.stop().await;

    // Now the companion speaks for bob, who owns a project of his own.
    let second = companion.login_and_share(&cloud.url(), &bob_token, "other");
    companion.start();
    std::fs::write(proj.join("refused.txt"), b"bob may not send this").unwrap();
    let reason = eventually("the refused batch in quarantine", DEADLINE, || {
        let q = companion.manifest().quarantined(Some(first)).ok()?;
        q.iter().find(|q| q.batch.changes.iter().any(|c| c.path == "refused.txt")).map(|q| q.reason.clone())
    })
    .await;
    assert!(reason.starts_with("404 not_found"), "{reason}");

    // Later changes still flow, in the other project and ...
    std::fs::write(other.join("flows.txt"), b"bob's own project").unwrap();
    let events = wait_count(&bob, second, 1).await;
    assert_upsert(&events[0].change, Op::Create, "flows.txt", &other.join("flows.txt"));
    // ... the refused project's queue is not stuck behind the refused batch:
    // the next change is tried (and refused) on its own.
    std::fs::write(proj.join("later.txt"), b"also refused").unwrap();
    eventually("the later batch tried and quarantined too", DEADLINE, || {
        let q = companion.manifest().quarantined(Some(first)).ok()?;
        q.iter().any(|q| q.batch.changes.iter().any(|c| c.path == "later.txt")).then_some(())
    })
    .await;
    assert_eq!(companion.manifest().pending_count(None).unwrap().changes, 0);
    assert_quiet(&alice, first, 1, Duration::from_secs(1)).await;

    // doctor shows what was refused and why.
    let doctor = companion.output(&["doctor"]);
    let stdout = String::from_utf8_lossy(&doctor.stdout);
    assert!(stdout.contains("Quarantined: 2 batch(es)"), "{stdout}");
    assert!(stdout.contains("refused.txt") && stdout.contains("404 not_found"), "{stdout}");
    companion.stop().await;
}
