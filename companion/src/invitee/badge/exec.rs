//! Doing the engine's [`Action`]s: hashing files (blocking pool), asking
//! Syncthing's REST API, listing conflict copies. Each returns an
//! [`Answer`] the driver feeds back. Paths come from Syncthing events and
//! the cloud, so each is checked before it is joined onto the folder root.

use std::path::{Path, PathBuf};

use std::os::unix::fs::MetadataExt;

use crate::beneath::{self, BeneathError};
use crate::hash::{FileStamp, HashError, hash_file};
use crate::syncthing::Client;
use crate::syncthing::types::{DbFile, DbStatus, Need};

use super::copies::list_conflict_copies;
use super::model::{Action, HashOutcome, Verified};

/// The result of one action.
#[derive(Debug)]
pub(super) enum Answer {
    Hashed(String, HashOutcome),
    File(String, Option<Box<DbFile>>),
    Need(Option<Need>),
    Status(Option<Box<DbStatus>>),
    Copies(Option<Vec<String>>),
    Copy(String, bool),
}

/// Runs one action. Failures are answers too (`None`): the engine asks
/// again when it next has a reason to.
pub(super) async fn execute(action: Action, client: Client, folder_id: String, root: PathBuf) -> Answer {
    match action {
        Action::Hash { path, known } => {
            let outcome = match cloud_protocol::validate_path(&path) {
                Ok(()) => hash(root, path.clone(), known).await,
                Err(_) => HashOutcome::Failed(format!("{path:?} is not a valid path inside the folder")),
            };
            Answer::Hashed(path, outcome)
        }
        Action::QueryFile { path } => {
            let file = client.db_file(&folder_id, &path).await;
            if let Err(e) = &file {
                tracing::debug!(%path, error = %e, "db/file failed");
            }
            Answer::File(path, file.ok().map(Box::new))
        }
        Action::QueryNeed => Answer::Need(log_err("db/need", client.db_need(&folder_id, None).await)),
        Action::QueryFolderStatus => {
            Answer::Status(log_err("db/status", client.db_status(&folder_id).await).map(Box::new))
        }
        Action::ListConflictCopies => {
            let listing = tokio::task::spawn_blocking(move || list_conflict_copies(&root)).await.ok();
            Answer::Copies(listing)
        }
        Action::CheckCopy { path } => {
            let exists = cloud_protocol::validate_path(&path).is_ok()
                && crate::beneath::symlink_metadata(&root, &path).is_ok_and(|m| m.is_file());
            Answer::Copy(path, exists)
        }
    }
}

fn log_err<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Option<T> {
    r.map_err(|e| tracing::debug!(error = %e, "{what} failed")).ok()
}

/// The error badge of an announced path that does not lead to a regular
/// file through real directories here.
pub const NOT_REGULAR: &str = "not a regular file inside the folder";

async fn hash(root: PathBuf, path: String, known: Option<Verified>) -> HashOutcome {
    tokio::task::spawn_blocking(move || hash_blocking(&root, &path, known))
        .await
        .unwrap_or_else(|e| HashOutcome::Failed(format!("hashing stopped: {e}")))
}

/// Hashes `root/rel` (reached without following any symlink), unless it is
/// still the file last verified: same size, mtime and inode (stamp alone
/// for badges saved before inodes were kept).
pub(super) fn hash_blocking(root: &Path, rel: &str, known: Option<Verified>) -> HashOutcome {
    if let Some(known) = known {
        match beneath::symlink_metadata(root, rel) {
            Ok(meta) if meta.is_file() => {
                let same_inode = known.inode.is_none_or(|inode| inode == meta.ino());
                if same_inode && FileStamp::from_metadata(&meta) == known.stamp {
                    return HashOutcome::Unchanged;
                }
            }
            Ok(_) => return HashOutcome::Failed(NOT_REGULAR.to_owned()),
            Err(e) => return failed(HashError::Open(e)),
        }
    }
    match hash_file(root, rel) {
        Ok(h) => {
            // The inode of what was read: the file's now, if it still has
            // the stamp we hashed (else unknown, and the next look reads).
            let inode = beneath::symlink_metadata(root, rel)
                .ok()
                .filter(|m| m.is_file() && FileStamp::from_metadata(m) == h.stamp)
                .map(|m| m.ino());
            HashOutcome::Hashed { hash: h.hash, stamp: h.stamp, inode }
        }
        Err(e) => failed(e),
    }
}

/// A hash error as the badge says it: folder-relative words only (badges
/// travel to the owner; the invitee's own paths are none of their business).
fn failed(e: HashError) -> HashOutcome {
    match e {
        e if e.is_not_found() => HashOutcome::Missing,
        // A directory, a symlink (here or on the way) or a device where a
        // file is expected: never read, and said plainly.
        e if e.is_not_regular() => HashOutcome::Failed(NOT_REGULAR.to_owned()),
        HashError::Open(BeneathError::Root { source, .. }) => {
            HashOutcome::Failed(format!("the folder cannot be opened: {source}"))
        }
        e => HashOutcome::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(outcome: &HashOutcome) -> Verified {
        match outcome {
            HashOutcome::Hashed { stamp, inode, .. } => Verified { stamp: *stamp, inode: *inode },
            other => panic!("expected a hash, got {other:?}"),
        }
    }

    /// The file is read only when it is not the one last verified: same
    /// size, mtime and inode skip the read (shown by changing the bytes in
    /// place behind an unchanged stamp); a replacement with the same size
    /// and mtime but another inode is read.
    #[test]
    fn an_unchanged_file_is_not_read_again_but_a_replaced_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let (root, path) = (dir.path(), dir.path().join("a.txt"));
        std::fs::write(&path, b"first").unwrap();
        let first = hash_blocking(root, "a.txt", None);
        let known = verified(&first);
        assert!(known.inode.is_some(), "{first:?}");
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();

        // Same length, same mtime, same inode, other bytes: not read.
        std::fs::write(&path, b"other").unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
        assert_eq!(hash_blocking(root, "a.txt", Some(known)), HashOutcome::Unchanged);

        // Replaced by another file with the same length and mtime: read.
        let new = root.join("new");
        std::fs::write(&new, b"third").unwrap();
        std::fs::File::options().write(true).open(&new).unwrap().set_modified(mtime).unwrap();
        std::fs::rename(&new, &path).unwrap();
        let third = hash_blocking(root, "a.txt", Some(known));
        assert!(
            matches!(&third, HashOutcome::Hashed { hash, .. } if *hash == crate::hash::hash_bytes(b"third")),
            "{third:?}"
        );
        // A badge saved before inodes were kept: the stamp alone decides.
        let old = Verified { inode: None, ..verified(&third) };
        assert_eq!(hash_blocking(root, "a.txt", Some(old)), HashOutcome::Unchanged);
    }

    #[test]
    fn errors_name_no_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let outcome = hash_blocking(&gone, "a.txt", None);
        let HashOutcome::Failed(why) = &outcome else { panic!("{outcome:?}") };
        assert!(!why.contains(dir.path().to_str().unwrap()), "{why}");
        std::fs::create_dir(dir.path().join("d")).unwrap();
        assert_eq!(hash_blocking(dir.path(), "d", None), HashOutcome::Failed(NOT_REGULAR.into()));
    }
}
