//! How each Syncthing event moves the engine (docs/syncthing.md §5–§8). Only events of
//! the engine's folder count; `DownloadProgress` carries every folder and
//! is filtered by its key.

use std::time::Instant;

use time::OffsetDateTime;

use super::engine::Engine;
use super::model::{Action, DiskFact, Verified};
use super::rule::Pull;
use super::stall;
use crate::ignore::is_conflict_copy;
use crate::syncthing::event::{ChangeAction, ChangeDetectedData, Event, EventKind, PullerProgress};
use crate::syncthing::types::FolderState;

impl Engine {
    /// One event of Syncthing's stream, in id order.
    pub fn event(&mut self, event: &Event, now: Instant) {
        self.tick();
        match &event.kind {
            EventKind::DownloadProgress(d) => {
                if let Some(files) = d.0.get(&self.folder) {
                    for (path, progress) in files {
                        self.download_progress(path, progress, now);
                    }
                }
            }
            _ if event.folder() != Some(self.folder.as_str()) => return,
            EventKind::ItemStarted(d) if d.item_type == "file" => self.item_started(&d.item, &d.action, now),
            EventKind::ItemFinished(d) if d.item_type == "file" => {
                self.item_finished(&d.item, &d.action, d.error.as_deref(), event.time, now)
            }
            EventKind::LocalChangeDetected(d) => self.change_detected(d, true),
            // The echo of a pull whose verification is already under way,
            // except for conflict copies, whose arrival matters.
            EventKind::RemoteChangeDetected(d) => self.change_detected(d, false),
            EventKind::LocalIndexUpdated(d) => {
                for name in &d.filenames {
                    if is_conflict_copy(name).is_some() {
                        self.push(Action::CheckCopy { path: name.clone() });
                    }
                    if let Some(t) = self.files.get_mut(name).filter(|t| t.expected.is_some()) {
                        // Right after ItemFinished this is the pull's echo,
                        // already being verified; otherwise it is news (a
                        // receive-only local edit only shows up here, docs/syncthing.md §8).
                        if std::mem::take(&mut t.echo) {
                            continue;
                        }
                        self.news(name);
                    }
                }
            }
            // No file names (docs/syncthing.md §5): ask who is needed now.
            EventKind::RemoteIndexUpdated(_) => self.push(Action::QueryNeed),
            EventKind::FolderSummary(d) => self.folder_status(&d.summary),
            EventKind::StateChanged(d) if d.to == FolderState::Error || d.from == FolderState::Error => {
                self.push(Action::QueryFolderStatus)
            }
            EventKind::FolderErrors(d) => {
                for e in &d.errors {
                    let Some(t) = self.files.get_mut(&e.path) else { continue };
                    if stall::unreachable(&e.error) {
                        // Not the file's fault: it waits for a peer
                        // (docs/badges.md#stalled-pulls).
                        if t.unreachable_since(event.time, now) {
                            self.touch(&e.path);
                        }
                    } else {
                        t.item_error = Some(e.error.trim().to_owned());
                        self.touch(&e.path);
                    }
                }
            }
            _ => return,
        }
        self.settle();
    }

    fn item_started(&mut self, path: &str, action: &str, now: Instant) {
        if is_conflict_copy(path).is_some() && !self.announced(path) {
            return;
        }
        let delete = action == "delete";
        // Only files the cloud announced get badges; others are followed so a
        // late announcement finds the pull already under way.
        let t = self.files.entry(path.to_owned()).or_default();
        if !matches!(t.pull, Pull::Active { .. }) {
            t.rate_mut().restart(now);
        }
        let stalled = t.stalled().is_some();
        t.pull = match t.pull {
            // A stalled pull taken up again holds its last real percent
            // until Syncthing's first progress report of the new one (which
            // counts the blocks already in its temporary file).
            Pull::Active { delete: false, done, total, .. } if stalled && !delete => {
                Pull::Active { delete, done, total, pulled: 0 }
            }
            _ => Pull::Active { delete, done: 0, total: 0, pulled: 0 },
        };
        t.pull_started(now);
        // Syncthing's view of the file moves: verdicts on the old one go.
        t.db_conflict = None;
        t.db_answer = None;
        t.checked_idle = false;
        self.touch(path);
    }

    fn download_progress(&mut self, path: &str, p: &PullerProgress, now: Instant) {
        let Some(t) = self.files.get_mut(path) else { return };
        let (previous_done, previous_pulled) = match t.pull {
            Pull::Active { done, pulled, .. } => (done, pulled),
            _ => (0, 0),
        };
        let done = p.blocks_done().min(p.total);
        let moved = done > previous_done || p.pulled > previous_pulled;
        t.pull = Pull::Active { delete: false, done, total: p.total, pulled: p.pulled };
        if moved || t.stall.is_none() {
            // Blocks arrived: whatever stalled the pull is over.
            t.pull_moved(now);
        }
        if moved {
            self.last_moved = Some(now);
        }
        // The rate counts blocks received from the network only: copies from
        // the old version are local and would make the ETA lie.
        if let (Some(e), true) = (&t.expected, p.total > 0) {
            let fresh = (p.pulled - previous_pulled).max(0);
            let bytes = (e.size as f64 * fresh as f64 / p.total as f64) as u64;
            t.rate_mut().add(now, bytes);
            self.folder_rate.add(now, bytes);
        }
        self.touch(path);
    }

