//! The event stream across a Syncthing restart and an outage.

use super::*;
use companion::syncthing::event::ChangeAction::Modified;

/// Writes `name` on A and waits until B's stream reports it pulled.
async fn flows(cluster: &Cluster, wb: &mut Watch, name: &str) {
    cluster.wait_ready().await.unwrap();
    let mb = wb.mark();
    std::fs::write(cluster.node(0).folder_path("proj").join(name), name).unwrap();
    wb.wait_for(mb, &format!("B ItemFinished update {name}"), finished("update", name)).await;
    wb.wait_for(mb, &format!("B RemoteChangeDetected {name}"), change(false, Modified, name)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_and_outages_are_detected_and_survived() {
    let mut cluster = pair().await;
    let mut wb = Watch::start(cluster.node(1)).await;
    flows(&cluster, &mut wb, "before.txt").await;
    let StreamItem::Connected { origin: first, .. } = wb.items[0].clone() else { unreachable!() };

    // Restart: ids start again at 1 in the new process; the stream notices
    // and reads from 0, so the events after the restart arrive.
    let m = wb.mark();
    cluster.restart_node(1).await.unwrap();
    let (previous, current) = wb
        .wait_for(m, "Restarted", |i| match i {
            StreamItem::Restarted { previous, current } => Some((previous.clone(), current.clone())),
            _ => None,
        })
        .await;
    assert_eq!(previous, first);
    assert_ne!(current.start_time, first.start_time);
    assert_eq!(current.device_id, first.device_id);
    let since = wb
        .wait_for(m, "Connected after the restart", |i| match i {
            StreamItem::Connected { since, .. } => Some(*since),
            _ => None,
        })
        .await;
    assert_eq!(since, 0, "after a restart the stream reads the new process from the start");
    flows(&cluster, &mut wb, "after-restart.txt").await;

    // Outage: Disconnected while down, then Connected again and events flow.
    let m = wb.mark();
    cluster.stop_node(1).await.unwrap();
    let reason = wb
        .wait_for(m, "Disconnected", |i| match i {
            StreamItem::Disconnected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert!(reason.contains(&cluster.node(1).api_url), "{reason}");
    cluster.start_node(1).await.unwrap();
    wb.wait_for(m, "Connected after the outage", |i| matches!(i, StreamItem::Connected { .. }).then_some(())).await;
    flows(&cluster, &mut wb, "after-outage.txt").await;
    let missed = wb.items.iter().filter(|i| matches!(i, StreamItem::Missed { .. })).count();
    assert_eq!(missed, 0, "{}", summary(&wb.items));
}
