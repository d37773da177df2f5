//! Watching a Syncthing folder with `notify`: recursive, debounced by
//! `notify-debouncer-full`, filtered by Syncthing's own skip rules, and
//! delivered as [`WatchBatch`]es on a tokio channel.
//!
//! The debouncer runs on its own thread and hands raw debounced events to
//! an async task (never blocking that thread); the task runs the
//! [`Classifier`] (which holds files that are still being written) and
//! ticks it so long-held files are eventually released.
//!
//! Symlinks are not followed: a symlinked directory is not watched, so
//! nothing outside the folder is reported through it.

mod classify;

pub use classify::{Classifier, HeldPaths, WatchBatch};

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, NoCache, new_debouncer_opt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ignore::IgnoreRules;

/// The folder's ignore rules, replaced when `.stignore` changes.
pub type SharedRules = Arc<RwLock<IgnoreRules>>;

/// Tuning of a [`FolderWatcher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchConfig {
    /// How long the debouncer waits before reporting an event: short, so
    /// the cloud hears of a change well within a second.
    pub debounce: Duration,
    /// How long a file that stays open for writing is held back.
    pub max_hold: Duration,
    /// False runs without a watcher: Syncthing's events and scans only
    /// (for a folder on a filesystem without inotify, and for tests).
    pub enabled: bool,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig { debounce: Duration::from_millis(200), max_hold: Duration::from_secs(10), enabled: true }
    }
}

/// Why a folder cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {}: {source}; changes will only be seen through Syncthing (raise fs.inotify.max_user_watches if the limit was hit)", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
}

/// A running watch of one folder. Dropping it stops watching.
pub struct FolderWatcher {
    // Kept for its Drop: stops the inotify thread and the debouncer loop.
    _debouncer: Debouncer<notify::RecommendedWatcher, NoCache>,
    task: JoinHandle<()>,
    held: HeldPaths,
}

impl std::fmt::Debug for FolderWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderWatcher").field("held", &self.held.len()).finish_non_exhaustive()
    }
}

impl FolderWatcher {
    /// Starts watching `root` recursively; batches arrive on the returned receiver.
    pub fn start(
        root: &Path,
        rules: SharedRules,
        config: WatchConfig,
    ) -> Result<(FolderWatcher, mpsc::Receiver<WatchBatch>), WatchError> {
        // The debouncer thread must never block: an unbounded hand-off.
        let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<DebounceEventResult>();
        let watch_err = |source| WatchError::Watch { path: root.to_owned(), source };
        let mut debouncer = new_debouncer_opt::<_, notify::RecommendedWatcher, NoCache>(
            config.debounce,
            None,
            move |result: DebounceEventResult| {
                let _ = raw_tx.send(result);
            },
            NoCache,
            // Never into a symlinked directory: its target is outside the
            // folder (Syncthing syncs the link, not what it points to).
            notify::Config::default().with_follow_symlinks(false),
        )
        .map_err(watch_err)?;
        debouncer.watch(root, RecursiveMode::Recursive).map_err(watch_err)?;

        let held = HeldPaths::default();
        let mut classifier = Classifier::new(root.to_owned(), rules, held.clone(), config.max_hold);
        let (tx, rx) = mpsc::channel(256);
        let root_shown = root.display().to_string();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.debounce.max(Duration::from_millis(100)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                let batch = tokio::select! {
                    raw = raw_rx.recv() => match raw {
                        Some(Ok(events)) => classifier.on_events(&events, std::time::Instant::now()),
                        Some(Err(errors)) => {
                            for e in errors {
                                tracing::warn!(folder = %root_shown, error = %e, "file watcher error; rescanning");
                            }
                            WatchBatch { rescan: true, ..WatchBatch::default() }
                        }
                        None => return,
                    },
                    _ = tick.tick() => classifier.on_tick(std::time::Instant::now()),
                };
                if !batch.is_empty() && tx.send(batch).await.is_err() {
                    return;
                }
            }
        });
        Ok((FolderWatcher { _debouncer: debouncer, task, held: held.clone() }, rx))
    }

    /// The paths currently held back because a writer has them open.
    pub fn held(&self) -> &HeldPaths {
        &self.held
    }
}

impl Drop for FolderWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
