//! The owner's clock an hour ahead or behind (`COMPANION_CLOCK_OFFSET`, and
//! files whose mtimes say so), the cloud's and the invitee's right: edits are
//! ordered by seq, never by time, and nothing shown is a negative or huge
//! age or ETA, a member is not kept online by a clock.

use crate::member_support;

use std::time::{Duration, SystemTime};

use cloud_protocol::{Change, FileState, Op, UpdateFilesRequest};
use companion::ui::status::{MemberView, StatusReport};
use member_support::*;
use syncthing_fixtures::poll::{eventually, eventually_async};
use uuid::Uuid;

const HOUR_S: i64 = 3600;
/// What an honest age or ETA here stays under: the test lasts seconds.
const SANE_S: u64 = 120;

fn status(c: &Companion) -> StatusReport {
    serde_json::from_str(&c.ok(&["status", "--json"])).expect("status --json")
}

/// The owner's view of bob, from `status --json`.
fn bob_view(s: &Setup) -> Option<MemberView> {
    let report = status(&s.owner);
    report.projects.into_iter().find(|p| p.project_id == s.project)?.members.into_iter().find(|m| m.user_id == s.bob)
}

/// No age or ETA in either side's `status --json` that a right clock would not give.
fn assert_sane(s: &Setup) {
    for (who, report) in [("owner", status(&s.owner)), ("invitee", status(&s.member))] {
        for p in &report.projects {
            assert!(p.eta_s.is_none_or(|e| e < SANE_S), "{who}: project ETA {:?}", p.eta_s);
            for f in &p.files {
                assert!(f.eta_s.is_none_or(|e| e < SANE_S), "{who}: ETA of {}: {:?}", f.path, f.eta_s);
            }
            for m in &p.members {
                assert!(m.as_of_age_s.is_some_and(|a| a < SANE_S), "{who}: age of {}'s report: {m:?}", m.name);
            }
        }
    }
}

/// Writes `content` to `path` on A with an mtime `offset_s` away from now.
fn write_at(s: &Setup, path: &str, content: &[u8], offset_s: i64) {
    let now = SystemTime::now();
    let shift = Duration::from_secs(offset_s.unsigned_abs());
    let mtime = if offset_s >= 0 { now + shift } else { now - shift };
    std::fs::write(s.a(path), content).expect("write on A");
    std::fs::File::options().write(true).open(s.a(path)).and_then(|f| f.set_modified(mtime)).expect("set mtime");
}

async fn owner_clock_off_by(offset_s: i64) -> Setup {
    let mut s =
        setup(Knobs { owner_clock_offset_s: Some(offset_s), heartbeat_ms: Some(500), ..Knobs::default() }).await;
    let alice = ClientOf::client(&s.cloud, &s.alice_token);
    // Each edit reaches the cloud as its own event before the next one, and
    // each has an older mtime than the one before (the clock being set
    // right, a minute at a time): only the seq says which is last.
    let versions: Vec<Vec<u8>> = (0..3).map(|i| format!("version {i} of the cut\n").into_bytes()).collect();
    for (i, content) in versions.iter().enumerate() {
        write_at(&s, "cut.txt", content, offset_s - 60 * i as i64);
        let hash = companion::hash::hash_bytes(content);
        wait_events(&alice, s.project, &format!("version {i} sent"), |events| {
            events.iter().any(|e| e.change.path == "cut.txt" && e.change.hash.as_deref() == Some(hash.as_str()))
        })
        .await;
    }
    let badge = s.wait_synced("cut.txt").await;
    assert_eq!(std::fs::read(s.b("cut.txt")).expect("read on B"), versions[2], "B has the last version");
    assert_eq!(badge.state, FileState::Synced);
    s.wait_owner_view("cut.txt", "synced", |r| r.progress.state == FileState::Synced).await;

    let online = eventually("bob online", DEADLINE, || bob_view(&s).filter(|m| m.online)).await;
    assert!(online.as_of_age_s.is_some_and(|a| a < SANE_S), "{online:?}");
    assert_sane(&s);

    // Bob goes away: the owner says so within a few heartbeats, whatever
    // the clocks, with an honest age.
    s.member.stop().await;
    let offline = eventually("bob offline", DEADLINE, || bob_view(&s).filter(|m| !m.online)).await;
    assert!(offline.as_of_age_s.is_some_and(|a| (1..SANE_S).contains(&a)), "{offline:?}");
    // No badge left behind: the last report of the file stands, ✓.
    let file = offline.files.iter().find(|f| f.path == "cut.txt").map(|f| (f.state, f.local_hash.clone()));
    assert_eq!(file, Some((FileState::Synced, Some(companion::hash::hash_bytes(&versions[2])))));
    s
}

/// Bob reports while the owner's companion is down and is gone when it
/// comes back: what the owner reads back from the cloud (stamped by the
/// cloud's clock) must not make him look online, nor an hour old.
async fn reports_read_back_after_a_restart(s: &mut Setup) {
    s.owner.stop().await;
    s.member.start();
    // A file announced straight through the cloud (as the owner, whose
    // companion is down): bob's companion reports its badge.
    let alice = s.cloud.client(&s.alice_token);
    let change = Change::upsert(Op::Create, "later.txt", companion::hash::hash_bytes(b"later\n"), 6, 1);
    let batch = UpdateFilesRequest { batch_id: Uuid::new_v4(), changes: vec![change] };
    alice.update_files(s.project, &batch).await.expect("announce later.txt");
    eventually_async("bob's report of later.txt in the cloud", DEADLINE, || async {
        let report = alice.progress(s.project).await.ok()?;
        let bob = report.members.into_iter().find(|m| m.user_id == s.bob)?;
        bob.files.iter().any(|f| f.progress.path == "later.txt").then_some(())
    })
    .await;
    s.member.stop().await;
    s.owner.start();
    // Online for a few heartbeats after his last report, then not.
    let view = eventually("the owner read bob's report of later.txt back, and bob offline", DEADLINE, || {
        bob_view(s).filter(|m| m.files.iter().any(|f| f.path == "later.txt") && !m.online)
    })
    .await;
    assert!(view.as_of_age_s.is_some_and(|a| (1..SANE_S).contains(&a)), "{view:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_clock_an_hour_ahead() {
    let _ = owner_clock_off_by(HOUR_S).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_clock_an_hour_behind() {
    let mut s = owner_clock_off_by(-HOUR_S).await;
    // Behind is where the cloud's times look like the future.
    reports_read_back_after_a_restart(&mut s).await;
}
