//! One file's facts (what the cloud expects, what the disk holds, what
//! Syncthing is doing with it) and the one pure function that turns them
//! into a badge, following docs/badges.md#the-rule. Keeping the rule in one
//! place means every input path (events, REST, disk, restart) agrees.

use std::sync::Arc;
use std::time::Instant;

use cloud_protocol::{FileProgress, FileState};
use time::OffsetDateTime;

use super::model::{DiskFact, Expected, Prior, round_percent};
use super::rate::Rate;
use super::stall::{self, Stall};
use crate::syncthing::types::DbFile;

/// What Syncthing's puller is doing with the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Pull {
    #[default]
    Idle,
    /// `ItemStarted` seen (or the need list says "in progress"); blocks
    /// done/total from `DownloadProgress` when the file is big enough to get any.
    Active { delete: bool, done: i64, total: i64, pulled: i64 },
    /// `ItemFinished` without error; stays until the disk has been verified
    /// (so the badge reads "syncing 100 %" while we hash, never "pending").
    Finished,
}

/// Whether a hash is being taken, and whether another reason to take one
/// arrived meanwhile (then the result is stale: hash again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Hashing {
    #[default]
    Idle,
    InFlight {
        again: bool,
        /// The engine's logical time when it was asked for: what it reads
        /// is at least that new.
        asked_at: u64,
    },
}

/// A badge without its path.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Badge {
    pub state: FileState,
    pub percent: f64,
    pub local_hash: Option<Arc<str>>,
    pub error: Option<String>,
}

impl Badge {
    fn new(state: FileState, percent: f64) -> Self {
        Badge { state, percent: round_percent(percent), local_hash: None, error: None }
    }

    fn because(mut self, why: impl Into<String>) -> Self {
        self.error = Some(why.into());
        self
    }

    pub fn progress(&self, path: &str) -> FileProgress {
        FileProgress {
            path: path.to_owned(),
            state: self.state,
            percent: self.percent,
            local_hash: self.local_hash.as_deref().map(str::to_owned),
            error: self.error.clone(),
        }
    }
}

/// Everything known about one path.
#[derive(Debug, Default)]
pub(super) struct Tracked {
    pub expected: Option<Expected>,
    pub disk: DiskFact,
    /// Logical time (see `evidence`) the hash behind `disk` was asked for.
    pub disk_at: u64,
    /// Logical time of the last event saying the bytes may have changed
    /// (a pull finished, a local change): `disk` older than that proves nothing.
    pub news_at: u64,
    pub pull: Pull,
    pub hashing: Hashing,
    /// Syncthing's last error for this item, kept until a pull or a hash succeeds.
    pub item_error: Option<String>,
    /// Verdict of `/rest/db/file` on the current disk fact: `Some` is a conflict.
    pub db_conflict: Option<String>,
    /// A `/rest/db/file` answer that would make a conflict, with the logical
    /// time it came: held until a disk observation asked for after it.
    pub db_answer: Option<(Box<DbFile>, u64)>,
    /// A `QueryFile` is out.
    pub db_asked: bool,
    /// A look wanted Syncthing's view while a query asked before it was out.
    pub requery: bool,
    /// Already re-checked since Syncthing last said the folder is in sync
    /// (reset by any news about the file), so an idle folder costs nothing.
    pub checked_idle: bool,
    /// `ItemFinished` was seen and its `LocalIndexUpdated` echo not yet.
    pub echo: bool,
    /// The badge from before a restart, shown until the disk is seen again.
    pub prior: Option<Box<Prior>>,
    /// Pull speed of this file (bytes/s), for its ETA; only while it is pulled.
    pub rate: Option<Box<Rate>>,
    /// Whether the pull moves, and why not when it does not (`stall`).
    pub stall: Option<Box<Stall>>,
    /// The badge last handed out.
    pub last: Option<Badge>,
}

impl Tracked {
    /// The pull's rate meter, made on first use.
    pub fn rate_mut(&mut self) -> &mut Rate {
        self.rate.get_or_insert_with(Box::default)
    }

    /// Percent of this pull, from blocks (never the flawed byte estimate).
    pub fn pull_percent(&self) -> f64 {
        match self.pull {
            Pull::Active { delete: false, done, total, .. } if total > 0 => done as f64 * 100.0 / total as f64,
            Pull::Finished => 100.0,
            _ => 0.0,
        }
    }

    /// Whether `disk` was looked at since the last news about the file.
    pub fn fresh(&self) -> bool {
        self.disk_at >= self.news_at
    }

    /// Whether the disk holds the announced content, as of a look no older
    /// than the last news: the only ground for ✓ (and for `deleted`).
    pub fn holds_announced(&self) -> bool {
        self.matches() && self.fresh()
    }

    /// Whether the disk holds the announced content (as last seen).
    pub fn matches(&self) -> bool {
        match (&self.expected, &self.disk) {
            (Some(e), DiskFact::Present { hash, .. }) => !e.deleted && *hash == e.hash,
            (Some(e), DiskFact::Missing) => e.deleted,
            _ => false,
        }
    }

