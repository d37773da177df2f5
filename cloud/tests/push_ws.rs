//! `GET /api/ws` on a real server (SQLite) with real WebSocket clients: who may
//! connect and subscribe, bad input, revocation, progress, resubscribing.

use crate::push_support;
use crate::support;

use cloud::state::Settings;
use cloud_protocol::{FileProgress, FileState, ServerMessage};
use push_support::{connect, try_connect};
use support::server::{Cast, DEADLINE, TestCloud, Who, create};
use syncthing_fixtures::poll::eventually_async;
use uuid::Uuid;

/// `n` creates numbered from `first`, in one batch.
fn batch(first: u64, n: u64) -> Vec<cloud_protocol::Change> {
    (first..first + n).map(|i| create(&format!("shots/{i:05}.mp4"), i)).collect()
}

fn file(path: &str, state: FileState, percent: f64) -> FileProgress {
    FileProgress { path: path.into(), state, percent, local_hash: None, error: None }
}

#[tokio::test]
async fn upgrade_needs_a_token_and_an_allowed_origin() {
    let settings = Settings { allowed_origins: vec!["http://localhost:8384".into()], ..Settings::default() };
    let cloud = TestCloud::start_sqlite_with(settings).await;
    let (_, token) = cloud.add_user("ann").await;
    let url = cloud.ws_url();

    assert_eq!(try_connect(&url, None, None).await.err(), Some(401), "no token");
    assert_eq!(try_connect(&url, Some("stc_not-a-token"), None).await.err(), Some(401), "bad token");
    let forged = cloud::auth::generate_token();
    assert_eq!(try_connect(&url, Some(&forged), None).await.err(), Some(401), "unknown token");
    assert_eq!(try_connect(&url, Some(&token), Some("https://evil.example")).await.err(), Some(403), "bad origin");
    assert_eq!(try_connect(&url, None, Some("https://evil.example")).await.err(), Some(401), "auth comes first");
    assert!(try_connect(&url, Some(&token), Some("http://localhost:8384")).await.is_ok(), "allowed origin");
    assert!(try_connect(&url, Some(&token), None).await.is_ok(), "no origin: not a browser");
}

#[tokio::test]
async fn only_the_owner_and_accepted_members_get_events() {
    let (cloud, cast) = Cast::start().await;
    let owner = cast.client(&cloud, Who::Owner);
    owner.update(cast.project, Uuid::new_v4(), batch(1, 3)).await;

    for who in [Who::Stranger, Who::Invited, Who::Revoked] {
        let mut ws = connect(&cloud.ws_url(), &cast.token(who).unwrap()).await;
        ws.subscribe(cast.project, 0).await;
        assert_eq!(ws.expect_error("not_found").await, Some(cast.project), "{who:?}");
        // Same answer as for a project that does not exist: existence is not revealed.
        ws.subscribe(Uuid::new_v4(), 0).await;
        ws.expect_error("not_found").await;
    }

    let mut member = connect(&cloud.ws_url(), &cast.member.1).await;
    let mut owner_ws = connect(&cloud.ws_url(), &cast.owner.1).await;
    member.subscribe(cast.project, 0).await;
    owner_ws.subscribe(cast.project, 1).await;
    let backlog = member.events_until(cast.project, 0, 3).await;
    assert_eq!(backlog[0].change.path, "shots/00001.mp4");
    owner_ws.events_until(cast.project, 1, 3).await;

    owner.update(cast.project, Uuid::new_v4(), batch(4, 2)).await;
    member.events_until(cast.project, 3, 5).await;
    owner_ws.events_until(cast.project, 3, 5).await;
}

