//! The evidence rule: a badge is computed only from evidence at least as
//! new as the event that triggers it.
//!
//! The engine has no clock, so it counts facts: every fact fed (an event, an
//! announcement, a REST answer, a hash) ticks `Engine::clock`. Each hash
//! remembers the tick it was asked at (what it reads is at least that new),
//! each file the tick of its last news (an event saying its bytes may have
//! changed: a pull finished, a local change), each held Syncthing answer the
//! tick it came at. Then:
//!
//! - ✓ (and `deleted`) only from a disk observation asked for at or after
//!   the file's last news: after `ItemFinished` the old hash proves nothing,
//!   the badge reads "syncing 100 %" until the new one is back.
//! - A verdict that combines Syncthing's answer (`db/file`) with a disk
//!   observation uses one asked for after that answer came. An answer that
//!   would make a conflict is held, the disk is looked at again, and the
//!   held answer is combined with that newer look, without asking Syncthing
//!   again (no hash → query → answer → hash → query loop). Without this, a
//!   file hashed while it was not there yet (a conflict copy the owner
//!   announced before this Syncthing had it) was paired with Syncthing's
//!   later "in sync" and read ⚠ for good on the right bytes.
//! - `db/need` and "folder idle" answers only ask for looks; they never
//!   turn an old observation into a verdict.

use std::sync::Arc;

use super::engine::Engine;
use super::model::{Action, DiskFact, HashOutcome, Verified};
use super::rule::{Hashing, Pull, Tracked, db_verdict};
use crate::syncthing::types::DbFile;

impl Engine {
    /// One more fact: the logical time it is fed at.
    pub(super) fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// An event says the bytes of `path` may have changed: what was known
    /// of its disk (and every verdict built on it) is older than that, and
    /// it is read again.
    pub(super) fn news(&mut self, path: &str) {
        self.news_with(path, None);
    }

    /// [`Engine::news`], looking again with `known`: the stamp of the last
    /// hash, so a file that still has it is only stat'ed.
    pub(super) fn news_with(&mut self, path: &str, known: Option<Verified>) {
        let now = self.clock;
        let Some(t) = self.files.get_mut(path) else { return };
        t.news_at = now;
        t.checked_idle = false;
        t.db_conflict = None;
        t.db_answer = None;
        self.touched.insert(path.to_owned());
        self.want_hash(path, known);
    }

    /// The answer to an [`Action::Hash`].
    pub fn hashed(&mut self, path: &str, outcome: HashOutcome) {
        let now = self.tick();
        let Some(t) = self.files.get_mut(path) else { return };
        // An answer nobody asked for is taken as a look made now.
        let (again, asked_at) = match t.hashing {
            Hashing::InFlight { again, asked_at } => (again, asked_at),
            Hashing::Idle => (false, now),
        };
        t.hashing = Hashing::Idle;
        if t.disk == DiskFact::IgnoredHere {
            // Became ignored while it was read: the result is not ours to keep.
            return;
        }
        let Some(disk) = observed(t, outcome) else {
            // Unchanged, but nothing to fall back on: read it for real.
            self.want_hash(path, None);
            return;
        };
        t.disk = disk;
        t.disk_at = asked_at;
        t.prior = None;
        self.touched.insert(path.to_owned());
        if again {
            // A reason to look arrived while it was read: this result may
            // predate it. Keep it (it is the best known), judge nothing from
            // it, read again.
            self.want_hash(path, None);
            self.settle();
            return;
        }
        self.judge_look(path, asked_at);
        self.settle();
    }

    /// What a fresh look at the disk of `path` (asked at `asked_at`, with no
    /// newer reason to look since) makes of the file: in step with the
    /// announcement, a conflict (combined with Syncthing's answer, asked for
    /// when there is none), or a pull to check on.
    fn judge_look(&mut self, path: &str, asked_at: u64) {
        let me = self.my_short_id.clone();
        let Some(t) = self.files.get_mut(path) else { return };
        if t.matches() {
            t.item_error = None;
            t.db_conflict = None;
            t.db_answer = None;
            // The announced content is on disk: no pull toward it is under
            // way (Syncthing renames a pulled file into place when it is
            // done). A pull left `Active` by an older answer (a `db/need`
            // read before the pull finished) would otherwise turn the next
            // announcement into "syncing 0 %" while Syncthing pulls nothing.
            t.pull = Pull::Idle;
        } else if let Some(e) = t.expected.as_ref().filter(|_| !matches!(t.pull, Pull::Active { .. })) {
            // Not what the owner has, and Syncthing is not pulling it: does
            // Syncthing think it is in sync (then it is a conflict)?
            match t.db_answer.take() {
                // Its answer came before this look was asked for: combine.
                Some((answer, at)) if asked_at >= at => {
                    t.db_conflict = db_verdict(e, &t.disk, &answer, me.as_deref());
                    if t.pull == Pull::Finished {
                        t.pull = Pull::Idle;
                    }
                }
                // Older than the answer (cannot follow a look asked for by
                // `db_file`, which sets `again`): wait for a newer one.
                Some(held) => {
                    t.db_answer = Some(held);
                    self.want_hash(path, None);
                }
                // A verdict from an earlier answer stands (news clears it).
                None if t.db_conflict.is_some() => {}
                // A query is out, asked before this look: ask again once it
                // is back, whatever it says.
                None if t.db_asked => t.requery = true,
                None => {
                    t.db_asked = true;
                    self.push(Action::QueryFile { path: path.to_owned() });
                }
            }
        } else if t.pull == Pull::Finished {
            t.pull = Pull::Idle;
        } else if t.expected.is_some() {
            // Not what the owner has while we think Syncthing pulls it: make
            // sure it still does. A need answer older than the pull's
            // `ItemFinished` leaves a pull that is over (hidden while ✓);
            // a newer announcement must then read pending, not syncing.
            self.push(Action::QueryNeed);
        }
    }

