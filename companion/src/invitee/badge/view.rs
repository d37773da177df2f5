//! What the engine reports: one badge, all badges, the stamps to persist,
//! ETAs, and the byte-weighted folder summary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cloud_protocol::{FileProgress, FileState};

use super::engine::Engine;
use super::model::{DiskFact, Verified, round_percent};
use super::rule::Pull;
use crate::live::{FolderProgress, StateCounts};

impl Engine {
    /// One path's badge, if the cloud announced it.
    pub fn badge(&self, path: &str) -> Option<FileProgress> {
        self.files.get(path).and_then(|t| t.last.as_ref()).map(|b| b.progress(path))
    }

    /// Every announced path's badge, by path.
    pub fn badges(&self) -> Vec<FileProgress> {
        let mut all: Vec<FileProgress> =
            self.files.iter().filter_map(|(p, t)| t.last.as_ref().map(|b| b.progress(p))).collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all
    }

    /// The stamp and inode of the last hash of a path (persisted with its badge).
    pub fn verified(&self, path: &str) -> Option<Verified> {
        match self.files.get(path).map(|t| &t.disk) {
            Some(DiskFact::Present { stamp, inode, .. }) => Some(Verified { stamp: *stamp, inode: *inode }),
            _ => None,
        }
    }

    /// The `.sync-conflict-` copies on disk, sorted, by the path of their original.
    pub fn conflict_copies_by_original(&self) -> BTreeMap<String, Vec<String>> {
        self.copies.iter().map(|(original, set)| (original.clone(), set.iter().cloned().collect())).collect()
    }

    /// Time left for one file being pulled, at its measured rate.
    pub fn file_eta(&self, path: &str, now: Instant) -> Option<Duration> {
        let t = self.files.get(path)?;
        let size = t.expected.as_ref()?.size;
        let left = size.saturating_sub((size as f64 * t.pull_percent() / 100.0) as u64);
        match t.pull {
            // A stalled pull has no time left to tell.
            Pull::Active { .. } if t.stalled().is_some() => None,
            Pull::Active { .. } => t.rate.as_ref().and_then(|r| r.eta(now, left)),
            _ => None,
        }
    }

    /// Time left for every file being pulled, at its measured rate.
    pub fn etas(&self, now: Instant) -> Vec<(String, Duration)> {
        self.files
            .iter()
            .filter(|(_, t)| matches!(t.pull, Pull::Active { .. }))
            .filter_map(|(p, _)| Some((p.clone(), self.file_eta(p, now)?)))
            .collect()
    }

    /// The folder as a whole, byte-weighted.
    pub fn folder(&self, now: Instant) -> FolderProgress {
        let mut counts = StateCounts::default();
        let (mut total, mut done, mut weighted_files, mut percent_sum) = (0u64, 0f64, 0usize, 0f64);
        for t in self.files.values() {
            let Some(badge) = &t.last else { continue };
            counts.add(badge.state);
            // Deleted files and files not synced here have no bytes to wait for.
            let deleted = badge.state == FileState::Deleted || t.expected.as_ref().is_some_and(|e| e.deleted);
            if deleted || badge.state == FileState::IgnoredHere {
                continue;
            }
            let size = t.expected.as_ref().map_or(0, |e| e.size);
            total += size;
            done += size as f64 * badge.percent / 100.0;
            weighted_files += 1;
            percent_sum += badge.percent;
        }
        let percent = if total > 0 {
            done * 100.0 / total as f64
        } else if weighted_files > 0 {
            // Only empty files: count files instead of bytes.
            percent_sum / weighted_files as f64
        } else {
            100.0
        };
        let left = total.saturating_sub(done as u64);
        FolderProgress {
            percent: round_percent(percent),
            bytes_total: total,
            bytes_done: done as u64,
            rate_bps: self.folder_rate.per_second(now),
            eta: self.folder_rate.eta(now, left),
            counts,
            folder_error: self.folder_error.clone(),
        }
    }
}
