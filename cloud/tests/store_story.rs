//! One story of the cloud's storage, told to both backends: users, a project, invites
//! and each way to refuse one, batches and their sequencing, replays, files, revoking,
//! progress. Plus concurrent writers on each backend, and SQLite's durability settings.

use crate::support;

use std::sync::Arc;

use cloud::store::{
    AppendOutcome, BatchInput, NewInvite, PostgresStore, ProgressCursor, ProgressInput, ProgressQuery, SqliteStore,
    Store, StoreError, rfc3339,
};
use cloud_protocol::{Change, FileProgress, FileState, MemberStatus, Op, ReportedFile, Role, UpdateFilesResponse};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const T0: i64 = 1_764_000_000_000;
const HOUR: i64 = 3_600_000;
const H1: &str = "blake3:1111111111111111111111111111111111111111111111111111111111111111";
const H2: &str = "blake3:2222222222222222222222222222222222222222222222222222222222222222";

fn sha(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

fn batch<'a>(project: Uuid, actor: Uuid, id: Uuid, label: &str, changes: &'a [Change], now_ms: i64) -> BatchInput<'a> {
    BatchInput { project_id: project, actor, batch_id: id, digest: sha(label), changes, now_ms, max_paths: u64::MAX }
}

fn applied(outcome: AppendOutcome) -> (UpdateFilesResponse, Vec<cloud_protocol::Event>) {
    match outcome {
        AppendOutcome::Applied { response, events } => (response, events),
        AppendOutcome::Replayed(r) => panic!("expected a new batch, got a replay of {r:?}"),
    }
}

fn progress(path: &str, state: FileState, percent: f64) -> FileProgress {
    FileProgress { path: path.into(), state, percent, local_hash: None, error: None }
}

async fn invite(store: &dyn Store, project: Uuid, code: &str, invitee: Option<Uuid>, expires_at_ms: i64) {
    let invite = NewInvite { project_id: project, code_hash: sha(code), invitee, expires_at_ms };
    store.create_invite(invite, T0).await.unwrap();
}

async fn role(store: &dyn Store, project: Uuid, user: Uuid) -> Option<Role> {
    store.access(project, user).await.unwrap().map(|a| a.role)
}

