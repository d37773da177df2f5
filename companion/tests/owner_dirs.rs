//! Directories on the owner side: a renamed directory goes out as deletes
//! of the old paths and creates of the new ones in one batch, and files in
//! it keep being watched under their new names; a removed directory
//! deletes everything below it; a conflict copy is sent and logged as a
//! conflict. Syncthing's watcher delay is the default
//! 10 s, so what arrives within a few seconds came from our own watcher.

use crate::owner_support;

use std::time::{Duration, Instant};

use cloud_protocol::Op;
use owner_support::*;
use syncthing_fixtures::poll::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_and_removed_directories() {
    let Owner { cloud, token, api, cluster: _cluster, root, mut companion } = Owner::new(10).await;
    std::fs::create_dir_all(root.join("album/sub")).unwrap();
    std::fs::write(root.join("album/a.jpg"), b"photo a").unwrap();
    std::fs::write(root.join("album/sub/b.jpg"), b"photo b").unwrap();
    let project = share_and_run(&mut companion, &cloud, &token);
    wait_count(&api, project, 2).await;

    // Rename the directory: two deletes and two creates, one batch.
    std::fs::rename(root.join("album"), root.join("photos")).unwrap();
    let events = wait_count(&api, project, 6).await;
    let mut batch: Vec<(&str, &str)> =
        events[2..6].iter().map(|e| (e.change.op.as_str(), e.change.path.as_str())).collect();
    batch.sort();
    assert_eq!(
        batch,
        [
            ("create", "photos/a.jpg"),
            ("create", "photos/sub/b.jpg"),
            ("delete", "album/a.jpg"),
            ("delete", "album/sub/b.jpg")
        ]
    );
    assert!(events[2..6].iter().all(|e| e.created_at == events[2].created_at), "one batch: {}", show(&events));

    // A file in the renamed directory is still watched, under its new path.
    let started = Instant::now();
    std::fs::write(root.join("photos/sub/b.jpg"), b"photo b, edited").unwrap();
    let events = wait_count(&api, project, 7).await;
    assert_upsert(&events[6].change, Op::Update, "photos/sub/b.jpg", &root.join("photos/sub/b.jpg"));
    assert!(started.elapsed() < Duration::from_secs(5), "seen by our watcher, not Syncthing: {:?}", started.elapsed());

    // Remove the whole directory.
    std::fs::remove_dir_all(root.join("photos")).unwrap();
    let events = wait_count(&api, project, 9).await;
    let mut deletes: Vec<(&str, &str)> =
        events[7..9].iter().map(|e| (e.change.op.as_str(), e.change.path.as_str())).collect();
    deletes.sort();
    assert_eq!(deletes, [("delete", "photos/a.jpg"), ("delete", "photos/sub/b.jpg")]);

    // A Syncthing conflict copy is a real file that Syncthing syncs: it is
    // sent, and reported as a conflict in the log.
    let copy = "notes.sync-conflict-20261129-051504-ASMRTYP.txt";
    std::fs::write(root.join(copy), b"the losing edit").unwrap();
    let events = wait_count(&api, project, 10).await;
    assert_upsert(&events[9].change, Op::Create, copy, &root.join(copy));
    eventually("the conflict in the log", DEADLINE, || {
        companion.log().contains("Syncthing conflict copy").then_some(())
    })
    .await;
    assert_quiet(&api, project, 10, Duration::from_secs(2)).await;
    companion.stop().await;
}
