//! [`Engine`]: the badge state machine of one Syncthing folder bound to one
//! project. Pure and synchronous: it is fed facts (the cloud's expectations,
//! Syncthing's events and REST answers, hash results) and hands out the
//! [`Action`]s it needs done and the badges that changed. No I/O, no clock:
//! callers pass `now`, so tests replay captures at any speed.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use cloud_protocol::FileProgress;
use time::OffsetDateTime;

use super::here::HereRules;
use super::model::{Action, DiskFact, Expected, Prior, Verified};
use super::rate::Rate;
use super::rule::{Pull, Tracked};
use super::stall;
use crate::syncthing::types::{DbStatus, FolderState, Need};

/// The badge engine of one folder. See the module docs.
#[derive(Debug)]
pub struct Engine {
    pub(super) folder: String,
    pub(super) my_short_id: Option<String>,
    pub(super) files: HashMap<String, Box<Tracked>>,
    /// Original path → its `.sync-conflict-` copies on disk.
    pub(super) copies: HashMap<String, BTreeSet<String>>,
    pub(super) folder_error: Option<String>,
    /// Facts fed so far: the engine's logical clock (it has no other; see
    /// `evidence` for what it orders).
    pub(super) clock: u64,
    actions: VecDeque<Action>,
    /// Folder-wide actions already queued (per-path ones are deduplicated
    /// by each file's own state, so a 100,000-file rebuild keeps no copy).
    queued: HashSet<Action>,
    pub(super) touched: HashSet<String>,
    /// Paths whose badge changed since the last `take_changes`.
    changes: BTreeSet<String>,
    pub(super) folder_rate: Rate,
    /// When a pull of this folder last moved (blocks in place, a pull
    /// finished): a pull is stalled only if the whole folder is quiet.
    pub(super) last_moved: Option<Instant>,
    /// How long a pull may receive nothing before it reads stalled.
    stall_after: Duration,
    /// What this machine's Syncthing does not sync: such paths are never hashed.
    pub(super) here: HereRules,
}

impl Engine {
    /// An engine for the Syncthing folder `folder_id`, knowing nothing yet.
    pub fn new(folder_id: impl Into<String>) -> Engine {
        Engine {
            folder: folder_id.into(),
            my_short_id: None,
            files: HashMap::new(),
            copies: HashMap::new(),
            folder_error: None,
            clock: 0,
            actions: VecDeque::new(),
            queued: HashSet::new(),
            touched: HashSet::new(),
            changes: BTreeSet::new(),
            folder_rate: Rate::default(),
            last_moved: None,
            stall_after: stall::STALL_AFTER,
            here: HereRules::default(),
        }
    }

    /// Replaces [`STALL_AFTER`](stall::STALL_AFTER) (`COMPANION_STALL_AFTER_MS`).
    pub fn set_stall_after(&mut self, wait: Duration) {
        self.stall_after = wait;
    }

    pub fn folder_id(&self) -> &str {
        &self.folder
    }

    /// This device's id (long or short form): edits it made are told apart
    /// from the owner's in `/rest/db/file` answers.
    pub fn set_device_id(&mut self, device_id: &str) {
        self.my_short_id = Some(device_id.chars().take(7).collect());
    }

    /// Asks for the folder-wide facts every (re)build needs: status, need
    /// list, conflict copies.
    pub fn start(&mut self) {
        self.push(Action::QueryFolderStatus);
        self.push(Action::QueryNeed);
        self.push(Action::ListConflictCopies);
    }

