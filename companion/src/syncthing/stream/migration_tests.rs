//! The event stream across 2.x's database migration: while the GUI port
//! answers every request with the migration notice (2.x
//! cmd/syncthing/main.go, `migratingAPI`), the stream reports it as a
//! transient outage and retries on its backoff schedule; once Syncthing
//! answers normally it connects.

use super::*;
use crate::syncthing::stand_in::{Answer, serve};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Requests answered so far; the first [`MIGRATING_FOR`] get the notice.
static REQUESTS: AtomicUsize = AtomicUsize::new(0);
const MIGRATING_FOR: usize = 3;

fn migrating_then_up(target: &str) -> Answer {
    if REQUESTS.fetch_add(1, Ordering::SeqCst) < MIGRATING_FOR {
        return (
            200,
            "text/plain; charset=utf-8",
            "*** Database migration in progress ***\n\nMigrating folder proj\n".into(),
        );
    }
    let json = "application/json; charset=utf-8";
    if target.starts_with("/rest/system/status") {
        (200, json, r#"{"myID": "AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA", "startTime": "2025-08-12T10:00:00+02:00"}"#.into())
    } else if target.starts_with("/rest/events") {
        (200, json, r#"[{"id": 4, "globalID": 4, "time": "2025-08-12T10:00:01+02:00", "type": "StartupComplete", "data": {"myID": "AAAAAAA"}}]"#.into())
    } else {
        (404, "text/plain", "404 page not found\n".into())
    }
}

#[tokio::test]
async fn a_migrating_syncthing_is_retried_with_backoff_until_it_answers() {
    let client = Client::new(&serve(migrating_then_up).await, "k").unwrap();
    let backoff = Backoff { initial: Duration::from_millis(20), max: Duration::from_secs(1), factor: 2.0, jitter: 0.0 };
    let mut stream = EventStream::spawn(client, StreamConfig { backoff, ..StreamConfig::default() });
    let mut delays = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.recv()).await.unwrap().unwrap();
        match item {
            StreamItem::Disconnected { reason, api_key_rejected, retry_in } => {
                assert!(reason.contains("migrating its database"), "{reason}");
                assert!(!api_key_rejected);
                delays.push(retry_in);
            }
            StreamItem::Connected { since, .. } => {
                assert_eq!(since, 4);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [20, 40, 80], "one failed attempt per migration answer, backing off");
}
