//! The owner pipeline of one project: two change sources, one queue.
//!
//! - the folder watcher (`notify`, immediate) gives paths that may have changed;
//! - Syncthing's events (`LocalChangeDetected`, `LocalIndexUpdated`,
//!   authoritative but seconds later) give the same paths again, and catch
//!   what the watcher missed (watch limits, bursts, our own start).
//!
//! Both land in pending paths that a single task resolves
//! ([`resolve::resolve_paths`]): hash what changed, queue it in the outbox.
//! The manifest drops the second report of the same content (path + hash),
//! so one content change gives one delta. A `Missed` or `Restarted` from the
//! event stream, a lagging subscriber, an overflowing watcher or a changed
//! `.stignore` triggers a reconcile: a scan of the whole folder against the
//! manifest (cheap: unchanged stamps skip the hash). The first thing the task
//! does is such a scan, so changes made while the companion was down go out.
//!
//! The watcher reports a rename (delete + create) in one batch, 200 ms after
//! it. Any other pass that looks meanwhile (Syncthing's late report of an
//! earlier write, a reconcile) would see only the old name gone, and send
//! the delete alone: a file gone from a directory changed less than a second
//! ago is left to the watcher, and a recheck.

pub(crate) mod members;
pub mod resolve;
pub mod scan;
pub mod sender;
mod sources;
pub mod watch;

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use cloud_protocol::Op;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::ignore::{IgnoreRules, is_conflict_copy};
use crate::manifest::ProjectRow;
use crate::manifest::db::Db;
use crate::owner::scan::{ProgressMode, ScanOptions, scan_folder};
use crate::owner::watch::{FolderWatcher, HeldPaths, SharedRules, WatchBatch, WatchConfig};
use crate::syncthing::{Client, StreamItem};
use cloud_protocol::retry::Backoff;

pub use members::refresh_member_progress;
pub use sources::paths_from_event;

/// A file changed (its ctime) less than this long ago (ms) may still have
/// events in the debouncer: a reconcile leaves it to the watcher. So does any
/// pass but the watcher's for a file gone from a directory changed this
/// recently (it may be half of a rename the watcher is about to report whole).
const RECENT_MS: i64 = 1000;
/// After a failed pass (the manifest locked too long, a disk full, the
/// folder unmounted) the whole folder is compared again, 2 s later at first,
/// then less often, so nothing seen is lost and a lasting fault is not a flood.
const RETRY_AFTER_FAILURE: Backoff = Backoff {
    initial: std::time::Duration::from_secs(2),
    max: std::time::Duration::from_secs(60),
    factor: 2.0,
    jitter: 0.0,
};

/// What an owner project task needs.
#[derive(Debug, Clone)]
pub struct OwnerDeps {
    pub db: Db,
    pub syncthing: Client,
    /// Woken after each enqueue so the sender does not wait for its poll.
    pub outbox_ready: Arc<Notify>,
    pub watch: WatchConfig,
}

/// Why a pass failed (it is retried at the next trigger).
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error(transparent)]
    Scan(#[from] crate::owner::scan::ScanError),
}

