//! The cloud link refuses a message larger than any the cloud can send
//! (a hostile or compromised cloud must not make the companion hold 64 MiB
//! per message), says so, reconnects and keeps working; the largest
//! message a well-behaved cloud can send still passes. A tiny WebSocket
//! server stands in for the cloud: this tests the client's own limit.

use std::time::Duration;

use cloud_protocol::retry::Backoff;
use cloud_protocol::{Change, Event, Op, ServerMessage};
use companion::cloud_client::api::CloudClient;
use companion::cloud_client::socket::{self, LinkConfig, LinkEvent};
use futures_util::SinkExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::owner_support::DEADLINE;

const HASH: &str = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

/// A server that sends `frames[i]` on connection i, then keeps the socket open.
async fn serve(frames: Vec<Vec<Message>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        for frames in frames {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                // The client may hang up mid-message: that is the point.
                for frame in frames {
                    if ws.send(frame).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(DEADLINE).await;
            });
        }
    });
    url
}

async fn next(events: &mut mpsc::Receiver<LinkEvent>) -> LinkEvent {
    tokio::time::timeout(DEADLINE, events.recv()).await.expect("a link event in time").expect("the link runs")
}

/// The biggest `events` message a cloud may send: 1000 events whose paths
/// are 4096 bytes that JSON must escape (`\u0001`).
fn largest_events(project: Uuid) -> String {
    let path = "\u{1}".repeat(4095) + "a";
    let events = (1..=1000)
        .map(|seq| Event {
            seq,
            change: Change::upsert(Op::Create, path.clone(), HASH, u64::MAX >> 11, i64::MAX >> 11),
            created_at: "2026-11-30T16:00:00.000Z".into(),
        })
        .collect();
    serde_json::to_string(&ServerMessage::Events { project_id: project, events, last_seq: 1000 }).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_message_is_refused_and_the_link_lives_on() {
    let project = Uuid::new_v4();
    let largest = largest_events(project);
    assert!(largest.len() > 23 << 20, "the worst case is big: {} bytes", largest.len());
    // 40 MiB in five 8 MiB frames: under tungstenite's defaults (64 MiB a
    // message, 16 MiB a frame), over what a cloud can send.
    let chunk = || vec![b'x'; 8 << 20];
    let mut oversize = vec![Message::Frame(Frame::message(chunk(), OpCode::Data(Data::Text), false))];
    for last in [false, false, false, true] {
        oversize.push(Message::Frame(Frame::message(chunk(), OpCode::Data(Data::Continue), last)));
    }
    let url = serve(vec![oversize, vec![Message::text(largest)]]).await;

    let cloud = CloudClient::new(&url, "token").unwrap();
    let config = LinkConfig {
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
            factor: 2.0,
            jitter: 0.0,
        },
        ..LinkConfig::default()
    };
    let stop = CancellationToken::new();
    let (_link, mut events) = socket::spawn(&cloud, config, stop.clone());

    assert_eq!(next(&mut events).await, LinkEvent::Connected);
    match next(&mut events).await {
        LinkEvent::Disconnected { reason, unauthorized: false, .. } => {
            assert!(reason.contains("more than the 32 MiB a message may hold"), "{reason}")
        }
        other => panic!("expected the oversize message to be refused, got {other:?}"),
    }
    // Reconnected: the largest legitimate message passes whole.
    assert_eq!(next(&mut events).await, LinkEvent::Connected);
    match next(&mut events).await {
        LinkEvent::Message(ServerMessage::Events { events, .. }) => assert_eq!(events.len(), 1000),
        other => panic!("expected the 1000 events, got {other:?}"),
    }
    stop.cancel();
}
