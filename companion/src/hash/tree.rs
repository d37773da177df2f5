//! Hashing a large file on several threads by reading it, not mapping it.
//!
//! BLAKE3 is a tree: a file splits into a left subtree of a power-of-two
//! number of 1 KiB chunks and the rest, recursively, and each subtree's
//! chaining value depends only on its bytes and its offset. So each rayon
//! task `pread`s its own aligned piece into a buffer of its thread
//! ([`FileExt::read_exact_at`]), hashes it with `set_input_offset`, and the
//! chaining values are merged back up ([`blake3::hazmat`]). Reads and
//! hashing run in parallel; the result is exactly `blake3::hash` of the
//! bytes.
//!
//! Why not a memory map (what `b3sum` does): a map faults with SIGBUS,
//! killing the process, when another program truncates the file while we
//! read it. A read just comes back short; we report that as
//! [`io::ErrorKind::UnexpectedEof`] and the caller hashes the file again.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use blake3::hazmat::{ChainingValue, HasherExt, Mode, left_subtree_len, merge_subtrees_non_root, merge_subtrees_root};

/// Bytes one task reads and hashes at once (a power of two, so every leaf
/// but the last is a whole subtree). Small enough to stay in the core's
/// cache between the copy out of the page cache and the hash; large enough
/// that the SIMD kernel runs on many chunks at a time.
pub const LEAF: u64 = 512 * 1024;

thread_local! {
    /// Each pool thread's read buffer, reused across leaves and files.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The BLAKE3 hash of the first `size` bytes of `file`, in leaves of `leaf`
/// bytes (a power of two, at least one chunk). Fails with `UnexpectedEof`
/// when the file is shorter than `size` by the time a piece is read.
pub fn hash_file_range(file: &File, size: u64, leaf: u64) -> io::Result<blake3::Hash> {
    debug_assert!(leaf.is_power_of_two() && leaf >= blake3::CHUNK_LEN as u64);
    if size <= leaf {
        return with_piece(file, 0, size, blake3::hash);
    }
    let left = left_subtree_len(size);
    let (l, r) = rayon::join(|| subtree(file, 0, left, leaf), || subtree(file, left, size - left, leaf));
    Ok(merge_subtrees_root(&l?, &r?, Mode::Hash))
}

/// The chaining value of the (non-root) subtree `offset..offset + len`;
/// `offset` is a multiple of the subtree's size, as the recursion keeps it.
fn subtree(file: &File, offset: u64, len: u64, leaf: u64) -> io::Result<ChainingValue> {
    if len <= leaf {
        return with_piece(file, offset, len, |bytes| {
            let mut hasher = blake3::Hasher::new();
            hasher.set_input_offset(offset);
            hasher.update(bytes);
            hasher.finalize_non_root()
        });
    }
    let left = left_subtree_len(len);
    let (l, r) = rayon::join(|| subtree(file, offset, left, leaf), || subtree(file, offset + left, len - left, leaf));
    Ok(merge_subtrees_non_root(&l?, &r?, Mode::Hash))
}

/// Reads `offset..offset + len` into this thread's buffer and runs `f` on it.
fn with_piece<T>(file: &File, offset: u64, len: u64, f: impl FnOnce(&[u8]) -> T) -> io::Result<T> {
    let len = usize::try_from(len).map_err(|_| io::Error::other("piece larger than memory"))?;
    BUFFER.with_borrow_mut(|buffer| {
        if buffer.len() < len {
            buffer.resize(len, 0);
        }
        let piece = &mut buffer[..len];
        // Short: the file was truncated under us (UnexpectedEof).
        file.read_exact_at(piece, offset)?;
        Ok(f(piece))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const CHUNK: usize = blake3::CHUNK_LEN;

    fn file_of(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(bytes).unwrap();
        tmp.flush().unwrap();
        let file = File::open(tmp.path()).unwrap();
        (tmp, file)
    }

    #[test]
    fn equals_blake3_around_subtree_boundaries() {
        let mib = 1024 * 1024;
        let mut sizes = vec![0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7, 4 * CHUNK, 4 * CHUNK + 1];
        sizes.extend([8191, 8192, 8193, 65_537, 100_003, 1 << 20, (1 << 20) + 1]);
        sizes.extend([16 * mib - 1, 16 * mib, 16 * mib + 1, 16 * mib + 12_345, 16 * mib + 3 * CHUNK + 999]);
        let max = *sizes.iter().max().unwrap();
        let bytes = syncthing_fixtures::noise(max, 42);
        let (_tmp, file) = file_of(&bytes);
        for &size in &sizes {
            let want = blake3::hash(&bytes[..size]);
            // The real leaf, and tiny ones that make deep trees of small inputs.
            let leaves: &[u64] =
                if size <= 2 * mib { &[LEAF, CHUNK as u64, 4 * CHUNK as u64, 64 * 1024] } else { &[LEAF, 64 * 1024] };
            for &leaf in leaves {
                let got = hash_file_range(&file, size as u64, leaf).unwrap();
                assert_eq!(got, want, "size {size}, leaf {leaf}");
            }
        }
    }

    #[test]
    fn a_file_shorter_than_said_is_an_unexpected_eof() {
        let bytes = syncthing_fixtures::noise(3 * LEAF as usize, 7);
        let (_tmp, file) = file_of(&bytes);
        let err = hash_file_range(&file, 4 * LEAF, LEAF).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
