//! Syncthing 2.x lets a delete win a conflict: the losing edit is moved to
//! a `.sync-conflict-` copy and the original is gone everywhere (1.x always
//! let the edit win; see member_scenarios' live test of that). No 2.x binary
//! runs here, so the engine is fed the event shapes 2.x emits, read from
//! its source (syncthing/syncthing at v2.0.0+, commit 7c07610ab "allow
//! deleted files to win conflict resolution", relnotes/v2.0.md):
//!
//! - `lib/model/folder_sendrecv.go` `deleteFileWithCurrent`: on the device
//!   holding the losing edit, `ItemStarted {type:"file", action:"delete"}`,
//!   then `moveForConflict` renames the file to
//!   `conflictName(name, file.ModifiedBy)` (`<base>.sync-conflict-<date>-<time>-<winner's short id><ext>`)
//!   and queues it for a scan, then `ItemFinished {action:"delete", error:null}`;
//! - `lib/model/folder.go`: `LocalIndexUpdated {folder, items, filenames, sequence, version}`
//!   for the delete, and for the copy once scanned (it then syncs like any file);
//! - `lib/protocol/bep_fileinfo.go` `WinsConflict`: newer mtime wins, and a
//!   delete's mtime is the time of the delete (`SetDeleted`).
//!
//! The copy is the same thing as after any conflict: a file of its own,
//! linked to its (deleted) original by name, which `status --json` shows
//! as `conflict_copies` on the original and `conflict_copy_of` on the copy.

use cloud_protocol::{FileState, FilesSnapshot, RemoteFile, Role};
use companion::invitee::badge::{Engine, Expected};
use companion::live::{FolderLive, folder_key};
use companion::manifest::{Manifest, ProjectRow};
use companion::syncthing::event::Event;
use companion::syncthing::types::DbFile;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::badge_engine::{H_OTHER, H_OWNER, expected, replay, state, synced_on_b};

/// A's short device id (the owner's): it made the winning delete.
const A_SHORT: &str = "MFZWI3D";

fn parse(items: Value) -> Vec<Event> {
    let Value::Array(items) = items else { panic!("not an array") };
    items.into_iter().map(|v| Event::from_value(v).unwrap()).collect()
}

fn event(id: u64, kind: &str, data: Value) -> Value {
    json!({"id": id, "globalID": id, "time": "2026-11-30T16:45:00Z", "type": kind, "data": data})
}

fn item(id: u64, kind: &str, item: &str, action: &str) -> Value {
    let mut data = json!({"folder": "proj", "item": item, "type": "file", "action": action});
    if kind == "ItemFinished" {
        data["error"] = Value::Null;
    }
    event(id, kind, data)
}

fn index_updated(id: u64, files: &[&str]) -> Value {
    event(
        id,
        "LocalIndexUpdated",
        json!({"folder": "proj", "items": files.len(), "filenames": files,
        "sequence": id, "version": id}),
    )
}

/// B (the invitee) edited `notes.txt` while the pair was paused; A (the
/// owner) deleted it later. Resumed, B's 2.x moves its edit to a conflict
/// copy named after A and deletes the original. The original ends `deleted`
/// (the owner's delete is what is on disk), never ⚠ for good nor ✓; the
/// copy, once the owner announces it, is ✓ with B's bytes.
#[test]
fn delete_wins_over_an_edit_here_original_deleted_copy_synced() {
    let (mut engine, mut world, t0) = synced_on_b("notes.txt");
    assert_eq!(state(&engine, "notes.txt").0, FileState::Synced);

    // Paused: B edits (Syncthing's global is B's edit), the owner deletes.
    world.disk.insert("notes.txt".into(), H_OTHER.into());
    let mut db = DbFile::default();
    db.global.name = "notes.txt".into();
    db.global.modified_by = "ASMRTYP".into();
    db.global.size = 18;
    db.local = db.global.clone();
    world.db.insert("notes.txt".into(), db);
    engine.announce("notes.txt", Expected { deleted: true, ..expected(10, H_OWNER) });
    world.answer(&mut engine, t0);
    let b = engine.badge("notes.txt").unwrap();
    assert_eq!(b.state, FileState::Conflict, "meanwhile: edited here, deleted by the owner");
    assert!(b.error.as_deref().unwrap_or("").contains("changed on this machine"), "{b:?}");
    engine.take_changes();

    // Resumed: the delete wins on B (folder_sendrecv.go deleteFileWithCurrent).
    let copy = format!("notes.sync-conflict-20261130-164500-{A_SHORT}.txt");
    let evs = parse(json!([
        item(400, "ItemStarted", "notes.txt", "delete"),
        item(401, "ItemFinished", "notes.txt", "delete"),
        index_updated(402, &["notes.txt"]),
        event(
            403,
            "LocalChangeDetected",
            json!({"action": "modified", "type": "file", "path": copy,
            "folder": "proj", "folderID": "proj", "label": "proj", "modifiedBy": "ASMRTYP"})
        ),
        index_updated(404, &[copy.as_str()]),
    ]));
    world.disk.remove("notes.txt");
    world.disk.insert(copy.clone(), H_OTHER.into());
    world.copies.push(copy.clone());
    let seen = replay(&mut engine, &mut world, &evs, 400..=404, "notes.txt", t0);
    let b = engine.badge("notes.txt").unwrap();
    assert_eq!((b.state, b.error.as_deref(), b.local_hash.as_deref()), (FileState::Deleted, None, None), "{b:?}");
    assert!(seen.iter().all(|c| c.state != FileState::Synced), "never ✓ on the way: {seen:?}");

    // The copy reaches the owner, who announces it: its own true badge.
    engine.announce(&copy, expected(18, H_OTHER));
    world.answer(&mut engine, t0);
    let c = engine.badge(&copy).unwrap();
    assert_eq!((c.state, c.local_hash.as_deref()), (FileState::Synced, Some(H_OTHER)), "{c:?}");
    assert_eq!(state(&engine, "notes.txt").0, FileState::Deleted, "the copy does not turn the original ⚠");
    let counts = engine.folder(t0).counts;
    assert_eq!((counts.deleted, counts.synced, counts.conflict), (1, 1, 0), "{counts:?}");

    // `status --json` names the link both ways, the original gone.
    let json = status_json(&engine, &[("notes.txt", 10, H_OWNER, true), (&copy, 18, H_OTHER, false)]);
    assert_eq!(file(&json, "notes.txt")["state"], "deleted");
    assert_eq!(file(&json, "notes.txt")["conflict_copies"], json!([copy]), "{json}");
    assert_eq!(file(&json, &copy)["conflict_copy_of"], json!("notes.txt"), "{json}");
    assert_eq!(file(&json, &copy)["state"], "synced");
}

