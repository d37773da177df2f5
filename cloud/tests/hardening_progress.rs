//! A member flooding the cloud through WebSocket `progress`, over a real
//! socket: paths the project does not have are not stored, oversize errors and
//! bogus hashes are refused, a huge message ends the socket, a fast sender is
//! slowed (not dropped), and the owner's `GET …/progress` comes in pages.

use crate::push_support;
use crate::support;

use std::collections::BTreeSet;

use cloud::state::Settings;
use cloud_protocol::{FileProgress, FileState, MAX_PROGRESS_ERROR_BYTES, ProgressReport, ServerMessage};
use push_support::{Read, connect};
use reqwest::StatusCode;
use support::server::{Cast, DEADLINE, TestCloud, Who, create, expect_error, ok};
use syncthing_fixtures::poll::eventually_async;
use tokio::time::Instant;
use uuid::Uuid;

fn file(path: &str, percent: f64) -> FileProgress {
    FileProgress { path: path.into(), state: FileState::Syncing, percent, local_hash: None, error: None }
}

/// The owner publishes `paths`.
async fn publish(cloud: &TestCloud, cast: &Cast, paths: &[String]) {
    let owner = cast.client(cloud, Who::Owner);
    for chunk in paths.chunks(1000) {
        let changes = chunk.iter().zip(1..).map(|(p, n)| create(p, n)).collect();
        owner.update(cast.project, Uuid::new_v4(), changes).await;
    }
}

/// Every (member, path) row of the owner's report, following the cursor.
async fn all_rows(cloud: &TestCloud, cast: &Cast, who: Who, limit: u32) -> (Vec<(Uuid, String)>, usize) {
    let client = cast.client(cloud, who);
    let (mut rows, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let mut path = format!("/api/projects/{}/progress?limit={limit}", cast.project);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: ProgressReport = ok(client.get(&path).await).await;
        pages += 1;
        rows.extend(page.members.iter().flat_map(|m| m.files.iter().map(|f| (m.user_id, f.progress.path.clone()))));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (rows, pages),
        }
    }
}

#[tokio::test]
async fn progress_for_paths_outside_the_project_is_not_stored() {
    let (cloud, cast) = Cast::start().await;
    publish(&cloud, &cast, &["real.txt".to_owned()]).await;
    let mut member = connect(&cloud.ws_url(), &cast.member.1).await;
    for round in 0..30 {
        let ghosts = (0..1000).map(|i| file(&format!("ghost/{round}/{i}"), 50.0)).collect();
        member.progress(cast.project, ghosts).await;
        assert_eq!(member.expect_error("unknown_paths").await, Some(cast.project));
    }
    // A mix: the real file is stored, the ghost is named in the reply.
    member.progress(cast.project, vec![file("real.txt", 10.0), file("ghost/x", 10.0)]).await;
    assert_eq!(member.expect_error("unknown_paths").await, Some(cast.project));
    let (rows, _) = all_rows(&cloud, &cast, Who::Owner, 5000).await;
    assert_eq!(rows, vec![(cast.member.0, "real.txt".to_owned())], "30,000 ghost reports left rows behind");
    cloud.shutdown().await;
}

