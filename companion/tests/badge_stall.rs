//! Stalled pulls in the badge engine (docs/badges.md#stalled-pulls), fed
//! the events Syncthing 1.19.2 sent when the link to the owner was cut
//! mid-transfer (measured in tests/member_partition.rs): the badge holds
//! its last real percent and says "stalled: …", never ✗ at 0 %, never ✓;
//! a silent link reads stalled after [`STALL_AFTER`] of quiet; data moving
//! again ends it.

use std::time::{Duration, Instant};

use cloud_protocol::{FileProgress, FileState};
use companion::invitee::badge::{Engine, HashOutcome, STALL_AFTER};
use companion::syncthing::event::Event;
use companion::syncthing::types::FileInfo;
use serde_json::{Value, json};
use time::macros::datetime;

use crate::badge_engine::{H_OTHER, H_OWNER, World, expected, stamp};

const BIG: u64 = 120 << 20;

/// An engine following `big.bin`, announced, not here yet: Syncthing
/// needs it (its need list keeps it while the pull waits for a peer).
fn engine() -> (Engine, World, Instant) {
    let (mut engine, mut world, t0) = (Engine::new("proj"), World::default(), Instant::now());
    world.need.rest.push(FileInfo { name: "big.bin".into(), ..FileInfo::default() });
    engine.announce("big.bin", expected(BIG, H_OWNER));
    world.answer(&mut engine, t0);
    (engine, world, t0)
}

fn event(kind: &str, time: &str, data: Value) -> Event {
    Event::from_value(json!({"id": 1, "time": time, "type": kind, "data": data})).unwrap()
}

fn started(time: &str) -> Event {
    event("ItemStarted", time, json!({"folder": "proj", "item": "big.bin", "type": "file", "action": "update"}))
}

fn progress(path: &str, done: i64, pulled: i64) -> Event {
    let counters = json!({"total": 960, "reused": done - pulled, "pulled": pulled});
    event("DownloadProgress", "2026-11-30T21:41:10Z", json!({"proj": {path: counters}}))
}

fn finished(time: &str, error: Option<&str>) -> Event {
    let data = json!({"folder": "proj", "item": "big.bin", "type": "file", "action": "update", "error": error});
    event("ItemFinished", time, data)
}

fn folder_errors(time: &str, error: &str) -> Event {
    event("FolderErrors", time, json!({"folder": "proj", "errors": [{"path": "big.bin", "error": error}]}))
}

fn badge(engine: &Engine) -> FileProgress {
    engine.badge("big.bin").unwrap()
}

fn shows(engine: &Engine) -> (FileState, f64, Option<String>) {
    let b = badge(engine);
    (b.state, b.percent, b.error)
}

const CUT: &str = "stalled: no device that has this file is connected (since 21:41:53 UTC)";
/// Syncthing's words for a pull that no connected device can serve.
const NO_DEVICE: &str = "syncing: no connected device has the required version of this file";

#[test]
fn a_cut_link_holds_the_real_percent_says_why_and_resumes_to_a_check_mark() {
    let (mut engine, mut world, t0) = engine();
    let at = |s: u64| t0 + Duration::from_secs(s);
    engine.event(&started("2026-11-30T21:41:02Z"), at(1));
    engine.event(&progress("big.bin", 227, 227), at(9));
    assert_eq!(shows(&engine), (FileState::Syncing, 23.6, None));

    // What 1.19.2 sent when the owner's side closed the link (times as measured).
    engine.event(&finished("2026-11-30T21:41:53Z", Some("pull: connection closed")), at(53));
    world.answer(&mut engine, at(53));
    assert_eq!(shows(&engine), (FileState::Syncing, 23.6, Some(CUT.into())), "held, with the reason");
    let again = "syncing: no connected device has the required version of this file\n";
    engine.event(&folder_errors("2026-11-30T21:41:54Z", again), at(54));
    engine.event(&folder_errors("2026-11-30T21:42:30Z", again), at(90));
    assert_eq!(shows(&engine), (FileState::Syncing, 23.6, Some(CUT.into())), "the first time stays");
    // Whatever the quiet lasts, the timer keeps Syncthing's reason.
    engine.check_stalls(at(200), datetime!(2026-11-30 21:44:20 UTC));
    assert_eq!(shows(&engine), (FileState::Syncing, 23.6, Some(CUT.into())));
    // Even the bytes of another version on disk change nothing: not ✓.
    engine.hashed("big.bin", HashOutcome::Hashed { hash: H_OTHER.into(), stamp: stamp(), inode: Some(1) });
    assert_eq!(shows(&engine).0, FileState::Syncing);

    // Reconnected: the new pull holds the percent until its first report,
    // which counts the blocks kept in the temporary file.
    engine.event(&started("2026-11-30T21:42:54Z"), at(114));
    assert_eq!(shows(&engine), (FileState::Syncing, 23.6, Some(CUT.into())));
    engine.event(&progress("big.bin", 261, 0), at(115));
    assert_eq!(shows(&engine), (FileState::Syncing, 27.2, None), "blocks moved: no longer stalled");
    engine.event(&progress("big.bin", 293, 32), at(116));
    engine.event(&finished("2026-11-30T21:43:17Z", None), at(137));
    assert_eq!(shows(&engine), (FileState::Syncing, 100.0, None));
    world.disk.insert("big.bin".into(), H_OWNER.into());
    world.answer(&mut engine, at(137));
    let b = badge(&engine);
    assert_eq!((b.state, b.percent, b.error, b.local_hash.as_deref()), (FileState::Synced, 100.0, None, Some(H_OWNER)));
}

