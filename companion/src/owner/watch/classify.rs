//! Turns debounced `notify` events into the paths worth a look, and holds
//! back files that are still being written.
//!
//! The debouncer reports each raw event once it is older than the debounce
//! time, so a file written in slow chunks would be reported after every
//! chunk. On Linux, inotify tells when a writer closes the file
//! (`Access(Close(Write))`): a file with data written (or just created) is
//! *held* until that close, and reported once. A writer that keeps a file
//! open (a log, an mmap) is reported anyway after `max_hold`, which is no
//! later than Syncthing's own default watcher delay.
//!
//! Reads (ours when hashing, Syncthing's when scanning) produce open/close
//! events too; they are no change and are dropped here.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::EventKind;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
use notify_debouncer_full::DebouncedEvent;

use crate::ignore::{is_conflict_copy, is_internal, is_temporary};

use super::SharedRules;

/// What one debounce tick found in a folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchBatch {
    /// Relative, `/`-separated paths that may have changed (files or
    /// directories, existing or gone): the receiver looks at each on disk.
    pub paths: BTreeSet<String>,
    /// Syncthing conflict copies among `paths`: `(copy, original)`.
    pub conflicts: Vec<(String, String)>,
    /// `.stignore` changed: reload the patterns, then reconcile.
    pub ignores_changed: bool,
    /// The kernel dropped events (queue overflow) or the root itself moved:
    /// only a rescan of the whole folder is safe.
    pub rescan: bool,
}

impl WatchBatch {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && !self.ignores_changed && !self.rescan
    }
}

/// Paths held back because a writer still has them open, with since when.
/// Shared so other change sources (Syncthing's events) skip them too.
#[derive(Debug, Clone, Default)]
pub struct HeldPaths {
    inner: Arc<Mutex<HashMap<String, Instant>>>,
}