async fn story(store: &dyn Store) {
    store.ping().await.unwrap();

    // Users: one token each, names unique.
    let owner = store.create_user("olivia", sha("tok-olivia"), T0).await.unwrap();
    let member = store.create_user("mark", sha("tok-mark"), T0).await.unwrap();
    let other = store.create_user("nina", sha("tok-nina"), T0).await.unwrap();
    let stranger = store.create_user("sam", sha("tok-sam"), T0).await.unwrap();
    let dup = store.create_user("olivia", sha("tok-olivia-2"), T0).await;
    assert!(matches!(&dup, Err(StoreError::UserExists(n)) if n == "olivia"), "{dup:?}");
    assert_eq!(store.user_by_token(sha("tok-mark")).await.unwrap(), Some(member.clone()));
    assert_eq!(store.user_by_token(sha("tok-olivia-2")).await.unwrap(), None);

    // A project: only its owner sees it so far.
    let project = store.create_project(owner.id, "Shots", "abcd-1234", T0).await.unwrap();
    let pid = project.id;
    assert_eq!((project.owner_id, project.last_seq, project.created_at_ms), (owner.id, 0, T0));
    let seen = store.access(pid, owner.id).await.unwrap().unwrap();
    assert_eq!((seen.project, seen.role), (project.clone(), Role::Owner));
    assert_eq!(role(store, pid, member.id).await, None);
    assert_eq!(role(store, Uuid::new_v4(), owner.id).await, None);
    let unknown_owner = store.create_project(Uuid::new_v4(), "x", "y", T0).await;
    assert!(matches!(unknown_owner, Err(StoreError::NotFound)), "{unknown_owner:?}");

    // Invites: addressed ones show the invitee as invited, which grants nothing yet.
    invite(store, pid, "for-mark", Some(member.id), T0 + HOUR).await;
    invite(store, pid, "open", None, T0 + HOUR).await;
    invite(store, pid, "stale", None, T0 + 10).await;
    invite(store, pid, "for-nina", Some(other.id), T0 + HOUR).await;
    let bad = NewInvite { project_id: Uuid::new_v4(), code_hash: sha("nowhere"), invitee: None, expires_at_ms: T0 };
    assert!(matches!(store.create_invite(bad, T0).await, Err(StoreError::NotFound)));
    let members = store.list_members(pid).await.unwrap();
    let listed: Vec<_> = members.iter().map(|m| (m.name.as_str(), m.status)).collect();
    assert_eq!(listed, vec![("mark", MemberStatus::Invited), ("nina", MemberStatus::Invited)]);
    assert_eq!(role(store, pid, member.id).await, None, "invited is not accepted");

    // Each refusal, and none of them uses the code.
    let now = T0 + 100;
    let refusals = [
        ("nope", owner.id, "unknown"),
        ("open", owner.id, "owner"),
        ("for-mark", stranger.id, "someone else"),
        ("stale", stranger.id, "expired"),
    ];
    for (code, user, why) in refusals {
        let got = store.accept_invite(sha(code), user, now).await;
        let ok = match why {
            "unknown" => matches!(got, Err(StoreError::InviteUnknown)),
            "owner" => matches!(got, Err(StoreError::OwnerCannotJoin)),
            "someone else" => matches!(got, Err(StoreError::InviteForSomeoneElse)),
            _ => matches!(got, Err(StoreError::InviteExpired)),
        };
        assert!(ok, "{code} by {why}: {got:?}");
    }
    let joined = store.accept_invite(sha("for-mark"), member.id, now).await.unwrap();
    assert_eq!((joined.project_id, joined.user_id, joined.name.as_str()), (pid, member.id, "mark"));
    assert_eq!((joined.status, joined.joined_at), (MemberStatus::Accepted, rfc3339(now)));
    let again = store.accept_invite(sha("for-mark"), member.id, now).await;
    assert!(matches!(again, Err(StoreError::InviteUsed)), "{again:?}");
    let nina = store.accept_invite(sha("open"), other.id, now).await.unwrap();
    assert_eq!(nina.status, MemberStatus::Accepted);
    // Inviting an accepted member again leaves them accepted.
    invite(store, pid, "mark-again", Some(member.id), T0 + HOUR).await;
    let members = store.list_members(pid).await.unwrap();
    assert!(members.iter().all(|m| m.status == MemberStatus::Accepted), "{members:?}");
    assert_eq!(role(store, pid, owner.id).await, Some(Role::Owner));
    assert_eq!(role(store, pid, member.id).await, Some(Role::Member));
    assert_eq!(role(store, pid, other.id).await, Some(Role::Member));
    assert_eq!(role(store, pid, stranger.id).await, None);
    let mine = store.list_projects(member.id).await.unwrap();
    assert_eq!(mine.iter().map(|a| (a.project.id, a.role)).collect::<Vec<_>>(), vec![(pid, Role::Member)]);
    assert!(store.list_projects(stranger.id).await.unwrap().is_empty());
    let second = store.create_project(owner.id, "Second", "efgh", T0 + 1).await.unwrap();
    let owned = store.list_projects(owner.id).await.unwrap();
    assert_eq!(owned.iter().map(|a| a.project.id).collect::<Vec<_>>(), vec![pid, second.id], "oldest first");

    batches(store, pid, owner.id).await;

    // Progress: latest per file, grouped per member by name, files by path.
    let report = |user, files, now_ms| ProgressInput { project_id: pid, user, files, now_ms };
    let first = [progress("b/c.bin", FileState::Syncing, 40.0)];
    let reported = store.record_progress(report(member.id, &first, T0 + 200)).await.unwrap();
    let syncing =
        ReportedFile { progress: progress("b/c.bin", FileState::Syncing, 40.0), reported_at: rfc3339(T0 + 200) };
    assert_eq!(reported, vec![syncing]);
    let mut done = progress("a.txt", FileState::Synced, 100.0);
    done.local_hash = Some(H2.into());
    let files =
        [progress("b/c.bin", FileState::Syncing, 10.0), done.clone(), progress("b/c.bin", FileState::Synced, 100.0)];
    let stored = store.record_progress(report(member.id, &files, T0 + 300)).await.unwrap();
    assert_eq!(stored.len(), 2, "one entry per path, the last one: {stored:?}");
    let mut failed = progress("a.txt", FileState::Error, 0.0);
    failed.error = Some("disk full".into());
    store.record_progress(report(other.id, std::slice::from_ref(&failed), T0 + 400)).await.unwrap();
    let report = store.progress(pid, &ProgressQuery::all()).await.unwrap();
    let shape: Vec<_> = report
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.files.iter().map(|f| (f.progress.path.as_str(), f.progress.state)).collect()))
        .collect::<Vec<(&str, Vec<_>)>>();
    assert_eq!(
        shape,
        vec![
            ("mark", vec![("a.txt", FileState::Synced), ("b/c.bin", FileState::Synced)]),
            ("nina", vec![("a.txt", FileState::Error)]),
        ]
    );
    assert_eq!(report.members[0].user_id, member.id);
    assert_eq!(report.members[0].files[0].progress, done);
    assert_eq!(report.members[0].files[1].reported_at, rfc3339(T0 + 300));
    assert_eq!(report.members[1].files[0].progress.error.as_deref(), Some("disk full"));
    assert_eq!(report.next_cursor, None);
    // Pages of one row walk the same rows in the same order; one member's own.
    let (mut walked, mut after) = (Vec::new(), None);
    loop {
        let page = store.progress(pid, &ProgressQuery { user: None, after, limit: 1 }).await.unwrap();
        walked.extend(
            page.members.iter().flat_map(|m| m.files.iter().map(|f| (m.name.clone(), f.progress.path.clone()))),
        );
        match page.next_cursor {
            Some(cursor) => after = Some(ProgressCursor::decode(&cursor).expect("a cursor it handed out")),
            None => break,
        }
    }
    let whole: Vec<_> =
        report.members.iter().flat_map(|m| m.files.iter().map(|f| (m.name.clone(), f.progress.path.clone()))).collect();
    assert_eq!(walked, whole);
    let own = store.progress(pid, &ProgressQuery::of(other.id)).await.unwrap();
    assert_eq!(own.members.iter().map(|m| m.user_id).collect::<Vec<_>>(), vec![other.id]);

    // Revoking: access ends at once; a never-member is not found.
    let revoked = store.revoke_member(pid, other.id, T0 + 500).await.unwrap();
    assert_eq!((revoked.status, revoked.name.as_str()), (MemberStatus::Revoked, "nina"));
    assert_eq!(role(store, pid, other.id).await, None);
    assert!(store.list_projects(other.id).await.unwrap().is_empty());
    let after_revoke = store.progress(pid, &ProgressQuery::all()).await.unwrap();
    assert_eq!(after_revoke.members.len(), 1, "revoked members' reports are not shown");
    assert!(matches!(store.revoke_member(pid, stranger.id, T0 + 500).await, Err(StoreError::NotFound)));
    // ... and the owner may invite them back.
    invite(store, pid, "nina-again", Some(other.id), T0 + HOUR).await;
    let status = |ms: Vec<cloud_protocol::Member>| ms.into_iter().find(|m| m.user_id == other.id).map(|m| m.status);
    assert_eq!(status(store.list_members(pid).await.unwrap()), Some(MemberStatus::Invited));
    let back = store.accept_invite(sha("nina-again"), other.id, T0 + 600).await.unwrap();
    assert_eq!((back.status, back.joined_at), (MemberStatus::Accepted, rfc3339(T0 + 600)));
    assert_eq!(role(store, pid, other.id).await, Some(Role::Member));
    // A revoked invitee cannot use the code they were sent before.
    invite(store, pid, "for-sam", Some(stranger.id), T0 + HOUR).await;
    store.revoke_member(pid, stranger.id, T0 + 700).await.unwrap();
    let late = store.accept_invite(sha("for-sam"), stranger.id, T0 + 800).await;
    assert!(matches!(late, Err(StoreError::InviteExpired)), "{late:?}");
    assert_eq!(role(store, pid, stranger.id).await, None);
}

