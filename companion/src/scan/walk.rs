//! Walking a Syncthing folder: every regular file Syncthing would sync, with
//! its `/`-separated relative path and stamp.
//!
//! Symlinks are not followed (Syncthing syncs a link as a link, and we track
//! file contents only). What cannot be read is reported, and remembered as
//! "unknown" so the caller does not take an unreadable file or directory for
//! a deleted one.
//!
//! Cost: one `readdir` per directory and one `stat` per regular file, which
//! is most of a scan with nothing to hash. Directories are read as rayon
//! tasks, so the stats spread over the cores, and each `stat` is taken
//! relative to its open directory (std's `DirEntry::metadata` uses `fstatat`
//! / `statx` on the directory's fd), so the kernel never resolves the full
//! path again. Relative paths are built as the walk descends, without
//! re-splitting absolute paths.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Skipped;
use crate::hash::FileStamp;
use crate::ignore::{IgnoreRules, is_internal, is_temporary};

/// One regular file found.
#[derive(Debug, Clone)]
pub(super) struct Found {
    /// Relative, `/`-separated, valid on the wire.
    pub rel: String,
    pub stamp: FileStamp,
}

impl Found {
    /// The file's absolute path under `root`.
    pub fn abs(&self, root: &Path) -> PathBuf {
        root.join(&self.rel)
    }
}

/// Everything one walk saw.
#[derive(Debug, Default)]
pub(super) struct Walk {
    pub files: Vec<Found>,
    /// Entries skipped by Syncthing's rules (a skipped directory counts once).
    pub ignored: u64,
    /// Symlinks, sockets, devices: not synced as file contents.
    pub other: u64,
    pub skipped: Vec<Skipped>,
    /// Relative paths (files or directories) whose state could not be read.
    pub unknown: Vec<String>,
}

impl Walk {
    /// True when `path` is, or is below, something we could not read.
    pub fn is_unknown(&self, path: &str) -> bool {
        self.unknown.iter().any(|u| path == u || (path.starts_with(u.as_str()) && path[u.len()..].starts_with('/')))
    }

    fn merge(&mut self, mut other: Walk) {
        if self.files.is_empty() {
            std::mem::swap(&mut self.files, &mut other.files);
        }
        self.files.append(&mut other.files);
        self.ignored += other.ignored;
        self.other += other.other;
        self.skipped.append(&mut other.skipped);
        self.unknown.append(&mut other.unknown);
    }
}

/// What every directory task needs.
struct Ctx<'a> {
    rules: &'a IgnoreRules,
    /// Match the patterns at all (no lines: nothing is ignored by them).
    match_rules: bool,
    /// Without `!` patterns an ignored directory holds nothing we sync.
    prune_ignored: bool,
    out: Mutex<Walk>,
}

pub(super) fn walk(root: &Path, rules: &IgnoreRules) -> Walk {
    let ctx = Ctx {
        rules,
        match_rules: !rules.is_empty(),
        prune_ignored: !rules.has_negations(),
        out: Mutex::new(Walk::default()),
    };
    rayon::scope(|s| visit(s, &ctx, root.to_path_buf(), String::new()));
    ctx.out.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads one directory (`rel_dir` is its relative path, empty for the root),
/// spawning a task for each subdirectory to walk.
fn visit<'s>(scope: &rayon::Scope<'s>, ctx: &'s Ctx<'s>, dir: PathBuf, rel_dir: String) {
    let mut local = Walk::default();
    let unreadable = |local: &mut Walk, reason: String| {
        if !rel_dir.is_empty() {
            local.unknown.push(rel_dir.clone());
        }
        local.skipped.push(Skipped { path: dir.clone(), reason });
    };
    match fs::read_dir(&dir) {
        Err(e) => unreadable(&mut local, e.to_string()),
        Ok(entries) => {
            for next in entries {
                let entry = match next {
                    Ok(entry) => entry,
                    Err(e) => {
                        // Some entry of this directory could not be read: none of it is known.
                        unreadable(&mut local, e.to_string());
                        break;
                    }
                };
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    // Not on the wire, so not in the manifest either (nor anything below it).
                    local.skipped.push(Skipped { path: entry.path(), reason: "name is not UTF-8".into() });
                    continue;
                };
                let rel = if rel_dir.is_empty() { name.to_owned() } else { format!("{rel_dir}/{name}") };
                // From the directory entry; a stat only where the filesystem gives no type.
                let file_type = match entry.file_type() {
                    Ok(t) => t,
                    Err(e) => {
                        local.skipped.push(Skipped { path: entry.path(), reason: e.to_string() });
                        local.unknown.push(rel);
                        continue;
                    }
                };
                let is_dir = file_type.is_dir();
                if is_internal(&rel) || is_temporary(&rel) {
                    local.ignored += 1;
                    continue;
                }
                if ctx.match_rules && ctx.rules.verdict(&rel).is_ignored() {
                    local.ignored += 1;
                    if is_dir && !ctx.prune_ignored {
                        // A `!` pattern may include something below it.
                        scope.spawn(move |s| visit(s, ctx, entry.path(), rel));
                    }
                    continue;
                }
                if is_dir {
                    scope.spawn(move |s| visit(s, ctx, entry.path(), rel));
                    continue;
                }
                if !file_type.is_file() {
                    local.other += 1;
                    continue;
                }
                if let Err(e) = cloud_protocol::validate_path(&rel) {
                    local.skipped.push(Skipped { path: entry.path(), reason: format!("path not allowed: {e}") });
                    continue;
                }
                // Symlinks were sorted out above, so this is the file's own stat.
                match entry.metadata() {
                    Ok(meta) => local.files.push(Found { rel, stamp: FileStamp::from_metadata(&meta) }),
                    Err(e) => {
                        local.skipped.push(Skipped { path: entry.path(), reason: e.to_string() });
                        local.unknown.push(rel);
                    }
                }
            }
        }
    }
    ctx.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).merge(local);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_covers_the_path_and_below_only() {
        let walk = Walk { unknown: vec!["locked".into(), "a/file.bin".into()], ..Walk::default() };
        for (path, want) in [
            ("locked", true),
            ("locked/x", true),
            ("locked/x/y", true),
            ("a/file.bin", true),
            ("lockedx", false),
            ("a/file.bin2", false),
            ("other", false),
        ] {
            assert_eq!(walk.is_unknown(path), want, "{path}");
        }
    }

    #[test]
    fn walk_finds_files_with_slash_paths_and_skips_internal_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in ["a.txt", "d/b.txt", "d/e/c.txt", ".stfolder/x", "d/.syncthing.tmp"] {
            let path = root.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, rel).unwrap();
        }
        let walk = walk(root, &IgnoreRules::default());
        let mut rels: Vec<(&str, u64)> = walk.files.iter().map(|f| (f.rel.as_str(), f.stamp.size)).collect();
        rels.sort();
        assert_eq!(rels, [("a.txt", 5), ("d/b.txt", 7), ("d/e/c.txt", 9)]);
        assert_eq!(walk.ignored, 2);
        assert!(walk.skipped.is_empty() && walk.unknown.is_empty());
        assert_eq!(walk.files[0].abs(root), root.join(walk.files[0].rel.as_str()));
    }
}
