//! The start-up scan: what changed in a folder while the companion was down.
//!
//! Walks the folder (skipping what Syncthing skips), compares each file with
//! `local_files`: an unknown path is a create; a different size or mtime
//! means a hash, and a different hash an update (the same hash only renews
//! the stamp, so the next scan skips it); a recorded path that is gone is a
//! delete. Hashing runs on rayon's threads, with progress shown (see
//! [`ProgressMode`]). The caller queues the returned changes with
//! [`Manifest::enqueue_changes`](crate::manifest::Manifest::enqueue_changes).
//!
//! Two guards keep a scan from announcing mass deletes by mistake: the
//! folder must hold Syncthing's marker (`.stfolder`; a missing one usually
//! means an unmounted disk), and a path below anything unreadable is never
//! reported deleted.

mod progress;
mod walk;

pub use progress::ProgressMode;

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloud_protocol::{Change, Op};
use rayon::prelude::*;
use uuid::Uuid;

use crate::hash::{FileStamp, hash_file};
use crate::ignore::IgnoreRules;
use crate::manifest::{LocalFile, LocalStamp, Manifest, ManifestError};
use progress::Progress;

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub progress: ProgressMode,
    /// How often progress is logged when there is no bar.
    pub log_every: Duration,
    /// Syncthing's folder marker; `None` scans without checking it.
    pub marker: Option<String>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            progress: ProgressMode::Auto,
            log_every: Duration::from_secs(5),
            marker: Some(".stfolder".into()),
        }
    }
}

/// A path the scan could not use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// What one scan found and did.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    /// Creates, updates and deletes, by path.
    pub changes: Vec<Change>,
    /// Regular files walked (not ignored).
    pub files_seen: u64,
    pub hashed_files: u64,
    pub bytes_hashed: u64,
    /// Files whose mtime changed but content did not: stamp renewed, no change.
    pub touched: u64,
    /// Entries Syncthing skips (ignored, internal, temporary).
    pub ignored: u64,
    pub skipped: Vec<Skipped>,
    pub duration: Duration,
}

/// Why a scan could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read the folder {}: {source}", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the folder {} has no {marker} marker (unmounted disk?); not scanning, so nothing is taken for deleted", path.display())]
    MarkerMissing { path: PathBuf, marker: String },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// Scans `root` for the project's changes since its `local_files` were recorded.
pub fn scan_folder(
    manifest: &mut Manifest,
    project: Uuid,
    root: &Path,
    rules: &IgnoreRules,
    options: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    let started = Instant::now();
    check_root(root, options.marker.as_deref())?;
    let (mut walk, mut known) = walk_and_load(manifest, project, root, rules)?;
    let mut report = ScanReport {
        files_seen: walk.files.len() as u64,
        ignored: walk.ignored,
        skipped: std::mem::take(&mut walk.skipped),
        ..ScanReport::default()
    };

    let (to_hash, unsent) = compare_stamps(std::mem::take(&mut walk.files), &mut known);
    // The full records (hashes) of the recorded paths looked at further.
    let wanted =
        unsent.iter().map(|f| f.rel.as_str()).chain(to_hash.iter().filter(|(_, k)| *k).map(|(f, _)| f.rel.as_str()));
    let full = full_records(manifest, project, wanted)?;
    let to_hash = send_unsent(&full, unsent, to_hash, &mut report);

    let touched = hash_changed(root, to_hash, options, &mut report);
    report.touched = touched.len() as u64;
    if !touched.is_empty() {
        manifest.record_stamps(project, &touched)?;
    }

    report_deletes(known, &walk, rules, &mut report);
    report.changes.sort_by(|a, b| a.path.cmp(&b.path));
    report.duration = started.elapsed();
    tracing::info!(
        folder = %root.display(),
        changes = report.changes.len(),
        hashed = report.hashed_files,
        bytes = report.bytes_hashed,
        skipped = report.skipped.len(),
        ms = report.duration.as_millis() as u64,
        "scan done"
    );
    Ok(report)
}

/// Walks the folder and reads the recorded stamps at once.
///
/// The walk (rayon tasks) and the manifest read (this thread, which owns
/// the connection) overlap: with nothing changed they are the whole scan.
fn walk_and_load(
    manifest: &Manifest,
    project: Uuid,
    root: &Path,
    rules: &IgnoreRules,
) -> Result<(walk::Walk, HashSet<Known>), ManifestError> {
    let mut walked = None;
    let known = rayon::in_place_scope(|s| {
        s.spawn(|_| walked = Some(walk::walk(root, rules)));
        manifest.local_stamps(project).map(|rows| {
            let mut known = HashSet::with_capacity(rows.len());
            known.extend(rows.into_iter().map(Known));
            known
        })
    });
    let walk = walked.expect("the walk task ran");
    Ok((walk, known?))
}