/// Sequencing, replays, the file snapshot and paging.
async fn batches(store: &dyn Store, pid: Uuid, owner: Uuid) {
    let t = T0 + 1000;
    let b1 = Uuid::new_v4();
    let first = [
        Change::upsert(Op::Create, "a.txt", H1, 10, 1),
        Change::upsert(Op::Create, "b/c.bin", H2, 20, 2),
        Change::upsert(Op::Create, "d.txt", H1, 30, 3),
    ];
    let (resp, events) = applied(store.append_batch(batch(pid, owner, b1, "b1", &first, t)).await.unwrap());
    assert_eq!(resp, UpdateFilesResponse { first_seq: 1, last_seq: 3, synced: 3 });
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(events[1].change, first[1]);
    assert_eq!(events[1].created_at, rfc3339(t));
    assert_eq!(store.events_since(pid, 0, 1000).await.unwrap(), events, "what was returned is what was stored");

    // New content bumps the version, the same hash does not; deletes are soft.
    let b2 = Uuid::new_v4();
    let second = [
        Change::upsert(Op::Update, "a.txt", H2, 11, 4),
        Change::upsert(Op::Update, "d.txt", H1, 30, 5),
        Change::delete("b/c.bin"),
        Change::delete("never.txt"),
    ];
    let (resp2, _) = applied(store.append_batch(batch(pid, owner, b2, "b2", &second, t + 1)).await.unwrap());
    assert_eq!(resp2, UpdateFilesResponse { first_seq: 4, last_seq: 7, synced: 4 });
    let snap = store.files_snapshot(pid).await.unwrap();
    assert_eq!(snap.as_of_seq, 7);
    let rows: Vec<_> = snap.files.iter().map(|f| (f.path.as_str(), f.version, f.seq, f.mtime)).collect();
    assert_eq!(rows, vec![("a.txt", 2, 4, 4), ("b/c.bin", 1, 6, 2), ("d.txt", 1, 5, 5)], "never.txt has no row");
    assert_eq!((snap.files[0].hash.as_str(), snap.files[0].size), (H2, 11));
    assert_eq!(snap.files[0].deleted_at, None);
    assert_eq!((snap.files[1].deleted_at.clone(), snap.files[1].deleted_by), (Some(rfc3339(t + 1)), Some(owner)));

    // A re-create clears the delete; a rename is a delete and a create in one batch.
    let third = [
        Change::upsert(Op::Create, "b/c.bin", H2, 20, 8),
        Change::delete("d.txt"),
        Change::upsert(Op::Create, "e.txt", H1, 30, 9),
    ];
    let (resp3, _) = applied(store.append_batch(batch(pid, owner, Uuid::new_v4(), "b3", &third, t + 2)).await.unwrap());
    assert_eq!((resp3.first_seq, resp3.last_seq), (8, 10));
    let snap = store.files_snapshot(pid).await.unwrap();
    let rows: Vec<_> = snap.files.iter().map(|f| (f.path.as_str(), f.version, f.seq, f.deleted_at.is_some())).collect();
    assert_eq!(
        rows,
        vec![("a.txt", 2, 4, false), ("b/c.bin", 1, 8, false), ("d.txt", 1, 9, true), ("e.txt", 1, 10, false)]
    );
    assert_eq!(snap.files[1].deleted_by, None);

    // A retry gets its first answer and writes nothing; other content under that id is refused.
    let replay = store.append_batch(batch(pid, owner, b2, "b2", &second, t + 3)).await.unwrap();
    assert_eq!(replay, AppendOutcome::Replayed(resp2));
    let conflict = store.append_batch(batch(pid, owner, b2, "b2-other", &first, t + 3)).await;
    assert!(matches!(conflict, Err(StoreError::BatchConflict(id)) if id == b2), "{conflict:?}");
    assert!(store.events_since(pid, 10, 1000).await.unwrap().is_empty());
    assert_eq!(store.access(pid, owner).await.unwrap().unwrap().project.last_seq, 10);
    let unknown = store.append_batch(batch(Uuid::new_v4(), owner, Uuid::new_v4(), "x", &first, t)).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
    assert!(matches!(store.files_snapshot(Uuid::new_v4()).await, Err(StoreError::NotFound)));

    // Paging through the log.
    let mut pages = Vec::new();
    let mut since = 0;
    loop {
        let page = store.events_since(pid, since, 3).await.unwrap();
        let Some(last) = page.last() else { break };
        since = last.seq;
        pages.push(page.iter().map(|e| e.seq).collect::<Vec<_>>());
    }
    assert_eq!(pages, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9], vec![10]]);
    assert!(store.events_since(pid, 4, 0).await.unwrap().is_empty());
    let deleted = &store.events_since(pid, 5, 1).await.unwrap()[0];
    assert_eq!((deleted.seq, &deleted.change), (6, &Change::delete("b/c.bin")));
}

