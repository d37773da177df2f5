//! The manifest on real SQLite files: schema, projects, outbox durability and
//! quarantine, local_files bookkeeping, badge states and kv.
//! (Invitee events and snapshots: tests/manifest_remote.rs.)

use std::path::Path;
use std::process::Command;

use cloud_protocol::{Change, FileProgress, FileState, InvalidChange, Op, Role};
use companion::hash::{FileStamp, hash_bytes};
use companion::manifest::{Manifest, ManifestError, OutboxCount, ProjectRow, ProjectStatus, SCHEMA_VERSION};
use companion::state_dir::MANIFEST_FILE;
use uuid::Uuid;

fn project(manifest: &mut Manifest, role: Role) -> Uuid {
    let id = Uuid::new_v4();
    manifest.insert_project(&ProjectRow::new(id, "http://127.0.0.1:3001", "films", "f1", "/srv/films", role)).unwrap();
    id
}

fn upsert(op: Op, path: &str, content: &str) -> Change {
    Change::upsert(op, path, hash_bytes(content.as_bytes()), content.len() as u64, 1_732_850_000_000)
}

#[test]
fn fresh_file_gets_the_schema_and_reopening_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state/nested");
    let mut m = Manifest::open_in(&state).unwrap();
    assert_eq!(m.path(), state.join(MANIFEST_FILE));
    let id = project(&mut m, Role::Owner);
    drop(m);

    let conn = rusqlite::Connection::open(state.join(MANIFEST_FILE)).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!((version, mode.as_str()), (SCHEMA_VERSION, "wal"));
    drop(conn);

    let m = Manifest::open_in(&state).unwrap();
    assert_eq!(m.project(id).unwrap().unwrap().name, "films");
}

#[test]
fn unusable_files_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 8192]).unwrap();
    let err = Manifest::open(&garbage).unwrap_err();
    assert!(matches!(err, ManifestError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("garbage.db"), "{err}");

    let newer = dir.path().join("newer.db");
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let err = Manifest::open(&newer).unwrap_err();
    assert!(matches!(err, ManifestError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer.db"), "{err}");

    // A state "directory" that is a file.
    let err = Manifest::open_in(&garbage).unwrap_err();
    assert!(matches!(err, ManifestError::StateDir { .. }), "{err}");
}

#[test]
fn projects_crud() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let owner = project(&mut m, Role::Owner);
    let member = project(&mut m, Role::Member);
    let row = m.project(owner).unwrap().unwrap();
    assert_eq!(row.role, Role::Owner);
    assert_eq!((row.last_seq, row.acked_seq, row.status), (0, 0, ProjectStatus::Active));
    assert!(matches!(m.insert_project(&row), Err(ManifestError::DuplicateProject(id)) if id == owner));
    assert_eq!(m.projects().unwrap().len(), 2);
    assert_eq!(m.projects_for_folder("f1").unwrap().len(), 2);
    assert!(m.projects_for_folder("other").unwrap().is_empty());

    m.set_project_status(member, ProjectStatus::Revoked).unwrap();
    assert_eq!(m.project(member).unwrap().unwrap().status, ProjectStatus::Revoked);
    let unknown = Uuid::new_v4();
    assert!(matches!(m.set_project_status(unknown, ProjectStatus::Active), Err(ManifestError::UnknownProject(_))));
    assert!(m.project(unknown).unwrap().is_none());

    // Deleting a project removes what was recorded for it.
    m.enqueue_changes(owner, &[upsert(Op::Create, "a", "1")]).unwrap();
    assert!(m.delete_project(owner).unwrap());
    assert!(!m.delete_project(owner).unwrap());
    assert!(m.local_files(owner).unwrap().is_empty());
    assert_eq!(m.pending_count(None).unwrap(), OutboxCount::default());
}

#[test]
fn outbox_survives_reopening_and_ack_removes() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = project(&mut m, Role::Owner);
    let changes: Vec<Change> = (0..2500).map(|i| upsert(Op::Create, &format!("f/{i:04}"), &i.to_string())).collect();
    let batches = m.enqueue_changes(id, &changes).unwrap();
    assert_eq!(batches.iter().map(|b| b.changes.len()).collect::<Vec<_>>(), vec![1000, 1000, 500]);
    assert_eq!(m.pending_count(Some(id)).unwrap(), OutboxCount { batches: 3, changes: 2500 });
    assert_eq!(m.record_failure(batches[0].id, "connection refused").unwrap(), 1);
    drop(m); // a "crash": nothing acknowledged

    let mut m = Manifest::open_in(dir.path()).unwrap();
    let first = m.next_batch(id).unwrap().unwrap();
    assert_eq!((first.id, first.batch_id), (batches[0].id, batches[0].batch_id), "same batch_id after reopening");
    assert_eq!(first.changes, changes[..1000]);
    assert_eq!((first.attempts, first.last_error.as_deref()), (1, Some("connection refused")));

    m.ack_batch(first.id, 1, 1000).unwrap();
    assert!(matches!(m.ack_batch(first.id, 1, 1000), Err(ManifestError::UnknownBatch(_))));
    assert!(matches!(m.ack_batch(batches[1].id, 5, 4), Err(ManifestError::BadAck { .. })));
    assert_eq!(m.next_batch(id).unwrap().unwrap().batch_id, batches[1].batch_id);
    assert_eq!(m.project(id).unwrap().unwrap().acked_seq, 1000);
    m.ack_batch(batches[1].id, 1001, 2000).unwrap();
    m.ack_batch(batches[2].id, 2001, 2500).unwrap();
    assert!(m.next_batch(id).unwrap().is_none());
    assert_eq!(m.pending_count(None).unwrap(), OutboxCount::default());
}

