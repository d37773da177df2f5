//! `companion status` from a manifest alone (no Syncthing, no cloud): the
//! `--json` shape of docs/badges.md, the table with badges, bars, ETA and errors in
//! words, a hostile file name printed harmlessly, the owner's per-member
//! view, and `--watch` redrawing until stopped.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use cloud_protocol::{FileProgress, FileState, FilesSnapshot, RemoteFile, ReportedFile, Role};
use companion::live::{FolderLive, FolderProgress, folder_key};
use companion::manifest::{Manifest, ProjectRow};
use uuid::Uuid;

const HASH: &str = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
/// A bidi override (U+202E) and markup: the worst a wire path may carry
/// since the path rule refuses control characters.
const NASTY: &str = "evil\u{202e}<b>.txt";

fn remote(path: &str, size: u64) -> RemoteFile {
    RemoteFile {
        path: path.into(),
        size,
        hash: HASH.into(),
        mtime: 1,
        version: 1,
        seq: 1,
        deleted_at: None,
        deleted_by: None,
    }
}

fn badge(path: &str, state: FileState, percent: f64, error: Option<&str>) -> FileProgress {
    FileProgress { path: path.into(), state, percent, local_hash: None, error: error.map(str::to_owned) }
}

/// `companion status ARGS` on the files in `dir` (none of the caller's own).
fn status_command(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_companion"));
    cmd.arg("--config").arg(dir.join("config.toml")).arg("--state-dir").arg(dir.join("state"));
    cmd.arg("status").args(args).env_remove("COMPANION_CONFIG").env_remove("COMPANION_STATE_DIR");
    cmd
}

fn status(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    status_command(dir, args).output().expect("companion runs")
}

#[test]
fn status_json_table_owner_view_and_watch() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Manifest::open_in(&dir.path().join("state")).unwrap();
    let (member_id, owner_id) = (Uuid::new_v4(), Uuid::new_v4());
    m.insert_project(&ProjectRow::new(member_id, "http://c", "film", "proj", "/tmp/proj", Role::Member)).unwrap();
    let files = vec![remote("big.bin", 300), remote("small.txt", 100), remote(NASTY, 0)];
    m.load_snapshot(member_id, &FilesSnapshot { files, as_of_seq: 7 }).unwrap();
    let badges = [
        (badge("big.bin", FileState::Syncing, 50.0, None), None),
        (badge("small.txt", FileState::Error, 0.0, Some("Syncthing: operation not permitted")), None),
        (badge(NASTY, FileState::Synced, 100.0, None), None),
    ];
    m.save_badges(member_id, &badges).unwrap();
    let live = FolderLive {
        folder: FolderProgress { eta: Some(Duration::from_secs(65)), rate_bps: Some(1e7), ..Default::default() },
        file_eta_s: [("big.bin".to_owned(), 65)].into(),
        ..Default::default()
    };
    m.kv_set(&folder_key(member_id), &serde_json::to_string(&live).unwrap()).unwrap();
    m.insert_project(&ProjectRow::new(owner_id, "http://c", "mine", "own", "/tmp/own", Role::Owner)).unwrap();
    let reported = ReportedFile {
        progress: badge("x.txt", FileState::Pending, 0.0, None),
        reported_at: "2026-11-29T05:00:00.000Z".into(),
    };
    m.record_member_progress(owner_id, Uuid::new_v4(), "bob", &[reported]).unwrap();
    drop(m);

    let out = status(dir.path(), &["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = json["projects"].as_array().unwrap().iter().find(|p| p["role"] == "member").unwrap();
    for key in ["project_id", "name", "folder_id", "role", "last_seq", "percent", "files", "members"] {
        assert!(p.get(key).is_some(), "{key} missing: {p}");
    }
    assert_eq!(p["last_seq"], 7);
    // Byte-weighted: 300 B at 50 %, 100 B at 0 %, an empty file at 100 %.
    assert_eq!(p["percent"], 37.5);
    let f = &p["files"][0];
    for key in ["path", "state", "percent", "size", "expected_hash", "local_hash", "error"] {
        assert!(f.get(key).is_some(), "{key} missing: {f}");
    }
    let owner = json["projects"].as_array().unwrap().iter().find(|p| p["role"] == "owner").unwrap();
    assert_eq!(owner["members"][0]["name"], "bob");
    assert_eq!(owner["members"][0]["files"][0]["state"], "pending");

    let out = status(dir.path(), &["film"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("⟳  50%") && table.contains("ETA 1m05s"), "{table}");
    assert!(table.contains("✗ error") && table.contains("operation not permitted"), "{table}");
    assert!(!table.contains('\u{202e}'), "a bidi override from a file name reaches the terminal: {table:?}");
    assert!(table.contains("evil\\u{202e}<b>.txt"), "{table}");
    let out = status(dir.path(), &["mine"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("member bob") && table.contains("x.txt"), "{table}");
    assert!(!status(dir.path(), &["nope"]).status.success());

    // --watch --json prints a line per change until stopped.
    let mut child = status_command(dir.path(), &["--watch", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["projects"].as_array().unwrap().len(), 2);
    let mut m = Manifest::open_in(&dir.path().join("state")).unwrap();
    m.save_badges(member_id, &[(badge("big.bin", FileState::Synced, 100.0, None), None)]).unwrap();
    let second: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let p = second["projects"].as_array().unwrap().iter().find(|p| p["role"] == "member").unwrap().clone();
    assert_eq!(p["files"][0]["state"], "synced");
    child.kill().unwrap();
    child.wait().unwrap();
}