/// A file found and whether it has a record (the record is read later).
type ToHash = (walk::Found, bool);

/// Sorts the files found by their stamps: those to hash, and those whose
/// recorded hash still holds but was never sent.
///
/// Each path found takes its record out of `known`, so what is left there
/// was not seen.
fn compare_stamps(files: Vec<walk::Found>, known: &mut HashSet<Known>) -> (Vec<ToHash>, Vec<walk::Found>) {
    let mut to_hash = Vec::new();
    let mut unsent = Vec::new();
    for found in files {
        match known.take(found.rel.as_str()) {
            // Same stamp: the recorded hash still holds.
            Some(Known(k)) if !k.deleted && k.stamp() == found.stamp => {
                if !k.hash_sent {
                    unsent.push(found);
                }
            }
            k => to_hash.push((found, k.is_some())),
        }
    }
    (to_hash, unsent)
}

/// Reports the recorded hash of each unsent file the cloud lacks (a file
/// whose full record no longer matches is hashed instead), and pairs each
/// file to hash with its full record.
fn send_unsent<'a>(
    full: &'a HashMap<String, LocalFile>,
    unsent: Vec<walk::Found>,
    mut to_hash: Vec<ToHash>,
    report: &mut ScanReport,
) -> Vec<(walk::Found, Option<&'a LocalFile>)> {
    for found in unsent {
        match full.get(&found.rel) {
            // Send the recorded hash: the cloud lacks it.
            Some(k) if !k.deleted && k.stamp() == found.stamp => {
                if !k.is_sent(&k.hash) {
                    report.changes.push(upsert(Some(k), &found.rel, &k.hash, found.stamp));
                }
            }
            _ => to_hash.push((found, true)),
        }
    }
    to_hash
        .into_iter()
        .map(|(found, k)| {
            let k = if k { full.get(&found.rel) } else { None };
            (found, k)
        })
        .collect()
}

/// A file whose content is what was sent: only its stamp is renewed.
type Touched = (String, FileStamp, String);

/// Hashes `to_hash` on rayon's threads (with progress) and reports each
/// create or update; returns the files only touched (same content).
fn hash_changed(
    root: &Path,
    to_hash: Vec<(walk::Found, Option<&LocalFile>)>,
    options: &ScanOptions,
    report: &mut ScanReport,
) -> Vec<Touched> {
    let mut touched = Vec::new();
    if to_hash.is_empty() {
        return touched;
    }
    let total_bytes = to_hash.iter().map(|(f, _)| f.stamp.size).sum();
    tracing::info!(folder = %root.display(), files = report.files_seen, to_hash = to_hash.len(), total_bytes, "scanning");
    let progress = Progress::start(options.progress, to_hash.len() as u64, total_bytes, options.log_every);
    let hashed: Vec<_> = to_hash
        .into_par_iter()
        .map(|(found, k)| {
            let result = hash_file(root, &found.rel);
            progress.add(found.stamp.size);
            (found, k, result)
        })
        .collect();
    progress.finish();

    for (found, k, result) in hashed {
        let file = match result {
            Ok(file) => file,
            Err(e) => {
                // Gone or busy: the watcher or the next scan will see it (it
                // was seen, so it is not taken for a delete either).
                report.skipped.push(Skipped { path: found.abs(root), reason: e.to_string() });
                continue;
            }
        };
        report.hashed_files += 1;
        report.bytes_hashed += file.stamp.size;
        if k.is_some_and(|k| k.is_sent(&file.hash)) {
            touched.push((found.rel, file.stamp, file.hash));
        } else {
            report.changes.push(upsert(k, &found.rel, &file.hash, file.stamp));
        }
    }
    touched
}

/// Reports a delete for each recorded path not seen, unless it lies below
/// something unreadable or is one Syncthing skips.
fn report_deletes(known: HashSet<Known>, walk: &walk::Walk, rules: &IgnoreRules, report: &mut ScanReport) {
    for Known(k) in known {
        if !k.deleted && !walk.is_unknown(&k.path) && !rules.should_skip(&k.path) {
            report.changes.push(Change::delete(k.path));
        }
    }
}

/// Above this many, full records are read in one query rather than one by one.
const POINT_READS_MAX: usize = 256;

