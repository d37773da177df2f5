//! The badge rule as a property of the pure engine: random interleavings of
//! Syncthing's events, its REST answers, disk observations and the cloud's
//! announcements, against a small model of the bytes on disk and of what
//! this Syncthing believes. Every action the engine asks for is answered
//! truthfully, but at a random later point: an answer is read from the
//! model when the action runs and delivered any time after, while other
//! facts go by (as the driver's concurrent tasks do).
//!
//! - Never ✓ on bytes that differ from the announced hash, nor `deleted`
//!   while the file is there, unless a change of the bytes has not been
//!   told yet (its event is still in Syncthing's queue: nobody can know).
//! - Once every event is delivered, every action answered and Syncthing
//!   idle: bytes equal to the announced ones read ✓ (`deleted` for a delete
//!   that is gone), never ⚠ or ✗, and differing bytes never read ✓.

use std::collections::VecDeque;
use std::time::Instant;

use cloud_protocol::FileState;
use companion::hash::FileStamp;
use companion::invitee::badge::{Action, Engine, Expected, HashOutcome};
use companion::syncthing::event::Event;
use companion::syncthing::types::{DbFile, DbStatus, Need};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Two ordinary files and a conflict copy (announced like any file, as the
/// owner does), so the copy's own code paths are walked too.
const PATHS: [&str; 3] = ["a.txt", "dir/b.txt", "doc.sync-conflict-20261130-120000-ABCDEFG.txt"];
/// This device's id; its edits carry the short form.
const ME: &str = "MEMEMEM-K7L5JKX-RYRUB44-56MOWCA-WJ4QQTT-QJWPW2E-3Q53I2C-K3ZTJAK";

fn hash_of(content: u8) -> String {
    format!("blake3:{}", format!("{content:02x}").repeat(32))
}

fn size_of(content: u8) -> u64 {
    u64::from(content) * 10
}

/// One version of a file as Syncthing indexes it: content (`None`: deleted).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Version {
    content: Option<u8>,
    mtime_ms: i64,
    by_me: bool,
    counter: u32,
}

impl Version {
    fn info(&self, name: &str) -> Value {
        let modified = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.mtime_ms) * 1_000_000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        json!({"name": name, "type": "FILE_INFO_TYPE_FILE", "size": self.content.map_or(0, size_of),
            "modified": modified, "modifiedBy": if self.by_me { "MEMEMEM" } else { "OWNEROW" },
            "deleted": self.content.is_none(), "version": [format!("X:{}", self.counter)]})
    }
}

/// The world of one path.
#[derive(Debug, Default, Clone)]
struct PathWorld {
    /// The owner's newest version, and whether the cloud has told the engine.
    owner: Option<Version>,
    told: bool,
    /// What the engine was told (its expectation).
    announced: Option<Version>,
    /// The owner's version on its way to this Syncthing's index.
    index_pending: Option<Version>,
    global: Option<Version>,
    local: Option<Version>,
    pulling: bool,
    /// Bytes on disk, with the write's stamp (also its inode).
    disk: Option<(u8, i64)>,
    /// A local edit Syncthing has not scanned yet.
    scan_pending: bool,
    /// Events in the queue that tell the engine the bytes changed.
    news_untold: u32,
    /// This machine's file watcher reported the path since its last write
    /// (then the engine was told, whatever Syncthing's events still hold).
    watched: bool,
}

impl PathWorld {
    fn needed(&self) -> bool {
        self.global.is_some() && self.global.map(|g| g.counter) != self.local.map(|l| l.counter)
    }
}

enum Answer {
    Hashed(String, HashOutcome),
    File(String, Option<DbFile>),
    Need(Need),
    Status(DbStatus),
    Copies(Vec<String>),
    Copy(String, bool),
}

struct Sim {
    engine: Engine,
    paths: Vec<PathWorld>,
    /// Syncthing's event queue: the event and the path whose bytes it reports changed.
    events: VecDeque<(Value, Option<usize>)>,
    actions: Vec<Action>,
    answers: Vec<Answer>,
    counter: u32,
    next_id: u64,
    t0: Instant,
}