/// The child half of `outbox_survives_the_process_dying`: does nothing unless
/// the parent set the variable.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("MANIFEST_CRASH_DIR") else { return };
    let mut m = Manifest::open_in(Path::new(&dir)).unwrap();
    let id: Uuid = std::env::var("MANIFEST_CRASH_PROJECT").unwrap().parse().unwrap();
    m.enqueue_changes(id, &[upsert(Op::Create, "after-crash.txt", "x")]).unwrap();
    // Die without closing the connection or checkpointing the WAL (no
    // destructor runs); exit rather than abort so no core file is written.
    std::process::exit(42);
}

#[test]
fn outbox_survives_the_process_dying() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = project(&mut m, Role::Owner);
    // The test's name inside this binary: the module path without the crate.
    let child = format!("{}::crash_child", module_path!().split_once("::").map_or("", |(_, module)| module));
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &child, "--nocapture", "--test-threads=1"])
        .env("MANIFEST_CRASH_DIR", dir.path())
        .env("MANIFEST_CRASH_PROJECT", id.to_string())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(42),
        "child {child}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let batch = m.next_batch(id).unwrap().expect("the batch committed before the exit");
    assert_eq!(batch.changes[0].path, "after-crash.txt");
    assert!(m.local_file(id, "after-crash.txt").unwrap().unwrap().is_sent(batch.changes[0].hash.as_ref().unwrap()));
}

#[test]
fn enqueue_dedupes_and_fixes_ops() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = project(&mut m, Role::Owner);
    let queued = |batches: Vec<companion::manifest::OutboxBatch>| -> Vec<(Op, String)> {
        batches.into_iter().flat_map(|b| b.changes).map(|c| (c.op, c.path)).collect()
    };
    let a1 = upsert(Op::Create, "a", "one");
    assert_eq!(queued(m.enqueue_changes(id, std::slice::from_ref(&a1)).unwrap()), vec![(Op::Create, "a".into())]);
    // notify and Syncthing report the same content: one delta.
    assert!(m.enqueue_changes(id, &[a1.clone(), upsert(Op::Update, "a", "one")]).unwrap().is_empty());
    // New content of a known path is an update, whatever the caller said.
    assert_eq!(
        queued(m.enqueue_changes(id, &[upsert(Op::Create, "a", "two")]).unwrap()),
        vec![(Op::Update, "a".into())]
    );
    // A rename: delete + create in one batch.
    let renamed = m.enqueue_changes(id, &[Change::delete("a"), upsert(Op::Update, "b", "two")]).unwrap();
    assert_eq!(renamed.len(), 1);
    assert_eq!(queued(renamed), vec![(Op::Delete, "a".into()), (Op::Create, "b".into())]);
    // Deleting twice, or deleting what was never sent, sends nothing.
    assert!(m.enqueue_changes(id, &[Change::delete("a"), Change::delete("never")]).unwrap().is_empty());
    let a = m.local_file(id, "a").unwrap().unwrap();
    assert!(a.deleted && a.last_sent_hash.is_none());
    // A file that comes back is created again.
    assert_eq!(
        queued(m.enqueue_changes(id, &[upsert(Op::Update, "a", "two")]).unwrap()),
        vec![(Op::Create, "a".into())]
    );
    // A stamp-only record does not count as sent.
    m.record_stamp(id, "c", FileStamp { size: 1, mtime_ms: 5 }, &hash_bytes(b"c")).unwrap();
    assert!(m.enqueue_changes(id, &[Change::delete("c")]).unwrap().is_empty());
    assert_eq!(m.pending_count(Some(id)).unwrap(), OutboxCount { batches: 4, changes: 5 });

    // Invalid input is refused whole, naming the path.
    let err = m.enqueue_changes(id, &[upsert(Op::Create, "ok", "x"), Change::delete("../etc")]).unwrap_err();
    assert!(err.to_string().contains("../etc"), "{err}");
    assert!(m.local_file(id, "ok").unwrap().is_none());
    assert!(matches!(m.enqueue_changes(Uuid::new_v4(), &[a1]), Err(ManifestError::UnknownProject(_))));
}

