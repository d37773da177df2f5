//! The soak's steady mix of work on the owner's folder: creates, edits,
//! renames and deletes of small files, and now and then a large file, over a
//! fixed pool of names (so Syncthing's and the companions' per-path records
//! stay bounded and any growth is a leak, not more data). It keeps the
//! expected final state: each present path and the hash of what was written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use e2e::docker_stack::write_random;
use rand::RngExt;
use rand::seq::IteratorRandom;

/// Small files hover around this many.
const TARGET_FILES: usize = 30;
/// The pool of small names: `d<k>/f<n>.bin`.
const SMALL_NAMES: usize = 60;
/// The large files: written in turn, each time with new bytes.
const BIG_NAMES: [&str; 2] = ["footage/take-1.mov", "footage/take-2.mov"];

/// How many of each operation ran.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub creates: u64,
    pub edits: u64,
    pub renames: u64,
    pub deletes: u64,
    pub big_writes: u64,
}

/// The owner's folder and what it must hold.
pub struct Workload {
    root: PathBuf,
    /// Present path → wire hash of its bytes.
    pub files: BTreeMap<String, String>,
    pub counts: Counts,
    big_bytes: usize,
    next_big: usize,
}

fn small_name(n: usize) -> String {
    format!("d{}/f{n:02}.bin", n % 4)
}

impl Workload {
    pub fn new(root: &Path, big_bytes: usize) -> Workload {
        Workload { root: root.to_owned(), files: BTreeMap::new(), counts: Counts::default(), big_bytes, next_big: 0 }
    }

    fn write(&mut self, path: &str, len: usize) -> anyhow::Result<()> {
        let hash = write_random(&self.root.join(path), len)?;
        self.files.insert(path.to_owned(), hash);
        Ok(())
    }

    /// Writes [`TARGET_FILES`] small files, so the run starts at its steady size.
    pub fn seed(&mut self) -> anyhow::Result<()> {
        let mut rng = rand::rng();
        for n in (0..SMALL_NAMES).sample(&mut rng, TARGET_FILES) {
            self.write(&small_name(n), rng.random_range(1..64 * 1024))?;
        }
        Ok(())
    }

    /// One small-file operation, weighted so the count stays near [`TARGET_FILES`].
    pub fn step(&mut self) -> anyhow::Result<()> {
        let mut rng = rand::rng();
        let small: Vec<String> = self.files.keys().filter(|p| !is_big(p)).cloned().collect();
        let absent = (0..SMALL_NAMES).map(small_name).filter(|n| !self.files.contains_key(n)).choose(&mut rng);
        let present = small.iter().choose(&mut rng).cloned();
        let roll = rng.random_range(0..100);
        let len = rng.random_range(1..64 * 1024);
        // Below the target: mostly creates; above: mostly deletes.
        let create_below = if small.len() < TARGET_FILES { 45 } else { 10 };
        match (roll, present, absent) {
            (r, _, Some(name)) if r < create_below => {
                self.write(&name, len)?;
                self.counts.creates += 1;
            }
            (r, Some(path), _) if r < 60 => {
                self.write(&path, len)?;
                self.counts.edits += 1;
            }
            (r, Some(path), Some(to)) if r < 80 => {
                if let Some(parent) = self.root.join(&to).parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::rename(self.root.join(&path), self.root.join(&to))
                    .with_context(|| format!("cannot rename {path} to {to}"))?;
                let hash = self.files.remove(&path).context("renamed a file the model lacks")?;
                self.files.insert(to, hash);
                self.counts.renames += 1;
            }
            (_, Some(path), _) => {
                std::fs::remove_file(self.root.join(&path)).with_context(|| format!("cannot delete {path}"))?;
                self.files.remove(&path);
                self.counts.deletes += 1;
            }
            (_, None, Some(name)) => {
                self.write(&name, len)?;
                self.counts.creates += 1;
            }
            (_, None, None) => {}
        }
        Ok(())
    }

    /// Rewrites the next large file with new bytes.
    pub fn big(&mut self) -> anyhow::Result<()> {
        let name = BIG_NAMES[self.next_big % BIG_NAMES.len()];
        self.next_big += 1;
        self.write(name, self.big_bytes)?;
        self.counts.big_writes += 1;
        Ok(())
    }

    /// Every path the workload ever used (present or not).
    pub fn all_names() -> Vec<String> {
        (0..SMALL_NAMES).map(small_name).chain(BIG_NAMES.iter().map(|s| (*s).to_owned())).collect()
    }
}

fn is_big(path: &str) -> bool {
    BIG_NAMES.contains(&path)
}

/// The wire hash of a file's bytes as they are on disk now.
pub fn disk_hash(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("blake3:{}", blake3::hash(&bytes).to_hex()))
}

#[test]
fn the_model_matches_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Workload::new(dir.path(), 1024);
    w.seed().unwrap();
    assert_eq!(w.files.len(), TARGET_FILES);
    for i in 0..400 {
        w.step().unwrap();
        if i % 50 == 0 {
            w.big().unwrap();
        }
    }
    let c = w.counts;
    assert!(c.creates > 0 && c.edits > 0 && c.renames > 0 && c.deletes > 0 && c.big_writes == 8, "{c:?}");
    assert!((15..=SMALL_NAMES).contains(&w.files.len()), "{} files", w.files.len());
    for name in Workload::all_names() {
        let on_disk = dir.path().join(&name);
        match w.files.get(&name) {
            Some(hash) => assert_eq!(&disk_hash(&on_disk).unwrap(), hash, "{name}"),
            None => assert!(!on_disk.exists(), "{name} is on disk but not in the model"),
        }
    }
}