/// Runs the pipeline of `project` until `shutdown`.
pub async fn run_project(
    deps: OwnerDeps,
    project: ProjectRow,
    mut events: broadcast::Receiver<StreamItem>,
    shutdown: CancellationToken,
) {
    let folder = project.folder_id.clone();
    let rules: SharedRules = Arc::new(RwLock::new(load_rules(&deps.syncthing, &project).await));
    // Watch before the first scan, so nothing changed during it is missed.
    let started = if deps.watch.enabled {
        FolderWatcher::start(&project.folder_path, rules.clone(), deps.watch).map(Some)
    } else {
        Ok(None)
    };
    let (watcher, mut batches) = match started {
        Ok(Some((w, rx))) => (Some(w), rx),
        Ok(None) => (None, mpsc::channel(1).1),
        Err(e) => {
            tracing::warn!(project = %project.project_id, error = %e, "no file watcher");
            (None, mpsc::channel(1).1)
        }
    };
    let held = watcher.as_ref().map(|w| w.held().clone()).unwrap_or_default();
    let mut pipeline = Pipeline { deps, project, rules, held, watching: watcher.is_some(), failures: 0 };
    tracing::info!(project = %pipeline.project.project_id, folder = %folder,
        path = %pipeline.project.folder_path.display(), "watching");
    let mut recheck = pipeline.reconcile("start-up scan").await;

    let (mut watcher_open, mut events_open) = (watcher.is_some(), true);
    loop {
        let mut work = Work::default();
        tokio::select! {
            _ = shutdown.cancelled() => break,
            // Files a scan left to the watcher: make sure they were seen.
            _ = tokio::time::sleep_until(recheck.unwrap_or_else(tokio::time::Instant::now)), if recheck.is_some() => {
                work.reconcile = Some("recheck (files changed during a scan, or a failed write)");
            }
            batch = batches.recv(), if watcher_open => match batch {
                Some(batch) => work.add_batch(batch),
                None => watcher_open = false,
            },
            item = events.recv(), if events_open => {
                events_open = !matches!(item, Err(broadcast::error::RecvError::Closed));
                work.add_item(item, &folder);
            }
        }
        // Take whatever else is already waiting: one pass, one outbox batch.
        while let Ok(batch) = batches.try_recv() {
            work.add_batch(batch);
        }
        loop {
            match events.try_recv() {
                Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed) => break,
                other => work.add_item(
                    other.map_err(|e| match e {
                        broadcast::error::TryRecvError::Lagged(n) => broadcast::error::RecvError::Lagged(n),
                        _ => broadcast::error::RecvError::Closed,
                    }),
                    &folder,
                ),
            }
        }
        if work.reload_ignores {
            let fresh = load_rules(&pipeline.deps.syncthing, &pipeline.project).await;
            *pipeline.rules.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
        if let Some(why) = work.reconcile {
            recheck = pipeline.reconcile(why).await;
        } else if !(work.paths.is_empty() && work.reported.is_empty())
            && let Some(retry) = pipeline.resolve(work.paths, work.reported).await
        {
            recheck = Some(recheck.map_or(retry, |at| at.min(retry)));
        }
    }
    drop(watcher);
    tracing::debug!(project = %pipeline.project.project_id, "owner pipeline stopped");
}

/// What one wake-up collected.
#[derive(Debug, Default)]
struct Work {
    /// Paths the watcher reported.
    paths: BTreeSet<String>,
    /// Paths only Syncthing's events named (reported seconds late).
    reported: BTreeSet<String>,
    reconcile: Option<&'static str>,
    reload_ignores: bool,
}

impl Work {
    fn add_batch(&mut self, batch: WatchBatch) {
        for (copy, original) in &batch.conflicts {
            tracing::warn!(copy, original, "Syncthing conflict copy: two edits of the same file collided");
        }
        self.paths.extend(batch.paths);
        if batch.rescan {
            self.reconcile = Some("the file watcher lost events");
        }
        if batch.ignores_changed {
            self.reload_ignores = true;
            self.reconcile = Some(".stignore changed");
        }
    }

    fn add_item(&mut self, item: Result<StreamItem, broadcast::error::RecvError>, folder: &str) {
        match item {
            Ok(StreamItem::Event(event)) => self.reported.extend(paths_from_event(&event, folder)),
            Ok(StreamItem::Missed { .. }) => self.reconcile = Some("Syncthing events were lost"),
            Ok(StreamItem::Restarted { .. }) => self.reconcile = Some("Syncthing restarted"),
            Ok(StreamItem::Connected { .. } | StreamItem::Disconnected { .. }) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => self.reconcile = Some("fell behind Syncthing's events"),
            // The daemon is stopping; the shutdown branch ends the loop.
            Err(broadcast::error::RecvError::Closed) => {}
        }
    }
}

/// See [`Pipeline::pass_input`].
struct PassInput {
    project: uuid::Uuid,
    root: std::path::PathBuf,
    rules: IgnoreRules,
    held: HeldPaths,
    watching: bool,
}

