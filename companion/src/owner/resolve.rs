//! From "these paths may have changed" to the changes to send: look at each
//! path on disk, compare with `local_files`, hash only what needs it, and
//! queue the result in the outbox in one transaction.
//!
//! A path can be a file (create/update if its content differs from what
//! was sent), a directory (everything below it, e.g. one moved in or
//! created with files before our watch on it existed), or gone (a delete
//! for it and every recorded file below it, e.g. a directory moved away).
//!
//! Symlinks are skipped, as Syncthing never syncs a link's target: every
//! look goes through [`crate::beneath`], so a path with a symlink anywhere
//! in it (`link/id_rsa`, where `link` → a directory outside the folder) is
//! never read, and counts as gone (a file replaced by a link, or a directory
//! replaced by one, goes out as deletes).
//! Blocking code: called on the blocking pool through `Db::call`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cloud_protocol::{Change, Op};
use rayon::prelude::*;
use uuid::Uuid;

use crate::beneath;
use crate::hash::{FileStamp, HashError, hash_file};
use crate::ignore::IgnoreRules;
use crate::manifest::{LocalFile, Manifest, ManifestError, OutboxBatch};
use crate::owner::watch::HeldPaths;
use crate::walk::{self, Entry, Walker};

/// What one pass did.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The changes queued (after the manifest dropped repeats).
    pub queued: Vec<Change>,
    pub batches: Vec<OutboxBatch>,
    /// Files whose stamp changed but content did not.
    pub touched: usize,
    pub hashed: usize,
}

/// Looks at `paths` (relative) under `root` and queues what changed.
pub fn resolve_paths(
    manifest: &mut Manifest,
    project: Uuid,
    root: &Path,
    rules: &IgnoreRules,
    held: &HeldPaths,
    paths: &BTreeSet<String>,
) -> Result<Resolved, ManifestError> {
    let mut files: BTreeSet<String> = BTreeSet::new();
    let mut gone: Vec<String> = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    for rel in paths {
        if rules.should_skip(rel) || held.contains(rel) {
            continue;
        }
        match beneath::symlink_metadata(root, rel) {
            Ok(meta) if meta.is_file() => {
                files.insert(rel.clone());
            }
            Ok(meta) if meta.is_dir() => dirs.push(rel.clone()),
            // Symlinks and special files: Syncthing does not sync their
            // content, so for us nothing is there.
            Ok(_) => gone.push(rel.clone()),
            // Missing, or reached through a symlink: nothing of ours is there.
            Err(e) if e.is_not_found() || e.is_not_regular() => gone.push(rel.clone()),
            Err(e) => {
                tracing::debug!(path = rel, error = %e, "cannot look at changed path; Syncthing's events or the next scan will")
            }
        }
    }

    // Directories and deletes need what is recorded below a path.
    let recorded: BTreeMap<String, LocalFile> = if dirs.is_empty() && gone.is_empty() {
        BTreeMap::new()
    } else {
        manifest.local_files(project)?.into_iter().filter(|f| !f.deleted).map(|f| (f.path.clone(), f)).collect()
    };
    let mut deletes: BTreeSet<String> = BTreeSet::new();
    for rel in &gone {
        deletes.extend(below(&recorded, rel, true));
    }
    for dir in &dirs {
        let found = walk_dir(root, dir, rules, held);
        for known in below(&recorded, dir, false) {
            if !found.contains(&known) && !is_file_inside(root, &known) {
                deletes.insert(known);
            }
        }
        files.extend(found);
    }

    let (mut upserts, touched, hashed) = check_files(manifest, project, root, &files)?;
    let mut changes: Vec<Change> = deletes.into_iter().map(Change::delete).collect();
    changes.append(&mut upserts);
    if !touched.is_empty() {
        manifest.record_stamps(project, &touched)?;
    }
    let batches = enqueue(manifest, project, &changes)?;
    let queued = batches.iter().flat_map(|b| b.changes.iter().cloned()).collect();
    Ok(Resolved { queued, batches, touched: touched.len(), hashed })
}

