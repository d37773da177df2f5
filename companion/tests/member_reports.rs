//! Progress the owner can rely on, on the live pair: a member's reports that
//! die with a socket reach the owner after the reconnect (none lost), and
//! the owner sees how old each member's report is and when one is offline.

use crate::member_support;

use std::collections::BTreeSet;
use std::time::Duration;

use cloud_protocol::{ClientMessage, FileState};
use companion::ui::status::StatusReport;
use member_support::*;
use syncthing_fixtures::poll::eventually;
use syncthing_fixtures::write_noise;

/// How long after its reconnect a member's final state may take to reach the owner.
const AFTER_RECONNECT: Duration = Duration::from_secs(5);

/// Paths whose ✓ the member sent in `messages`.
fn synced_paths(messages: &[ClientMessage]) -> BTreeSet<String> {
    messages
        .iter()
        .flat_map(|m| match m {
            ClientMessage::Progress { files, .. } => files.clone(),
            _ => Vec::new(),
        })
        .filter(|f| f.state == FileState::Synced)
        .map(|f| f.path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_lost_with_a_dead_socket_reach_the_owner_after_the_reconnect() {
    // B pulls slowly, so the files are announced before they arrive.
    let s = setup(Knobs { via_proxy: true, recv_limit_kibps: Some(256), ..Knobs::default() }).await;
    let proxy = s.proxy.as_ref().expect("a proxy");
    s.write_synced("first.txt", b"one\n").await;
    s.wait_owner_view("first.txt", "synced", |r| r.progress.state == FileState::Synced).await;

    let names: Vec<String> = (0..3).map(|i| format!("late{i}.bin")).collect();
    for (i, name) in names.iter().enumerate() {
        write_noise(&s.a(name), 2 << 20, i as u64).unwrap();
    }
    // The member knows of every file (it got the owner's events) before the link dies.
    for name in &names {
        s.wait_badge(name, "a badge", |_| true).await;
    }
    proxy.go_dead();
    let before = proxy.websockets();
    for name in &names {
        s.wait_synced(name).await;
    }
    // Every ✓ went into the dead socket: the cloud never saw them.
    let swallowed = eventually("each file's ✓ sent into the dead socket", DEADLINE, || {
        let sent = synced_paths(&proxy.swallowed());
        names.iter().all(|n| sent.contains(n)).then_some(sent)
    })
    .await;
    assert!(names.iter().all(|n| s.owner_view(n).is_none_or(|r| r.progress.state != FileState::Synced)));

    proxy.cut();
    eventually("the member reconnects", DEADLINE, || (proxy.websockets() > before).then_some(())).await;
    let what =
        format!("the owner to see every ✓ within {AFTER_RECONNECT:?} of the reconnect (swallowed {swallowed:?})");
    eventually(&what, AFTER_RECONNECT, || {
        names.iter().all(|n| s.owner_view(n).is_some_and(|r| r.progress.state == FileState::Synced)).then_some(())
    })
    .await;

    // Counted: every badge the member has is stored in the cloud as it is
    // on the member, and acknowledged (marked reported) on the member.
    let badges = eventually("every badge acknowledged", DEADLINE, || {
        let badges = s.member.manifest().badges(s.project).ok()?;
        badges.iter().all(|b| b.reported).then_some(badges)
    })
    .await;
    let report = s.cloud.client(&s.alice_token).progress(s.project).await.expect("progress report");
    let stored: Vec<_> = report.members.iter().filter(|m| m.user_id == s.bob).flat_map(|m| m.files.clone()).collect();
    assert_eq!(stored.len(), badges.len(), "stored {stored:?}\nbadges {badges:?}");
    for badge in &badges {
        let row = stored.iter().find(|f| f.progress.path == badge.progress.path).expect("stored");
        assert_eq!(row.progress, badge.progress, "{}", badge.progress.path);
    }
}

/// `status --json` of the owner: bob's member view.
fn bob_view(s: &Setup) -> Option<companion::ui::status::MemberView> {
    let out = s.owner.ok(&["status", "--json"]);
    let report: StatusReport = serde_json::from_str(&out).expect("status --json");
    report.projects.into_iter().find(|p| p.project_id == s.project)?.members.into_iter().find(|m| m.user_id == s.bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_sees_how_old_a_report_is_and_when_the_member_is_offline() {
    let mut s = setup(Knobs { heartbeat_ms: Some(500), ..Knobs::default() }).await;
    s.write_synced("hello.txt", b"hi\n").await;
    s.wait_owner_view("hello.txt", "synced", |r| r.progress.state == FileState::Synced).await;
    let online = eventually("bob online, as of just now", DEADLINE, || bob_view(&s).filter(|m| m.online)).await;
    assert!(online.as_of.is_some() && online.as_of_age_s.is_some(), "{online:?}");
    assert_eq!(online.offline_after_s, 2, "three heartbeats of 500 ms, rounded up to whole seconds");
    let text = s.owner.ok(&["status"]);
    assert!(text.contains("member bob") && text.contains("(online, as of "), "{text}");

    // Bob's companion stops: nothing is heard from him, and the owner says so.
    s.member.stop().await;
    let offline = eventually("bob offline", DEADLINE, || bob_view(&s).filter(|m| !m.online)).await;
    assert!(offline.as_of_age_s.is_some_and(|age| age >= 1), "{offline:?}");
    let text = s.owner.ok(&["status"]);
    assert!(text.contains("(offline, as of "), "{text}");
    // His last report stands, as what it was.
    assert_eq!(offline.files.iter().find(|f| f.path == "hello.txt").map(|f| f.state), Some(FileState::Synced));

    s.member.start();
    eventually("bob online again", DEADLINE, || bob_view(&s).filter(|m| m.online)).await;
}