impl Sim {
    fn new() -> Sim {
        let mut engine = Engine::new("proj");
        engine.set_device_id(ME);
        engine.start();
        let mut sim = Sim {
            engine,
            paths: vec![PathWorld::default(); PATHS.len()],
            events: VecDeque::new(),
            actions: Vec::new(),
            answers: Vec::new(),
            counter: 0,
            next_id: 0,
            t0: Instant::now(),
        };
        sim.collect_actions();
        sim
    }

    fn version(&mut self, content: Option<u8>, by_me: bool) -> Version {
        self.counter += 1;
        Version { content, mtime_ms: 1_764_000_000_000 + i64::from(self.counter) * 1000, by_me, counter: self.counter }
    }

    fn queue(&mut self, kind: &str, data: Value, news: Option<usize>) {
        self.next_id += 1;
        let id = self.next_id;
        let event = json!({"id": id, "globalID": id, "time": "2026-11-30T12:00:00Z", "type": kind, "data": data});
        self.events.push_back((event, news));
        if let Some(i) = news {
            self.paths[i].news_untold += 1;
        }
    }

    fn item(&mut self, kind: &str, i: usize, delete: bool, news: bool) {
        let action = if delete { "delete" } else { "update" };
        let mut data = json!({"folder": "proj", "item": PATHS[i], "type": "file", "action": action});
        if kind == "ItemFinished" {
            data["error"] = Value::Null;
        }
        self.queue(kind, data, news.then_some(i));
    }

    fn index_updated(&mut self, i: usize, news: bool) {
        let data = json!({"folder": "proj", "items": 1, "filenames": [PATHS[i]], "sequence": 1, "version": 1});
        self.queue("LocalIndexUpdated", data, news.then_some(i));
    }

    fn status(&self) -> Value {
        let need = self.paths.iter().filter(|p| p.needed()).count();
        let state = if need == 0 { "idle" } else { "syncing" };
        json!({"state": state, "needTotalItems": need, "needFiles": need})
    }

    fn write(&mut self, i: usize, content: Option<u8>) {
        self.counter += 1;
        self.paths[i].disk = content.map(|c| (c, i64::from(self.counter)));
        self.paths[i].watched = false;
    }