#[tokio::test]
async fn oversize_errors_bogus_hashes_and_huge_messages_are_refused() {
    let (cloud, cast) = Cast::start().await;
    publish(&cloud, &cast, &["a.bin".to_owned()]).await;
    let mut member = connect(&cloud.ws_url(), &cast.member.1).await;

    let mut long_error = file("a.bin", 0.0);
    long_error.state = FileState::Error;
    long_error.error = Some("e".repeat(MAX_PROGRESS_ERROR_BYTES + 1));
    let mut bad_hash = file("a.bin", 100.0);
    bad_hash.local_hash = Some("blake3:not-a-hash".into());
    let mut huge_hash = file("a.bin", 100.0);
    huge_hash.local_hash = Some(format!("blake3:{}", "0".repeat(200_000)));
    for refused in [long_error, bad_hash, huge_hash] {
        member.progress(cast.project, vec![refused]).await;
        assert_eq!(member.expect_error("invalid_progress").await, Some(cast.project));
    }
    let (rows, _) = all_rows(&cloud, &cast, Who::Owner, 5000).await;
    assert!(rows.is_empty(), "refused reports were stored: {rows:?}");

    // A message over the server's limit (1 MiB) ends the socket.
    let huge = (0..3000).map(|i| file(&format!("{i:0>400}"), 1.0)).collect();
    member.progress(cast.project, huge).await;
    match member.read_until(Instant::now() + push_support::WAIT).await {
        Read::Closed(_) => {}
        Read::Message(m) => panic!("the server took a 1.2 MB message: answered {m:?}"),
        Read::TimedOut => panic!("the socket stayed open after a 1.2 MB message"),
    }
    cloud.shutdown().await;
}

#[tokio::test]
async fn a_fast_sender_is_slowed_and_nothing_is_lost() {
    let settings = Settings { ws_messages_per_s: 5, ..Settings::default() };
    let cloud = TestCloud::start_sqlite_with(settings).await;
    let cast = Cast::new(&cloud).await;
    publish(&cloud, &cast, &["clip.mov".to_owned()]).await;
    let mut member = connect(&cloud.ws_url(), &cast.member.1).await;
    // 30 messages at once against 5 per second (bursts of 10).
    for n in 0..30 {
        member.progress(cast.project, vec![file("clip.mov", f64::from(n))]).await;
    }
    match member.recv().await {
        ServerMessage::Error { code, message, project_id: None } => {
            assert_eq!(code, "rate_limited", "{message}");
        }
        other => panic!("expected a rate_limited notice, got {other:?}"),
    }
    // The last report still arrives, once the socket's quota allows it.
    let owner = cast.client(&cloud, Who::Owner);
    eventually_async("the last report stored", DEADLINE, || async {
        let report = owner.progress(cast.project).await;
        let last = report.members.iter().flat_map(|m| &m.files).find(|f| f.progress.path == "clip.mov");
        last.is_some_and(|f| f.progress.percent == 29.0).then_some(())
    })
    .await;
    cloud.shutdown().await;
}

#[tokio::test]
async fn the_progress_report_comes_in_pages() {
    let (cloud, cast) = Cast::start().await;
    let paths: Vec<String> = (0..25).map(|i| format!("dir/f{i:02}")).collect();
    publish(&cloud, &cast, &paths).await;
    let mut member = connect(&cloud.ws_url(), &cast.member.1).await;
    member.progress(cast.project, paths.iter().map(|p| file(p, 100.0)).collect()).await;
    let owner = cast.client(&cloud, Who::Owner);
    eventually_async("25 rows stored", DEADLINE, || async {
        let report = owner.progress(cast.project).await;
        (report.members.iter().map(|m| m.files.len()).sum::<usize>() == 25).then_some(())
    })
    .await;

    // Without parameters: one page (25 ≤ the default), no cursor, as before.
    let whole: ProgressReport = ok(owner.get(&format!("/api/projects/{}/progress", cast.project)).await).await;
    assert_eq!(whole.next_cursor, None);
    // Pages of 10: three of them, every row once, in order.
    let (rows, pages) = all_rows(&cloud, &cast, Who::Owner, 10).await;
    assert_eq!(pages, 3);
    let got: Vec<String> = rows.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(got, paths);
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 25);
    // The member pages through their own rows the same way.
    let (own, _) = all_rows(&cloud, &cast, Who::Member, 7).await;
    assert_eq!(own.len(), 25);

    for bad in ["limit=0", "limit=5001", "cursor=zz", "cursor=616263", "page=2"] {
        let resp = owner.get(&format!("/api/projects/{}/progress?{bad}", cast.project)).await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    cloud.shutdown().await;
}