    /// The badge these facts give. `copies`: conflict copies of this file;
    /// `folder_error`: Syncthing's folder-level error. `None` for a path the
    /// cloud never announced (Syncthing's own business).
    pub fn badge(&self, copies: &[&str], folder_error: Option<&str>) -> Option<Badge> {
        let expected = self.expected.as_ref()?;
        if self.disk == DiskFact::IgnoredHere {
            // Not synced here: no hash, no percent, no error to speak of.
            return Some(Badge::new(FileState::IgnoredHere, 0.0));
        }
        if let (DiskFact::Unknown, Some(p)) = (&self.disk, &self.prior) {
            return Some(Badge {
                state: p.state,
                percent: round_percent(p.percent),
                local_hash: p.local_hash.as_deref().map(Arc::from),
                error: p.error.clone(),
            });
        }
        let local_hash = match &self.disk {
            DiskFact::Present { hash, .. } => Some(hash.clone()),
            _ => None,
        };
        let mut badge = self.judge(expected, copies, folder_error);
        badge.local_hash = local_hash;
        Some(badge)
    }

    fn judge(&self, e: &Expected, copies: &[&str], folder_error: Option<&str>) -> Badge {
        // Deleted by the owner and gone here: a conflict copy of it is a file
        // of its own (announced and badged like any), not a conflict of this
        // path. Syncthing 2.x leaves exactly that when a delete wins over an
        // edit (the edit is kept as the copy); without this the path stayed ⚠.
        let copies = if e.deleted && self.disk == DiskFact::Missing { &[] } else { copies };
        if let Some(first) = copies.first() {
            let more = match copies.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            return Badge::new(FileState::Conflict, 0.0).because(format!("a conflicting copy exists: {first}{more}"));
        }
        if let Some(err) = &self.item_error {
            return Badge::new(FileState::Error, self.pull_percent()).because(format!("Syncthing: {err}"));
        }
        if let DiskFact::Unreadable(why) = &self.disk {
            return Badge::new(FileState::Error, 0.0).because(why.clone());
        }
        if e.deleted {
            return match &self.disk {
                DiskFact::Missing if self.fresh() => Badge::new(FileState::Deleted, 100.0),
                _ => match (&self.db_conflict, folder_error) {
                    (Some(c), _) => Badge::new(FileState::Conflict, 0.0).because(c.clone()),
                    (None, Some(fe)) => Badge::new(FileState::Error, 0.0).because(format!("Syncthing: {fe}")),
                    // The delete is announced and the file is still here.
                    (None, None) => Badge::new(FileState::Syncing, 0.0),
                },
            };
        }
        if self.holds_announced() {
            return Badge::new(FileState::Synced, 100.0);
        }
        if let Some(c) = &self.db_conflict {
            return Badge::new(FileState::Conflict, 0.0).because(c.clone());
        }
        if let Some(fe) = folder_error {
            return Badge::new(FileState::Error, self.pull_percent()).because(format!("Syncthing: {fe}"));
        }
        // Waiting for a peer: at the percent really reached, saying why
        // (docs/badges.md#stalled-pulls). Never ✓, never a made-up percent.
        let stalled = self.stalled().map(|why| format!("stalled: {why}"));
        let badge = match self.pull {
            Pull::Active { .. } | Pull::Finished => Badge::new(FileState::Syncing, self.pull_percent()),
            Pull::Idle => Badge::new(FileState::Pending, 0.0),
        };
        match stalled {
            Some(why) => badge.because(why),
            None => badge,
        }
    }
}

/// `FileInfo.localFlags` bit of a local change in a receive-only folder.
const FLAG_RECEIVE_ONLY: i64 = 8;

/// What `/rest/db/file` says about a file whose disk content is not the
/// announced one: a conflict (and why), or nothing (Syncthing simply has
/// not got the announced version yet). `my_short_id`: this device's short
/// id, to recognise edits made here.
pub(super) fn db_verdict(e: &Expected, disk: &DiskFact, file: &DbFile, my_short_id: Option<&str>) -> Option<String> {
    let (g, l) = (&file.global, &file.local);
    if l.local_flags & FLAG_RECEIVE_ONLY != 0 {
        return Some(
            "changed on this machine in a receive-only folder; revert the folder in Syncthing to get the owner's version"
                .into(),
        );
    }
    let global_is_expected = if e.deleted {
        g.deleted
    } else {
        !g.deleted && u64::try_from(g.size).ok() == Some(e.size) && same_mtime(&g.modified, e.mtime_ms)
    };
    let edited_here = my_short_id.is_some_and(|me| !me.is_empty() && g.modified_by == me);
    if !global_is_expected && edited_here {
        return Some(if g.deleted {
            "deleted on this machine; the owner's version is different".into()
        } else {
            "changed on this machine; it differs from the owner's version".into()
        });
    }
    let in_sync = !l.name.is_empty() && l.version == g.version;
    let differs = match disk {
        DiskFact::Present { hash, .. } => e.deleted || *hash != e.hash,
        DiskFact::Missing => !e.deleted,
        _ => false,
    };
    (global_is_expected && in_sync && differs)
        .then(|| "the file on disk differs from the owner's version although Syncthing reports it in sync".into())
}

