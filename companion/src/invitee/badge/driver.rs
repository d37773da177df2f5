//! The driver: one [`Engine`] run against the live world. It feeds the
//! engine Syncthing's event stream (the daemon's broadcast), the cloud's
//! announcements (from the member task) and the answers to its actions
//! (hashes, REST), persists changed badges in the manifest (`file_states`,
//! marked unreported), and publishes them live.
//!
//! On start it rebuilds every badge from the manifest (announcements, last
//! badges with their stamps) and Syncthing's REST (need, status, file)
//! without waiting for a new event: untouched files are not even re-read.
//!
//! It also watches the folder itself (the owner's watcher, `owner::watch`):
//! a file edited here is news within the debounce (200 ms), not after
//! Syncthing's own watcher delay (10 s by default).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cloud_protocol::FileProgress;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::engine::Engine;
use super::exec::{Answer, execute};
use super::model::{Expected, Prior};
use super::{here, redact};
use crate::live::{FolderLive, Live, LiveUpdate, folder_key};
use crate::manifest::db::Db;
use crate::manifest::{ManifestError, RemoteFileRow};
use crate::owner::watch::{FolderWatcher, SharedRules, WatchBatch, WatchConfig};
use crate::syncthing::{Client, StreamItem};

/// Actions run at once (hashes go to the blocking pool, the rest to Syncthing).
const MAX_IN_FLIGHT: usize = 4;
/// How often changed badges are persisted and published.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How often the folder summary (percent, rate, ETA) is refreshed.
const FOLDER_EVERY: Duration = Duration::from_secs(1);

/// Why a driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("badge engine of project {project}: {source}")]
    Manifest {
        project: Uuid,
        #[source]
        source: ManifestError,
    },
}

/// What a driver needs from its surroundings.
#[derive(Debug, Clone)]
pub struct DriverDeps {
    pub db: Db,
    pub syncthing: Client,
    pub live: Live,
    /// Notified after badges were saved, so the reporter sends them.
    pub saved: Arc<Notify>,
    /// The folder watcher's tuning (`enabled: false`: Syncthing's events only).
    pub watch: WatchConfig,
    /// How long a pull may receive nothing before it reads stalled.
    pub stall_after: std::time::Duration,
}

/// One project's badge engine at work. See the module docs.
#[derive(Debug)]
pub struct Driver {
    deps: DriverDeps,
    project: Uuid,
    folder_id: String,
    root: PathBuf,
    engine: Engine,
    last_folder: Option<FolderLive>,
    /// The last badge save failed (so the next failure is not logged again).
    save_failing: bool,
    /// The ignore rules are to be read again (a tick, or a scan ended).
    ignores_due: bool,
    /// The patterns the folder watcher skips, kept equal to the engine's.
    watch_rules: SharedRules,
}

impl Driver {
    /// A driver for a project bound to Syncthing folder `folder_id` at `root`.
    pub fn new(deps: DriverDeps, project: Uuid, folder_id: &str, root: PathBuf) -> Driver {
        let mut engine = Engine::new(folder_id);
        engine.set_stall_after(deps.stall_after);
        Driver {
            deps,
            project,
            folder_id: folder_id.to_owned(),
            root,
            engine,
            last_folder: None,
            save_failing: false,
            ignores_due: false,
            watch_rules: SharedRules::default(),
        }
    }

