//! Walking a Syncthing folder: every regular file Syncthing would sync, with
//! its `/`-separated relative path and stamp.
//!
//! Symlinks are not followed (Syncthing syncs a link as a link, and we track
//! file contents only). What cannot be read is reported, and remembered as
//! "unknown" so the caller does not take an unreadable file or directory for
//! a deleted one.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::Skipped;
use crate::hash::FileStamp;
use crate::ignore::{IgnoreRules, is_internal, is_temporary};

/// One regular file found.
#[derive(Debug, Clone)]
pub(super) struct Found {
    /// Relative, `/`-separated, valid on the wire.
    pub rel: String,
    pub abs: PathBuf,
    pub stamp: FileStamp,
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
}

/// The `/`-separated form of `abs` relative to `root`, if every component is UTF-8.
fn relative(root: &Path, abs: &Path) -> Option<String> {
    let rel = abs.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

pub(super) fn walk(root: &Path, rules: &IgnoreRules) -> Walk {
    let mut out = Walk::default();
    // Without `!` patterns an ignored directory holds nothing we sync.
    let prune_ignored = !rules.has_negations();
    let mut entries = WalkDir::new(root).follow_links(false).min_depth(1).into_iter();
    while let Some(next) = entries.next() {
        let entry = match next {
            Ok(entry) => entry,
            Err(err) => {
                let path = err.path().unwrap_or(root).to_path_buf();
                if let Some(rel) = relative(root, &path).filter(|r| !r.is_empty()) {
                    out.unknown.push(rel);
                }
                out.skipped.push(Skipped { path, reason: err.to_string() });
                continue;
            }
        };
        let is_dir = entry.file_type().is_dir();
        let Some(rel) = relative(root, entry.path()) else {
            out.skipped.push(Skipped { path: entry.path().to_path_buf(), reason: "name is not UTF-8".into() });
            if is_dir {
                entries.skip_current_dir();
            }
            continue;
        };
        if is_internal(&rel) || is_temporary(&rel) {
            out.ignored += 1;
            if is_dir {
                entries.skip_current_dir();
            }
            continue;
        }
        if rules.verdict(&rel).is_ignored() {
            out.ignored += 1;
            if is_dir && prune_ignored {
                entries.skip_current_dir();
            }
            continue;
        }
        if is_dir {
            continue;
        }
        if !entry.file_type().is_file() {
            out.other += 1;
            continue;
        }
        if let Err(e) = cloud_protocol::validate_path(&rel) {
            out.skipped.push(Skipped { path: entry.path().to_path_buf(), reason: format!("path not allowed: {e}") });
            continue;
        }
        match entry.metadata() {
            Ok(meta) => out.files.push(Found { rel, abs: entry.into_path(), stamp: FileStamp::from_metadata(&meta) }),
            Err(e) => {
                out.skipped.push(Skipped { path: entry.path().to_path_buf(), reason: e.to_string() });
                out.unknown.push(rel);
            }
        }
    }
    out
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
    fn relative_paths_use_slashes() {
        let root = Path::new("/r");
        assert_eq!(relative(root, Path::new("/r/a/b.txt")).as_deref(), Some("a/b.txt"));
        assert_eq!(relative(root, Path::new("/elsewhere")), None);
    }
}