/// The other way round: the owner edited, B deleted later. The owner's
/// Syncthing loses its edit to a copy (named after B) and deletes the
/// original; the owner announces both. Here the original stays `deleted`
/// when the copy is pulled in, and the copy is ✓.
#[test]
fn delete_here_wins_over_the_owners_edit_the_copy_arrives_and_the_original_stays_deleted() {
    let (mut engine, mut world, t0) = synced_on_b("plan.txt");

    // Paused: the owner's edit is announced; B deletes (its global is its delete).
    world.disk.remove("plan.txt");
    let mut db = DbFile::default();
    db.global.name = "plan.txt".into();
    db.global.modified_by = "ASMRTYP".into();
    db.global.deleted = true;
    db.local = db.global.clone();
    world.db.insert("plan.txt".into(), db);
    engine.announce("plan.txt", expected(18, H_OTHER));
    world.answer(&mut engine, t0);
    let b = engine.badge("plan.txt").unwrap();
    assert_eq!(b.state, FileState::Conflict, "meanwhile: deleted here, edited by the owner");
    assert!(b.error.as_deref().unwrap_or("").contains("deleted on this machine"), "{b:?}");

    // Resumed: B's delete won. The owner's companion announces the delete
    // and the copy its Syncthing made; B pulls the copy like any new file.
    let copy = "plan.sync-conflict-20261130-164500-ASMRTYP.txt".to_owned();
    engine.announce("plan.txt", Expected { deleted: true, ..expected(18, H_OTHER) });
    engine.announce(&copy, expected(18, H_OTHER));
    world.answer(&mut engine, t0);
    assert_eq!(state(&engine, "plan.txt").0, FileState::Deleted);
    engine.take_changes();
    let evs = parse(json!([
        item(500, "ItemStarted", &copy, "update"),
        item(501, "ItemFinished", &copy, "update"),
        index_updated(502, &[copy.as_str()]),
    ]));
    world.disk.insert(copy.clone(), H_OTHER.into());
    world.copies.push(copy.clone());
    let seen = replay(&mut engine, &mut world, &evs, 500..=502, "plan.txt", t0);
    assert!(seen.is_empty(), "the original's badge does not move: {seen:?}");
    assert_eq!(state(&engine, "plan.txt"), (FileState::Deleted, 100.0));
    // The copy was pulled after its announcement: verified on ItemFinished.
    let c = engine.badge(&copy).unwrap();
    assert_eq!((c.state, c.local_hash.as_deref()), (FileState::Synced, Some(H_OTHER)), "{c:?}");
    let json = status_json(&engine, &[("plan.txt", 18, H_OTHER, true), (&copy, 18, H_OTHER, false)]);
    assert_eq!(file(&json, "plan.txt")["conflict_copies"], json!([copy]), "{json}");
    assert_eq!(file(&json, &copy)["conflict_copy_of"], json!("plan.txt"), "{json}");
}

/// What `companion status --json` shows for these badges (the same
/// library call, on a manifest holding the announcements, the engine's
/// badges and its listing of the copies on disk).
fn status_json(engine: &Engine, announced: &[(&str, u64, &str, bool)]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(dir.path()).unwrap();
    let id = Uuid::new_v4();
    m.insert_project(&ProjectRow::new(id, "http://c", "p", "proj", "/tmp/proj", Role::Member)).unwrap();
    let files = announced
        .iter()
        .map(|&(path, size, hash, deleted)| RemoteFile {
            path: path.into(),
            size,
            hash: hash.into(),
            mtime: 0,
            version: 1,
            seq: 1,
            deleted_at: deleted.then(|| "2026-11-30T16:45:00Z".into()),
            deleted_by: None,
        })
        .collect();
    m.load_snapshot(id, &FilesSnapshot { files, as_of_seq: 1 }).unwrap();
    let badges: Vec<_> = engine.badges().into_iter().map(|b| (b, None)).collect();
    m.save_badges(id, &badges).unwrap();
    let live = FolderLive::default().with_conflict_copies(engine.conflict_copies_by_original());
    m.kv_set(&folder_key(id), &serde_json::to_string(&live).unwrap()).unwrap();
    serde_json::to_value(companion::ui::status::gather(&m, None, companion::HEARTBEAT).unwrap()).unwrap()
}

fn file<'a>(report: &'a Value, path: &str) -> &'a Value {
    let files = report["projects"][0]["files"].as_array().unwrap();
    files.iter().find(|f| f["path"] == path).unwrap_or_else(|| panic!("{path} not in {report}"))
}