    /// A path known before a restart: its expectation and last badge. The
    /// badge stands until the disk is seen again (a hash is asked for, with
    /// the stamp so an untouched file is not read again).
    pub fn restore(&mut self, path: &str, expected: Expected, prior: Option<Prior>) {
        self.tick();
        if self.here.ignores(path) {
            let t = self.files.entry(path.to_owned()).or_default();
            t.expected = Some(expected);
            t.disk = DiskFact::IgnoredHere;
            if prior.is_some_and(|p| p.state == cloud_protocol::FileState::IgnoredHere) {
                t.last = t.badge(&[], None);
            } else {
                self.touch(path);
            }
            self.settle();
            return;
        }
        let known = prior
            .as_ref()
            .filter(|p| p.local_hash.is_some())
            .and_then(|p| Some(Verified { stamp: p.stamp?, inode: p.inode }));
        let t = self.files.entry(path.to_owned()).or_default();
        t.expected = Some(expected);
        let restored = prior.is_some();
        t.prior = prior.map(Box::new);
        self.want_hash(path, known);
        if restored {
            // Already persisted and reported: it is the baseline, not a change.
            let copies = self.copies_of(path);
            if let Some(t) = self.files.get(path) {
                let badge = t.badge(&copies, self.folder_error.as_deref());
                if let Some(t) = self.files.get_mut(path) {
                    t.last = badge;
                }
            }
        } else {
            self.touch(path);
        }
        self.settle();
    }

    /// The cloud announced (or re-announced) a path.
    /// A path this machine does not sync gets `ignored here` and is never
    /// read. Otherwise the disk is looked at again, but a file whose size,
    /// mtime and inode are those of its last verified hash is not re-read
    /// (an owner re-announcing paths must not make us hash them again).
    pub fn announce(&mut self, path: &str, expected: Expected) {
        self.tick();
        let ignored = self.here.ignores(path);
        let t = self.files.entry(path.to_owned()).or_default();
        if t.expected.as_ref() == Some(&expected) {
            return;
        }
        t.expected = Some(expected);
        // A verdict (or an answer held for one) was about the old expectation.
        t.db_conflict = None;
        t.db_answer = None;
        t.checked_idle = false;
        if ignored {
            ignore_here(t);
        } else {
            let known = match (&t.disk, t.fresh()) {
                (DiskFact::Present { stamp, inode: Some(inode), .. }, true) => {
                    Some(Verified { stamp: *stamp, inode: Some(*inode) })
                }
                _ => None,
            };
            self.want_hash(path, known);
        }
        self.touch(path);
        self.settle();
    }

    /// New rules of what this machine does not sync (its `.stignore`
    /// changed): newly ignored paths drop their hash, paths no longer
    /// ignored are looked at.
    /// False when they are the rules already in force.
    pub fn set_ignores(&mut self, here: HereRules) -> bool {
        if here == self.here {
            return false;
        }
        self.tick();
        self.here = here;
        let mut look = Vec::new();
        for (path, t) in self.files.iter_mut().filter(|(_, t)| t.expected.is_some()) {
            let ignored = self.here.ignores(path);
            let was = t.disk == DiskFact::IgnoredHere;
            if ignored && !was {
                ignore_here(t);
                self.touched.insert(path.clone());
            } else if !ignored && was {
                t.disk = DiskFact::Unknown;
                look.push(path.clone());
            }
        }
        for path in look {
            self.want_hash(&path, None);
            self.touch(&path);
        }
        self.settle();
        true
    }

    /// The path is no longer part of the project.
    pub fn forget(&mut self, path: &str) {
        self.files.remove(path);
        self.changes.remove(path);
    }

    /// A `.sync-conflict-` listing of the whole folder (replaces what was known).
    pub fn conflict_copies(&mut self, copies: impl IntoIterator<Item = String>) {
        self.tick();
        let old: Vec<String> = self.copies.keys().cloned().collect();
        self.copies.clear();
        self.touched.extend(old);
        for copy in copies {
            self.copy_seen(&copy, true);
        }
        self.settle();
    }