/// 8 writers × 50 batches × 20 changes on one project: seqs exactly 1..=8000.
async fn concurrent_writers(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    const BATCHES: usize = 50;
    const CHANGES: usize = 20;
    let owner = store.create_user("writer", sha("tok-writer"), T0).await.unwrap();
    let pid = store.create_project(owner.id, "Busy", "busy", T0).await.unwrap().id;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for b in 0..BATCHES {
                    let changes: Vec<Change> =
                        (0..CHANGES).map(|c| Change::upsert(Op::Create, format!("w{w}/b{b}/f{c}"), H1, 1, 1)).collect();
                    let input = batch(pid, owner.id, Uuid::new_v4(), &format!("{w}-{b}"), &changes, T0);
                    let (resp, events) = applied(store.append_batch(input).await.unwrap());
                    assert_eq!(resp.last_seq - resp.first_seq + 1, CHANGES as i64);
                    assert_eq!(events.first().map(|e| e.seq), Some(resp.first_seq));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut seqs = Vec::new();
    loop {
        let page = store.events_since(pid, seqs.last().copied().unwrap_or(0), 1000).await.unwrap();
        if page.is_empty() {
            break;
        }
        seqs.extend(page.iter().map(|e| e.seq));
    }
    let total = (WRITERS * BATCHES * CHANGES) as i64;
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "dense, unique, in order");
    let snap = store.files_snapshot(pid).await.unwrap();
    assert_eq!((snap.as_of_seq, snap.files.len()), (total, total as usize));
}

