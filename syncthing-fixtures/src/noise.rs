//! Incompressible file content for tests and benches (xorshift64), so
//! Syncthing can neither compress a transfer nor reuse blocks between files
//! made with different seeds. Deterministic: a seed always gives the same bytes.

use std::io::{self, Write};
use std::path::Path;

/// `len` bytes of the stream for `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    Xorshift::new(seed).fill(&mut bytes);
    bytes
}

/// Writes `len` bytes of the stream for `seed` to a new file at `path`, in
/// 1 MiB writes (so large files never sit in memory whole).
pub fn write_noise(path: &Path, len: u64, seed: u64) -> io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    let mut rng = Xorshift::new(seed);
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(block.len());
        rng.fill(&mut block[..n]);
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.flush()
}

struct Xorshift(u64);

impl Xorshift {
    fn new(seed: u64) -> Self {
        // Never zero, or the stream would be all zeros.
        Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let mut s = self.0;
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            self.0 = s;
            chunk.copy_from_slice(&s.to_le_bytes()[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_and_repeat_and_files_match_memory() {
        assert_eq!(noise(1000, 1), noise(1000, 1));
        assert_ne!(noise(1000, 1), noise(1000, 2));
        assert_ne!(noise(16, 0), vec![0u8; 16], "seed 0 is not all zeros");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.bin");
        let len = (1 << 20) + 13; // more than one block, not a multiple of 8
        write_noise(&path, len as u64, 7).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), noise(len, 7));
    }
}
