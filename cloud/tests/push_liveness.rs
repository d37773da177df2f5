//! Sockets that misbehave or outlive the server (real server on SQLite, real
//! clients): a client too slow to keep up is told to `resync` rather than
//! buffered without bound; a silent peer is dropped after the idle timeout
//! while one answering pings stays; shutdown closes with `1001 going away`.

use crate::push_support;
use crate::support;

use std::time::Duration;

use cloud::state::Settings;
use cloud_protocol::ServerMessage;
use push_support::{Read, connect, connect_small_window};
use support::server::{Clients, DEADLINE, TestCloud, create};
use syncthing_fixtures::poll::eventually_async;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use uuid::Uuid;

/// Makes each event about 400 bytes on the wire.
const LONG_DIR: &str = "a/deeply/nested/directory/structure/that/makes/every/event/larger/than/usual/so/that/\
    the/test/fills/socket/buffers/quickly/without/needing/a/huge/number/of/batches/or/much/time/at/all/really";

/// Waits until the hub holds `n` subscriptions.
async fn wait_subscriptions(cloud: &TestCloud, n: usize) {
    let what = format!("{n} subscriptions");
    eventually_async(&what, DEADLINE, || async { (cloud.state().hub.subscriber_count() == n).then_some(()) }).await
}

/// The most a TCP socket's send buffer may grow to (`tcp_wmem`'s third value).
fn tcp_wmem_max() -> usize {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").expect("read tcp_wmem");
    text.split_whitespace().nth(2).and_then(|v| v.parse().ok()).expect("tcp_wmem's maximum")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_gets_resync_not_unbounded_buffers() {
    // Far more than the socket buffers can hide: the kernel alone takes a few
    // MiB on loopback (send buffer autotuning), so write about 24 MiB.
    const BATCHES: u64 = 60;
    const SIZE: u64 = 1000;
    const TOTAL: i64 = (BATCHES * SIZE) as i64;
    const IDLE_S: u64 = 3600;
    const SUBSCRIBER_BUFFER: usize = 4;
    // The slow client reads nothing, so it answers no ping either: the idle
    // timeout (60 s by default) must not end it before the buffer bound does.
    // Under load, writing the 60 batches took over 60 s once, and the
    // subscription ended as a silent peer, not with `resync`.
    let settings = Settings {
        subscriber_buffer: SUBSCRIBER_BUFFER,
        rate_limit_per_s: 0,
        ws_idle_timeout: Duration::from_secs(IDLE_S),
        ..Settings::default()
    };
    let cloud = TestCloud::start_sqlite_with(settings).await;
    let (_, token) = cloud.add_user("owner").await;
    let owner = cloud.client(&token);
    let project = owner.create_project("Shots", "abcde-fghij").await.id;

    let mut slow = connect_small_window(cloud.addr(), &token).await;
    let mut fast = connect(&cloud.ws_url(), &token).await;
    slow.subscribe(project, 0).await;
    fast.subscribe(project, 0).await;
    wait_subscriptions(&cloud, 2).await;

    // The fast one reads along; the slow one reads nothing until the end.
    let fast_reader = tokio::spawn(async move { fast.events_until(project, 0, TOTAL).await.len() });
    for b in 0..BATCHES {
        let changes = (0..SIZE).map(|i| create(&format!("{LONG_DIR}/b{b:03}/file-{i:04}.bin"), b * SIZE + i)).collect();
        owner.update(project, Uuid::new_v4(), changes).await;
    }
    assert_eq!(fast_reader.await.expect("fast reader") as i64, TOTAL, "a reading client keeps up");
    // The fast one has every event, in order, with no resync (`events_until`
    // panics otherwise), while the slow one has read nothing yet.

    // Now the slow one reads: a dense prefix of the events, then `resync`.
    let mut last = 0;
    let (mut held_bytes, mut biggest) = (0, 0);
    loop {
        let message = slow.recv().await;
        let size = serde_json::to_string(&message).expect("json").len();
        held_bytes += size;
        biggest = biggest.max(size);
        match message {
            ServerMessage::Events { events, .. } => {
                for event in events {
                    assert_eq!(event.seq, last + 1, "no gap even before a resync");
                    last = event.seq;
                }
            }
            ServerMessage::Resync { project_id } => {
                assert_eq!(project_id, project);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    eprintln!("the slow client got {last} of {TOTAL} events ({held_bytes} bytes) before resync");
    assert!(last < TOTAL / 2, "the server held {last} events for a client that did not read");
    // Others are not slowed: the server stopped feeding the slow one at
    // `last`, and events committed after it was more than the channel's
    // buffer behind still reached the fast one (all `TOTAL` of them).
    assert!(
        last + (SUBSCRIBER_BUFFER as i64 + 1) * SIZE as i64 <= TOTAL,
        "the fast one got events past the slow one's fall"
    );
    // Bounded memory: all it got before `resync` was held for it at once (it
    // read nothing until now), in the kernel's socket buffers or the server's
    // per-socket queue. That is at most the kernel's send-buffer ceiling, the
    // small receive buffer it asked for, and a few messages (the queue, one
    // being written, one in the subscription's hand), however much was
    // written. The project channel's buffer is shared and fixed in size.
    let kernel = tcp_wmem_max() + 2 * 4096;
    let bound = kernel + (cloud::testing::PUSH_OUT_QUEUE + 2) * biggest;
    assert!(held_bytes <= bound, "held {held_bytes} bytes for a stalled socket, more than {bound}");
    eventually_async("the lagging subscription ended", DEADLINE, || async {
        (cloud.state().hub.subscriber_count() == 0).then_some(())
    })
    .await;

    // It recovers as a client would: subscribe again from what it has.
    slow.subscribe(project, last).await;
    slow.events_until(project, last, TOTAL).await;
}

#[tokio::test]
async fn a_silent_peer_is_dropped_and_one_answering_pings_is_kept() {
    let idle = Duration::from_millis(600);
    let settings =
        Settings { ws_ping_interval: Duration::from_millis(100), ws_idle_timeout: idle, ..Settings::default() };
    let cloud = TestCloud::start_sqlite_with(settings).await;
    let (_, token) = cloud.add_user("owner").await;
    let project = cloud.client(&token).create_project("Shots", "abcde-fghij").await.id;

    let mut silent = connect(&cloud.ws_url(), &token).await;
    let mut lively = connect(&cloud.ws_url(), &token).await;
    silent.subscribe(project, 0).await;
    lively.subscribe(project, 0).await;
    wait_subscriptions(&cloud, 2).await;

    // Only `lively` reads (and so answers pings), for well past the idle timeout.
    match lively.read_until(Instant::now() + idle * 4).await {
        Read::TimedOut => {}
        Read::Message(m) => panic!("nothing was written, yet got {m:?}"),
        Read::Closed(frame) => panic!("a client answering pings was dropped: {frame:?}"),
    }
    eventually_async("the silent peer's subscription gone", DEADLINE, || async {
        (cloud.state().hub.subscriber_count() == 1).then_some(())
    })
    .await;
    let frame = silent.closed().await;
    if let Some(frame) = frame {
        assert_eq!(frame.code, CloseCode::Policy, "{frame:?}");
    }

    // The lively one still works.
    lively.send_text("{}").await;
    lively.expect_error("bad_message").await;
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_going_away() {
    let cloud = TestCloud::start_sqlite().await;
    let (_, token) = cloud.add_user("owner").await;
    let project = cloud.client(&token).create_project("Shots", "abcde-fghij").await.id;
    let mut idle = connect(&cloud.ws_url(), &token).await;
    let mut subscribed = connect(&cloud.ws_url(), &token).await;
    subscribed.subscribe(project, 0).await;
    wait_subscriptions(&cloud, 1).await;

    let stopping = tokio::spawn(cloud.shutdown());
    for ws in [&mut idle, &mut subscribed] {
        let frame = ws.closed().await.expect("a close frame, not a dropped connection");
        assert_eq!(frame.code, CloseCode::Away, "{frame:?}");
    }
    tokio::time::timeout(Duration::from_secs(30), stopping).await.expect("server stops").expect("shutdown task");
}