    /// One step of the world or of the engine's inputs.
    fn step(&mut self, kind: u8, a: u8, b: u8) {
        let i = usize::from(a) % PATHS.len();
        match kind % 13 {
            // The owner edits (or deletes) the file: the cloud and this
            // Syncthing hear of it separately, in either order.
            0 => {
                let content = (!b.is_multiple_of(4)).then_some(b % 3 + 1);
                if content.is_none() && self.paths[i].owner.is_none_or(|v| v.content.is_none()) {
                    return;
                }
                let v = self.version(content, false);
                let p = &mut self.paths[i];
                p.owner = Some(v);
                p.told = false;
                p.index_pending = Some(v);
            }
            1 => {
                let p = &mut self.paths[i];
                if let (Some(v), false) = (p.owner, p.told) {
                    p.told = true;
                    p.announced = Some(v);
                    // A delete carries no hash of its own.
                    let hash = v.content.map_or(String::new(), hash_of);
                    let size = v.content.map_or(0, size_of);
                    let e = Expected { size, hash: hash.into(), mtime_ms: v.mtime_ms, deleted: v.content.is_none() };
                    self.engine.announce(PATHS[i], e);
                }
            }
            2 => {
                if let Some(v) = self.paths[i].index_pending.take() {
                    self.paths[i].global = Some(v);
                    self.queue("RemoteIndexUpdated", json!({"device": "OWNER", "folder": "proj", "items": 1}), None);
                }
            }
            3 => {
                let p = &self.paths[i];
                if p.needed() && !p.pulling && !p.scan_pending {
                    let delete = p.global.is_some_and(|g| g.content.is_none());
                    self.paths[i].pulling = true;
                    self.item("ItemStarted", i, delete, false);
                }
            }
            4 => {
                let p = &self.paths[i];
                if p.pulling && !p.scan_pending {
                    let g = p.global.expect("pulling a known version");
                    self.write(i, g.content);
                    let p = &mut self.paths[i];
                    p.local = Some(g);
                    p.pulling = false;
                    self.item("ItemFinished", i, g.content.is_none(), true);
                    self.index_updated(i, false);
                    let status = self.status();
                    self.queue("FolderSummary", json!({"folder": "proj", "summary": status}), None);
                }
            }
            // A local edit here, scanned by Syncthing later.
            5 => {
                if !self.paths[i].pulling {
                    self.write(i, Some(b % 3 + 1));
                    let p = &mut self.paths[i];
                    p.scan_pending = true;
                    p.news_untold += 1;
                }
            }
            6 => {
                if self.paths[i].scan_pending {
                    let content = self.paths[i].disk.map(|(c, _)| c);
                    let v = self.version(content, true);
                    let p = &mut self.paths[i];
                    p.scan_pending = false;
                    p.news_untold -= 1;
                    p.local = Some(v);
                    p.global = Some(v);
                    self.index_updated(i, true);
                    let data = json!({"action": "modified", "type": "file", "path": PATHS[i], "folder": "proj",
                        "folderID": "proj", "label": "proj", "modifiedBy": "MEMEMEM"});
                    self.queue("LocalChangeDetected", data, Some(i));
                }
            }
            7 => {
                let status = self.status();
                self.queue("FolderSummary", json!({"folder": "proj", "summary": status}), None);
            }
            8 | 9 => {
                for _ in 0..=(b % 3) {
                    self.deliver_event();
                }
            }
            // The folder watcher reports the path (after a write, or for
            // nothing: it also sees renames and touches).
            12 => {
                self.paths[i].watched = true;
                self.engine.local_changes([PATHS[i]]);
            }
            10 => {
                if !self.actions.is_empty() {
                    let action = self.actions.remove(usize::from(b) % self.actions.len());
                    let answer = self.run(action);
                    self.answers.push(answer);
                }
            }
            _ => {
                if !self.answers.is_empty() {
                    let answer = self.answers.remove(usize::from(b) % self.answers.len());
                    self.deliver(answer);
                }
            }
        }
        self.collect_actions();
    }

    fn deliver_event(&mut self) {
        let Some((event, news)) = self.events.pop_front() else { return };
        if let Some(i) = news {
            self.paths[i].news_untold -= 1;
        }
        let event = Event::from_value(event).expect("a well-formed event");
        self.engine.event(&event, self.t0);
        self.collect_actions();
    }

    fn collect_actions(&mut self) {
        self.actions.extend(self.engine.take_actions());
    }

    /// Runs an action against the world as it is now.
    fn run(&self, action: Action) -> Answer {
        let index = |path: &str| PATHS.iter().position(|p| *p == path);
        match action {
            Action::Hash { path, known } => {
                let outcome = match index(&path).and_then(|i| self.paths[i].disk) {
                    None => HashOutcome::Missing,
                    Some((c, write)) => {
                        let stamp = FileStamp { size: size_of(c), mtime_ms: write };
                        let inode = Some(write as u64);
                        match known {
                            Some(k) if k.stamp == stamp && k.inode.is_none_or(|n| Some(n) == inode) => {
                                HashOutcome::Unchanged
                            }
                            _ => HashOutcome::Hashed { hash: hash_of(c), stamp, inode },
                        }
                    }
                };
                Answer::Hashed(path, outcome)
            }
            Action::QueryFile { path } => {
                let file = index(&path).and_then(|i| {
                    let p = &self.paths[i];
                    let global = p.global?;
                    let local = p.local.map_or(json!({}), |l| l.info(&path));
                    let v = json!({"global": global.info(&path), "local": local, "availability": []});
                    Some(serde_json::from_value(v).expect("a db/file answer"))
                });
                Answer::File(path, file)
            }
            Action::QueryNeed => {
                let entry = |i: usize| json!({"name": PATHS[i], "deleted": self.paths[i].global.is_some_and(|g| g.content.is_none())});
                let progress: Vec<Value> = (0..PATHS.len()).filter(|&i| self.paths[i].pulling).map(entry).collect();
                let queued: Vec<Value> =
                    (0..PATHS.len()).filter(|&i| self.paths[i].needed() && !self.paths[i].pulling).map(entry).collect();
                let v = json!({"progress": progress, "queued": queued, "rest": [], "page": 1, "perpage": 100});
                Answer::Need(serde_json::from_value(v).expect("a need answer"))
            }
            Action::QueryFolderStatus => Answer::Status(serde_json::from_value(self.status()).expect("a status")),
            Action::ListConflictCopies => Answer::Copies(
                (0..PATHS.len())
                    .filter(|&i| PATHS[i].contains(".sync-conflict-") && self.paths[i].disk.is_some())
                    .map(|i| PATHS[i].to_owned())
                    .collect(),
            ),
            Action::CheckCopy { path } => {
                let exists = index(&path).is_some_and(|i| self.paths[i].disk.is_some());
                Answer::Copy(path, exists)
            }
        }
    }