    /// Runs until `shutdown`. `events`: the daemon's Syncthing stream
    /// (subscribed before the caller did anything the events should cover);
    /// `announced`: rows the member task just applied to `remote_files`.
    pub async fn run(
        mut self,
        mut events: broadcast::Receiver<StreamItem>,
        mut announced: mpsc::Receiver<Vec<RemoteFileRow>>,
        shutdown: CancellationToken,
    ) -> Result<(), DriverError> {
        self.restore().await?;
        // After restore, so it skips what this folder ignores. Without it
        // (no inotify, or its limit hit) Syncthing's events still tell.
        let (_watcher, mut local) = self.watch();
        let mut work: JoinSet<Answer> = JoinSet::new();
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        let mut folder_tick = tokio::time::interval(FOLDER_EVERY);
        let mut ignores_tick = tokio::time::interval(here::RELOAD_EVERY);
        ignores_tick.tick().await;
        let mut announcements_open = true;
        loop {
            self.start_actions(&mut work);
            if std::mem::take(&mut self.ignores_due) {
                self.reload_ignores().await;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                item = events.recv() => match item {
                    Ok(item) => self.stream_item(item),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(project = %self.project, lost = n, "badge engine fell behind Syncthing's events");
                        self.engine.events_missed();
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Some(batch) = local.recv() => self.local_batch(batch),
                rows = announced.recv(), if announcements_open => match rows {
                    Some(rows) => {
                        // A path bob has just ignored must not be read: look
                        // at the rules first (one local REST call a batch).
                        self.reload_ignores().await;
                        self.announce(&rows)
                    }
                    None => announcements_open = false,
                },
                Some(done) = work.join_next() => match done {
                    Ok(answer) => self.answer(answer),
                    Err(e) => tracing::error!(project = %self.project, error = %e, "a badge action failed"),
                },
                _ = flush.tick() => self.flush_or_retry().await,
                _ = folder_tick.tick() => {
                    // The engine's only timer fact: pulls quiet for too long stall.
                    self.engine.check_stalls(Instant::now().into_std(), time::OffsetDateTime::now_utc());
                    self.publish_folder_or_retry().await
                }
                _ = ignores_tick.tick() => self.ignores_due = true,
            }
        }
        work.abort_all();
        self.flush().await
    }

    /// This machine's ignore rules, from its Syncthing (unchanged rules
    /// change nothing; when Syncthing cannot answer the old ones stand).
    async fn reload_ignores(&mut self) {
        if let Some(rules) = here::from_syncthing(&self.deps.syncthing, &self.folder_id).await
            && self.engine.set_ignores(rules)
        {
            tracing::info!(project = %self.project, folder = %self.folder_id, "this folder's ignore patterns changed");
            self.share_ignores();
        }
    }

    fn share_ignores(&self) {
        *self.watch_rules.write().unwrap_or_else(|p| p.into_inner()) = self.engine.here.patterns().clone();
    }

    /// Starts the folder watcher; its batches arrive on the receiver.
    /// Without a watcher the receiver is closed at once, so the `select!`
    /// branch that reads it (it only takes `Some`) never fires.
    fn watch(&self) -> (Option<FolderWatcher>, mpsc::Receiver<WatchBatch>) {
        if !self.deps.watch.enabled {
            return (None, mpsc::channel(1).1);
        }
        self.share_ignores();
        match FolderWatcher::start(&self.root, self.watch_rules.clone(), self.deps.watch) {
            Ok((watcher, rx)) => (Some(watcher), rx),
            Err(e) => {
                tracing::warn!(project = %self.project, error = %e, "no file watcher for badges");
                (None, mpsc::channel(1).1)
            }
        }
    }

    /// What the folder watcher saw on this disk.
    fn local_batch(&mut self, batch: WatchBatch) {
        if batch.ignores_changed {
            self.ignores_due = true;
        }
        if batch.rescan {
            self.engine.local_rescan();
        } else {
            self.engine.local_changes(batch.paths.iter().map(String::as_str));
        }
    }

    /// The manifest's expectations and last badges, then folder-wide facts.
    async fn restore(&mut self) -> Result<(), DriverError> {
        if let Ok(status) = self.deps.syncthing.system_status().await {
            self.engine.set_device_id(&status.my_id);
        }
        // Before any path is looked at: what this machine does not sync is
        // never read. Without Syncthing, its `.stignore` says the same.
        let rules = match here::from_syncthing(&self.deps.syncthing, &self.folder_id).await {
            Some(rules) => rules,
            None => here::from_file(&self.root),
        };
        let _ = self.engine.set_ignores(rules);
        let project = self.project;
        let (rows, badges) = self
            .deps
            .db
            .call(move |m| Ok::<_, ManifestError>((m.remote_files(project)?, m.badges(project)?)))
            .await
            .map_err(|source| DriverError::Manifest { project, source })?;
        let mut priors: BTreeMap<String, Prior> = badges
            .into_iter()
            .map(|b| {
                let p = b.progress;
                let prior = Prior {
                    state: p.state,
                    percent: p.percent,
                    local_hash: p.local_hash,
                    error: p.error,
                    stamp: b.stamp,
                    inode: b.inode,
                };
                (p.path, prior)
            })
            .collect();
        for row in &rows {
            self.engine.restore(&row.path, Expected::from(row), priors.remove(&row.path));
        }
        self.engine.start();
        tracing::debug!(project = %self.project, files = rows.len(), "badge engine restored");
        Ok(())
    }

    fn stream_item(&mut self, item: StreamItem) {
        let now = Instant::now().into_std();
        match item {
            StreamItem::Event(e) => {
                // Syncthing re-reads `.stignore` when it scans: so do we.
                if let crate::syncthing::event::EventKind::StateChanged(d) = &e.kind
                    && d.from == crate::syncthing::types::FolderState::Scanning
                    && e.folder() == Some(self.folder_id.as_str())
                {
                    self.ignores_due = true;
                }
                self.engine.event(&e, now)
            }
            StreamItem::Connected { origin, .. } => self.engine.set_device_id(&origin.device_id),
            StreamItem::Missed { .. } => self.engine.events_missed(),
            StreamItem::Restarted { current, .. } => {
                self.engine.set_device_id(&current.device_id);
                self.engine.syncthing_restarted();
            }
            StreamItem::Disconnected { .. } => {}
        }
    }

    fn announce(&mut self, rows: &[RemoteFileRow]) {
        for row in rows {
            self.engine.announce(&row.path, Expected::from(row));
        }
    }

    fn start_actions(&mut self, work: &mut JoinSet<Answer>) {
        while work.len() < MAX_IN_FLIGHT {
            let Some(action) = self.engine.next_action() else { return };
            let (client, folder, root) = (self.deps.syncthing.clone(), self.folder_id.clone(), self.root.clone());
            work.spawn(execute(action, client, folder, root));
        }
    }

    fn answer(&mut self, answer: Answer) {
        let now = Instant::now().into_std();
        match answer {
            Answer::Hashed(path, outcome) => self.engine.hashed(&path, outcome),
            Answer::File(path, Some(file)) => self.engine.db_file(&path, &file),
            Answer::File(path, None) => self.engine.db_file_failed(&path),
            Answer::Need(Some(need)) => self.engine.need(&need, now),
            Answer::Status(Some(status)) => self.engine.folder_status(&status),
            Answer::Copies(Some(copies)) => self.engine.conflict_copies(copies),
            Answer::Copy(path, exists) => self.engine.copy_seen(&path, exists),
            Answer::Need(None) | Answer::Status(None) | Answer::Copies(None) => {}
        }
    }

    /// [`Driver::flush`] on a tick: a failed save (a disk briefly full, a
    /// lock held too long) is logged and its badges tried again next tick,
    /// rather than ending the badge engine.
    /// Said once per streak of failures, and again when saving works.
    async fn flush_or_retry(&mut self) {
        match self.flush().await {
            Err(e) if !self.save_failing => {
                self.save_failing = true;
                tracing::warn!(project = %self.project, error = %e, "could not save badges; retrying");
            }
            Ok(()) if self.save_failing => {
                self.save_failing = false;
                tracing::info!(project = %self.project, "badges are saved again");
            }
            _ => {}
        }
    }

    /// [`Driver::publish_folder`] on a tick; a failure is retried next tick
    /// (saving badges fails too then, and says so).
    async fn publish_folder_or_retry(&mut self) {
        if let Err(e) = self.publish_folder().await {
            self.last_folder = None;
            tracing::debug!(project = %self.project, error = %e, "could not save the folder summary; retrying");
        }
    }

    /// Persists changed badges, then tells the reporter and the dashboard.
    /// On failure the badges stay marked as changed.
    async fn flush(&mut self) -> Result<(), DriverError> {
        let mut changes = self.engine.take_changes();
        if changes.is_empty() {
            return Ok(());
        }
        // Reported to the owner: folder-relative words only.
        for p in &mut changes {
            if let Some(error) = &p.error {
                p.error = Some(redact::relative_words(&self.root, error));
            }
        }
        let rows: Vec<(FileProgress, Option<crate::hash::FileStamp>, Option<u64>)> = changes
            .iter()
            .map(|p| {
                let verified = self.engine.verified(&p.path);
                (p.clone(), verified.map(|v| v.stamp), verified.and_then(|v| v.inode))
            })
            .collect();
        let project = self.project;
        let saved = self.deps.db.call(move |m| m.save_verified_badges(project, &rows)).await;
        if let Err(source) = saved {
            self.engine.requeue_changes(changes.into_iter().map(|p| p.path));
            return Err(DriverError::Manifest { project, source });
        }
        self.deps.saved.notify_one();
        self.deps.live.publish(LiveUpdate::Files { project_id: project, files: changes });
        Ok(())
    }

    /// Publishes the folder summary when it changed, and keeps it for `status`.
    async fn publish_folder(&mut self) -> Result<(), DriverError> {
        let now = Instant::now().into_std();
        let folder = self.engine.folder(now);
        let etas = self.engine.etas(now).into_iter().map(|(path, eta)| (path, eta.as_secs())).collect();
        let live = FolderLive::new(&folder, etas).with_conflict_copies(self.engine.conflict_copies_by_original());
        if self.last_folder.as_ref().is_some_and(|last| last.same_as(&live)) {
            return Ok(());
        }
        self.last_folder = Some(live.clone());
        let (project, text) = (self.project, serde_json::to_string(&live).unwrap_or_default());
        self.deps
            .db
            .call(move |m| m.kv_set(&folder_key(project), &text))
            .await
            .map_err(|source| DriverError::Manifest { project, source })?;
        self.deps.live.publish(LiveUpdate::Folder { project_id: project, folder: live });
        Ok(())
    }
}
