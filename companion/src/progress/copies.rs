//! Listing Syncthing's conflict copies in a folder without ever leaving it.
//!
//! The names found end up in badge messages ("a conflicting copy exists:
//! …"), which travel to the owner, so the walk must not wander
//! through a symlinked directory into the rest of the invitee's disk. Each
//! directory is opened relative to its parent's handle with `O_NOFOLLOW |
//! O_DIRECTORY`: a symlink is refused even if it replaced a real directory
//! between being listed and being opened (a walk by path names would
//! follow it then).

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

use crate::ignore::{is_conflict_copy, is_internal};

/// How a directory is opened: for reading its entries, never through a symlink.
const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// Every `.sync-conflict-` file under `root`, relative, `/`-separated,
/// sorted. Syncthing's own directories are skipped; so is whatever cannot
/// be read, and anything that is not a real directory or regular file.
pub(super) fn list_conflict_copies(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    // The root itself may be a symlink: the user chose the folder's place.
    let Ok(root_fd) = rustix::fs::open(root, DIR_FLAGS.difference(OFlags::NOFOLLOW), Mode::empty()) else {
        return found;
    };
    // Directories still to read: their parent's handle (shared, so the
    // open handles stay about as many as the tree is deep), name and path.
    let mut pending: Vec<(Arc<OwnedFd>, String, String)> = Vec::new();
    read_dir(&Arc::new(root_fd), "", &mut pending, &mut found);
    while let Some((parent, name, rel)) = pending.pop() {
        let Ok(fd) = rustix::fs::openat(&*parent, name.as_str(), DIR_FLAGS, Mode::empty()) else { continue };
        drop(parent);
        read_dir(&Arc::new(fd), &rel, &mut pending, &mut found);
    }
    found.sort();
    found
}

/// Reads one directory: conflict copies go to `found`, subdirectories to `pending`.
fn read_dir(
    dir: &Arc<OwnedFd>,
    prefix: &str,
    pending: &mut Vec<(Arc<OwnedFd>, String, String)>,
    found: &mut Vec<String>,
) {
    let Ok(entries) = Dir::read_from(&**dir) else { return };
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().to_str() else { continue };
        if name == "." || name == ".." {
            continue;
        }
        let rel = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}/{name}") };
        let kind = match entry.file_type() {
            // Some filesystems do not say in the listing: ask, about the entry itself.
            FileType::Unknown => rustix::fs::statat(&**dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .map_or(FileType::Unknown, |st| FileType::from_raw_mode(st.st_mode)),
            kind => kind,
        };
        match kind {
            FileType::Directory if !is_internal(&rel) => pending.push((dir.clone(), name.to_owned(), rel)),
            FileType::RegularFile if is_conflict_copy(&rel).is_some() => found.push(rel),
            _ => {}
        }
    }
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
