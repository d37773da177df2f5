//! File operations on A seen as typed events on A and B; big-file progress;
//! a late reader told about the events it lost.

use super::*;
use companion::syncthing::event::ChangeAction::{Deleted, Modified};
use companion::syncthing::types::FolderState;
use companion::syncthing::{Cursor, Subscription};
use syncthing_fixtures::poll::eventually_async;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_operations_on_a_show_up_as_typed_events_on_both_nodes() {
    let cluster = pair().await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let dir = a.folder_path("proj");
    let mut wa = Watch::start(a).await;
    let mut wb = Watch::start(b).await;

    // Create: new files say "modified" too (docs/syncthing.md §5).
    let (ma, mb) = (wa.mark(), wb.mark());
    std::fs::write(dir.join("one.txt"), "hello").unwrap();
    wa.wait_for(ma, "A LocalChangeDetected modified one.txt", change(true, Modified, "one.txt")).await;
    wb.wait_for(mb, "B ItemStarted update one.txt", started("update", "one.txt")).await;
    wb.wait_for(mb, "B ItemFinished update one.txt", finished("update", "one.txt")).await;
    wb.wait_for(mb, "B RemoteChangeDetected modified one.txt", change(false, Modified, "one.txt")).await;
    // Summaries flow because the stream's mask includes them (1.19 only
    // generates them for such a poller, docs/syncthing.md §4).
    wb.wait_for(mb, "B FolderSummary for proj", |i| match kind(i)? {
        EventKind::FolderSummary(s) if s.folder == "proj" => Some(()),
        _ => None,
    })
    .await;
    wa.wait_for(ma, "A FolderCompletion for B", |i| match kind(i)? {
        EventKind::FolderCompletion(c) if c.device == b.device_id && c.folder == "proj" => Some(()),
        _ => None,
    })
    .await;

    // Modify.
    let (ma, mb) = (wa.mark(), wb.mark());
    std::fs::write(dir.join("one.txt"), "hello, changed").unwrap();
    wa.wait_for(ma, "A LocalChangeDetected modified one.txt", change(true, Modified, "one.txt")).await;
    wb.wait_for(mb, "B ItemFinished update one.txt", finished("update", "one.txt")).await;
    wb.wait_for(mb, "B RemoteChangeDetected modified one.txt", change(false, Modified, "one.txt")).await;

    // Rename = modified(new) + deleted(old), on both sides.
    let (ma, mb) = (wa.mark(), wb.mark());
    std::fs::rename(dir.join("one.txt"), dir.join("two.txt")).unwrap();
    wa.wait_for(ma, "A LocalChangeDetected modified two.txt", change(true, Modified, "two.txt")).await;
    wa.wait_for(ma, "A LocalChangeDetected deleted one.txt", change(true, Deleted, "one.txt")).await;
    wb.wait_for(mb, "B ItemStarted delete one.txt", started("delete", "one.txt")).await;
    wb.wait_for(mb, "B ItemFinished update two.txt", finished("update", "two.txt")).await;
    wb.wait_for(mb, "B RemoteChangeDetected modified two.txt", change(false, Modified, "two.txt")).await;
    wb.wait_for(mb, "B RemoteChangeDetected deleted one.txt", change(false, Deleted, "one.txt")).await;

    // Delete.
    let (ma, mb) = (wa.mark(), wb.mark());
    std::fs::remove_file(dir.join("two.txt")).unwrap();
    wa.wait_for(ma, "A LocalChangeDetected deleted two.txt", change(true, Deleted, "two.txt")).await;
    wb.wait_for(mb, "B ItemFinished delete two.txt", finished("delete", "two.txt")).await;
    wb.wait_for(mb, "B RemoteChangeDetected deleted two.txt", change(false, Deleted, "two.txt")).await;
    assert!(!b.folder_path("proj").join("two.txt").exists());

    // A big file pulled under a rate limit: per-file progress on both sides.
    cluster.set_recv_limit_kibps(1, 2048).await.unwrap();
    let (ma, mb) = (wa.mark(), wb.mark());
    std::fs::write(dir.join("big.bin"), syncthing_fixtures::noise(20 << 20, 1)).unwrap();
    wb.wait_for(mb, "B ItemFinished update big.bin", finished("update", "big.bin")).await;
    let progress: Vec<(i64, i64)> = wb.items[mb..]
        .iter()
        .filter_map(|i| match kind(i)? {
            EventKind::DownloadProgress(dp) => dp.0.get("proj")?.get("big.bin").map(|p| (p.blocks_done(), p.total)),
            _ => None,
        })
        .collect();
    assert!(progress.len() >= 2, "too few DownloadProgress on B: {progress:?}");
    assert!(progress.windows(2).all(|w| w[0].0 <= w[1].0), "not rising: {progress:?}");
    assert!(progress.first().unwrap().0 < progress.last().unwrap().0, "never moved: {progress:?}");
    assert!(progress.iter().all(|&(done, total)| total == 160 && done <= total), "{progress:?}");
    let remote = wa
        .wait_for(ma, "A RemoteDownloadProgress for big.bin", |i| match kind(i)? {
            EventKind::RemoteDownloadProgress(r) => r.state.get("big.bin").copied(),
            _ => None,
        })
        .await;
    assert!(remote > 0 && remote <= 160, "{remote} blocks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_falls_behind_is_told_what_it_missed() {
    let cluster = pair().await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let client_b = client(b);
    // A raw cursor: subscribe (the mask exists from now on), then read late.
    let mut sub = Subscription::new(client_b.clone(), None);
    let connected = sub.connect().await.unwrap();
    assert!(matches!(connected.as_slice(), [StreamItem::Connected { .. }]), "{connected:?}");
    let Cursor { since, .. } = sub.cursor().clone();

    let burst = a.folder_path("proj").join("burst");
    std::fs::create_dir(&burst).unwrap();
    for i in 0..700 {
        std::fs::write(burst.join(format!("f{i:03}.txt")), format!("file {i}")).unwrap();
    }
    eventually_async("B holds the 700 files and is idle", Duration::from_secs(90), || {
        let client_b = client_b.clone();
        async move {
            let s = client_b.db_status("proj").await.ok()?;
            (s.local_files >= 700 && s.need_total_items == 0 && s.state == FolderState::Idle).then_some(())
        }
    })
    .await;

    let items = sub.poll(Duration::ZERO).await.unwrap();
    let Some(StreamItem::Missed { expected_first, got_first }) = items.first() else {
        panic!("expected Missed first, got {}", summary(&items[..items.len().min(5)]));
    };
    assert_eq!(*expected_first, since + 1);
    assert!(*got_first > since + 1);
    // What survived in Syncthing's ring still follows, in order, from got_first.
    let ids: Vec<u64> = items
        .iter()
        .filter_map(|i| match i {
            StreamItem::Event(e) => Some(e.id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.first(), Some(got_first));
    assert!(ids.len() >= 900 && ids.windows(2).all(|w| w[1] == w[0] + 1), "{} events", ids.len());
    assert_eq!(sub.cursor().since, *ids.last().unwrap());
}
