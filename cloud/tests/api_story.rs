//! The happy paths of the HTTP API, told as one story against a real server
//! over real HTTP, on SQLite and on PostgreSQL: who am I, a project, batches
//! and their replay, paging the event log, the files snapshot, inviting,
//! accepting, listing and revoking members, progress.

use crate::support;

use cloud_protocol::{Change, MemberStatus, Op, Role};
use reqwest::StatusCode;
use support::server::{Clients, TestCloud, create, expect_error, hash};
use uuid::Uuid;

#[tokio::test]
async fn story_on_sqlite() {
    let cloud = TestCloud::start_sqlite().await;
    story(&cloud).await;
    cloud.shutdown().await;
}

#[tokio::test]
async fn story_on_postgres() {
    let url = support::postgres::fresh_database().await;
    let cloud = TestCloud::start_postgres(&url).await;
    story(&cloud).await;
    cloud.shutdown().await;
}

async fn story(cloud: &TestCloud) {
    let (owner_id, owner_token) = cloud.add_user("olivia").await;
    let (bob_id, bob_token) = cloud.add_user("bob").await;
    let owner = cloud.client(&owner_token);
    let bob = cloud.client(&bob_token);

    // Who am I.
    let me = owner.me().await;
    assert_eq!((me.user_id, me.name.as_str()), (owner_id, "olivia"));

    // A project: the caller owns it; it lists and reads back the same.
    let project = owner.create_project("  Shots  ", "abcde-fghij").await;
    assert_eq!((project.name.as_str(), project.folder_id.as_str()), ("Shots", "abcde-fghij"));
    assert_eq!((project.owner_id, project.role, project.last_seq), (owner_id, Role::Owner, 0));
    assert!(project.created_at.ends_with('Z'), "{}", project.created_at);
    assert_eq!(owner.projects().await, vec![project.clone()]);
    assert_eq!(owner.project(project.id).await, project);
    let p = project.id;

    // A batch gets dense seqs; its replay gets the same answer and writes nothing.
    let first = vec![create("shots/a.mp4", 1), create("shots/b.mp4", 2), create("notes.txt", 3)];
    let batch1 = Uuid::new_v4();
    let answer = owner.update(p, batch1, first.clone()).await;
    assert_eq!((answer.first_seq, answer.last_seq, answer.synced), (1, 3, 3));
    assert_eq!(owner.update(p, batch1, first.clone()).await, answer);
    assert_eq!(owner.all_events(p).await.len(), 3);

    // A second batch: an update and a rename (delete + create).
    let second = vec![
        Change::upsert(Op::Update, "shots/a.mp4", hash(10), 10, 1_732_850_000_999),
        Change::delete("notes.txt"),
        create("docs/notes.txt", 3),
    ];
    let answer = owner.update(p, Uuid::new_v4(), second.clone()).await;
    assert_eq!((answer.first_seq, answer.last_seq, answer.synced), (4, 6, 3));

    // Paging: has_more and next_seq lead through the log without gaps or repeats.
    let page = owner.events(p, 0, Some(4)).await;
    assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert!(page.has_more);
    assert_eq!(page.next_seq, 4);
    let page = owner.events(p, page.next_seq, Some(4)).await;
    assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5, 6]);
    assert!(!page.has_more);
    assert_eq!(page.next_seq, 6);
    let past_end = owner.events(p, 6, None).await;
    assert!(past_end.events.is_empty() && !past_end.has_more);
    assert_eq!(past_end.next_seq, 6, "an empty page keeps since_seq");
    let exact = owner.events(p, 0, Some(6)).await;
    assert!(!exact.has_more, "exactly `limit` events left means no more");
    let all = owner.all_events(p).await;
    let changes: Vec<Change> = all.iter().map(|e| e.change.clone()).collect();
    assert_eq!(changes, [first, second].concat());
    assert!(all.iter().all(|e| e.created_at.ends_with('Z')));

    // The snapshot: every path, deletes marked, as of the last seq.
    let files = owner.files(p).await;
    assert_eq!(files.as_of_seq, 6);
    let by_path = |path: &str| files.files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("{path}"));
    assert_eq!(files.files.len(), 4);
    assert_eq!((by_path("shots/a.mp4").hash.as_str(), by_path("shots/a.mp4").version), (hash(10).as_str(), 2));
    assert_eq!(by_path("shots/a.mp4").seq, 4);
    let deleted = by_path("notes.txt");
    assert!(deleted.deleted_at.is_some());
    assert_eq!(deleted.deleted_by, Some(owner_id));
    assert!(by_path("docs/notes.txt").deleted_at.is_none());
    assert_eq!(owner.project(p).await.last_seq, 6);

    // Inviting: bob accepts and reads; he shows in the member list.
    let invite = owner.invite(p, None).await;
    assert_eq!(invite.project_id, p);
    assert!(invite.expires_at > project.created_at);
    let membership = bob.accept(&invite.code).await;
    assert_eq!((membership.project_id, membership.user_id, membership.status), (p, bob_id, MemberStatus::Accepted));
    assert_eq!(membership.name, "bob");
    let again = bob.post_raw(&format!("/api/invites/{}/accept", invite.code), None, "").await;
    expect_error(again, StatusCode::GONE, "gone").await;
    let bobs = bob.projects().await;
    assert_eq!(bobs.len(), 1);
    assert_eq!((bobs[0].id, bobs[0].role), (p, Role::Member));
    assert_eq!(bob.all_events(p).await, all);
    assert_eq!(bob.files(p).await, files);
    for reader in [&owner, &bob] {
        let members = reader.members(p).await;
        assert_eq!(members.len(), 1);
        assert_eq!((members[0].user_id, members[0].status), (bob_id, MemberStatus::Accepted));
    }

    // An addressed invite shows the invitee as invited until they accept.
    let (carol_id, carol_token) = cloud.add_user("carol").await;
    let carols = owner.invite(p, Some(carol_id)).await;
    let status_of =
        |members: &[cloud_protocol::Member], user: Uuid| members.iter().find(|m| m.user_id == user).map(|m| m.status);
    assert_eq!(status_of(&owner.members(p).await, carol_id), Some(MemberStatus::Invited));
    let stolen = bob.post_raw(&format!("/api/invites/{}/accept", carols.code), None, "").await;
    expect_error(stolen, StatusCode::FORBIDDEN, "forbidden").await;
    cloud.client(&carol_token).accept(&carols.code).await;
    assert_eq!(status_of(&owner.members(p).await, carol_id), Some(MemberStatus::Accepted));

    // Progress: nothing reported yet (members report over the WebSocket).
    assert!(owner.progress(p).await.members.iter().all(|m| m.files.is_empty()));
    assert!(bob.progress(p).await.members.iter().all(|m| m.user_id == bob_id));

    // Revoking: bob is out at once and the project is hidden from him again.
    let revoked = owner.revoke(p, bob_id).await;
    assert_eq!((revoked.user_id, revoked.status), (bob_id, MemberStatus::Revoked));
    assert_eq!(status_of(&owner.members(p).await, bob_id), Some(MemberStatus::Revoked));
    expect_error(bob.get(&format!("/api/projects/{p}/events")).await, StatusCode::NOT_FOUND, "not_found").await;
    assert!(bob.projects().await.is_empty());
    let unknown = owner.delete(&format!("/api/projects/{p}/members/{}", Uuid::new_v4())).await;
    expect_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
}
