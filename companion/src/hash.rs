//! BLAKE3 content hashes of whole files, in the wire form `blake3:<64 hex>`.
//!
//! Every file is named by its folder and a folder-relative path and opened
//! through [`crate::beneath`], so a symlink (anywhere on the way) is never
//! followed and a peer cannot make us read outside the folder. Content is
//! read through the file descriptor, never memory-mapped: a mapping faults
//! (SIGBUS, killing the process) when another program truncates the file
//! while we hash it (`truncate`, `cp` over it, logrotate's `copytruncate`).
//! Large files are read and hashed in parallel pieces ([`tree`]), as fast
//! as `b3sum`'s memory map (benches/hash_scan.rs).
//!
//! A file can change while we read it. Each hash is taken between two
//! `stat`s and retried when they differ, so a returned `(hash, stamp)` pair
//! always describes one version of the file: later a matching stamp lets us
//! skip the hash with confidence.

use std::fs::{File, Metadata};
use std::io;
use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::beneath::{self, BeneathError};

mod tree;

/// Files at least this big are hashed on several threads; below it the
/// thread hand-off costs more than it saves.
pub(crate) const PARALLEL_THRESHOLD: u64 = 16 * 1024 * 1024;

/// How often a file that keeps changing under us is re-read before we give up.
const STABLE_ATTEMPTS: usize = 3;

/// The prefix of a hash on the wire.
pub(crate) const HASH_PREFIX: &str = "blake3:";

/// Why a file could not be hashed. Each variant names the file by its
/// folder-relative path only: these messages travel to the owner.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Open(#[from] BeneathError),
    #[error("cannot read {rel}: {source}")]
    Io {
        rel: String,
        #[source]
        source: io::Error,
    },
    #[error("{rel} kept changing while it was hashed ({STABLE_ATTEMPTS} attempts)")]
    Unstable { rel: String },
}

impl HashError {
    fn io(rel: &str, source: io::Error) -> Self {
        HashError::Io { rel: rel.to_owned(), source }
    }

    /// True when the file is simply gone (deleted or renamed away).
    pub fn is_not_found(&self) -> bool {
        match self {
            HashError::Open(e) => e.is_not_found(),
            HashError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }

    /// True when the path leads to something that is not a regular file
    /// reached through real directories: a symlink, a directory, a device.
    pub fn is_not_regular(&self) -> bool {
        matches!(self, HashError::Open(e) if e.is_not_regular())
    }
}

/// Size and modification time of a file: equal stamps mean "unchanged,
/// don't hash again" (the same rule Syncthing's scanner uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub size: u64,
    /// Milliseconds since the Unix epoch; negative before 1970.
    pub mtime_ms: i64,
}

impl FileStamp {
    /// The stamp of a file's metadata.
    pub(crate) fn from_metadata(meta: &Metadata) -> Self {
        // A filesystem without mtimes gives 0: such files are hashed every
        // time, which is slow but never wrong.
        let mtime_ms = match meta.modified() {
            Ok(t) => match t.duration_since(UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
                Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
            },
            Err(_) => 0,
        };
        FileStamp { size: meta.len(), mtime_ms }
    }

    /// The same stamp from a raw `stat` (as the folder walker takes it,
    /// relative to the open directory), rounded as [`Self::from_metadata`].
    pub(crate) fn from_stat(st: &rustix::fs::Stat) -> Self {
        let nanos = i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec);
        // Toward zero on both sides of 1970, as `SystemTime` durations are.
        let mtime_ms = i64::try_from(nanos / 1_000_000).unwrap_or(if nanos < 0 { -i64::MAX } else { i64::MAX });
        FileStamp { size: u64::try_from(st.st_size).unwrap_or(0), mtime_ms }
    }

    /// The stamp of the regular file at `root/rel`, reached without
    /// following symlinks.
    pub fn beneath(root: &Path, rel: &str) -> Result<Self, HashError> {
        Ok(identity(root, rel)?.stamp)
    }

    /// The mtime as the wire wants it: never negative.
    pub fn wire_mtime(&self) -> i64 {
        self.mtime_ms.max(0)
    }
}

/// A file's content hash and the stamp it had while being hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedFile {
    /// `blake3:<64 lowercase hex>`
    pub hash: String,
    pub stamp: FileStamp,
}