#[test]
fn enqueue_is_atomic_with_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = project(&mut m, Role::Owner);
    // Make the outbox insert fail, as a full disk would.
    let side = rusqlite::Connection::open(m.path()).unwrap();
    side.execute_batch("CREATE TRIGGER full BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END;")
        .unwrap();
    let err = m.enqueue_changes(id, &[upsert(Op::Create, "a", "1")]).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(m.local_file(id, "a").unwrap().is_none(), "local_files must not say sent");
    side.execute_batch("DROP TRIGGER full").unwrap();
    assert_eq!(m.enqueue_changes(id, &[upsert(Op::Create, "a", "1")]).unwrap().len(), 1);
}

#[test]
fn quarantine_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = project(&mut m, Role::Owner);
    let first = m.enqueue_changes(id, &[upsert(Op::Create, "a", "1")]).unwrap().remove(0);
    let second = m.enqueue_changes(id, &[upsert(Op::Create, "b", "1")]).unwrap().remove(0);
    m.quarantine(first.id, "403 forbidden: not the owner").unwrap();
    assert_eq!(m.next_batch(id).unwrap().unwrap().id, second.id);
    assert!(matches!(m.record_failure(first.id, "x"), Err(ManifestError::UnknownBatch(_))));
    assert!(matches!(m.quarantine(first.id, "again"), Err(ManifestError::UnknownBatch(_))));
    let q = m.quarantined(Some(id)).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].batch.batch_id, q[0].reason.as_str()), (first.batch_id, "403 forbidden: not the owner"));
    assert_eq!(m.pending_count(Some(id)).unwrap(), OutboxCount { batches: 1, changes: 1 });
    assert!(m.discard_quarantined(first.id).unwrap());
    assert!(m.quarantined(None).unwrap().is_empty());
}

#[test]
fn quarantine_entries_splits_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = project(&mut m, Role::Owner);
    let changes: Vec<Change> = (0..5).map(|i| upsert(Op::Create, &format!("p{i}"), "x")).collect();
    let batch = m.enqueue_changes(id, &changes).unwrap().remove(0);
    let later = m.enqueue_changes(id, &[upsert(Op::Create, "later", "x")]).unwrap().remove(0);
    m.record_failure(batch.id, "timeout").unwrap();
    let bad = |index: usize| InvalidChange { index, path: format!("p{index}"), reason: format!("reason {index}") };

    // Bad indices change nothing.
    for wrong in [vec![bad(5)], vec![bad(1), bad(1)]] {
        assert!(matches!(m.quarantine_entries(batch.id, &wrong), Err(ManifestError::BadIndex { .. })));
    }
    let unchanged = m.next_batch(id).unwrap().unwrap();
    assert_eq!((unchanged.batch_id, unchanged.changes.len(), unchanged.attempts), (batch.batch_id, 5, 1));

    let requeued = m.quarantine_entries(batch.id, &[bad(3), bad(1)]).unwrap().unwrap();
    assert_eq!(requeued.id, batch.id, "keeps its place in the queue");
    assert_ne!(requeued.batch_id, batch.batch_id, "a new batch id for the new content");
    assert_eq!(requeued.changes.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(), ["p0", "p2", "p4"]);
    assert_eq!((requeued.attempts, requeued.last_error.as_deref()), (0, None));
    assert_eq!(m.next_batch(id).unwrap().unwrap(), requeued);

    let q = m.quarantined(Some(id)).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].batch.changes.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(), ["p1", "p3"]);
    assert!(q[0].reason.contains("2 of 5") && q[0].reason.contains("[1] p1: reason 1"), "{}", q[0].reason);
    assert_eq!(m.pending_count(Some(id)).unwrap(), OutboxCount { batches: 2, changes: 4 });

    // Every entry bad: the whole batch is quarantined.
    assert!(
        m.quarantine_entries(later.id, &[InvalidChange { index: 0, path: "later".into(), reason: "no".into() }])
            .unwrap()
            .is_none()
    );
    assert_eq!(m.quarantined(None).unwrap().len(), 2);
    assert_eq!(m.pending_count(Some(id)).unwrap(), OutboxCount { batches: 1, changes: 3 });
}

