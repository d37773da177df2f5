//! The manifest's badge store (stamps, report marks) and the owner's record
//! of what members reported.

use cloud_protocol::{FileProgress, FileState, ReportedFile, Role};
use companion::hash::FileStamp;
use companion::manifest::{Manifest, ProjectRow};
use uuid::Uuid;

fn progress(path: &str, state: FileState, percent: f64) -> FileProgress {
    FileProgress { path: path.into(), state, percent, local_hash: None, error: None }
}

fn manifest_with_project() -> (tempfile::TempDir, Manifest, Uuid) {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = Uuid::new_v4();
    m.insert_project(&ProjectRow::new(id, "http://cloud", "p", "f", "/tmp/f", Role::Member)).unwrap();
    (dir, m, id)
}

#[test]
fn badges_keep_stamps_and_report_marks() {
    let (_dir, mut m, id) = manifest_with_project();
    let stamp = FileStamp { size: 5, mtime_ms: 1_700_000_000_123 };
    m.save_badges(
        id,
        &[(progress("a", FileState::Synced, 100.0), Some(stamp)), (progress("b", FileState::Pending, 0.0), None)],
    )
    .unwrap();
    let rows = m.badges(id).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].stamp, Some(stamp));
    assert_eq!(rows[1].stamp, None);
    assert!(rows.iter().all(|r| !r.reported));

    let unreported = m.unreported_badges(id, 1).unwrap();
    assert_eq!(unreported.len(), 1);
    // b changes between reading and marking: its mark must not stick.
    let all = m.unreported_badges(id, 10).unwrap();
    m.save_badges(id, &[(progress("b", FileState::Syncing, 10.0), None)]).unwrap();
    m.mark_reported(id, &all).unwrap();
    let left: Vec<String> = m.unreported_badges(id, 10).unwrap().into_iter().map(|r| r.progress.path).collect();
    assert_eq!(left, ["b"]);
    m.mark_all_unreported(id).unwrap();
    assert_eq!(m.unreported_badges(id, 10).unwrap().len(), 2);
}

#[test]
fn member_reports_keep_the_newest() {
    let (_dir, mut m, id) = manifest_with_project();
    let bob = Uuid::new_v4();
    let at = |p: FileProgress, t: &str| ReportedFile { progress: p, reported_at: t.into() };
    m.record_member_progress(
        id,
        bob,
        "bob",
        &[at(progress("a", FileState::Syncing, 50.0), "2026-11-29T05:00:02.000Z")],
    )
    .unwrap();
    // An older report (a late page of GET …/progress) does not undo it.
    m.record_member_progress(id, bob, "bob", &[at(progress("a", FileState::Pending, 0.0), "2026-11-29T05:00:01.000Z")])
        .unwrap();
    m.record_member_progress(
        id,
        bob,
        "bob",
        &[at(progress("b", FileState::Synced, 100.0), "2026-11-29T05:00:03.000Z")],
    )
    .unwrap();
    let rows = m.member_progress(id).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].progress.state, rows[0].progress.percent), (FileState::Syncing, 50.0));
    assert_eq!(rows[0].name, "bob");
    assert_eq!(rows[1].reported_at, "2026-11-29T05:00:03.000Z");
}