    fn item_finished(
        &mut self,
        path: &str,
        action: &str,
        error: Option<&str>,
        at: Option<OffsetDateTime>,
        now: Instant,
    ) {
        if let Some(original) = is_conflict_copy(path) {
            if error.is_none() {
                self.copy_seen(path, action != "delete");
            }
            self.touch(&original);
            if !self.announced(path) {
                return;
            }
        }
        let Some(t) = self.files.get_mut(path) else { return };
        let was = t.pull;
        match error {
            // Cut off from the peers that have it: the pull waits, at the
            // percent it reached (docs/badges.md#stalled-pulls).
            Some(err) if stall::unreachable(err) => {
                t.unreachable_since(at, now);
            }
            Some(err) => {
                t.item_error = Some(err.trim().to_owned());
                t.pull = Pull::Idle;
                t.pull_ended();
            }
            None => {
                t.item_error = None;
                t.pull_ended();
                self.last_moved = Some(now);
                t.echo = true;
                // The last progress tick may stop short of 100 % (docs/syncthing.md §6).
                t.pull = if action == "delete" { Pull::Idle } else { Pull::Finished };
                if let (Some(e), false) = (&t.expected, action == "delete") {
                    let left = match was {
                        Pull::Active { pulled, total, .. } if total > 0 => {
                            e.size.saturating_sub((e.size as f64 * pulled as f64 / total as f64) as u64)
                        }
                        _ => e.size,
                    };
                    self.folder_rate.add(now, left);
                }
                // The file's own meter only serves its ETA while it is pulled.
                t.rate = None;
            }
        }
        if t.expected.is_none() {
            // Not ours: nothing more to follow.
            self.files.remove(path);
            return;
        }
        self.touch(path);
        if error.is_none() {
            // New bytes are in place: only a hash taken from now on counts.
            self.news(path);
        } else {
            self.want_hash(path, None);
        }
    }

    /// Whether the cloud announced `path`. A conflict copy usually is not,
    /// but one that reached the owner is shared like any file (Syncthing 2.x
    /// makes one of every edit that loses to a delete): it is then followed
    /// and verified like any file, besides marking its original.
    fn announced(&self, path: &str) -> bool {
        self.files.get(path).is_some_and(|t| t.expected.is_some())
    }

    fn change_detected(&mut self, d: &ChangeDetectedData, news: bool) {
        if d.item_type != "file" {
            return;
        }
        if is_conflict_copy(&d.path).is_some() {
            match d.action {
                ChangeAction::Modified => self.copy_seen(&d.path, true),
                ChangeAction::Deleted => self.copy_seen(&d.path, false),
                ChangeAction::Other(_) => self.push(Action::CheckCopy { path: d.path.clone() }),
            }
            if !self.announced(&d.path) {
                return;
            }
        }
        if news && self.files.get(&d.path).is_some_and(|t| t.expected.is_some()) {
            if let Some(t) = self.files.get_mut(&d.path) {
                t.echo = false;
            }
            self.news(&d.path);
        }
    }
}

/// What this machine's own file watcher saw (`driver` runs one on the
/// folder): a local edit is news at once, not after Syncthing's watcher
/// delay (docs/badges.md#local-changes).
impl Engine {
    /// Paths of the folder that changed on this disk (files or directories,
    /// present or gone). Each announced file among them, or beneath a
    /// changed directory, is news: its last hash proves nothing until it
    /// is looked at again. The look only stats a file whose size, mtime
    /// and inode are those of its last hash (Syncthing renaming a pulled
    /// file into place is seen here too, and is verified once already).
    pub fn local_changes<'a>(&mut self, paths: impl IntoIterator<Item = &'a str>) {
        self.tick();
        let mut news = Vec::new();
        for path in paths {
            if is_conflict_copy(path).is_some() {
                self.push(Action::CheckCopy { path: path.to_owned() });
            }
            if self.files.get(path).is_some_and(|t| t.expected.is_some()) {
                news.push(path.to_owned());
            } else if !self.files.contains_key(path) {
                // A directory (renamed, deleted) stands for what is beneath it.
                let dir = format!("{path}/");
                news.extend(
                    self.files
                        .iter()
                        .filter(|(p, t)| t.expected.is_some() && p.starts_with(&dir))
                        .map(|(p, _)| p.clone()),
                );
            }
        }
        for path in news {
            self.local_news(&path);
        }
        self.settle();
    }

    /// The watcher lost events (the kernel's queue overflowed): every
    /// announced file may have changed. Each is looked at again; unchanged
    /// ones are only stat'ed.
    pub fn local_rescan(&mut self) {
        self.tick();
        let all: Vec<String> =
            self.files.iter().filter(|(_, t)| t.expected.is_some()).map(|(p, _)| p.clone()).collect();
        for path in all {
            self.local_news(&path);
        }
        self.settle();
    }

    fn local_news(&mut self, path: &str) {
        let Some(t) = self.files.get(path) else { return };
        if t.disk == DiskFact::IgnoredHere {
            return;
        }
        let known = match &t.disk {
            DiskFact::Present { stamp, inode: Some(inode), .. } => {
                Some(Verified { stamp: *stamp, inode: Some(*inode) })
            }
            _ => None,
        };
        self.news_with(path, known);
    }
}