/// The full `local_files` records of `paths`, by path.
fn full_records<'a>(
    manifest: &Manifest,
    project: Uuid,
    paths: impl Iterator<Item = &'a str> + Clone,
) -> Result<HashMap<String, LocalFile>, ManifestError> {
    let count = paths.clone().count();
    if count > POINT_READS_MAX {
        let wanted: HashSet<&str> = paths.collect();
        return Ok(manifest
            .local_files(project)?
            .into_iter()
            .filter(|f| wanted.contains(f.path.as_str()))
            .map(|f| (f.path.clone(), f))
            .collect());
    }
    let mut full = HashMap::with_capacity(count);
    for path in paths {
        if let Some(file) = manifest.local_file(project, path)? {
            full.insert(file.path.clone(), file);
        }
    }
    Ok(full)
}

/// A `local_files` stamp keyed by its path, so a set of them is a map by
/// path that owns each path once.
struct Known(LocalStamp);

impl PartialEq for Known {
    fn eq(&self, other: &Self) -> bool {
        self.0.path == other.0.path
    }
}

impl Eq for Known {}

impl Hash for Known {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.path.hash(state);
    }
}

impl Borrow<str> for Known {
    fn borrow(&self) -> &str {
        &self.0.path
    }
}

fn check_root(root: &Path, marker: Option<&str>) -> Result<(), ScanError> {
    // Reading the directory proves it exists, is a directory and is readable.
    std::fs::read_dir(root).map_err(|source| ScanError::Root { path: root.to_path_buf(), source })?;
    if let Some(marker) = marker
        && std::fs::symlink_metadata(root.join(marker)).is_err()
    {
        return Err(ScanError::MarkerMissing { path: root.to_path_buf(), marker: marker.to_owned() });
    }
    Ok(())
}

fn upsert(known: Option<&LocalFile>, path: &str, hash: &str, stamp: FileStamp) -> Change {
    let op = match known {
        Some(k) if !k.deleted && k.last_sent_hash.is_some() => Op::Update,
        _ => Op::Create,
    };
    Change::upsert(op, path, hash, stamp.size, stamp.wire_mtime())
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::time::{Duration, SystemTime};

    use cloud_protocol::Role;

    use super::*;
    use crate::manifest::ProjectRow;

    fn set_mtime(path: &Path, secs: u64) {
        let file = File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
    }

    /// More touched files than `POINT_READS_MAX` (records read in bulk), plus
    /// a stamp recorded but never sent (sent as is, not hashed).
    #[test]
    fn many_touched_files_and_an_unsent_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("folder");
        std::fs::create_dir_all(root.join(".stfolder")).unwrap();
        let n = POINT_READS_MAX + 10;
        for i in 0..n {
            let path = root.join(format!("d/f{i}"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("{i}")).unwrap();
            set_mtime(&path, 1_700_000_000);
        }
        let mut manifest = Manifest::open_in(&dir.path().join("state")).unwrap();
        let project = Uuid::new_v4();
        let row = ProjectRow::new(project, "http://127.0.0.1:1", "p", "f", &root, Role::Owner);
        manifest.insert_project(&row).unwrap();
        let rules = IgnoreRules::default();
        let options = ScanOptions { progress: ProgressMode::Quiet, ..ScanOptions::default() };
        let first = scan_folder(&mut manifest, project, &root, &rules, &options).unwrap();
        assert_eq!((first.changes.len(), first.hashed_files), (n, n as u64));
        manifest.enqueue_changes(project, &first.changes).unwrap();

        for i in 0..n {
            set_mtime(&root.join(format!("d/f{i}")), 1_700_000_100);
        }
        let unsent = root.join("new.txt");
        std::fs::write(&unsent, "new").unwrap();
        let stamp = FileStamp::beneath(&root, "new.txt").unwrap();
        let hash = hash_file(&root, "new.txt").unwrap().hash;
        manifest.record_stamp(project, "new.txt", stamp, &hash).unwrap();

        let second = scan_folder(&mut manifest, project, &root, &rules, &options).unwrap();
        assert_eq!((second.touched, second.hashed_files), (n as u64, n as u64));
        assert_eq!(second.changes.len(), 1);
        assert_eq!((second.changes[0].op, second.changes[0].path.as_str()), (Op::Create, "new.txt"));
        assert_eq!(second.changes[0].hash.as_deref(), Some(hash.as_str()));
        let touched = manifest.local_file(project, "d/f0").unwrap().unwrap();
        assert_eq!(touched.mtime_ms, 1_700_000_100_000);

        manifest.enqueue_changes(project, &second.changes).unwrap();
        let third = scan_folder(&mut manifest, project, &root, &rules, &options).unwrap();
        assert!(third.changes.is_empty() && third.hashed_files == 0 && third.touched == 0);
    }
}