    fn deliver(&mut self, answer: Answer) {
        match answer {
            Answer::Hashed(path, outcome) => self.engine.hashed(&path, outcome),
            Answer::File(path, Some(file)) => self.engine.db_file(&path, &file),
            Answer::File(path, None) => self.engine.db_file_failed(&path),
            Answer::Need(need) => self.engine.need(&need, self.t0),
            Answer::Status(status) => self.engine.folder_status(&status),
            Answer::Copies(copies) => self.engine.conflict_copies(copies),
            Answer::Copy(path, exists) => self.engine.copy_seen(&path, exists),
        }
        self.collect_actions();
    }

    /// Whether the disk holds what the engine was told.
    fn holds_announced(&self, i: usize) -> Option<bool> {
        let p = &self.paths[i];
        let v = p.announced?;
        Some(v.content == p.disk.map(|(c, _)| c))
    }

    /// Never ✓ (nor `deleted`) on bytes that differ, once the change was told.
    fn check_safety(&self, trace: &[(u8, u8, u8)]) -> Result<(), TestCaseError> {
        for (i, path) in PATHS.iter().enumerate() {
            let Some(badge) = self.engine.badge(path) else { continue };
            let untold = self.paths[i].news_untold > 0 && !self.paths[i].watched;
            if untold || !matches!(badge.state, FileState::Synced | FileState::Deleted) {
                continue;
            }
            prop_assert!(
                self.holds_announced(i) == Some(true),
                "{path} reads {:?} but the disk holds {:?}, announced {:?}\n{:#?}\ntrace {trace:?}",
                badge.state,
                self.paths[i].disk,
                self.paths[i].announced,
                self.paths[i]
            );
        }
        Ok(())
    }

    /// Everything told and answered, Syncthing idle.
    fn settle(&mut self) {
        for i in 0..PATHS.len() {
            self.step(1, i as u8, 0);
            self.step(2, i as u8, 0);
            self.step(6, i as u8, 0);
            self.step(3, i as u8, 0);
            self.step(4, i as u8, 0);
        }
        self.step(7, 0, 0);
        for _ in 0..1000 {
            while !self.events.is_empty() {
                self.deliver_event();
            }
            if let Some(action) = self.actions.first().cloned() {
                self.actions.remove(0);
                let answer = self.run(action);
                self.deliver(answer);
            } else if let Some(answer) = self.answers.pop() {
                self.deliver(answer);
            } else {
                return;
            }
        }
        panic!("the engine keeps asking: {:?}", self.actions);
    }