struct Pipeline {
    deps: OwnerDeps,
    project: ProjectRow,
    rules: SharedRules,
    held: HeldPaths,
    /// A file watcher runs (it reports files a scan found mid-change).
    watching: bool,
    /// Failed passes in a row (for the retry delay).
    failures: u32,
}

impl Pipeline {
    /// How long to wait after one more failed pass in a row.
    fn next_retry(&mut self) -> std::time::Duration {
        let delay = RETRY_AFTER_FAILURE.base_delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// What a pass takes to the manifest's thread: copies of the project's
    /// id, folder, ignore rules and held paths, and whether a watcher runs.
    fn pass_input(&self) -> PassInput {
        PassInput {
            project: self.project.project_id,
            root: self.project.folder_path.clone(),
            rules: self.rules.read().unwrap_or_else(|p| p.into_inner()).clone(),
            held: self.held.clone(),
            watching: self.watching,
        }
    }

    /// Hashes and queues changed paths: `paths` from the watcher, `reported`
    /// from Syncthing's events. Returns when to compare the whole folder
    /// again: after a failure (the paths themselves are not kept), or when
    /// reported paths were left to the watcher.
    async fn resolve(
        &mut self,
        mut paths: BTreeSet<String>,
        reported: BTreeSet<String>,
    ) -> Option<tokio::time::Instant> {
        let started = Instant::now();
        let PassInput { project, root, rules, held, watching } = self.pass_input();
        let result = self
            .deps
            .db
            .call(move |m| {
                let mut reported: BTreeSet<String> = reported.difference(&paths).cloned().collect();
                // A path the watcher also named is its report; a gone one it
                // may still be debouncing (half of a rename) waits for it.
                let left = if watching {
                    resolve::leave_to_watcher(m, project, &root, &reported, now_ms(), RECENT_MS)?
                } else {
                    BTreeSet::new()
                };
                reported.retain(|p| !left.contains(p));
                paths.append(&mut reported);
                resolve::resolve_paths(m, project, &root, &rules, &held, &paths).map(|r| (r, left))
            })
            .await;
        match result {
            Ok((r, left)) => {
                self.failures = 0;
                self.queued(&r.queued, started, "change");
                if left.is_empty() {
                    return None;
                }
                tracing::debug!(project = %project, paths = ?left, "gone in a directory just changed; left to the watcher");
                Some(tokio::time::Instant::now() + recheck_after())
            }
            Err(e) => {
                let retry_in = self.next_retry();
                tracing::error!(project = %project, error = %e, ?retry_in,
                    "cannot record changes; will compare the folder again");
                Some(tokio::time::Instant::now() + retry_in)
            }
        }
    }

    /// Scans the whole folder against the manifest and queues the
    /// difference. Returns when to look again if some files were left to
    /// the watcher because they changed too recently.
    async fn reconcile(&mut self, why: &'static str) -> Option<tokio::time::Instant> {
        let started = Instant::now();
        let PassInput { project, root, rules, held, watching } = self.pass_input();
        let result = self
            .deps
            .db
            .call(move |m| -> Result<_, OwnerError> {
                let options = ScanOptions { progress: ProgressMode::Log, ..ScanOptions::default() };
                let mut report = scan_folder(m, project, &root, &rules, &options)?;
                // A file being written, or changed so recently that its
                // events may still sit in the debouncer, is the watcher's to
                // report (once, when done); without a watcher we take it now.
                // So is a file gone from a directory changed that recently:
                // it may be half of a rename, the other half of which (a
                // file with a fresh ctime) the watcher reports with it.
                let mut deferred = 0;
                if watching {
                    let now_ms = now_ms();
                    report.changes.retain(|c| {
                        let recent = if c.op == Op::Delete {
                            resolve::dir_changed_within(&root, &c.path, now_ms, RECENT_MS)
                        } else {
                            resolve::file_changed_within(&root, &c.path, now_ms, RECENT_MS)
                        };
                        deferred += usize::from(recent && !held.contains(&c.path));
                        !held.contains(&c.path) && !recent
                    });
                }
                let batches = resolve::enqueue(m, project, &report.changes)?;
                Ok((batches.into_iter().flat_map(|b| b.changes).collect::<Vec<_>>(), deferred))
            })
            .await;
        match result {
            Ok((queued, deferred)) => {
                self.failures = 0;
                tracing::info!(project = %project, why, queued = queued.len(), deferred,
                    ms = started.elapsed().as_millis() as u64, "reconciled");
                self.queued(&queued, started, why);
                (deferred > 0).then(|| tokio::time::Instant::now() + recheck_after())
            }
            Err(e) => {
                let retry_in = self.next_retry();
                tracing::error!(project = %project, why, error = %e, ?retry_in, "scan failed");
                Some(tokio::time::Instant::now() + retry_in)
            }
        }
    }

    fn queued(&self, queued: &[cloud_protocol::Change], started: Instant, source: &str) {
        if queued.is_empty() {
            return;
        }
        for c in queued {
            let conflict = is_conflict_copy(&c.path).is_some();
            tracing::info!(project = %self.project.project_id, op = c.op.as_str(), path = %c.path,
                hash = c.hash.as_deref().unwrap_or("-"), conflict, source, "queued");
        }
        tracing::debug!(changes = queued.len(), ms = started.elapsed().as_millis() as u64, "pass done");
        self.deps.outbox_ready.notify_one();
    }
}

/// The folder's ignore patterns, from Syncthing (which resolves `#include`),
/// else straight from `.stignore` so ignored files are not sent meanwhile.
pub(crate) async fn load_rules(client: &Client, project: &ProjectRow) -> IgnoreRules {
    let folder = project.folder_id.as_str();
    let lines = match client.db_ignores(folder).await {
        Ok(ignores) => ignores.expanded,
        Err(e) => {
            tracing::warn!(folder, error = %e, "cannot ask Syncthing for the ignore patterns; reading .stignore");
            let text = std::fs::read_to_string(project.folder_path.join(".stignore")).unwrap_or_default();
            text.lines().filter(|l| !l.trim_start().starts_with("#include")).map(str::to_owned).collect()
        }
    };
    IgnoreRules::new(&lines).unwrap_or_else(|e| {
        tracing::warn!(folder, error = %e, "cannot use the folder's ignore patterns; watching everything");
        IgnoreRules::default()
    })
}

/// When to compare the folder again after leaving recent changes to the
/// watcher: once they are no longer recent.
fn recheck_after() -> std::time::Duration {
    std::time::Duration::from_millis(RECENT_MS.unsigned_abs() + 500)
}

/// Now, in ms since the Unix epoch (the unit of `Change::mtime`). The
/// system's clock, not [`crate::clock`]'s: it is compared with files' ctimes,
/// which the kernel stamps from the system's clock.
fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syncthing::Origin;
    use std::time::Duration;

