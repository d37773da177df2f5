//! Opening a folder-relative path strictly beneath the folder, following no
//! symbolic link on the way, at the point of use.
//!
//! Paths reach the companion from other people: the owner (through the
//! cloud) announces them to invitees, and members with a send-receive copy
//! can plant files and symlinks that the owner's companion then sees. Text
//! checks (`..`, absolute paths) are not enough: `link/id_rsa`, where `link`
//! is a symlink that Syncthing replicated into the folder, is a clean
//! relative path that leads outside. So every open, `stat` and hash of such
//! a path goes through this module, which asks the kernel to resolve it
//! beneath the folder's directory handle and to refuse any symlink:
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it
//! (Linux 5.6+), else one `openat(O_NOFOLLOW)` per component.
//!
//! The folder root itself may be a symlink (a user's choice, not a peer's);
//! only what lies below it is checked. Errors name the folder-relative path,
//! never the absolute one, because they travel to the owner in reports.

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// Why a folder-relative path could not be opened beneath its folder.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    #[error("{rel:?} is not a valid path inside the folder")]
    InvalidPath { rel: String },
    #[error("{rel} passes through a symbolic link or a non-directory inside the folder")]
    Symlink { rel: String },
    #[error("{rel} is not a regular file inside the folder")]
    NotRegularFile { rel: String },
    #[error("{rel} does not exist")]
    NotFound { rel: String },
    #[error("the folder root {} cannot be opened: {source}", root.display())]
    Root {
        root: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot open {rel}: {source}")]
    Io {
        rel: String,
        #[source]
        source: io::Error,
    },
}

impl BeneathError {
    /// True when nothing exists at the path (deleted, renamed away, or a
    /// parent directory missing).
    pub fn is_not_found(&self) -> bool {
        matches!(self, BeneathError::NotFound { .. })
    }

    /// True when the path exists but is not something we read: a symlink on
    /// the way, a directory, a FIFO, a device.
    pub fn is_not_regular(&self) -> bool {
        matches!(self, BeneathError::Symlink { .. } | BeneathError::NotRegularFile { .. })
    }
}

/// Metadata of the entry at `root/rel` itself (like `lstat`: a final
/// symlink is described, not followed), reached through real directories
/// only. A symlink or non-directory among the parents is an error.
pub fn symlink_metadata(root: &Path, rel: &str) -> Result<Metadata, BeneathError> {
    let fd = open_path(root, rel)?;
    File::from(fd).metadata().map_err(|source| io_error(rel, source))
}

/// Opens the regular file at `root/rel` for reading. Symlinks (anywhere in
/// `rel`), directories, FIFOs and devices are refused without being opened
/// for reading, so no device is ever touched and no read can block.
pub fn open_regular(root: &Path, rel: &str) -> Result<(File, Metadata), BeneathError> {
    let root_fd = open_root(root)?;
    // First a path-only handle: it lets us look before we open for reading.
    let path_fd = open_beneath(&root_fd, rel, OFlags::PATH)?;
    let meta = File::from(path_fd).metadata().map_err(|source| io_error(rel, source))?;
    if !meta.file_type().is_file() {
        return Err(not_regular(rel, &meta));
    }
    let fd = open_beneath(&root_fd, rel, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)?;
    let file = File::from(fd);
    let opened = file.metadata().map_err(|source| io_error(rel, source))?;
    // Replaced between the two opens by a racing rename: what we opened
    // must still be a regular file (still beneath, still no symlink).
    if !opened.file_type().is_file() {
        return Err(not_regular(rel, &opened));
    }
    Ok((file, opened))
}

fn not_regular(rel: &str, meta: &Metadata) -> BeneathError {
    if meta.file_type().is_symlink() {
        BeneathError::Symlink { rel: rel.to_owned() }
    } else {
        BeneathError::NotRegularFile { rel: rel.to_owned() }
    }
}

/// A handle on the directory `rel` beneath `root_fd`, for listing it; a
/// symlink anywhere on the way, the last component included, is refused.
pub(crate) fn open_dir(root_fd: &OwnedFd, rel: &str) -> Result<OwnedFd, BeneathError> {
    open_beneath(root_fd, rel, OFlags::RDONLY | OFlags::DIRECTORY)
}

/// An `O_PATH` handle on the entry itself (a final symlink is not followed).
fn open_path(root: &Path, rel: &str) -> Result<OwnedFd, BeneathError> {
    let root_fd = open_root(root)?;
    open_beneath(&root_fd, rel, OFlags::PATH)
}

fn open_root(root: &Path) -> Result<OwnedFd, BeneathError> {
    rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| BeneathError::Root { root: root.to_path_buf(), source: e.into() })
}

/// The components of `rel`, refusing anything but plain names: no empty
/// (absolute, `a//b`, trailing `/`), `.` or `..` segment, no NUL.
fn components(rel: &str) -> Result<Vec<&str>, BeneathError> {
    let names: Vec<&str> = rel.split('/').collect();
    if rel.contains('\0') || names.iter().any(|n| n.is_empty() || *n == "." || *n == "..") {
        return Err(BeneathError::InvalidPath { rel: rel.to_owned() });
    }
    Ok(names)
}