    fn check_settled(&self, trace: &[(u8, u8, u8)]) -> Result<(), TestCaseError> {
        for (i, path) in PATHS.iter().enumerate() {
            let Some(badge) = self.engine.badge(path) else { continue };
            let p = &self.paths[i];
            let want = match self.holds_announced(i) {
                Some(true) if p.announced.is_some_and(|v| v.content.is_none()) => Some(FileState::Deleted),
                Some(true) => Some(FileState::Synced),
                _ => None,
            };
            match want {
                Some(state) => prop_assert_eq!(
                    badge.state,
                    state,
                    "{} holds the announced bytes; badge {:?}\n{:#?}\ntrace {:?}",
                    path,
                    badge,
                    p,
                    trace
                ),
                None => prop_assert!(
                    badge.state != FileState::Synced,
                    "{path}: ✓ on other bytes: {badge:?}\n{p:#?}\ntrace {trace:?}"
                ),
            }
        }
        Ok(())
    }
}

/// 2000 cases unless PROPTEST_CASES says otherwise.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

proptest! {
    // PROPTEST_CASES=100000 for a deeper search.
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn badges_follow_the_evidence(steps in prop::collection::vec((0u8..13, any::<u8>(), any::<u8>()), 1..80)) {
        let mut sim = Sim::new();
        for (n, &(kind, a, b)) in steps.iter().enumerate() {
            sim.step(kind, a, b);
            sim.check_safety(&steps[..=n])?;
        }
        sim.settle();
        sim.check_safety(&steps)?;
        sim.check_settled(&steps)?;
    }
}

/// The interleaving, by hand: the owner announces a conflict copy
/// before this Syncthing has it, so the first look finds nothing; the copy
/// is then pulled, and Syncthing's "in sync" comes back before the look
/// that follows the pull. That answer must wait for a newer look: never ⚠
/// "differs … although Syncthing reports it in sync" on the right bytes.
#[test]
fn a_db_answer_is_never_paired_with_an_older_look() {
    let copy = PATHS[2];
    let mut sim = Sim::new();
    sim.step(0, 2, 1); // the owner's copy (content 2)
    sim.step(1, 2, 0); // announced: a look is asked for
    let look = sim.actions.iter().position(|a| matches!(a, Action::Hash { .. })).expect("a look");
    let look = sim.actions.remove(look);
    let missing = sim.run(look);
    sim.deliver(missing); // not there yet: Syncthing is asked about it
    let query = sim.actions.iter().position(|a| matches!(a, Action::QueryFile { .. })).expect("a query");
    let query = sim.actions.remove(query);
    // Syncthing gets the index and pulls the copy; the engine hears of it.
    for kind in [2, 3, 4] {
        sim.step(kind, 2, 0);
    }
    while !sim.events.is_empty() {
        sim.deliver_event();
    }
    // The query runs now (in sync), and is answered before the new look.
    let in_sync = sim.run(query);
    sim.deliver(in_sync);
    let b = sim.engine.badge(copy).expect("a badge");
    assert_ne!(b.state, FileState::Conflict, "{b:?}");
    sim.settle();
    let b = sim.engine.badge(copy).expect("a badge");
    assert_eq!((b.state, b.local_hash), (FileState::Synced, Some(hash_of(2))));
}

/// A pull this Syncthing finished before the owner's announcement reached
/// the engine: once `ItemFinished` is told, the hash taken before it (of
/// the bytes the owner had announced) no longer makes ✓.
#[test]
fn a_look_older_than_item_finished_makes_no_synced() {
    let a = PATHS[0];
    let mut sim = Sim::new();
    for kind in [0, 1, 2, 3, 4] {
        sim.step(kind, 0, 1); // content 2, announced, pulled
    }
    sim.settle();
    assert_eq!(sim.engine.badge(a).map(|b| b.state), Some(FileState::Synced));
    // The owner's next edit reaches this Syncthing first and is pulled.
    sim.step(0, 0, 2); // content 3
    for kind in [2, 3, 4] {
        sim.step(kind, 0, 0);
    }
    while !sim.events.is_empty() {
        sim.deliver_event();
    }
    let b = sim.engine.badge(a).expect("a badge");
    assert_ne!(b.state, FileState::Synced, "new bytes, old look: {b:?}");
    sim.settle();
    let b = sim.engine.badge(a).expect("a badge");
    assert_eq!((b.state, b.local_hash), (FileState::Synced, Some(hash_of(3))));
}