    #[test]
    fn lost_events_restarts_overflows_and_ignores_mean_a_reconcile() {
        let origin = Origin { device_id: "D".into(), start_time: "t".into() };
        let items = [
            Ok(StreamItem::Missed { expected_first: 3, got_first: 9 }),
            Ok(StreamItem::Restarted { previous: origin.clone(), current: origin }),
            Err(broadcast::error::RecvError::Lagged(7)),
        ];
        for item in items {
            let mut work = Work::default();
            work.add_item(item, "proj");
            assert!(work.reconcile.is_some());
        }
        let mut work = Work::default();
        work.add_item(
            Ok(StreamItem::Disconnected { reason: "x".into(), api_key_rejected: false, retry_in: Duration::ZERO }),
            "proj",
        );
        work.add_item(Err(broadcast::error::RecvError::Closed), "proj");
        assert!(work.reconcile.is_none() && work.paths.is_empty() && work.reported.is_empty());

        let mut work = Work::default();
        work.add_batch(WatchBatch { rescan: true, ..WatchBatch::default() });
        assert!(work.reconcile.is_some() && !work.reload_ignores);
        let mut work = Work::default();
        let mut batch = WatchBatch { ignores_changed: true, ..WatchBatch::default() };
        batch.paths.insert("a".into());
        work.add_batch(batch);
        assert!(work.reconcile.is_some() && work.reload_ignores);
        assert!(work.paths.contains("a"));
    }
}