/// Opens `rel` beneath `root_fd` with `flags` (plus `O_NOFOLLOW | O_CLOEXEC`).
fn open_beneath(root_fd: &OwnedFd, rel: &str, flags: OFlags) -> Result<OwnedFd, BeneathError> {
    let names = components(rel)?;
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::ResolveFlags;
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(root_fd, rel, flags, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            // No openat2 (kernel < 5.6) or a seccomp filter that refuses it
            // (some container runtimes): walk the components ourselves.
            Err(Errno::NOSYS) | Err(Errno::PERM) => {}
            Err(e) => return Err(classify(rel, e)),
        }
    }
    open_by_components(root_fd, rel, &names, flags)
}

/// The fallback: each parent opened with `O_DIRECTORY | O_NOFOLLOW`, so a
/// symlink anywhere fails instead of being followed.
fn open_by_components(root_fd: &OwnedFd, rel: &str, names: &[&str], flags: OFlags) -> Result<OwnedFd, BeneathError> {
    let (last, parents) = names.split_last().ok_or_else(|| BeneathError::InvalidPath { rel: rel.to_owned() })?;
    let mut dir: Option<OwnedFd> = None;
    for name in parents {
        let at = dir.as_ref().map_or(root_fd.as_fd(), |d| d.as_fd());
        let next = rustix::fs::openat(
            at,
            *name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| classify(rel, e))?;
        dir = Some(next);
    }
    let at = dir.as_ref().map_or(root_fd.as_fd(), |d| d.as_fd());
    rustix::fs::openat(at, *last, flags, Mode::empty()).map_err(|e| classify(rel, e))
}

fn classify(rel: &str, errno: Errno) -> BeneathError {
    let rel = rel.to_owned();
    match errno {
        Errno::NOENT => BeneathError::NotFound { rel },
        // ELOOP: a symlink where RESOLVE_NO_SYMLINKS / O_NOFOLLOW forbids one;
        // ENOTDIR: a symlink or file where a directory was needed;
        // EXDEV: resolution tried to leave the folder.
        Errno::LOOP | Errno::NOTDIR | Errno::XDEV => BeneathError::Symlink { rel },
        other => BeneathError::Io { rel, source: other.into() },
    }
}

fn io_error(rel: &str, source: io::Error) -> BeneathError {
    BeneathError::Io { rel: rel.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    /// A folder with `a/b.txt`, and outside it `secret`; `link` → outside
    /// directory, `a/file-link` → the secret, `up` → `..`.
    fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
        let base = tempfile::tempdir().unwrap();
        let outside = base.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"private").unwrap();
        let root = base.path().join("folder");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a/b.txt"), b"shared").unwrap();
        symlink(&outside, root.join("link")).unwrap();
        symlink(outside.join("secret"), root.join("a/file-link")).unwrap();
        symlink("..", root.join("up")).unwrap();
        symlink("b.txt", root.join("a/inside-link")).unwrap();
        (base, root)
    }

    #[test]
    fn opens_a_regular_file_inside() {
        let (_base, root) = setup();
        let (mut file, meta) = open_regular(&root, "a/b.txt").unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "shared");
        assert!(meta.is_file());
    }

    #[test]
    fn refuses_every_symlink_on_the_way() {
        let (_base, root) = setup();
        for rel in ["link/secret", "a/file-link", "up/outside/secret", "a/inside-link", "link"] {
            let err = open_regular(&root, rel).unwrap_err();
            assert!(err.is_not_regular(), "{rel}: {err}");
        }
        // The parent chain is refused even for a plain stat.
        assert!(symlink_metadata(&root, "link/secret").unwrap_err().is_not_regular());
        // A final symlink is described, not followed.
        assert!(symlink_metadata(&root, "a/file-link").unwrap().file_type().is_symlink());
    }

    #[test]
    fn refuses_non_files_and_bad_paths() {
        let (_base, root) = setup();
        assert!(matches!(open_regular(&root, "a").unwrap_err(), BeneathError::NotRegularFile { .. }));
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo").as_path(),
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(open_regular(&root, "fifo").unwrap_err(), BeneathError::NotRegularFile { .. }));
        for rel in ["", "/etc/passwd", "../outside/secret", "a/../a/b.txt", "./a/b.txt", "a//b.txt", "a/b.txt/", "a\0b"]
        {
            assert!(matches!(open_regular(&root, rel).unwrap_err(), BeneathError::InvalidPath { .. }), "{rel:?}");
        }
        assert!(open_regular(&root, "a/missing").unwrap_err().is_not_found());
        assert!(open_regular(&root, "missing/b.txt").unwrap_err().is_not_found());
    }

    #[test]
    fn errors_name_only_the_relative_path() {
        let (_base, root) = setup();
        let err = open_regular(&root, "link/secret").unwrap_err().to_string();
        assert!(err.contains("link/secret") && !err.contains(root.to_str().unwrap()), "{err}");
    }

    #[test]
    fn the_component_walk_refuses_the_same_links() {
        let (_base, root) = setup();
        let root_fd = open_root(&root).unwrap();
        for rel in ["link/secret", "up/outside/secret", "a/file-link"] {
            let names = components(rel).unwrap();
            let err = open_by_components(&root_fd, rel, &names, OFlags::RDONLY | OFlags::NOFOLLOW).unwrap_err();
            assert!(err.is_not_regular(), "{rel}: {err}");
        }
        let names = components("a/b.txt").unwrap();
        open_by_components(&root_fd, "a/b.txt", &names, OFlags::RDONLY | OFlags::NOFOLLOW).unwrap();
    }
}
