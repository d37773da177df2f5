//! Listing Syncthing's conflict copies in a folder without ever leaving it.
//!
//! The names found end up in badge messages ("a conflicting copy exists:
//! …"), which travel to the owner, so the walk must not wander
//! through a symlinked directory into the rest of the invitee's disk: the
//! folder walker ([`crate::walk`]) opens each directory under its parent's
//! handle with `O_NOFOLLOW`, so a symlink is refused even if it replaced a
//! real directory between being listed and being opened.

use std::path::Path;

use crate::ignore::is_conflict_copy;
use crate::walk::{self, Entry, Walker};

/// Every `.sync-conflict-` file under `root`, relative, `/`-separated,
/// sorted. Syncthing's own directories are skipped; so is whatever cannot
/// be read, and anything that is not a real directory or regular file.
pub(super) fn list_conflict_copies(root: &Path) -> Vec<String> {
    let mut found: Vec<String> = walk::collect(&Walker::default(), root, "")
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::File { rel, .. } if is_conflict_copy(&rel).is_some() => Some(rel),
            Entry::Unreadable { rel, error } => {
                tracing::debug!(path = rel, %error, "cannot look for conflict copies here");
                None
            }
            _ => None,
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const COPY: &str = "x.sync-conflict-20261129-051504-ASMRTYP.txt";

    #[test]
    fn lists_copies_inside_and_never_through_a_link() {
        let base = tempfile::tempdir().unwrap();
        let outside = base.path().join("outside");
        std::fs::create_dir_all(outside.join("deeper")).unwrap();
        std::fs::write(outside.join(COPY), b"theirs").unwrap();
        std::fs::write(outside.join("deeper").join(COPY), b"theirs").unwrap();
        let root = base.path().join("folder");
        for dir in ["a/b", ".stversions", "c"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [COPY, "a/b/x.txt", ".stversions/x.sync-conflict-20261129-051504-ASMRTYP.txt"] {
            std::fs::write(root.join(file), b"ours").unwrap();
        }
        std::fs::write(root.join("a/b").join(COPY), b"ours").unwrap();
        symlink(&outside, root.join("link")).unwrap();
        symlink(&outside, root.join("c/link")).unwrap();
        symlink(outside.join(COPY), root.join("c").join(COPY)).unwrap();

        assert_eq!(list_conflict_copies(&root), vec![format!("a/b/{COPY}"), COPY.to_owned()]);
        // The folder reached through a symlink of the user's own is still listed.
        let alias = base.path().join("alias");
        symlink(&root, &alias).unwrap();
        assert_eq!(list_conflict_copies(&alias).len(), 2);
        assert!(list_conflict_copies(&base.path().join("missing")).is_empty());
    }
}