    /// Whether one conflict copy exists (answer to [`Action::CheckCopy`] and
    /// what events say). Paths that are not conflict copies are ignored.
    pub fn copy_seen(&mut self, copy: &str, exists: bool) {
        self.tick();
        let Some(original) = crate::ignore::is_conflict_copy(copy) else { return };
        let set = self.copies.entry(original.clone()).or_default();
        let changed = if exists { set.insert(copy.to_owned()) } else { set.remove(copy) };
        if set.is_empty() {
            self.copies.remove(&original);
        }
        if changed {
            if let Some(t) = self.files.get_mut(&original) {
                t.checked_idle = false;
            }
            self.touched.insert(original);
        }
        self.settle();
    }

    /// The answer to an [`Action::QueryNeed`]: who Syncthing is pulling,
    /// and which expected files it does not need (those are verified).
    pub fn need(&mut self, need: &Need, now: Instant) {
        self.tick();
        let in_progress: HashMap<&str, bool> = need.progress.iter().map(|f| (f.name.as_str(), f.deleted)).collect();
        let needed: HashSet<&str> = need.files().map(|f| f.name.as_str()).collect();
        let (mut to_hash, mut finished) = (Vec::new(), Vec::new());
        for (path, t) in self.files.iter_mut().filter(|(_, t)| t.expected.is_some()) {
            if let Some(&delete) = in_progress.get(path.as_str()) {
                // Not for a file whose disk already holds the announced
                // content: that answer was read before the pull finished.
                if !matches!(t.pull, Pull::Active { .. }) && !t.matches() {
                    t.pull = Pull::Active { delete, done: 0, total: 0, pulled: 0 };
                    t.rate_mut().restart(now);
                    t.pull_started(now);
                    self.touched.insert(path.clone());
                }
            } else if !needed.contains(path.as_str()) {
                if matches!(t.pull, Pull::Active { .. }) {
                    // It finished while we were not listening.
                    t.pull = Pull::Finished;
                    t.pull_ended();
                    finished.push(path.clone());
                } else if !t.fresh() || t.disk == DiskFact::Unknown {
                    to_hash.push(path.clone());
                }
            }
        }
        for path in finished {
            self.news(&path);
        }
        for path in to_hash {
            self.want_hash_soft(&path);
        }
        self.settle();
    }

    /// The folder's `db/status` (or a `FolderSummary`): its error, and
    /// whether Syncthing considers it complete.
    pub fn folder_status(&mut self, status: &DbStatus) {
        self.tick();
        let error = folder_error(status);
        if error != self.folder_error {
            self.folder_error = error;
            self.touched.extend(self.files.keys().cloned());
        }
        if status.state == FolderState::Idle && status.need_total_items == 0 {
            self.recheck_idle();
        }
        self.settle();
    }

    /// Syncthing lost events we never saw: rebuild what they would have said.
    pub fn events_missed(&mut self) {
        self.tick();
        self.start();
        let unsettled: Vec<String> =
            self.files.iter().filter(|(_, t)| t.expected.is_some() && !t.matches()).map(|(p, _)| p.clone()).collect();
        for path in unsettled {
            self.want_hash_soft(&path);
        }
        self.settle();
    }

    /// Syncthing restarted: its puller state is gone, and so are its ids.
    pub fn syncthing_restarted(&mut self) {
        self.tick();
        for (path, t) in &mut self.files {
            if matches!(t.pull, Pull::Active { .. }) {
                t.pull = Pull::Idle;
                t.rate = None;
                t.pull_ended();
                self.touched.insert(path.clone());
            }
        }
        self.events_missed();
    }

    /// The next thing to do, oldest first.
    pub fn next_action(&mut self) -> Option<Action> {
        let action = self.actions.pop_front()?;
        if !per_path(&action) {
            self.queued.remove(&action);
        }
        Some(action)
    }

    /// Every queued action, oldest first.
    pub fn take_actions(&mut self) -> Vec<Action> {
        self.queued.clear();
        self.actions.drain(..).collect()
    }