#[test]
fn file_states_and_kv() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = project(&mut m, Role::Member);
    let progress = |path: &str, state, percent| FileProgress {
        path: path.into(),
        state,
        percent,
        local_hash: None,
        error: (state == FileState::Error).then(|| "permission denied".into()),
    };
    m.upsert_file_states(id, &[progress("b", FileState::Syncing, 42.5), progress("a", FileState::Pending, 0.0)])
        .unwrap();
    m.upsert_file_states(id, &[progress("b", FileState::Error, 50.0)]).unwrap();
    let rows = m.file_states(id).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.progress.clone()).collect::<Vec<_>>(),
        vec![progress("a", FileState::Pending, 0.0), progress("b", FileState::Error, 50.0)]
    );
    assert!(!rows[0].updated_at.is_empty());
    assert!(m.remove_file_state(id, "a").unwrap());
    assert!(!m.remove_file_state(id, "a").unwrap());

    assert_eq!(m.kv_get("k").unwrap(), None);
    m.kv_set("k", "v1").unwrap();
    m.kv_set("k", "v2").unwrap();
    assert_eq!(m.kv_get("k").unwrap().as_deref(), Some("v2"));
    assert!(m.kv_remove("k").unwrap());
    m.kv_set("k", "kept").unwrap();
    drop(m);
    let m = Manifest::open_in(dir.path()).unwrap();
    assert_eq!(m.kv_get("k").unwrap().as_deref(), Some("kept"));
}

#[test]
fn manifest_is_send_and_works_from_spawn_blocking() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Manifest>();
    let dir = tempfile::tempdir().unwrap();
    let m = Manifest::open_in(dir.path()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let count =
        rt.block_on(async move { tokio::task::spawn_blocking(move || m.projects().unwrap().len()).await }).unwrap();
    assert_eq!(count, 0);
}

/// The daemon gives each component its own connection (badge driver, member
/// task, outbox sender...). Their transactions read before they write, so
/// deferred ones would fail at once with SQLITE_BUSY when another connection
/// committed in between (the busy timeout does not apply to that case); a
/// badge driver died of it. Writers must wait for each other instead.
#[test]
fn concurrent_writers_on_two_connections_wait_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Manifest::open_in(dir.path()).unwrap();
    let id = project(&mut setup, Role::Member);
    drop(setup);
    const ROUNDS: usize = 300;
    let start = std::sync::Barrier::new(2);
    let writer = |kind: usize| {
        let mut m = Manifest::open_in(dir.path()).unwrap();
        start.wait();
        let mut failures = Vec::new();
        for i in 0..ROUNDS {
            let progress = FileProgress {
                path: format!("w{kind}/{i}"),
                state: FileState::Pending,
                percent: 0.0,
                local_hash: None,
                error: None,
            };
            let done = match kind {
                0 => m.upsert_file_states(id, std::slice::from_ref(&progress)),
                _ => m.save_badges(id, &[(progress, None)]),
            };
            if let Err(e) = done {
                failures.push(e.to_string());
            }
        }
        failures
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| writer(0));
        let b = s.spawn(|| writer(1));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(
        a.is_empty() && b.is_empty(),
        "failed writes: {} and {}: {:?}",
        a.len(),
        b.len(),
        a.iter().chain(&b).next()
    );
    let m = Manifest::open_in(dir.path()).unwrap();
    assert_eq!(m.badges(id).unwrap().len(), 2 * ROUNDS);
}
