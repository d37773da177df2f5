//! Several cloud nodes on one PostgreSQL database: what is written, revoked or
//! reported through one node reaches sockets on the other, in order, through
//! `LISTEN/NOTIFY`, also across a restart of PostgreSQL itself. Both nodes
//! are real in-process servers on a real PostgreSQL; clients are real
//! WebSockets.

use crate::push_support;
use crate::support;

use cloud::state::Settings;
use cloud::store::{AppendOutcome, BatchInput, now_ms};
use cloud_protocol::{Change, FileProgress, FileState, ServerMessage};
use push_support::connect;
use sqlx::{Connection, PgConnection};
use support::server::{Cast, Clients, DEADLINE, TestCloud, Who, create};
use syncthing_fixtures::poll::eventually_async;
use uuid::Uuid;

async fn two_nodes() -> (TestCloud, TestCloud) {
    let url = support::postgres::fresh_database().await;
    let settings = Settings { rate_limit_per_s: 0, ..Settings::default() };
    let a = TestCloud::start_postgres_with(&url, settings.clone()).await;
    let b = TestCloud::start_postgres_with(&url, settings).await;
    assert_ne!(a.state().hub.node_id(), b.state().hub.node_id());
    (a, b)
}

fn batch(tag: &str, n: usize, size: usize) -> Vec<Change> {
    (0..size).map(|i| create(&format!("{tag}/b{n:03}/f{i:02}.bin"), (n * size + i) as u64)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_written_on_either_node_reach_subscribers_on_both_in_order() {
    const BATCHES: usize = 40;
    const SIZE: usize = 10;
    const TOTAL: i64 = (2 * BATCHES * SIZE) as i64;
    let (a, b) = two_nodes().await;
    let cast = Cast::new(&a).await;
    // A backlog written before anyone subscribes, through A.
    cast.client(&a, Who::Owner).update(cast.project, Uuid::new_v4(), batch("early", 0, 5)).await;

    let mut on_b = connect(&b.ws_url(), &cast.member.1).await;
    let mut on_a = connect(&a.ws_url(), &cast.member.1).await;
    on_b.subscribe(cast.project, 0).await;
    on_a.subscribe(cast.project, 0).await;
    on_b.events_until(cast.project, 0, 5).await;
    on_a.events_until(cast.project, 0, 5).await;

    // Writers on both nodes at once: each node must interleave the other's events.
    let writers: Vec<_> = [(&a, "via-a"), (&b, "via-b")]
        .into_iter()
        .map(|(node, tag)| {
            let owner = cast.client(node, Who::Owner);
            tokio::spawn(async move {
                for n in 0..BATCHES {
                    owner.update(cast.project, Uuid::new_v4(), batch(tag, n, SIZE)).await;
                }
            })
        })
        .collect();
    let (got_b, got_a) =
        tokio::join!(on_b.events_until(cast.project, 5, TOTAL + 5), on_a.events_until(cast.project, 5, TOTAL + 5));
    for writer in writers {
        writer.await.expect("writer");
    }
    assert_eq!(got_a, got_b, "both nodes pushed the same events in the same order");
    let stored = cast.client(&b, Who::Member).all_events(cast.project).await;
    assert_eq!(&stored[5..], &got_b[..]);
}

#[tokio::test]
async fn a_revocation_through_one_node_cuts_the_socket_on_the_other() {
    let (a, b) = two_nodes().await;
    let cast = Cast::new(&a).await;
    let owner = cast.client(&a, Who::Owner);
    owner.update(cast.project, Uuid::new_v4(), batch("x", 0, 2)).await;
    let mut member_on_b = connect(&b.ws_url(), &cast.member.1).await;
    member_on_b.subscribe(cast.project, 0).await;
    member_on_b.events_until(cast.project, 0, 2).await;

    owner.revoke(cast.project, cast.member.0).await;
    assert_eq!(member_on_b.expect_error("access_revoked").await, Some(cast.project));
    eventually_async("B dropped the subscription", DEADLINE, || async {
        (b.state().hub.subscriber_count() == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn progress_sent_to_one_node_reaches_the_owner_on_the_other() {
    let (a, b) = two_nodes().await;
    let cast = Cast::new(&a).await;
    let mut owner_on_b = connect(&b.ws_url(), &cast.owner.1).await;
    let mut member_on_a = connect(&a.ws_url(), &cast.member.1).await;
    // Progress is accepted only for the project's files.
    let mut published = vec![create("shots/a.mp4", 1)];
    published.extend((0..300).map(|i| create(&format!("a/rather/long/directory/name/for/file-{i:04}.mp4"), i + 2)));
    cast.client(&a, Who::Owner).update(cast.project, Uuid::new_v4(), published).await;

    let small = vec![FileProgress {
        path: "shots/a.mp4".into(),
        state: FileState::Syncing,
        percent: 12.5,
        local_hash: None,
        error: None,
    }];
    member_on_a.progress(cast.project, small.clone()).await;
    match owner_on_b.recv().await {
        ServerMessage::MemberProgress { project_id, user_id, name, files } => {
            assert_eq!((project_id, user_id, name.as_str()), (cast.project, cast.member.0, "member"));
            assert_eq!(files.into_iter().map(|f| f.progress).collect::<Vec<_>>(), small);
        }
        other => panic!("expected member_progress, got {other:?}"),
    }

    // Too big for one notification (PostgreSQL's limit is 8000 bytes): relayed
    // through the store instead, same content.
    let big: Vec<FileProgress> = (0..300)
        .map(|i| FileProgress {
            path: format!("a/rather/long/directory/name/for/file-{i:04}.mp4"),
            state: FileState::Synced,
            percent: 100.0,
            local_hash: None,
            error: None,
        })
        .collect();
    member_on_a.progress(cast.project, big.clone()).await;
    match owner_on_b.recv().await {
        ServerMessage::MemberProgress { files, .. } => {
            let mut paths: Vec<String> = files.into_iter().map(|f| f.progress.path).collect();
            paths.sort();
            assert_eq!(paths, big.iter().map(|f| f.path.clone()).collect::<Vec<_>>());
        }
        other => panic!("expected member_progress, got {other:?}"),
    }
}

#[tokio::test]
async fn after_its_listener_reconnects_a_node_catches_up_what_it_missed() {
    let (a, b) = two_nodes().await;
    let cast = Cast::new(&a).await;
    let owner = cast.client(&a, Who::Owner);
    let (other, other_token) = a.add_user("other").await;
    let invite = owner.invite(cast.project, None).await;
    a.client(&other_token).accept(&invite.code).await;
    owner.update(cast.project, Uuid::new_v4(), batch("x", 0, 2)).await;

    let mut member_on_b = connect(&b.ws_url(), &cast.member.1).await;
    let mut other_on_b = connect(&b.ws_url(), &other_token).await;
    for ws in [&mut member_on_b, &mut other_on_b] {
        ws.subscribe(cast.project, 0).await;
        ws.events_until(cast.project, 0, 2).await;
    }

    // Straight through the store: no node announces these, as if the
    // notifications had been lost while B's listener was down.
    let store = a.store();
    let changes = batch("missed", 0, 3);
    let input = BatchInput {
        project_id: cast.project,
        actor: cast.owner.0,
        batch_id: Uuid::new_v4(),
        digest: [7; 32],
        changes: &changes,
        now_ms: now_ms(),
        max_paths: u64::MAX,
    };
    assert!(matches!(store.append_batch(input).await.expect("append"), AppendOutcome::Applied { .. }));
    store.revoke_member(cast.project, other, now_ms()).await.expect("revoke");

    // Cut every listener's connection; each reconnects and catches up.
    let url = support::postgres::fresh_database().await; // any database on the same server
    let mut admin = PgConnection::connect(&url).await.expect("admin connection");
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminate listeners");
    assert!(killed.len() >= 2, "both nodes' listeners were found: {killed:?}");

    member_on_b.events_until(cast.project, 2, 5).await;
    assert_eq!(other_on_b.expect_error("access_revoked").await, Some(cast.project));
    // And live fan-out works again afterwards.
    owner.update(cast.project, Uuid::new_v4(), batch("after", 0, 1)).await;
    member_on_b.events_until(cast.project, 5, 6).await;
}

/// `GET /readyz` of a node as a load balancer's probe sees it: its status,
/// or `None` when it does not answer within the probe's timeout.
async fn readyz(node: &TestCloud) -> Option<reqwest::StatusCode> {
    let probe = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().expect("client");
    probe.get(format!("{}/readyz", node.url())).send().await.ok().map(|r| r.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_restarted_under_two_nodes_both_recover_and_no_subscriber_misses_an_event() {
    const BATCHES: usize = 30;
    const SIZE: usize = 5;
    const TOTAL: i64 = (BATCHES * SIZE) as i64;
    // A server of this test's own: restarting the shared one would break
    // every other test of the process.
    let mut pg = tokio::task::spawn_blocking(support::postgres::DedicatedServer::start).await.expect("start");
    let url = support::postgres::with_database(&pg.url(), "postgres");
    let settings = Settings { rate_limit_per_s: 0, ..Settings::default() };
    let a = TestCloud::start_postgres_with(&url, settings.clone()).await;
    let b = TestCloud::start_postgres_with(&url, settings).await;
    let cast = Cast::new(&a).await;
    let mut subscribers = Vec::new();
    for node in [&a, &b, &a, &b] {
        let mut ws = connect(&node.ws_url(), &cast.member.1).await;
        ws.subscribe(cast.project, 0).await;
        subscribers.push(ws);
    }
    eventually_async("four subscriptions", DEADLINE, || async {
        (a.state().hub.subscriber_count() == 2 && b.state().hub.subscriber_count() == 2).then_some(())
    })
    .await;

    // One writer alternating between the nodes, as owners' companions do: a
    // batch that fails is sent again with its batch id until it is taken. It
    // writes a third before the outage, starts the next third only once
    // PostgreSQL is down (those wait or fail until it is back), and the last
    // third after the restart.
    let (written_tx, mut written) = tokio::sync::watch::channel(0usize);
    let (phase_tx, phase) = tokio::sync::watch::channel(Phase::Up);
    let writers = [cast.client(&a, Who::Owner), cast.client(&b, Who::Owner)];
    let project = cast.project;
    let writer = tokio::spawn(async move {
        let mut failed = 0;
        for n in 0..BATCHES {
            let needed = match n * 3 / BATCHES {
                0 => Phase::Up,
                1 => Phase::Down,
                _ => Phase::Restarted,
            };
            phase.clone().wait_for(|p| *p >= needed).await.expect("test alive");
            let body = cloud_protocol::UpdateFilesRequest { batch_id: Uuid::new_v4(), changes: batch("w", n, SIZE) };
            let client = &writers[n % 2];
            let deadline = tokio::time::Instant::now() + DEADLINE;
            while let Err(e) = client.typed().update_files(project, &body).await {
                failed += 1;
                assert!(tokio::time::Instant::now() < deadline, "batch {n} never taken after the restart: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let _ = written_tx.send(n + 1);
        }
        failed
    });

    written.wait_for(|n| *n == BATCHES / 3).await.expect("writer alive");
    tokio::task::block_in_place(|| pg.stop());
    let _ = phase_tx.send(Phase::Down);
    for node in [&a, &b] {
        // Red is an answer (503), not a probe that hangs until it gives up.
        eventually_async("readyz red while PostgreSQL is down", DEADLINE, || async {
            (readyz(node).await == Some(reqwest::StatusCode::SERVICE_UNAVAILABLE)).then_some(())
        })
        .await;
    }
    assert_eq!(*written.borrow(), BATCHES / 3, "nothing is taken while the database is down");
    tokio::task::block_in_place(|| pg.restart());
    for node in [&a, &b] {
        eventually_async("readyz green after the restart", DEADLINE, || async {
            (readyz(node).await == Some(reqwest::StatusCode::OK)).then_some(())
        })
        .await;
    }
    let _ = phase_tx.send(Phase::Restarted);

    let failed = writer.await.expect("writer");
    eprintln!("{failed} update attempts failed during the outage and were sent again");
    let stored = cast.client(&a, Who::Member).all_events(cast.project).await;
    assert_eq!(stored.len() as i64, TOTAL, "every batch stored once");
    for ws in &mut subscribers {
        // Every seq exactly once and in order (events_until panics on a gap,
        // a duplicate, or anything but events), and the same events as stored.
        let got = ws.events_until(cast.project, 0, TOTAL).await;
        assert_eq!(got, stored);
    }
    // Each node hears the other again: a batch through one reaches sockets on
    // the other with no write on that other to trigger a catch-up.
    let owner_via = |node| cast.client(node, Who::Owner);
    owner_via(&a).update(cast.project, Uuid::new_v4(), batch("after", 0, 1)).await;
    for on_b in [1, 3] {
        subscribers[on_b].events_until(cast.project, TOTAL, TOTAL + 1).await;
    }
    owner_via(&b).update(cast.project, Uuid::new_v4(), batch("after", 1, 1)).await;
    for on_a in [0, 2] {
        subscribers[on_a].events_until(cast.project, TOTAL, TOTAL + 2).await;
    }
}

/// Where the PostgreSQL restart test is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Up,
    Down,
    Restarted,
}
