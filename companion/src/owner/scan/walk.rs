//! Walking a Syncthing folder: every regular file Syncthing would sync, with
//! its `/`-separated relative path and stamp.
//!
//! The walking itself is [`crate::walk`]'s (Syncthing's rules, no symlink
//! followed, one `stat` per regular file, which is most of a scan with
//! nothing to hash). What cannot be read is reported, and remembered as
//! "unknown" so the caller does not take an unreadable file or directory for
//! a deleted one.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Skipped;
use crate::hash::FileStamp;
use crate::ignore::IgnoreRules;
use crate::walk::{Entry, Walker};

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

pub(super) fn walk(root: &Path, rules: &IgnoreRules) -> Walk {
    let out = Mutex::new(Walk::default());
    let walker = Walker { rules: Some(rules), stat_files: true };
    walker.walk(root, "", |entries| {
        let mut local = Walk::default();
        for entry in entries {
            add(&mut local, root, entry);
        }
        out.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).merge(local);
    });
    out.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Files what the walker met into one directory's share of the walk.
fn add(local: &mut Walk, root: &Path, entry: Entry) {
    let abs = |rel: &str| if rel.is_empty() { root.to_path_buf() } else { root.join(rel) };
    match entry {
        Entry::File { rel, stat } => {
            if let Err(e) = cloud_protocol::validate_path(&rel) {
                local.skipped.push(Skipped { path: abs(&rel), reason: format!("path not allowed: {e}") });
            } else if let Some(stat) = stat {
                local.files.push(Found { rel, stamp: FileStamp::from_stat(&stat) });
            }
        }
        Entry::Other => local.other += 1,
        Entry::Ignored => local.ignored += 1,
        // Not on the wire, so not in the manifest either (nor anything below it).
        Entry::NotUtf8 { path } => local.skipped.push(Skipped { path, reason: "name is not UTF-8".into() }),
        Entry::Unreadable { rel, error } => {
            local.skipped.push(Skipped { path: abs(&rel), reason: error.to_string() });
            if !rel.is_empty() {
                local.unknown.push(rel);
            }
        }
    }
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

    use std::fs;

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