    /// The badges that changed since the last call, by path.
    pub fn take_changes(&mut self) -> Vec<FileProgress> {
        let changed = std::mem::take(&mut self.changes);
        changed
            .into_iter()
            .filter_map(|path| {
                let progress = self.files.get(&path)?.last.as_ref()?.progress(&path);
                Some(progress)
            })
            .collect()
    }

    /// Marks badges as changed again (their save failed): the next
    /// `take_changes` hands them out with whatever they are by then.
    pub fn requeue_changes(&mut self, paths: impl IntoIterator<Item = String>) {
        self.changes.extend(paths.into_iter().filter(|p| self.files.contains_key(p)));
    }

    /// How many paths are tracked (announced or being pulled).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub(super) fn push(&mut self, action: Action) {
        if per_path(&action) || self.queued.insert(action.clone()) {
            self.actions.push_back(action);
        }
    }

    /// Recomputes the badges of touched paths and records the changed ones.
    pub(super) fn settle(&mut self) {
        for path in std::mem::take(&mut self.touched) {
            let Some(t) = self.files.get(&path) else { continue };
            let copies = self.copies_of(&path);
            let badge = t.badge(&copies, self.folder_error.as_deref());
            if badge == t.last {
                continue;
            }
            if badge.is_some() {
                self.changes.insert(path.clone());
            }
            if let Some(t) = self.files.get_mut(&path) {
                t.last = badge;
            }
        }
    }

    fn copies_of(&self, path: &str) -> Vec<&str> {
        self.copies.get(path).map(|s| s.iter().map(String::as_str).collect()).unwrap_or_default()
    }

    pub(super) fn touch(&mut self, path: &str) {
        self.touched.insert(path.to_owned());
    }
}

/// Marks a tracked path as not synced here: whatever was known of it on
/// disk (its hash above all) is dropped.
fn ignore_here(t: &mut Tracked) {
    t.disk = DiskFact::IgnoredHere;
    t.prior = None;
    t.db_conflict = None;
    t.db_answer = None;
    t.item_error = None;
}

/// Actions about one path, which the file's own state keeps from repeating.
fn per_path(action: &Action) -> bool {
    matches!(action, Action::Hash { .. } | Action::QueryFile { .. } | Action::CheckCopy { .. })
}

/// Syncthing's folder-level error in words, if the folder is stopped by one.
fn folder_error(status: &DbStatus) -> Option<String> {
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    status
        .error
        .as_deref()
        .and_then(nonempty)
        .or_else(|| nonempty(&status.invalid))
        .or_else(|| (status.state == FolderState::Error).then(|| "the folder is in an error state".to_owned()))
}

/// Stalled pulls ([`super::stall`]).
impl Engine {
    /// The driver's timer: every pull that has reported progress and has
    /// received nothing, in this whole folder, for [`STALL_AFTER`](stall::STALL_AFTER) (or the
    /// wait set by [`Engine::set_stall_after`]) reads
    /// stalled. `now` and `wall` are the same moment (monotonic, and UTC
    /// for the words). Only pulls that reported blocks count: a file too
    /// small for Syncthing's progress reports (or with them turned off)
    /// would otherwise look stalled while it is pulled.
    pub fn check_stalls(&mut self, now: Instant, wall: OffsetDateTime) {
        let folder_moved = self.last_moved;
        let mut stalled = Vec::new();
        for (path, t) in &mut self.files {
            let reports = matches!(t.pull, Pull::Active { delete: false, total: 1.., .. });
            let Some(s) = t.stall.as_mut().filter(|s| reports && s.words.is_none()) else { continue };
            let quiet_since = folder_moved.map_or(s.moved_at, |f| f.max(s.moved_at));
            let quiet = now.saturating_duration_since(quiet_since);
            if quiet >= self.stall_after {
                let since = wall - quiet;
                s.words = Some(format!("nothing received (since {})", stall::clock(since)));
                stalled.push(path.clone());
            }
        }
        if !stalled.is_empty() {
            self.tick();
            self.touched.extend(stalled);
            self.settle();
        }
    }
}