/// Many people racing with one code: exactly one gets in.
async fn racing_for_one_code(store: Arc<dyn Store>) {
    let owner = store.create_user("host", sha("tok-host"), T0).await.unwrap();
    let pid = store.create_project(owner.id, "Race", "race", T0).await.unwrap().id;
    invite(store.as_ref(), pid, "only-one", None, T0 + HOUR).await;
    let mut racers = Vec::new();
    for i in 0..8 {
        let user = store.create_user(&format!("racer{i}"), sha(&format!("tok-racer{i}")), T0).await.unwrap();
        let store = Arc::clone(&store);
        racers.push(tokio::spawn(async move { store.accept_invite(sha("only-one"), user.id, T0 + 1).await }));
    }
    let mut winners = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(member) => {
                assert_eq!(member.status, MemberStatus::Accepted);
                winners += 1;
            }
            Err(StoreError::InviteUsed) => {}
            Err(e) => panic!("unexpected refusal: {e:?}"),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(store.list_members(pid).await.unwrap().len(), 1);
}

/// Appends `changes` as a new batch under a quota of `max` paths.
async fn append_within(store: &dyn Store, project: Uuid, actor: Uuid, changes: &[Change], max: u64) -> StoreResult {
    let label = format!("{changes:?}");
    store
        .append_batch(BatchInput { max_paths: max, ..batch(project, actor, Uuid::new_v4(), &label, changes, T0) })
        .await
}

type StoreResult = Result<AppendOutcome, StoreError>;

