//! Walking a Syncthing folder the way Syncthing sees it: the one walker the
//! start-up scan, the owner's resolve and the conflict-copy listing share.
//!
//! Rules, the same for every caller: Syncthing's own entries (`.stfolder`,
//! `.stignore`, `.stversions`) and its temporary files are skipped; the
//! folder's ignore patterns apply when the caller passes them; a symlink is
//! never followed. Each directory is opened relative to its parent's handle
//! with `O_NOFOLLOW | O_DIRECTORY`, so a symlink that replaced a directory
//! between being listed and being opened is refused instead of followed (a
//! walk by path names would wander out of the folder then). Whatever cannot
//! be read is handed to the caller as [`Entry::Unreadable`] and the walk goes
//! on with the rest: a silent stop would make unread files look deleted.
//!
//! Cost: one `getdents` per directory, plus one `fstatat` relative to the
//! open directory per regular file when the caller wants stamps. Directories
//! are read as rayon tasks, so the stats spread over the cores; each task
//! keeps its parent's handle only until it has opened its own, so the open
//! handles stay about as many as the tree is deep per thread.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::beneath;
use crate::ignore::{IgnoreRules, is_internal, is_temporary};

/// How a directory is opened: for reading its entries, never through a symlink.
const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// One thing the walk met. Paths are relative to the folder, `/`-separated.
#[derive(Debug)]
pub(crate) enum Entry {
    /// A regular file; its `stat` when [`Walker::stat_files`] asked for it.
    File { rel: String, stat: Option<Box<Stat>> },
    /// A symlink, socket, device or FIFO: not synced as contents, not followed.
    Other,
    /// Skipped by Syncthing's rules or the ignore patterns (a skipped
    /// directory counts once, unless a `!` pattern makes the walk enter it).
    Ignored,
    /// A name that is not UTF-8: it has no path on the wire. Not entered.
    NotUtf8 { path: PathBuf },
    /// Could not be read: a directory (empty `rel`: the start itself) or a
    /// file's `stat`. Nothing below it is known.
    Unreadable { rel: String, error: io::Error },
}

/// What to walk and how.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Walker<'a> {
    /// The folder's ignore patterns; `None` applies Syncthing's own rules only.
    pub rules: Option<&'a IgnoreRules>,
    /// Take each regular file's `stat` (relative to its directory's handle).
    pub stat_files: bool,
}

struct Ctx<'a, F> {
    root: &'a Path,
    rules: Option<&'a IgnoreRules>,
    /// Without `!` patterns an ignored directory holds nothing to sync.
    prune_ignored: bool,
    stat_files: bool,
    visit: &'a F,
}

impl Walker<'_> {
    /// Walks `start` (relative, empty for the whole folder) under `root`,
    /// calling `visit` once per directory read with what it held. `root`
    /// itself may be a symlink (the user chose the folder's place); nothing
    /// below it is followed, `start` included. A `start` that is gone or no
    /// longer a directory yields nothing.
    pub fn walk<F: Fn(Vec<Entry>) + Sync>(&self, root: &Path, start: &str, visit: F) {
        let ctx = Ctx {
            root,
            rules: self.rules.filter(|r| !r.is_empty()),
            prune_ignored: self.rules.is_none_or(|r| !r.has_negations()),
            stat_files: self.stat_files,
            visit: &visit,
        };
        let root_fd = match rustix::fs::open(root, DIR_FLAGS.difference(OFlags::NOFOLLOW), Mode::empty()) {
            Ok(fd) => fd,
            Err(e) => return visit(vec![Entry::Unreadable { rel: String::new(), error: e.into() }]),
        };
        let start_fd = if start.is_empty() {
            root_fd
        } else {
            match beneath::open_dir(&root_fd, start) {
                Ok(fd) => fd,
                Err(e) if e.is_not_found() || e.is_not_regular() => return,
                Err(e) => return visit(vec![Entry::Unreadable { rel: start.to_owned(), error: io::Error::other(e) }]),
            }
        };
        rayon::scope(|s| read_dir(s, &ctx, start_fd, start.to_owned()));
    }
}

