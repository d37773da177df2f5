//! The invitee side of the manifest: applying the cloud's events in order,
//! refusing gaps, replays, and snapshots.

use cloud_protocol::{Change, Event, FilesSnapshot, Op, RemoteFile, Role};
use companion::hash::hash_bytes;
use companion::manifest::{Manifest, ManifestError, ProjectRow};
use uuid::Uuid;

fn member_project(m: &mut Manifest) -> Uuid {
    let id = Uuid::new_v4();
    m.insert_project(&ProjectRow::new(id, "http://127.0.0.1:3001", "films", "f1", "/srv/in", Role::Member)).unwrap();
    id
}

fn ev(seq: i64, change: Change) -> Event {
    Event { seq, change, created_at: format!("2026-11-29T05:00:{:02}Z", seq % 60) }
}

fn put(seq: i64, path: &str, content: &str) -> Event {
    ev(seq, Change::upsert(Op::Create, path, hash_bytes(content.as_bytes()), content.len() as u64, 1000 + seq))
}

fn cursor(m: &Manifest, id: Uuid) -> i64 {
    m.project(id).unwrap().unwrap().last_seq
}

#[test]
fn events_apply_in_order_and_refuse_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = member_project(&mut m);

    let err = m.apply_events(id, &[put(2, "a", "x")]).unwrap_err();
    assert!(matches!(err, ManifestError::Gap { expected: 1, got: 2, .. }), "{err}");
    assert_eq!(cursor(&m, id), 0);

    let events =
        [put(1, "a", "one"), put(2, "b", "b"), ev(3, Change::upsert(Op::Update, "a", hash_bytes(b"two"), 3, 9))];
    assert_eq!(m.apply_events(id, &events).unwrap(), 3);
    let a = m.remote_file(id, "a").unwrap().unwrap();
    assert_eq!(
        (a.hash, a.size, a.mtime, a.version, a.seq, a.deleted_at.is_some()),
        (hash_bytes(b"two"), 3, 9, 2, 3, false)
    );

    // A replay overlapping what is applied is harmless.
    assert_eq!(m.apply_events(id, &[events[1].clone(), events[2].clone(), ev(4, Change::delete("b"))]).unwrap(), 4);
    let b = m.remote_file(id, "b").unwrap().unwrap();
    assert!(b.deleted_at.is_some());
    assert_eq!((b.seq, b.deleted_at.as_deref()), (4, Some("2026-11-29T05:00:04Z")));
    assert_eq!(m.apply_events(id, &events).unwrap(), 4);
    assert_eq!(m.apply_events(id, &[]).unwrap(), 4);

    // A gap after good events refuses the whole call.
    let err = m.apply_events(id, &[put(5, "c", "c"), put(7, "d", "d")]).unwrap_err();
    assert!(matches!(err, ManifestError::Gap { expected: 6, got: 7, .. }), "{err}");
    assert_eq!(cursor(&m, id), 4);
    assert!(m.remote_file(id, "c").unwrap().is_none());

    // The same content again keeps the version; a recreate after delete bumps it.
    assert_eq!(m.apply_events(id, &[put(5, "a", "two"), put(6, "b", "b")]).unwrap(), 6);
    assert_eq!(m.remote_file(id, "a").unwrap().unwrap().version, 2);
    let b = m.remote_file(id, "b").unwrap().unwrap();
    assert_eq!((b.deleted_at, b.version), (None, 2));
    // A delete of a path never announced leaves nothing behind.
    assert_eq!(m.apply_events(id, &[ev(7, Change::delete("ghost"))]).unwrap(), 7);
    assert!(m.remote_file(id, "ghost").unwrap().is_none());
    assert_eq!(m.remote_files(id).unwrap().iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn invalid_events_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = member_project(&mut m);
    for bad in [put(1, "../escape", "x"), put(1, "/abs", "x"), ev(1, Change { hash: None, ..put(1, "a", "x").change })]
    {
        let err = m.apply_events(id, &[put(1, "fine", "x"), Event { seq: 2, ..bad }]).unwrap_err();
        assert!(matches!(err, ManifestError::InvalidEvent { seq: 2, .. }), "{err}");
    }
    assert_eq!(cursor(&m, id), 0);
    assert!(m.remote_files(id).unwrap().is_empty());
    assert!(matches!(m.apply_events(Uuid::new_v4(), &[put(1, "a", "x")]), Err(ManifestError::UnknownProject(_))));
}

#[test]
fn snapshot_then_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = member_project(&mut m);
    m.apply_events(id, &[put(1, "stale", "x")]).unwrap();

    let file = |path: &str, seq: i64, deleted: bool| RemoteFile {
        path: path.into(),
        size: 1,
        hash: hash_bytes(path.as_bytes()),
        mtime: 5,
        version: 3,
        seq,
        deleted_at: deleted.then(|| "2026-11-29T05:00:00Z".into()),
        deleted_by: None,
    };
    let snapshot = FilesSnapshot { files: vec![file("kept", 9, false), file("gone", 10, true)], as_of_seq: 10 };
    m.load_snapshot(id, &snapshot).unwrap();
    assert_eq!(cursor(&m, id), 10);
    let files = m.remote_files(id).unwrap();
    assert_eq!(
        files.iter().map(|f| (f.path.as_str(), f.deleted_at.is_some())).collect::<Vec<_>>(),
        [("gone", true), ("kept", false)]
    );
    assert_eq!(files[1].version, 3);

    // Events the snapshot already covers are skipped; the tail applies.
    assert_eq!(m.apply_events(id, &[put(9, "x", "x"), put(10, "y", "y"), put(11, "kept", "new")]).unwrap(), 11);
    assert!(m.remote_file(id, "x").unwrap().is_none());
    assert_eq!(m.remote_file(id, "kept").unwrap().unwrap().version, 4);
    assert!(matches!(m.apply_events(id, &[put(13, "z", "z")]), Err(ManifestError::Gap { expected: 12, got: 13, .. })));

    // A snapshot with a bad path changes nothing.
    let bad = FilesSnapshot { files: vec![file("ok", 1, false), file("a/../../b", 2, false)], as_of_seq: 20 };
    assert!(matches!(m.load_snapshot(id, &bad), Err(ManifestError::InvalidEvent { .. })));
    assert_eq!(cursor(&m, id), 11);
    assert!(m.remote_file(id, "ok").unwrap().is_none());

    // Reopening keeps the cursor and the rows together.
    drop(m);
    let m = Manifest::open_in(dir.path()).unwrap();
    assert_eq!(cursor(&m, id), 11);
    assert_eq!(m.remote_files(id).unwrap().len(), 2);
}

/// The version comes from the cloud's snapshot: the largest one it can send,
/// then a change of that file, is applied (the version stays at the top)
/// instead of overflowing (a panic in debug builds; found by reading what the
/// fuzz targets could not reach).
#[test]
fn a_snapshot_version_at_the_top_does_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = member_project(&mut m);
    let top = RemoteFile {
        path: "top".into(),
        size: 1,
        hash: hash_bytes(b"t"),
        mtime: 5,
        version: i64::MAX,
        seq: 1,
        deleted_at: None,
        deleted_by: None,
    };
    m.load_snapshot(id, &FilesSnapshot { files: vec![top], as_of_seq: 1 }).unwrap();
    assert_eq!(m.apply_events(id, &[put(2, "top", "changed")]).unwrap(), 2);
    let row = m.remote_file(id, "top").unwrap().unwrap();
    assert_eq!((row.hash, row.version), (hash_bytes(b"changed"), i64::MAX));
}
