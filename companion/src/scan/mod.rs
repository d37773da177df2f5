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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloud_protocol::{Change, Op};
use rayon::prelude::*;
use uuid::Uuid;

use crate::hash::{FileStamp, hash_file};
use crate::ignore::IgnoreRules;
use crate::manifest::{LocalFile, Manifest, ManifestError};
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
    let known: HashMap<String, LocalFile> =
        manifest.local_files(project)?.into_iter().map(|f| (f.path.clone(), f)).collect();
    let mut walk = walk::walk(root, rules);
    let mut report = ScanReport {
        files_seen: walk.files.len() as u64,
        ignored: walk.ignored,
        skipped: std::mem::take(&mut walk.skipped),
        ..ScanReport::default()
    };

    let seen: HashSet<String> = walk.files.iter().map(|f| f.rel.clone()).collect();
    let mut to_hash = Vec::new();
    for found in std::mem::take(&mut walk.files) {
        match known.get(&found.rel) {
            // Same stamp: the recorded hash still holds; send it if the cloud lacks it.
            Some(k) if !k.deleted && k.stamp() == found.stamp => {
                if !k.is_sent(&k.hash) {
                    report.changes.push(upsert(Some(k), &found.rel, &k.hash, found.stamp));
                }
            }
            _ => to_hash.push(found),
        }
    }

    let total_bytes = to_hash.iter().map(|f| f.stamp.size).sum();
    tracing::info!(folder = %root.display(), files = report.files_seen, to_hash = to_hash.len(), total_bytes, "scanning");
    let progress = Progress::start(options.progress, to_hash.len() as u64, total_bytes, options.log_every);
    let hashed: Vec<_> = to_hash
        .into_par_iter()
        .map(|found| {
            let result = hash_file(&found.abs);
            progress.add(found.stamp.size);
            (found, result)
        })
        .collect();
    progress.finish();

    let mut touched = Vec::new();
    for (found, result) in hashed {
        let file = match result {
            Ok(file) => file,
            Err(e) => {
                // Gone or busy: the watcher or the next scan will see it.
                report.skipped.push(Skipped { path: found.abs, reason: e.to_string() });
                walk.unknown.push(found.rel);
                continue;
            }
        };
        report.hashed_files += 1;
        report.bytes_hashed += file.stamp.size;
        let k = known.get(&found.rel);
        if k.is_some_and(|k| k.is_sent(&file.hash)) {
            touched.push((found.rel, file.stamp, file.hash));
        } else {
            report.changes.push(upsert(k, &found.rel, &file.hash, file.stamp));
        }
    }
    report.touched = touched.len() as u64;
    manifest.record_stamps(project, &touched)?;

    for k in known.values() {
        if !k.deleted && !seen.contains(&k.path) && !walk.is_unknown(&k.path) && !rules.should_skip(&k.path) {
            report.changes.push(Change::delete(k.path.clone()));
        }
    }
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