/// Opens `name` under `parent` for a task of its own, then reads it.
fn open_and_read<'s, F: Fn(Vec<Entry>) + Sync>(
    scope: &rayon::Scope<'s>,
    ctx: &'s Ctx<'s, F>,
    parent: Arc<OwnedFd>,
    name: String,
    rel: String,
) {
    let opened = rustix::fs::openat(&*parent, name.as_str(), DIR_FLAGS, Mode::empty());
    drop(parent);
    match opened {
        Ok(fd) => read_dir(scope, ctx, fd, rel),
        // Removed since it was listed: nothing there any more.
        Err(Errno::NOENT) => {}
        // Replaced by a symlink or a file since it was listed: not a directory to enter.
        Err(Errno::LOOP | Errno::NOTDIR) => (ctx.visit)(vec![Entry::Other]),
        Err(e) => (ctx.visit)(vec![Entry::Unreadable { rel, error: e.into() }]),
    }
}

/// Reads one directory (`rel` is its relative path, empty for the root),
/// spawning a task for each subdirectory to enter.
fn read_dir<'s, F: Fn(Vec<Entry>) + Sync>(scope: &rayon::Scope<'s>, ctx: &'s Ctx<'s, F>, fd: OwnedFd, rel: String) {
    let mut seen = Vec::new();
    let dir = Arc::new(fd);
    let entries = match Dir::read_from(&*dir) {
        Ok(entries) => entries,
        Err(e) => return (ctx.visit)(vec![Entry::Unreadable { rel, error: e.into() }]),
    };
    for next in entries {
        let entry = match next {
            Ok(entry) => entry,
            Err(e) => {
                // The listing broke off: the rest of this directory is unknown.
                seen.push(Entry::Unreadable { rel: rel.clone(), error: e.into() });
                break;
            }
        };
        let raw = entry.file_name().to_bytes();
        if raw == b"." || raw == b".." {
            continue;
        }
        let Ok(name) = std::str::from_utf8(raw) else {
            let name = std::os::unix::ffi::OsStrExt::from_bytes(raw);
            let name: &std::ffi::OsStr = name;
            seen.push(Entry::NotUtf8 { path: ctx.root.join(&rel).join(name) });
            continue;
        };
        let child = if rel.is_empty() { name.to_owned() } else { format!("{rel}/{name}") };
        let mut kind = entry.file_type();
        let mut stat = None;
        if kind == FileType::Unknown || (kind == FileType::RegularFile && ctx.stat_files) {
            // Some filesystems do not say in the listing: ask, about the entry itself.
            match rustix::fs::statat(&*dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => {
                    kind = FileType::from_raw_mode(st.st_mode);
                    stat = Some(Box::new(st));
                }
                Err(Errno::NOENT) => continue,
                Err(e) => {
                    seen.push(Entry::Unreadable { rel: child, error: e.into() });
                    continue;
                }
            }
        }
        let is_dir = kind == FileType::Directory;
        if is_internal(&child) || is_temporary(&child) {
            seen.push(Entry::Ignored);
            continue;
        }
        if ctx.rules.is_some_and(|r| r.verdict(&child).is_ignored()) {
            if is_dir && !ctx.prune_ignored {
                // A `!` pattern may include something below it.
                let parent = Arc::clone(&dir);
                let (name, rel) = (name.to_owned(), child.clone());
                scope.spawn(move |s| open_and_read(s, ctx, parent, name, rel));
            }
            seen.push(Entry::Ignored);
            continue;
        }
        match kind {
            FileType::Directory => {
                let parent = Arc::clone(&dir);
                let name = name.to_owned();
                scope.spawn(move |s| open_and_read(s, ctx, parent, name, child));
            }
            FileType::RegularFile => seen.push(Entry::File { rel: child, stat: stat.filter(|_| ctx.stat_files) }),
            _ => seen.push(Entry::Other),
        }
    }
    drop(dir);
    if !seen.is_empty() {
        (ctx.visit)(seen);
    }
}

/// Every entry below `start`, in one list (for callers that do not need
/// the per-directory batches).
pub(crate) fn collect(walker: &Walker<'_>, root: &Path, start: &str) -> Vec<Entry> {
    let all = std::sync::Mutex::new(Vec::new());
    walker.walk(root, start, |mut batch| all.lock().unwrap_or_else(|p| p.into_inner()).append(&mut batch));
    all.into_inner().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
#[path = "walk_tests.rs"]
pub(crate) mod tests;
