//! Timing of the stream's retry loop and of the long poll, under a paused
//! tokio clock. The peer is a listening socket that accepts connections (in
//! the kernel backlog) but never answers: only the timeouts and the backoff
//! schedule decide when things happen, so virtual time makes them exact.

use super::*;
use std::net::TcpListener;
use tokio::time::Instant;

fn silent_peer() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

fn close_to(actual: Duration, expected: Duration) -> bool {
    actual.abs_diff(expected) < Duration::from_millis(20)
}

#[tokio::test(start_paused = true)]
async fn a_silent_syncthing_is_retried_on_the_backoff_schedule() {
    let (_peer, url) = silent_peer();
    let client = Client::new(&url, "key").unwrap().with_timeout(Duration::from_secs(2));
    let backoff = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(4), factor: 2.0, jitter: 0.0 };
    let config = StreamConfig { backoff, ..StreamConfig::default() };
    let start = Instant::now();
    let mut stream = EventStream::spawn(client, config);
    // Each attempt times out after 2 s, then waits 1, 2, 4, 4 s (capped).
    let expected = [(2, 1), (5, 2), (9, 4), (15, 4)];
    for (at, retry) in expected {
        let item = stream.recv().await.unwrap();
        let StreamItem::Disconnected { reason, api_key_rejected, retry_in } = item else {
            panic!("expected Disconnected, got {item:?}");
        };
        let elapsed = start.elapsed();
        assert!(close_to(elapsed, Duration::from_secs(at)), "at {elapsed:?}, expected {at} s");
        assert_eq!(retry_in, Duration::from_secs(retry));
        assert!(!api_key_rejected);
        assert!(reason.contains("did not answer /rest/system/status within 2s"), "{reason}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_long_poll_gets_its_timeout_plus_slack() {
    let (_peer, url) = silent_peer();
    let client = Client::new(&url, "key").unwrap().with_timeout(Duration::from_secs(2));
    let start = Instant::now();
    let err = client.events(0, Duration::from_secs(30), "ItemFinished", None).await.unwrap_err();
    let budget = Duration::from_secs(30) + crate::syncthing::client::LONG_POLL_SLACK;
    assert!(close_to(start.elapsed(), budget), "gave up after {:?}", start.elapsed());
    assert!(matches!(err, ClientError::Timeout { timeout, .. } if timeout == budget), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_ordinary_call_gives_up_after_its_own_timeout() {
    let (_peer, url) = silent_peer();
    let client = Client::new(&url, "key").unwrap().with_timeout(Duration::from_secs(3));
    let start = Instant::now();
    let err = client.system_version().await.unwrap_err();
    assert!(close_to(start.elapsed(), Duration::from_secs(3)), "{:?}", start.elapsed());
    assert!(err.is_transient(), "{err}");
}
