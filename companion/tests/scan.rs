//! The start-up scan on real temporary folders and a real manifest.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use cloud_protocol::{Change, Op, Role};
use companion::hash::hash_bytes;
use companion::ignore::{IgnoreRules, is_conflict_copy};
use companion::manifest::{Manifest, ProjectRow};
use companion::owner::scan::{ProgressMode, ScanError, ScanOptions, ScanReport, scan_folder};
use uuid::Uuid;

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    manifest: Manifest,
    project: Uuid,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("folder");
        fs::create_dir_all(root.join(".stfolder")).unwrap();
        let mut manifest = Manifest::open_in(&dir.path().join("state")).unwrap();
        let project = Uuid::new_v4();
        let row = ProjectRow::new(project, "http://127.0.0.1:1", "p", "f", &root, Role::Owner);
        manifest.insert_project(&row).unwrap();
        Fixture { _dir: dir, root, manifest, project }
    }

    /// A folder with `files` (one byte each), already scanned once.
    fn scanned(files: &[&str]) -> Self {
        let mut f = Fixture::new();
        for rel in files {
            f.write(rel, b"x", 1_700_000_000);
        }
        assert_eq!(f.scan(&IgnoreRules::default()).changes.len(), files.len());
        f
    }

    /// Writes `content` at `rel` with an mtime of `secs` after the epoch.
    fn write(&self, rel: &str, content: &[u8], secs: u64) {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        set_mtime(&path, secs);
    }

    fn scan_with(&mut self, rules: &IgnoreRules, progress: ProgressMode) -> Result<ScanReport, ScanError> {
        let options = ScanOptions { progress, log_every: Duration::from_millis(1), ..ScanOptions::default() };
        scan_folder(&mut self.manifest, self.project, &self.root, rules, &options)
    }

    /// Scans and queues the changes, as the daemon does at start-up.
    fn scan(&mut self, rules: &IgnoreRules) -> ScanReport {
        let report = self.scan_with(rules, ProgressMode::Quiet).unwrap();
        self.manifest.enqueue_changes(self.project, &report.changes).unwrap();
        report
    }
}

fn set_mtime(path: &Path, secs: u64) {
    let file = File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
}

fn ops(report: &ScanReport) -> Vec<(Op, &str)> {
    report.changes.iter().map(|c| (c.op, c.path.as_str())).collect()
}

const CONFLICT: &str = "notes.sync-conflict-20261129-051504-ASMRTYP.txt";

#[test]
fn first_scan_creates_and_second_scan_hashes_nothing() {
    let mut f = Fixture::new();
    let big = vec![7u8; 17 * 1024 * 1024]; // above the parallel-hash threshold
    f.write("notes.txt", b"hello", 1_700_000_000);
    f.write("media/big.bin", &big, 1_700_000_001);
    f.write(CONFLICT, b"their hello", 1_700_000_002);
    // What Syncthing skips:
    f.write(".stignore", b"*.log", 1);
    f.write(".stversions/notes~20261129.txt", b"old", 1);
    f.write(".stfolder/syncthing-folder-1.txt", b"", 1);
    f.write("media/.syncthing.big.bin.tmp", b"partial", 1);
    f.write("~syncthing~win.tmp", b"partial", 1);
    f.write("debug.log", b"noise", 1);
    f.write("build/out/x.o", b"obj", 1);
    let rules = IgnoreRules::new(&["*.log", "/build"]).unwrap();

    let first = f.scan(&rules);
    assert_eq!(ops(&first), [(Op::Create, "media/big.bin"), (Op::Create, CONFLICT), (Op::Create, "notes.txt")]);
    let big_change = &first.changes[0];
    assert_eq!(big_change.hash.as_deref(), Some(hash_bytes(&big).as_str()));
    assert_eq!((big_change.size, big_change.mtime), (Some(big.len() as u64), Some(1_700_000_001_000)));
    assert!(first.changes.iter().all(|c| c.validate().is_ok()));
    // A conflict copy syncs like any file; the badge engine maps it back.
    assert_eq!(is_conflict_copy(CONFLICT).as_deref(), Some("notes.txt"));
    assert_eq!((first.files_seen, first.hashed_files), (3, 3));
    assert_eq!(first.bytes_hashed, big.len() as u64 + 5 + 11);
    assert_eq!(first.ignored, 7, "stignore, stversions, stfolder, 2 temp files, debug.log, build");
    assert!(first.skipped.is_empty(), "{:?}", first.skipped);

    let second = f.scan(&rules);
    assert!(second.changes.is_empty(), "{:?}", second.changes);
    assert_eq!((second.files_seen, second.hashed_files, second.bytes_hashed), (3, 0, 0));
}