#[test]
fn a_silent_link_reads_stalled_after_the_bound_and_recovers() {
    let (mut engine, _world, t0) = engine();
    engine.event(&started("2026-11-30T21:41:02Z"), t0);
    engine.event(&progress("big.bin", 227, 227), t0 + Duration::from_secs(9));
    let quiet = t0 + Duration::from_secs(9);
    let wall = datetime!(2026-11-30 21:42:00 UTC);
    engine.check_stalls(quiet + STALL_AFTER - Duration::from_secs(1), wall);
    assert_eq!(shows(&engine), (FileState::Syncing, 23.6, None), "not before the bound");
    engine.check_stalls(quiet + STALL_AFTER, wall);
    let since = wall - STALL_AFTER;
    let words = format!(
        "stalled: nothing received (since {:02}:{:02}:{:02} UTC)",
        since.hour(),
        since.minute(),
        since.second()
    );
    assert_eq!(shows(&engine), (FileState::Syncing, 23.6, Some(words.clone())));
    assert!(engine.etas(quiet + STALL_AFTER).is_empty(), "no ETA for a stalled pull");
    // Later ticks keep the words (nothing to report again and again).
    engine.check_stalls(quiet + STALL_AFTER * 3, wall + STALL_AFTER * 2);
    assert_eq!(shows(&engine).2, Some(words));
    // Syncthing gives up on the dead link later: its reason replaces the guess.
    engine.event(&finished("2026-11-30T21:41:53Z", Some("pull: connection closed")), quiet + STALL_AFTER * 4);
    assert_eq!(shows(&engine), (FileState::Syncing, 23.6, Some(CUT.into())));
    engine.event(&started("2026-11-30T21:46:00Z"), quiet + STALL_AFTER * 5);
    engine.event(&progress("big.bin", 300, 10), quiet + STALL_AFTER * 5);
    assert_eq!(shows(&engine), (FileState::Syncing, 31.3, None));
}

#[test]
fn a_shortened_wait_moves_the_bound_and_nothing_else() {
    let (mut engine, _world, t0) = engine();
    let wait = Duration::from_secs(8);
    engine.set_stall_after(wait);
    engine.event(&started("2026-11-30T21:41:02Z"), t0);
    engine.event(&progress("big.bin", 227, 227), t0);
    let wall = datetime!(2026-11-30 21:42:00 UTC);
    engine.check_stalls(t0 + wait - Duration::from_millis(1), wall);
    assert_eq!(shows(&engine).2, None, "not before the shortened bound");
    engine.check_stalls(t0 + wait, wall);
    assert_eq!(shows(&engine).2, Some("stalled: nothing received (since 21:41:52 UTC)".into()));
}

#[test]
fn a_quiet_file_is_not_stalled_while_the_folder_moves() {
    let (mut engine, mut world, t0) = engine();
    engine.announce("other.bin", expected(BIG, H_OWNER));
    world.need.rest.push(FileInfo { name: "other.bin".into(), ..FileInfo::default() });
    world.answer(&mut engine, t0);
    engine.event(&started("2026-11-30T21:41:02Z"), t0);
    engine.event(&progress("big.bin", 10, 10), t0 + Duration::from_secs(1));
    let other = event(
        "ItemStarted",
        "2026-11-30T21:41:02Z",
        json!({"folder": "proj", "item": "other.bin", "type": "file", "action": "update"}),
    );
    engine.event(&other, t0 + Duration::from_secs(1));
    // big.bin waits for its turn while other.bin takes the bandwidth.
    for s in (2..=60).step_by(2) {
        engine.event(&progress("other.bin", s, s), t0 + Duration::from_secs(s as u64));
        engine.check_stalls(t0 + Duration::from_secs(s as u64), datetime!(2026-11-30 21:42:00 UTC));
    }
    assert_eq!(shows(&engine), (FileState::Syncing, 1.0, None));
}

#[test]
fn a_pull_without_progress_reports_is_left_to_syncthing() {
    let (mut engine, _world, t0) = engine();
    engine.event(&started("2026-11-30T21:41:02Z"), t0);
    engine.check_stalls(t0 + STALL_AFTER * 10, datetime!(2026-11-30 21:50:00 UTC));
    assert_eq!(shows(&engine), (FileState::Syncing, 0.0, None));
    // Syncthing's own words still count: pending-like pull, stalled.
    engine.event(&folder_errors("2026-11-30T21:41:53Z", NO_DEVICE), t0);
    assert_eq!(shows(&engine), (FileState::Syncing, 0.0, Some(CUT.into())));
}

#[test]
fn a_file_never_started_waits_as_pending_with_the_reason() {
    let (mut engine, _world, t0) = engine();
    engine.event(&folder_errors("2026-11-30T21:41:53Z", NO_DEVICE), t0);
    assert_eq!(shows(&engine), (FileState::Pending, 0.0, Some(CUT.into())));
}

#[test]
fn other_item_errors_stay_errors() {
    let (mut engine, mut world, t0) = engine();
    engine.event(&started("2026-11-30T21:41:02Z"), t0);
    engine.event(&finished("2026-11-30T21:41:03Z", Some("finishing: rename x: operation not permitted")), t0);
    world.answer(&mut engine, t0);
    let (state, _, error) = shows(&engine);
    assert_eq!(state, FileState::Error);
    assert!(error.unwrap().starts_with("Syncthing: "));
}