impl HeldPaths {
    /// True while `path` is being written.
    pub fn contains(&self, path: &str) -> bool {
        self.lock().contains_key(path)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The per-folder state machine. Pure apart from the clock passed in.
#[derive(Debug)]
pub struct Classifier {
    root: PathBuf,
    rules: SharedRules,
    held: HeldPaths,
    max_hold: Duration,
}

impl Classifier {
    pub fn new(root: PathBuf, rules: SharedRules, held: HeldPaths, max_hold: Duration) -> Classifier {
        Classifier { root, rules, held, max_hold }
    }

    /// One tick's events, in the order the debouncer gave them.
    pub fn on_events(&mut self, events: &[DebouncedEvent], now: Instant) -> WatchBatch {
        let mut batch = WatchBatch::default();
        for event in events {
            if event.need_rescan() {
                batch.rescan = true;
                continue;
            }
            for path in &event.paths {
                self.on_path(&event.kind, path, now, &mut batch);
            }
        }
        self.finish(batch)
    }

    /// Releases files held longer than `max_hold`.
    pub fn on_tick(&mut self, now: Instant) -> WatchBatch {
        let mut batch = WatchBatch::default();
        self.held.lock().retain(|path, since| {
            let keep = now.saturating_duration_since(*since) < self.max_hold;
            if !keep {
                tracing::info!(
                    path,
                    held_s = self.max_hold.as_secs(),
                    "file still open for writing; looking at it now"
                );
                batch.paths.insert(path.clone());
            }
            keep
        });
        self.finish(batch)
    }

    fn on_path(&mut self, kind: &EventKind, abs: &Path, now: Instant, batch: &mut WatchBatch) {
        let Some(rel) = self.relative(abs) else {
            // The root itself moved or deleted (an unmount, a restore from
            // backup): only a full scan can tell what is there now. Reads of
            // the root (every scan opens it) are no change.
            let moved = matches!(kind, EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)));
            if abs == self.root && moved {
                batch.rescan = true;
            }
            return;
        };
        if rel == ".stignore" {
            batch.ignores_changed = true;
            return;
        }
        if is_internal(&rel) || is_temporary(&rel) {
            return;
        }
        if self.rules.read().unwrap_or_else(|p| p.into_inner()).verdict(&rel).is_ignored() {
            return;
        }
        let mut held = self.held.lock();
        match kind {
            // Reads are no change.
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                held.remove(&rel);
                batch.paths.insert(rel);
            }
            EventKind::Access(_) => {}
            // Being written: wait for the close.
            EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) | EventKind::Create(CreateKind::File) => {
                held.entry(rel).or_insert(now);
            }
            // A new directory: its files may predate our watch on it.
            EventKind::Create(_) => {
                batch.paths.insert(rel);
            }
            // Renames, removals, metadata: look at the path as it is now.
            EventKind::Modify(_) | EventKind::Remove(_) => {
                held.remove(&rel);
                batch.paths.insert(rel);
            }
            EventKind::Any | EventKind::Other => {}
        }
    }

    /// Drops held paths from the batch and names the conflict copies.
    fn finish(&self, mut batch: WatchBatch) -> WatchBatch {
        let held = self.held.lock();
        batch.paths.retain(|p| !held.contains_key(p));
        batch.conflicts = batch.paths.iter().filter_map(|p| is_conflict_copy(p).map(|o| (p.clone(), o))).collect();
        batch
    }

    fn relative(&self, abs: &Path) -> Option<String> {
        let rel = abs.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        let rel = parts?.join("/");
        (!rel.is_empty()).then_some(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ignore::IgnoreRules;
    use notify::Event;
    use notify::event::{DataChange, MetadataKind, RemoveKind, RenameMode};
    use std::sync::RwLock;

    fn classifier(patterns: &[&str]) -> Classifier {
        let rules = Arc::new(RwLock::new(IgnoreRules::new(patterns).unwrap()));
        Classifier::new("/r".into(), rules, HeldPaths::default(), Duration::from_secs(10))
    }

    fn ev(kind: EventKind, paths: &[&str]) -> DebouncedEvent {
        let mut e = Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        DebouncedEvent::new(e, Instant::now())
    }

    fn paths(b: &WatchBatch) -> Vec<&str> {
        b.paths.iter().map(String::as_str).collect()
    }

    const DATA: EventKind = EventKind::Modify(ModifyKind::Data(DataChange::Any));
    const CLOSE_WRITE: EventKind = EventKind::Access(AccessKind::Close(AccessMode::Write));

    #[test]
    fn a_file_is_reported_when_its_writer_closes_it() {
        let mut c = classifier(&[]);
        let t = Instant::now();
        let b = c.on_events(&[ev(EventKind::Create(CreateKind::File), &["/r/a"]), ev(DATA, &["/r/a"])], t);
        assert!(b.is_empty(), "{b:?}");
        assert!(c.held.contains("a"));
        // Another slow chunk, still open.
        assert!(c.on_events(&[ev(DATA, &["/r/a"])], t + Duration::from_secs(1)).is_empty());
        let b = c.on_events(&[ev(CLOSE_WRITE, &["/r/a"])], t + Duration::from_secs(2));
        assert_eq!(paths(&b), ["a"]);
        assert!(c.held.is_empty());
        // Written again then closed within one tick: one report.
        let b = c.on_events(&[ev(DATA, &["/r/a"]), ev(CLOSE_WRITE, &["/r/a"])], t);
        assert_eq!(paths(&b), ["a"]);
    }

    #[test]
    fn a_writer_that_never_closes_is_reported_after_max_hold() {
        let mut c = classifier(&[]);
        let t = Instant::now();
        assert!(c.on_events(&[ev(DATA, &["/r/log"])], t).is_empty());
        assert!(c.on_tick(t + Duration::from_secs(9)).is_empty());
        assert_eq!(paths(&c.on_tick(t + Duration::from_secs(10))), ["log"]);
        assert!(c.held.is_empty());
    }

    #[test]
    fn reads_skips_and_special_files() {
        let mut c = classifier(&["*.tmp", "build"]);
        let t = Instant::now();
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let meta = EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any));
        let b = c.on_events(
            &[
                ev(read, &["/r/a"]),
                ev(open, &["/r/a"]),
                ev(meta, &["/r/x.tmp", "/r/build/out.o", "/r/.stfolder", "/r/d/.syncthing.f.tmp"]),
                ev(meta, &["/r/.stversions/old"]),
                ev(meta, &["/r/.stignore"]),
                ev(meta, &["/r/keep.txt"]),
                ev(EventKind::Remove(RemoveKind::File), &["/r/gone"]),
                ev(EventKind::Create(CreateKind::Folder), &["/r/newdir"]),
                ev(EventKind::Modify(ModifyKind::Name(RenameMode::Both)), &["/r/old", "/r/new"]),
                ev(meta, &["/elsewhere/x"]),
            ],
            t,
        );
        assert_eq!(paths(&b), ["gone", "keep.txt", "new", "newdir", "old"]);
        assert!(b.ignores_changed && !b.rescan);
    }

    #[test]
    fn conflicts_and_rescans_are_named() {
        let mut c = classifier(&[]);
        let meta = EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any));
        let b = c.on_events(&[ev(meta, &["/r/d/a.sync-conflict-20261129-051504-ASMRTYP.txt"])], Instant::now());
        assert_eq!(b.conflicts, [("d/a.sync-conflict-20261129-051504-ASMRTYP.txt".into(), "d/a.txt".into())]);
        let overflow =
            DebouncedEvent::new(Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan), Instant::now());
        assert!(c.on_events(&[overflow], Instant::now()).rescan);
        assert!(c.on_events(&[ev(EventKind::Remove(RemoveKind::Folder), &["/r"])], Instant::now()).rescan);
        let open_root = ev(EventKind::Access(AccessKind::Open(AccessMode::Any)), &["/r"]);
        assert!(c.on_events(&[open_root], Instant::now()).is_empty());
    }
}