/// Syncthing's `modified` (RFC 3339, ns) against the owner's ms mtime. One
/// millisecond of slack: both come from the same file, one truncated.
fn same_mtime(modified: &str, mtime_ms: i64) -> bool {
    let Ok(t) = time::OffsetDateTime::parse(modified, &time::format_description::well_known::Rfc3339) else {
        return false;
    };
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    (ms - i128::from(mtime_ms)).abs() <= 1
}

/// Stalled pulls ([`super::stall`]): what each pull event does to the watch.
impl Tracked {
    /// The words of the stall, if the pull is stalled.
    pub fn stalled(&self) -> Option<&str> {
        self.stall.as_ref()?.words.as_deref()
    }

    /// A pull (re)started at `now`: a stall's words stay until data moves,
    /// so a reconnect does not flicker to "all is well" before it does.
    pub(super) fn pull_started(&mut self, now: Instant) {
        let words = self.stall.take().and_then(|s| s.words);
        self.stall = Some(Box::new(Stall { moved_at: now, words }));
    }

    /// Blocks arrived at `now`: whatever stalled it is over.
    pub(super) fn pull_moved(&mut self, now: Instant) {
        self.stall = Some(Stall::started(now));
    }

    /// The pull finished (or was given up): nothing left to watch.
    pub(super) fn pull_ended(&mut self) {
        self.stall = None;
    }

    /// Syncthing says no device that has the file is connected (at `at`,
    /// its event's time). An earlier stall of this kind keeps its time.
    /// False when that changes nothing.
    pub(super) fn unreachable_since(&mut self, at: Option<OffsetDateTime>, now: Instant) -> bool {
        const WORDS: &str = "no device that has this file is connected";
        let s = self.stall.get_or_insert_with(|| Stall::started(now));
        if s.words.as_deref().is_some_and(|w| w.starts_with(WORDS)) {
            return false;
        }
        s.words = Some(match at {
            Some(at) => format!("{WORDS} (since {})", stall::clock(at)),
            None => WORDS.to_owned(),
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::FileStamp;

    const H1: &str = "blake3:1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "blake3:2222222222222222222222222222222222222222222222222222222222222222";

    fn expected(hash: &str) -> Expected {
        Expected { size: 5, hash: hash.into(), mtime_ms: 1_764_393_191_818, deleted: false }
    }

    fn present(hash: &str) -> DiskFact {
        DiskFact::Present { hash: hash.into(), stamp: FileStamp { size: 5, mtime_ms: 1 }, inode: None }
    }

    #[test]
    fn the_table() {
        let mut t = Tracked { expected: Some(expected(H1)), ..Default::default() };
        assert_eq!(t.badge(&[], None).unwrap().state, FileState::Pending);
        t.pull = Pull::Active { delete: false, done: 300, total: 1200, pulled: 300 };
        assert_eq!(t.badge(&[], None).unwrap().percent, 25.0);
        t.disk = present(H1);
        assert_eq!(t.badge(&[], None).unwrap().state, FileState::Synced);
        assert_eq!(t.badge(&["a.sync-conflict-20261129-051504-ASMRTYP"], None).unwrap().state, FileState::Conflict);
        t.disk = present(H2);
        t.item_error = Some("boom".into());
        let b = t.badge(&[], None).unwrap();
        assert_eq!((b.state, b.error.as_deref()), (FileState::Error, Some("Syncthing: boom")));
        assert_eq!(b.local_hash.as_deref(), Some(H2));
    }

    #[test]
    fn verdicts() {
        let e = expected(H1);
        let mut f = DbFile::default();
        f.global.modified = "2025-11-29T05:13:11.818916201Z".into();
        f.global.size = 5;
        f.global.version = vec!["A:1".into()];
        f.local = f.global.clone();
        f.local.name = "x".into();
        assert!(db_verdict(&e, &present(H2), &f, Some("B")).is_some(), "in sync yet different");
        assert!(db_verdict(&e, &present(H1), &f, Some("B")).is_none());
        f.local.version = vec![];
        assert!(db_verdict(&e, &present(H2), &f, Some("B")).is_none(), "Syncthing still needs it");
        f.global.modified = "2020-01-01T00:00:00Z".into();
        f.global.modified_by = "B".into();
        assert!(db_verdict(&e, &present(H2), &f, Some("B")).unwrap().contains("changed on this machine"));
        f.local.local_flags = 8;
        assert!(db_verdict(&e, &present(H2), &f, None).unwrap().contains("receive-only"));
    }
}