#[tokio::test]
async fn bad_messages_get_an_error_and_the_connection_stays_up() {
    let (cloud, cast) = Cast::start().await;
    let mut ws = connect(&cloud.ws_url(), &cast.member.1).await;

    ws.send_text("not json").await;
    assert_eq!(ws.expect_error("bad_message").await, None);
    ws.send_text(r#"{"type":"dance"}"#).await;
    ws.expect_error("bad_message").await;
    ws.send_text(r#"{"type":"subscribe","project_id":"nope","since_seq":0}"#).await;
    ws.expect_error("bad_message").await;
    ws.send_binary(vec![0, 159, 146, 150]).await;
    ws.expect_error("bad_message").await;
    ws.subscribe(cast.project, -1).await;
    ws.expect_error("bad_request").await;
    ws.subscribe(cast.project, 99).await;
    ws.expect_error("since_seq_ahead").await;

    cast.client(&cloud, Who::Owner).update(cast.project, Uuid::new_v4(), batch(1, 2)).await;
    ws.subscribe(cast.project, 0).await;
    ws.events_until(cast.project, 0, 2).await;
}

#[tokio::test]
async fn resubscribing_replaces_the_subscription_and_unsubscribe_stops_it() {
    let (cloud, cast) = Cast::start().await;
    let owner = cast.client(&cloud, Who::Owner);
    for i in 0..5 {
        owner.update(cast.project, Uuid::new_v4(), batch(i * 10 + 1, 10)).await;
    }
    let mut ws = connect(&cloud.ws_url(), &cast.member.1).await;
    ws.subscribe(cast.project, 0).await;
    ws.events_until(cast.project, 0, 50).await;
    // Going back: exactly the events after 20 again, nothing stale in between.
    ws.subscribe(cast.project, 20).await;
    ws.events_until(cast.project, 20, 50).await;

    ws.send(&cloud_protocol::ClientMessage::Unsubscribe { project_id: cast.project }).await;
    owner.update(cast.project, Uuid::new_v4(), batch(51, 1)).await;
    // A request answered after the write proves nothing else was queued for us.
    ws.send_text("{}").await;
    ws.expect_error("bad_message").await;
    eventually_async("no subscription left", DEADLINE, || async {
        (cloud.state().hub.subscriber_count() == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_revoked_member_loses_the_subscription_at_once() {
    let (cloud, cast) = Cast::start().await;
    let owner = cast.client(&cloud, Who::Owner);
    owner.update(cast.project, Uuid::new_v4(), batch(1, 2)).await;
    let mut member = connect(&cloud.ws_url(), &cast.member.1).await;
    let mut second_socket = connect(&cloud.ws_url(), &cast.member.1).await;
    let mut owner_ws = connect(&cloud.ws_url(), &cast.owner.1).await;
    for ws in [&mut member, &mut second_socket, &mut owner_ws] {
        ws.subscribe(cast.project, 0).await;
        ws.events_until(cast.project, 0, 2).await;
    }

    owner.revoke(cast.project, cast.member.0).await;
    assert_eq!(member.expect_error("access_revoked").await, Some(cast.project));
    assert_eq!(second_socket.expect_error("access_revoked").await, Some(cast.project));

    owner.update(cast.project, Uuid::new_v4(), batch(3, 2)).await;
    owner_ws.events_until(cast.project, 2, 4).await;
    member.send_text("{}").await;
    member.expect_error("bad_message").await;
    member.subscribe(cast.project, 2).await;
    member.expect_error("not_found").await;
}

#[tokio::test]
async fn member_progress_reaches_the_owner_and_is_stored() {
    let (cloud, cast) = Cast::start().await;
    let mut owner_ws = connect(&cloud.ws_url(), &cast.owner.1).await;
    let mut member = connect(&cloud.ws_url(), &cast.member.1).await;
    // Progress is accepted only for the project's files.
    let published = ["shots/a.mp4", "shots/b.mp4", "shots/c.mp4"].iter().zip(1..).map(|(p, n)| create(p, n)).collect();
    cast.client(&cloud, Who::Owner).update(cast.project, Uuid::new_v4(), published).await;

    let files = vec![file("shots/a.mp4", FileState::Syncing, 40.0), file("shots/b.mp4", FileState::Synced, 100.0)];
    member.progress(cast.project, files.clone()).await;
    match owner_ws.recv().await {
        ServerMessage::MemberProgress { project_id, user_id, name, files: got } => {
            assert_eq!((project_id, user_id, name.as_str()), (cast.project, cast.member.0, "member"));
            assert_eq!(got.iter().map(|f| f.progress.clone()).collect::<Vec<_>>(), files);
            assert!(got.iter().all(|f| !f.reported_at.is_empty()));
        }
        other => panic!("expected member_progress, got {other:?}"),
    }
    let report = cast.client(&cloud, Who::Owner).progress(cast.project).await;
    let mine = report.members.iter().find(|m| m.user_id == cast.member.0).expect("member in the report");
    assert_eq!(mine.files.len(), 2);
    assert!(mine.files.iter().any(|f| f.progress.path == "shots/a.mp4" && f.progress.percent == 40.0));

    // Refusals, each with the connection kept.
    member.progress(cast.project, vec![file("../etc/passwd", FileState::Synced, 100.0)]).await;
    member.expect_error("invalid_progress").await;
    member.progress(cast.project, vec![file("a", FileState::Syncing, 140.0)]).await;
    member.expect_error("invalid_progress").await;
    let too_many = (0..1001).map(|i| file(&format!("f{i}"), FileState::Pending, 0.0)).collect();
    member.progress(cast.project, too_many).await;
    member.expect_error("too_many_files").await;
    owner_ws.progress(cast.project, vec![file("a", FileState::Synced, 100.0)]).await;
    owner_ws.expect_error("forbidden").await;
    let mut stranger = connect(&cloud.ws_url(), &cast.stranger.1).await;
    stranger.progress(cast.project, vec![file("a", FileState::Synced, 100.0)]).await;
    stranger.expect_error("not_found").await;

    // Nothing of the refused reports reached the owner or the store.
    member.progress(cast.project, vec![file("shots/c.mp4", FileState::Pending, 0.0)]).await;
    match owner_ws.recv().await {
        ServerMessage::MemberProgress { files, .. } => assert_eq!(files[0].progress.path, "shots/c.mp4"),
        other => panic!("expected member_progress, got {other:?}"),
    }
    let report = cast.client(&cloud, Who::Owner).progress(cast.project).await;
    let mine = report.members.iter().find(|m| m.user_id == cast.member.0).unwrap();
    assert_eq!(mine.files.len(), 3);
}

#[tokio::test]
async fn progress_with_a_seq_is_acknowledged_after_it_is_stored() {
    let (cloud, cast) = Cast::start().await;
    let mut owner_ws = connect(&cloud.ws_url(), &cast.owner.1).await;
    let mut member = connect(&cloud.ws_url(), &cast.member.1).await;
    let published = ["a", "b"].iter().zip(1..).map(|(p, n)| create(p, n)).collect();
    cast.client(&cloud, Who::Owner).update(cast.project, Uuid::new_v4(), published).await;

    member.progress_seq(cast.project, vec![file("a", FileState::Synced, 100.0)], 41).await;
    assert_eq!(member.recv().await, ServerMessage::ProgressAck { project_id: cast.project, seq: 41 });
    // By the ack, the report is stored.
    let report = cast.client(&cloud, Who::Owner).progress(cast.project).await;
    let mine = report.members.iter().find(|m| m.user_id == cast.member.0).expect("member in the report");
    assert_eq!(mine.files.len(), 1);
    assert!(matches!(owner_ws.recv().await, ServerMessage::MemberProgress { files, .. } if files.len() == 1));

    // A refusal for good is said first, then acknowledged: sending again would not help.
    member.progress_seq(cast.project, vec![file("a", FileState::Syncing, 140.0)], 42).await;
    member.expect_error("invalid_progress").await;
    assert_eq!(member.recv().await, ServerMessage::ProgressAck { project_id: cast.project, seq: 42 });
    member
        .progress_seq(
            cast.project,
            vec![file("nope", FileState::Synced, 100.0), file("b", FileState::Pending, 0.0)],
            43,
        )
        .await;
    member.expect_error("unknown_paths").await;
    assert_eq!(member.recv().await, ServerMessage::ProgressAck { project_id: cast.project, seq: 43 });
    assert!(matches!(owner_ws.recv().await, ServerMessage::MemberProgress { files, .. } if files.len() == 1));

    // "Nothing changed" is acknowledged and reaches the owner without files.
    member.progress_seq(cast.project, vec![], 44).await;
    assert_eq!(member.recv().await, ServerMessage::ProgressAck { project_id: cast.project, seq: 44 });
    match owner_ws.recv().await {
        ServerMessage::MemberProgress { user_id, files, .. } => assert_eq!((user_id, files.len()), (cast.member.0, 0)),
        other => panic!("expected member_progress, got {other:?}"),
    }
    // Without a seq (an older companion), no ack: the next message is the owner's refusal.
    member.progress(cast.project, vec![file("a", FileState::Synced, 100.0)]).await;
    member.progress(cast.project, vec![file("a", FileState::Synced, 100.0); 1001]).await;
    member.expect_error("too_many_files").await;
}