/// The per-project path quota: a batch that would pass it is refused whole and
/// leaves nothing behind; paths already there, repeats and deletes add none,
/// and deleted paths still count.
async fn path_quota(store: &dyn Store) {
    let owner = store.create_user("quota-owner", sha("tok-quota"), T0).await.unwrap();
    let pid = store.create_project(owner.id, "Quota", "quota", T0).await.unwrap().id;
    let up = |path: &str| Change::upsert(Op::Create, path, H1, 1, T0);
    let refused = |outcome: StoreResult| match outcome {
        Err(StoreError::QuotaExceeded { would: 6, max: 5 }) => {}
        other => panic!("expected the quota refusal (6 > 5), got {other:?}"),
    };
    applied(append_within(store, pid, owner.id, &[up("a"), up("b"), up("c")], 5).await.unwrap());
    refused(append_within(store, pid, owner.id, &[up("d"), up("e"), up("f")], 5).await);
    let snapshot = store.files_snapshot(pid).await.unwrap();
    assert_eq!((snapshot.files.len(), snapshot.as_of_seq), (3, 3), "the refused batch left nothing");
    assert_eq!(store.events_since(pid, 0, 100).await.unwrap().len(), 3);
    // Updates of known paths and a path named twice count once: 3 + 2 = 5.
    let fits = [up("a"), up("d"), up("d"), Change::delete("b"), up("e")];
    applied(append_within(store, pid, owner.id, &fits, 5).await.unwrap());
    // The deleted "b" still counts; re-creating it adds nothing.
    refused(append_within(store, pid, owner.id, &[up("f")], 5).await);
    applied(append_within(store, pid, owner.id, &[up("b")], 5).await.unwrap());
}

#[tokio::test]
async fn sqlite_path_quota() {
    let dir = tempfile::tempdir().unwrap();
    path_quota(&SqliteStore::open_in(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_path_quota() {
    path_quota(&PostgresStore::connect(&support::postgres::fresh_database().await).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    story(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_writers(Arc::new(SqliteStore::open_in(dir.path()).await.unwrap())).await;
}

#[tokio::test]
async fn postgres() {
    let store = PostgresStore::connect(&support::postgres::fresh_database().await).await.unwrap();
    story(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_writers() {
    let store = PostgresStore::connect(&support::postgres::fresh_database().await).await.unwrap();
    concurrent_writers(Arc::new(store)).await;
}

/// Two nodes starting at once on one empty database both come up (the migrator locks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_migrate_together() {
    let url = support::postgres::fresh_database().await;
    let (a, b) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    let user = a.create_user("both", sha("tok-both"), T0).await.unwrap();
    assert_eq!(b.user_by_token(sha("tok-both")).await.unwrap(), Some(user));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_invite_race() {
    let dir = tempfile::tempdir().unwrap();
    racing_for_one_code(Arc::new(SqliteStore::open_in(dir.path()).await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_invite_race() {
    let store = PostgresStore::connect(&support::postgres::fresh_database().await).await.unwrap();
    racing_for_one_code(Arc::new(store)).await;
}

/// The directories the store creates are 0700, the database and its WAL and
/// shared-memory files 0600, whatever the umask lets through (here 022).
#[tokio::test]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("made/data/cloud.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.create_user("private", sha("tok-private"), T0).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for created in [dir.path().join("made"), dir.path().join("made/data")] {
        assert_eq!(mode(&created), 0o700, "{}", created.display());
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("made/data/cloud.db{suffix}"));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    // A database left 0644 by an older version is tightened on the next open.
    store.close().await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(mode(&path), 0o600);
    reopened.close().await;
}

#[tokio::test]
async fn sqlite_is_durable_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/cloud.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let durability = store.durability().await.unwrap();
    assert_eq!((durability.journal_mode.as_str(), durability.synchronous), ("wal", 2), "WAL + synchronous=FULL");
    let user = store.create_user("kept", sha("tok-kept"), T0).await.unwrap();
    store.close().await;
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.user_by_token(sha("tok-kept")).await.unwrap(), Some(user));
}