/// Of `reported` (paths that only Syncthing's events named), the ones to
/// leave to the watcher for now: gone, still recorded as present, and in a
/// directory changed less than `recent_ms` ago (a rename or delete there may
/// still sit in the debouncer). Syncthing reports seconds late, so its report
/// of an earlier write can name a file just renamed away; resolved at once it
/// would send the delete alone, and the watcher's rename (delete + create in
/// one batch) would arrive split, with the file missing in between.
pub fn leave_to_watcher(
    manifest: &Manifest,
    project: Uuid,
    root: &Path,
    reported: &BTreeSet<String>,
    now_ms: i64,
    recent_ms: i64,
) -> Result<BTreeSet<String>, ManifestError> {
    let candidates: Vec<&String> = reported
        .iter()
        .filter(|rel| {
            let gone = matches!(beneath::symlink_metadata(root, rel), Err(e) if e.is_not_found() || e.is_not_regular());
            gone && dir_changed_within(root, rel, now_ms, recent_ms)
        })
        .collect();
    if candidates.is_empty() {
        return Ok(BTreeSet::new());
    }
    let recorded: BTreeMap<String, LocalFile> =
        manifest.local_files(project)?.into_iter().filter(|f| !f.deleted).map(|f| (f.path.clone(), f)).collect();
    Ok(candidates.into_iter().filter(|rel| !below(&recorded, rel, true).is_empty()).cloned().collect())
}

/// True when the file at `rel` changed less than `recent_ms` before `now_ms`:
/// its ctime, which a write, a rename and a touch all set to the kernel's
/// clock (a renamed file keeps its mtime, and an mtime set by hand can lie
/// in the future, where it would look recent at every look).
pub fn file_changed_within(root: &Path, rel: &str, now_ms: i64, recent_ms: i64) -> bool {
    beneath::symlink_metadata(root, rel).is_ok_and(|meta| changed_within(&meta, now_ms, recent_ms))
}

/// True when the nearest existing directory above `rel` had an entry added,
/// removed or renamed less than `recent_ms` before `now_ms` (its ctime, for
/// the same reasons: Syncthing sets directories' mtimes to what peers had).
pub fn dir_changed_within(root: &Path, rel: &str, now_ms: i64, recent_ms: i64) -> bool {
    let mut parent = rel;
    let meta = loop {
        match parent.rsplit_once('/') {
            Some((up, _)) => {
                parent = up;
                if let Ok(meta) = beneath::symlink_metadata(root, parent)
                    && meta.is_dir()
                {
                    break meta;
                }
            }
            None => match std::fs::symlink_metadata(root) {
                Ok(meta) => break meta,
                Err(_) => return false,
            },
        }
    };
    changed_within(&meta, now_ms, recent_ms)
}

fn changed_within(meta: &std::fs::Metadata, now_ms: i64, recent_ms: i64) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let ctime_ms = meta.ctime().saturating_mul(1000).saturating_add(meta.ctime_nsec() / 1_000_000);
    (0..recent_ms).contains(&now_ms.saturating_sub(ctime_ms))
}

/// Most request body one batch should need: half the cloud's default 2 MiB
/// limit, so 1,000 changes with long paths still fit.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Queues `changes` in batches of at most 1000 changes and about
/// [`MAX_BATCH_BYTES`] of JSON (each group is one transaction).
pub fn enqueue(manifest: &mut Manifest, project: Uuid, changes: &[Change]) -> Result<Vec<OutboxBatch>, ManifestError> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, c) in changes.iter().enumerate() {
        // Path, hash and the fixed JSON around them.
        let size = c.path.len() + c.hash.as_ref().map_or(0, String::len) + 96;
        if i > start && bytes + size > MAX_BATCH_BYTES {
            batches.extend(manifest.enqueue_changes(project, &changes[start..i])?);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < changes.len() {
        batches.extend(manifest.enqueue_changes(project, &changes[start..])?);
    }
    Ok(batches)
}

/// Recorded paths equal to `rel` (when `itself`) or below it.
fn below(recorded: &BTreeMap<String, LocalFile>, rel: &str, itself: bool) -> Vec<String> {
    let prefix = format!("{rel}/");
    let mut out: Vec<String> =
        recorded.range(prefix.clone()..).map(|(p, _)| p).take_while(|p| p.starts_with(&prefix)).cloned().collect();
    if itself && recorded.contains_key(rel) {
        out.push(rel.to_owned());
    }
    out
}

/// True when `rel` is a regular file reached through real directories (an
/// unreadable one counts too: it is not taken for a delete).
fn is_file_inside(root: &Path, rel: &str) -> bool {
    match beneath::symlink_metadata(root, rel) {
        Ok(meta) => meta.is_file(),
        Err(e) => !(e.is_not_found() || e.is_not_regular()),
    }
}

/// Regular files below `dir` that Syncthing would sync: symlinks are not
/// followed, not even `dir` itself if it turned into one meanwhile. What
/// cannot be read is logged and left out; the files recorded below it are
/// not taken for deleted (see [`is_file_inside`]).
fn walk_dir(root: &Path, dir: &str, rules: &IgnoreRules, held: &HeldPaths) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in walk::collect(&Walker { rules: Some(rules), stat_files: false }, root, dir) {
        match entry {
            Entry::File { rel, .. } if !held.contains(&rel) && cloud_protocol::validate_path(&rel).is_ok() => {
                out.insert(rel);
            }
            Entry::Unreadable { rel, error } => {
                tracing::warn!(path = rel, %error, "cannot read; what is below it is left as it was")
            }
            _ => {}
        }
    }
    out
}