    /// The answer to an [`Action::QueryFile`]. A conflict it would make is
    /// held until the disk has been looked at again (see the module docs).
    pub fn db_file(&mut self, path: &str, file: &DbFile) {
        let now = self.tick();
        let me = self.my_short_id.clone();
        let Some(t) = self.files.get_mut(path) else { return };
        t.db_asked = false;
        let requery = std::mem::take(&mut t.requery);
        let Some(expected) = &t.expected else { return };
        if t.disk == DiskFact::IgnoredHere {
            return;
        }
        if t.pull == Pull::Finished {
            t.pull = Pull::Idle;
        }
        let verdict = if t.matches() { None } else { db_verdict(expected, &t.disk, file, me.as_deref()) };
        t.db_answer = None;
        if verdict.is_none() {
            // Nothing to combine: Syncthing does not hold the announced
            // version, or holds what the disk holds. Asked before the last
            // look, it may say otherwise now: ask once more.
            t.db_conflict = None;
            if requery {
                t.db_asked = true;
                self.push(Action::QueryFile { path: path.to_owned() });
            }
        } else {
            // Every disk observation we have predates this answer. Look
            // again (an unchanged file is not re-read) and judge then.
            let known = match &t.disk {
                DiskFact::Present { stamp, inode: Some(inode), .. } => {
                    Some(Verified { stamp: *stamp, inode: Some(*inode) })
                }
                _ => None,
            };
            t.db_answer = Some((Box::new(file.clone()), now));
            self.want_hash(path, known);
        }
        self.touched.insert(path.to_owned());
        self.settle();
    }

    /// A [`Action::QueryFile`] failed; it is asked again later, or now when
    /// a newer look wanted it meanwhile.
    pub fn db_file_failed(&mut self, path: &str) {
        self.tick();
        let Some(t) = self.files.get_mut(path) else { return };
        t.db_asked = false;
        if std::mem::take(&mut t.requery) {
            t.db_asked = true;
            self.push(Action::QueryFile { path: path.to_owned() });
        }
    }

    /// A reason to look at the disk: hash now, or again once the hash in
    /// flight is back (its result may predate the reason).
    pub(super) fn want_hash(&mut self, path: &str, known: Option<Verified>) {
        let now = self.clock;
        let Some(t) = self.files.get_mut(path) else { return };
        if t.disk == DiskFact::IgnoredHere {
            return;
        }
        match &mut t.hashing {
            Hashing::InFlight { again, .. } => *again = true,
            Hashing::Idle => {
                t.hashing = Hashing::InFlight { again: false, asked_at: now };
                self.push(Action::Hash { path: path.to_owned(), known });
            }
        }
    }

    /// Like [`Engine::want_hash`], but a hash already in flight is enough
    /// (for echoes such as `LocalIndexUpdated` right after `ItemFinished`).
    pub(super) fn want_hash_soft(&mut self, path: &str) {
        let in_flight = self.files.get(path).is_some_and(|t| matches!(t.hashing, Hashing::InFlight { .. }));
        if !in_flight {
            self.want_hash(path, None);
        }
    }

    /// Syncthing says the folder is complete: whatever does not hold the
    /// announced content gets one more look at its disk, newer than that
    /// answer (an unchanged file is not re-read; a file that was not there
    /// is). If it still differs, Syncthing is asked about it, and that
    /// answer waits for a newer look again before it can make a conflict.
    pub(super) fn recheck_idle(&mut self) {
        let mut look = Vec::new();
        for (path, t) in &mut self.files {
            if t.expected.is_none()
                || t.checked_idle
                || t.holds_announced()
                || t.db_conflict.is_some()
                || t.db_answer.is_some()
                || t.disk == DiskFact::IgnoredHere
            {
                continue;
            }
            t.checked_idle = true;
            let known = match (&t.disk, t.fresh()) {
                (DiskFact::Present { stamp, inode: Some(inode), .. }, true) => {
                    Some(Verified { stamp: *stamp, inode: Some(*inode) })
                }
                _ => None,
            };
            look.push((path.clone(), known));
        }
        for (path, known) in look {
            self.want_hash(&path, known);
            if let Some(t) = self.files.get_mut(&path) {
                t.checked_idle = true;
            }
        }
    }
}

/// The disk fact a hash outcome tells of `t`; `None` when it says
/// "unchanged" but there is nothing to fall back on.
fn observed(t: &Tracked, outcome: HashOutcome) -> Option<DiskFact> {
    match outcome {
        HashOutcome::Hashed { hash, stamp, inode } => Some(DiskFact::Present { hash: share(t, hash), stamp, inode }),
        HashOutcome::Missing => Some(DiskFact::Missing),
        HashOutcome::Failed(why) => Some(DiskFact::Unreadable(why)),
        // The disk fact we hold (or, after a restart, the prior one) stands.
        HashOutcome::Unchanged => match &t.disk {
            DiskFact::Present { .. } => Some(t.disk.clone()),
            _ => t
                .prior
                .as_ref()
                .and_then(|p| Some((p.local_hash.clone()?, p.stamp?, p.inode)))
                .map(|(hash, stamp, inode)| DiskFact::Present { hash: share(t, hash), stamp, inode }),
        },
    }
}

/// The hash as an `Arc`, shared with the expectation when they are equal.
fn share(t: &Tracked, hash: String) -> Arc<str> {
    match &t.expected {
        Some(e) if *e.hash == *hash => e.hash.clone(),
        _ => hash.into(),
    }
}