/// The wire form of a BLAKE3 hash.
pub(crate) fn wire_hash(hash: &blake3::Hash) -> String {
    format!("{HASH_PREFIX}{}", hash.to_hex())
}

/// The wire hash of some bytes.
pub fn hash_bytes(bytes: &[u8]) -> String {
    wire_hash(&blake3::hash(bytes))
}

/// Hashes the whole regular file at `root/rel` (blocking).
pub fn hash_file(root: &Path, rel: &str) -> Result<HashedFile, HashError> {
    for _ in 0..STABLE_ATTEMPTS {
        let (file, meta) = beneath::open_regular(root, rel)?;
        let before = Identity::of(&meta);
        let hash = match hash_contents(file, before.stamp.size) {
            Ok(hash) => hash,
            // Truncated while we read it: look again.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => continue,
            Err(e) => return Err(HashError::io(rel, e)),
        };
        // Compare after reading: a writer that raced us changes the size,
        // the mtime or (for a rename-over) the inode at the path.
        if identity(root, rel)? == before {
            return Ok(HashedFile { hash: wire_hash(&hash), stamp: before.stamp });
        }
    }
    Err(HashError::Unstable { rel: rel.to_owned() })
}

/// What must not change while a file is hashed.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    stamp: FileStamp,
    inode: u64,
}

impl Identity {
    fn of(meta: &Metadata) -> Self {
        Identity { stamp: FileStamp::from_metadata(meta), inode: std::os::unix::fs::MetadataExt::ino(meta) }
    }
}

fn identity(root: &Path, rel: &str) -> Result<Identity, HashError> {
    let meta = beneath::symlink_metadata(root, rel)?;
    if !meta.file_type().is_file() {
        let err = if meta.file_type().is_symlink() {
            BeneathError::Symlink { rel: rel.to_owned() }
        } else {
            BeneathError::NotRegularFile { rel: rel.to_owned() }
        };
        return Err(err.into());
    }
    Ok(Identity::of(&meta))
}

/// Hashes the first `size` bytes of `file` (its size when opened). Large
/// files are read in pieces on several threads ([`tree`]).
fn hash_contents(mut file: File, size: u64) -> io::Result<blake3::Hash> {
    if size >= PARALLEL_THRESHOLD {
        return tree::hash_file_range(&file, size, tree::LEAF);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(&mut file)?;
    Ok(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const EMPTY: &str = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    fn file_with(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        File::create(&path).unwrap().write_all(bytes).unwrap();
        path
    }

    /// The official test-vector input: bytes 0..=250 repeated.
    fn vector_input(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn known_vectors() {
        assert_eq!(hash_bytes(b""), EMPTY);
        // From BLAKE3's test_vectors.json.
        assert_eq!(
            hash_bytes(&vector_input(1)),
            "blake3:2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"
        );
        assert_eq!(
            hash_bytes(&vector_input(1024)),
            "blake3:42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"
        );
    }

    #[test]
    fn files_match_in_memory_hash() {
        let dir = tempfile::tempdir().unwrap();
        let empty = file_with(dir.path(), "empty", b"");
        assert_eq!(hash_file(dir.path(), "empty").unwrap().hash, EMPTY);
        let _ = empty;
        for (name, len) in [("small", 100_000), ("large", PARALLEL_THRESHOLD as usize + 12_345)] {
            let bytes = vector_input(len);
            file_with(dir.path(), name, &bytes);
            let hashed = hash_file(dir.path(), name).unwrap();
            assert_eq!(hashed.hash, hash_bytes(&bytes), "{name}");
            assert_eq!(hashed.stamp.size, len as u64);
            assert_eq!(hashed.stamp, FileStamp::beneath(dir.path(), name).unwrap());
        }
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = hash_file(dir.path(), "missing.bin").unwrap_err();
        assert!(err.is_not_found());
        assert!(err.to_string().contains("missing.bin"), "{err}");
        assert!(!err.to_string().contains(dir.path().to_str().unwrap()), "absolute path leaked: {err}");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let err = hash_file(dir.path(), "sub").unwrap_err();
        assert!(err.is_not_regular(), "{err}");
    }
}