type Touched = Vec<(String, FileStamp, String)>;

/// Upserts for files whose content differs from what was sent; files whose
/// stamp changed but content did not come back as `touched`.
fn check_files(
    manifest: &Manifest,
    project: Uuid,
    root: &Path,
    files: &BTreeSet<String>,
) -> Result<(Vec<Change>, Touched, usize), ManifestError> {
    let mut upserts = Vec::new();
    let mut to_hash: Vec<(String, Option<LocalFile>)> = Vec::new();
    for rel in files {
        if cloud_protocol::validate_path(rel).is_err() {
            continue;
        }
        let known = manifest.local_file(project, rel)?.filter(|k| !k.deleted);
        let stamp = match FileStamp::beneath(root, rel) {
            Ok(stamp) => stamp,
            Err(_) => continue, // gone again (its remove event follows), or no longer a file
        };
        match known {
            Some(k) if k.stamp() == stamp => {
                // Same stamp: the recorded hash holds. Send only if the cloud lacks it.
                if !k.is_sent(&k.hash) {
                    upserts.push(Change::upsert(
                        Op::Update,
                        rel.clone(),
                        k.hash.clone(),
                        stamp.size,
                        stamp.wire_mtime(),
                    ));
                }
            }
            other => to_hash.push((rel.clone(), other)),
        }
    }
    let hashed_count = to_hash.len();
    let results: Vec<(String, Option<LocalFile>, Result<_, HashError>)> = to_hash
        .into_par_iter()
        .map(|(rel, known)| {
            let result = hash_file(root, &rel);
            (rel, known, result)
        })
        .collect();
    let mut touched = Vec::new();
    for (rel, known, result) in results {
        match result {
            Ok(file) if known.as_ref().is_some_and(|k| k.is_sent(&file.hash)) => {
                touched.push((rel, file.stamp, file.hash))
            }
            Ok(file) => {
                upserts.push(Change::upsert(Op::Create, rel, file.hash, file.stamp.size, file.stamp.wire_mtime()))
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => tracing::warn!(path = rel, error = %e, "cannot hash; the next change or scan will retry"),
        }
    }
    Ok((upserts, touched, hashed_count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ProjectRow;
    use cloud_protocol::Role;

    /// A recorded directory replaced by a symlink to outside files: its
    /// files go out as deletes, and nothing behind the link is hashed or
    /// sent, whichever path the change names.
    #[test]
    fn a_directory_turned_symlink_is_gone_and_its_target_unread() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("folder");
        let outside = base.path().join("outside");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("d/a.txt"), b"shared").unwrap();
        std::fs::write(outside.join("a.txt"), b"private").unwrap();
        std::fs::write(outside.join("b.txt"), b"private too").unwrap();
        let mut m = Manifest::open_in(&base.path().join("state")).unwrap();
        let project = Uuid::new_v4();
        m.insert_project(&ProjectRow::new(project, "http://c", "p", "f", &root, Role::Owner)).unwrap();
        let rules = IgnoreRules::default();
        let held = HeldPaths::default();
        let all = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<BTreeSet<_>>();
        let first = resolve_paths(&mut m, project, &root, &rules, &held, &all(&["d"])).unwrap();
        assert_eq!(first.queued.len(), 1, "{:?}", first.queued);

        std::fs::remove_dir_all(root.join("d")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("d")).unwrap();
        let second = resolve_paths(&mut m, project, &root, &rules, &held, &all(&["d", "d/a.txt", "d/b.txt"])).unwrap();
        let got: Vec<(Op, &str)> = second.queued.iter().map(|c| (c.op, c.path.as_str())).collect();
        assert_eq!(got, [(Op::Delete, "d/a.txt")]);
        assert_eq!(second.hashed, 0);
    }

    /// An unreadable directory in the middle of a changed one: the walk
    /// reports it and goes on, so every readable new file is queued, and
    /// what is recorded below the unreadable one is not taken for deleted.
    #[test]
    fn an_unreadable_directory_does_not_stop_the_walk() {
        use crate::walk::tests::{Locked, without_dac_override};
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("folder");
        for i in 0..5 {
            std::fs::create_dir_all(root.join(format!("d/locked{i}"))).unwrap();
            std::fs::write(root.join(format!("d/locked{i}/kept.txt")), b"kept").unwrap();
        }
        let mut m = Manifest::open_in(&base.path().join("state")).unwrap();
        let project = Uuid::new_v4();
        m.insert_project(&ProjectRow::new(project, "http://c", "p", "f", &root, Role::Owner)).unwrap();
        let (rules, held) = (IgnoreRules::default(), HeldPaths::default());
        let d = BTreeSet::from(["d".to_owned()]);
        assert_eq!(resolve_paths(&mut m, project, &root, &rules, &held, &d).unwrap().queued.len(), 5);

        // New files and directories all around the locked ones (the order
        // the directory lists them in is the filesystem's).
        let mut want = Vec::new();
        for i in 0..20 {
            std::fs::create_dir_all(root.join(format!("d/sub{i:02}"))).unwrap();
            for rel in [format!("d/f{i:02}.txt"), format!("d/sub{i:02}/g.txt")] {
                std::fs::write(root.join(&rel), rel.as_bytes()).unwrap();
                want.push((Op::Create, rel));
            }
        }
        want.sort_by(|a, b| a.1.cmp(&b.1));
        let locks: Vec<Locked> = (0..5).map(|i| Locked::new(root.join(format!("d/locked{i}")))).collect();
        let second = without_dac_override(|| {
            assert!(std::fs::read_dir(root.join("d/locked0")).is_err(), "d/locked0 is still readable");
            resolve_paths(&mut m, project, &root, &rules, &held, &d).unwrap()
        });
        drop(locks);
        let mut got: Vec<(Op, String)> = second.queued.iter().map(|c| (c.op, c.path.clone())).collect();
        got.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(got, want);
    }

    /// Syncthing dates a synced directory as the peer had it, maybe ahead of
    /// our clock: that must not make every delete in it look fresh (left to
    /// the watcher, and rechecked, forever).
    #[test]
    fn a_directory_dated_in_the_future_is_not_taken_for_a_fresh_change() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        let tomorrow = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
        std::fs::File::open(root.path().join("d")).unwrap().set_modified(tomorrow).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        assert!(dir_changed_within(root.path(), "d/gone.txt", now, 1000), "just changed");
        assert!(!dir_changed_within(root.path(), "d/gone.txt", now + 2000, 1000), "2 s later");
    }

    #[test]
    fn long_paths_are_split_to_fit_the_body_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::open_in(dir.path()).unwrap();
        let project = Uuid::new_v4();
        m.insert_project(&ProjectRow::new(project, "http://c", "p", "f", dir.path(), Role::Owner)).unwrap();
        let hash = format!("blake3:{}", "a".repeat(64));
        let changes: Vec<Change> = (0..1000)
            .map(|i| Change::upsert(Op::Create, format!("{i:04}/{}", "x".repeat(2000)), hash.clone(), 1, 1))
            .collect();
        let batches = enqueue(&mut m, project, &changes).unwrap();
        assert!(batches.len() >= 3, "{}", batches.len());
        for b in &batches {
            let body = serde_json::to_vec(&b.changes).unwrap().len();
            assert!(body <= MAX_BATCH_BYTES, "{body}");
        }
        assert_eq!(batches.iter().map(|b| b.changes.len()).sum::<usize>(), 1000);
        // Small changes still go 1000 to a batch.
        let small: Vec<Change> =
            (0..1000).map(|i| Change::upsert(Op::Create, format!("s{i}"), hash.clone(), 1, 1)).collect();
        assert_eq!(enqueue(&mut m, project, &small).unwrap().len(), 1);
    }
}
