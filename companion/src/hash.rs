//! BLAKE3 content hashes of whole files, in the wire form `blake3:<64 hex>`.
//!
//! Small files are read through a buffer; large ones are memory-mapped and
//! hashed on several threads (`update_mmap_rayon`), which is several times
//! faster than one thread for the multi-GiB media files projects carry.
//! Hashing is blocking work: async callers use [`hash_file_async`] /
//! [`hash_if_changed_async`], which run it on tokio's blocking pool.
//!
//! A file can change while we read it. Each hash is taken between two
//! `stat`s and retried when they differ, so a returned `(hash, stamp)` pair
//! always describes one version of the file: later a matching stamp lets us
//! skip the hash with confidence.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Files at least this big are memory-mapped and hashed on several threads;
/// below it the thread hand-off costs more than it saves.
pub const PARALLEL_THRESHOLD: u64 = 16 * 1024 * 1024;

/// How often a file that keeps changing under us is re-read before we give up.
const STABLE_ATTEMPTS: usize = 3;

/// The prefix of a hash on the wire.
pub const HASH_PREFIX: &str = "blake3:";

/// Why a file could not be hashed. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("{} kept changing while it was hashed ({STABLE_ATTEMPTS} attempts)", path.display())]
    Unstable { path: PathBuf },
    #[error("hashing {} stopped before it finished: {detail}", path.display())]
    Task { path: PathBuf, detail: String },
}

impl HashError {
    fn io(path: &Path, source: io::Error) -> Self {
        HashError::Io { path: path.to_path_buf(), source }
    }

    /// True when the file is simply gone (deleted or renamed away).
    pub fn is_not_found(&self) -> bool {
        matches!(self, HashError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
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
    pub fn from_metadata(meta: &Metadata) -> Self {
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

    /// The stamp of the file at `path` (following symlinks).
    pub fn of(path: &Path) -> Result<Self, HashError> {
        let meta = std::fs::metadata(path).map_err(|e| HashError::io(path, e))?;
        Ok(FileStamp::from_metadata(&meta))
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

/// The outcome of [`hash_if_changed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Size and mtime equal the known stamp: not read.
    Unchanged(FileStamp),
    /// Read and hashed.
    Hashed(HashedFile),
}

/// The wire form of a BLAKE3 hash.
pub fn wire_hash(hash: &blake3::Hash) -> String {
    format!("{HASH_PREFIX}{}", hash.to_hex())
}

/// The wire hash of some bytes.
pub fn hash_bytes(bytes: &[u8]) -> String {
    wire_hash(&blake3::hash(bytes))
}

/// Hashes the whole file at `path` (blocking).
pub fn hash_file(path: &Path) -> Result<HashedFile, HashError> {
    for _ in 0..STABLE_ATTEMPTS {
        let before = identity(path)?;
        let hash = hash_contents(path, before.stamp.size)?;
        // Compare after reading: a writer that raced us changes the size,
        // the mtime or (for a rename-over) the inode.
        if identity(path)? == before {
            return Ok(HashedFile { hash: wire_hash(&hash), stamp: before.stamp });
        }
    }
    Err(HashError::Unstable { path: path.to_path_buf() })
}

/// Hashes `path` unless its stamp equals `known`.
pub fn hash_if_changed(path: &Path, known: Option<FileStamp>) -> Result<Checked, HashError> {
    let stamp = identity(path)?.stamp;
    if known == Some(stamp) {
        return Ok(Checked::Unchanged(stamp));
    }
    hash_file(path).map(Checked::Hashed)
}

/// [`hash_file`] on tokio's blocking pool, off the async runtime.
pub async fn hash_file_async(path: PathBuf) -> Result<HashedFile, HashError> {
    let for_error = path.clone();
    tokio::task::spawn_blocking(move || hash_file(&path))
        .await
        .map_err(|e| HashError::Task { path: for_error, detail: e.to_string() })?
}

/// [`hash_if_changed`] on tokio's blocking pool.
pub async fn hash_if_changed_async(path: PathBuf, known: Option<FileStamp>) -> Result<Checked, HashError> {
    let for_error = path.clone();
    tokio::task::spawn_blocking(move || hash_if_changed(&path, known))
        .await
        .map_err(|e| HashError::Task { path: for_error, detail: e.to_string() })?
}

/// What must not change while a file is hashed.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    stamp: FileStamp,
    inode: u64,
}

fn identity(path: &Path) -> Result<Identity, HashError> {
    let meta = std::fs::metadata(path).map_err(|e| HashError::io(path, e))?;
    if !meta.is_file() {
        return Err(HashError::NotAFile { path: path.to_path_buf() });
    }
    Ok(Identity { stamp: FileStamp::from_metadata(&meta), inode: inode(&meta) })
}

#[cfg(unix)]
fn inode(meta: &Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &Metadata) -> u64 {
    0
}

fn hash_contents(path: &Path, size: u64) -> Result<blake3::Hash, HashError> {
    let mut hasher = blake3::Hasher::new();
    if size >= PARALLEL_THRESHOLD {
        // Mapped: 7.8 GiB/s on 2 cores vs 3.4 for buffered reads fed to
        // update_rayon (benches/hash_scan.rs). The price: a process that
        // truncates the file while it is mapped makes us fault (SIGBUS).
        // Syncthing replaces files by rename, which leaves our mapping whole.
        // Falls back to a plain read for files that cannot be mapped.
        hasher.update_mmap_rayon(path).map_err(|e| HashError::io(path, e))?;
    } else {
        let mut file = File::open(path).map_err(|e| HashError::io(path, e))?;
        hasher.update_reader(&mut file).map_err(|e| HashError::io(path, e))?;
    }
    Ok(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const EMPTY: &str = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    fn file_with(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
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
        assert_eq!(hash_file(&empty).unwrap().hash, EMPTY);
        for (name, len) in [("small", 100_000), ("large", PARALLEL_THRESHOLD as usize + 12_345)] {
            let bytes = vector_input(len);
            let path = file_with(dir.path(), name, &bytes);
            let hashed = hash_file(&path).unwrap();
            assert_eq!(hashed.hash, hash_bytes(&bytes), "{name}");
            assert_eq!(hashed.stamp.size, len as u64);
            assert_eq!(hashed.stamp, FileStamp::of(&path).unwrap());
        }
    }

    #[test]
    fn unchanged_stamp_skips_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with(dir.path(), "a", b"hello");
        let Checked::Hashed(first) = hash_if_changed(&path, None).unwrap() else { panic!("expected a hash") };
        assert_eq!(hash_if_changed(&path, Some(first.stamp)).unwrap(), Checked::Unchanged(first.stamp));
        let other = FileStamp { size: first.stamp.size + 1, ..first.stamp };
        assert_eq!(hash_if_changed(&path, Some(other)).unwrap(), Checked::Hashed(first));
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.bin");
        let err = hash_file(&missing).unwrap_err();
        assert!(err.is_not_found());
        assert!(err.to_string().contains("missing.bin"), "{err}");
        let err = hash_file(dir.path()).unwrap_err();
        assert!(matches!(err, HashError::NotAFile { .. }), "{err}");
    }

    #[test]
    fn async_wrapper_runs_off_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with(dir.path(), "a", b"abc");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let hashed = rt.block_on(hash_file_async(path.clone())).unwrap();
        assert_eq!(hashed.hash, hash_bytes(b"abc"));
        let checked = rt.block_on(hash_if_changed_async(path, Some(hashed.stamp))).unwrap();
        assert_eq!(checked, Checked::Unchanged(hashed.stamp));
    }
}