#[test]
fn modified_touched_and_deleted_files() {
    let mut f = Fixture::new();
    let rules = IgnoreRules::default();
    f.write("modified.txt", b"aaa", 1_700_000_000);
    f.write("touched.txt", b"same", 1_700_000_000);
    f.write("deleted.txt", b"bye", 1_700_000_000);
    f.write("d/kept.txt", b"kept", 1_700_000_000);
    assert_eq!(f.scan(&rules).changes.len(), 4);

    f.write("modified.txt", b"bbb", 1_700_000_100); // same size, new content
    set_mtime(&f.root.join("touched.txt"), 1_700_000_200); // new mtime, same content
    fs::remove_file(f.root.join("deleted.txt")).unwrap();
    f.write("new.txt", b"new", 1_700_000_300);

    let report = f.scan(&rules);
    assert_eq!(ops(&report), [(Op::Delete, "deleted.txt"), (Op::Update, "modified.txt"), (Op::Create, "new.txt")]);
    assert_eq!(report.changes[1], Change::upsert(Op::Update, "modified.txt", hash_bytes(b"bbb"), 3, 1_700_000_100_000));
    assert_eq!((report.hashed_files, report.touched), (3, 1));
    let touched = f.manifest.local_file(f.project, "touched.txt").unwrap().unwrap();
    assert_eq!(touched.mtime_ms, 1_700_000_200_000, "the stamp is renewed");

    let again = f.scan(&rules);
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(again.hashed_files, 0);
}

#[test]
fn newly_ignored_files_are_not_deleted() {
    let mut f = Fixture::scanned(&["keep.txt", "cache/blob"]);
    // Syncthing does not delete on peers what a folder starts to ignore.
    let report = f.scan(&IgnoreRules::new(&["cache"]).unwrap());
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert_eq!(report.ignored, 2, ".stfolder and cache");
}

#[test]
fn negations_reach_into_ignored_directories() {
    let mut f = Fixture::new();
    f.write("photos/keep/a.jpg", b"a", 1_700_000_000);
    f.write("photos/b.jpg", b"b", 1_700_000_000);
    f.write("other.jpg", b"o", 1_700_000_000);
    let rules = IgnoreRules::new(&["!/photos/keep", "/photos"]).unwrap();
    let report = f.scan(&rules);
    assert_eq!(ops(&report), [(Op::Create, "other.jpg"), (Op::Create, "photos/keep/a.jpg")]);
}

#[test]
fn odd_names_are_reported_not_fatal() {
    let mut f = Fixture::new();
    f.write("fine.txt", b"x", 1_700_000_000);
    f.write("back\\slash.txt", b"x", 1_700_000_000);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"latin1-\xe9t\xe9.txt");
        fs::write(f.root.join(name), b"x").unwrap();
        fs::create_dir(f.root.join(std::ffi::OsStr::from_bytes(b"dir-\xff"))).unwrap();
        fs::write(f.root.join(std::ffi::OsStr::from_bytes(b"dir-\xff/inner.txt")), b"x").unwrap();
        // Links are not followed, neither to files nor to directories.
        std::os::unix::fs::symlink("/etc/hostname", f.root.join("link-file")).unwrap();
        std::os::unix::fs::symlink("/etc", f.root.join("link-dir")).unwrap();
    }
    let report = f.scan(&IgnoreRules::default());
    assert_eq!(ops(&report), [(Op::Create, "fine.txt")]);
    let reasons: Vec<String> = report.skipped.iter().map(|s| format!("{}: {}", s.path.display(), s.reason)).collect();
    assert!(reasons.iter().any(|r| r.contains("back\\slash.txt") && r.contains("backslash")), "{reasons:?}");
    #[cfg(unix)]
    assert_eq!(reasons.iter().filter(|r| r.contains("not UTF-8")).count(), 2, "{reasons:?}");
}

#[test]
fn missing_folder_or_marker_refuses_to_scan() {
    let mut f = Fixture::scanned(&["a.txt"]);

    // An unmounted disk looks like an empty folder without the marker.
    fs::remove_dir_all(f.root.join(".stfolder")).unwrap();
    fs::remove_file(f.root.join("a.txt")).unwrap();
    let err = f.scan_with(&IgnoreRules::default(), ProgressMode::Quiet).unwrap_err();
    assert!(matches!(err, ScanError::MarkerMissing { .. }), "{err}");
    assert!(err.to_string().contains(".stfolder"), "{err}");

    fs::remove_dir_all(&f.root).unwrap();
    let err = f.scan_with(&IgnoreRules::default(), ProgressMode::Quiet).unwrap_err();
    assert!(matches!(err, ScanError::Root { .. }), "{err}");
    assert!(err.to_string().contains("folder"), "{err}");
}

#[test]
fn progress_modes_run_to_completion() {
    let mut f = Fixture::new();
    for i in 0..50 {
        f.write(&format!("many/{i}.txt"), i.to_string().as_bytes(), 1_700_000_000);
    }
    // Log mode starts and stops its reporting thread; Bar draws to stderr.
    for mode in [ProgressMode::Log, ProgressMode::Bar, ProgressMode::Auto] {
        let report = f.scan_with(&IgnoreRules::default(), mode).unwrap();
        assert_eq!((report.changes.len(), report.hashed_files), (50, 50));
    }
}

#[cfg(unix)]
#[test]
fn unreadable_directories_are_not_deletes() {
    use std::os::unix::fs::PermissionsExt;
    let mut f = Fixture::scanned(&["locked/inside.txt", "open.txt"]);

    let locked = f.root.join("locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read_dir(&locked).is_ok() {
        // Root reads through permissions; walk.rs's unit tests cover the rule.
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        eprintln!("skipped: this user can read a mode-000 directory");
        return;
    }
    let report = f.scan_with(&IgnoreRules::default(), ProgressMode::Quiet);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    let report = report.unwrap();
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert!(report.skipped.iter().any(|s| s.path.ends_with("locked")), "{:?}", report.skipped);
}
