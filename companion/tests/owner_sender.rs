//! The outbox sender against a real cloud: a retried batch whose first
//! answer was lost is sequenced once; a rejected token is retried later,
//! never quarantined; a refusal is quarantined with the cloud's reason.

use crate::owner_support;

use std::sync::Arc;

use cloud_protocol::{Change, Op, Role, UpdateFilesRequest};
use companion::manifest::db::Db;
use companion::manifest::{Manifest, ProjectRow};
use companion::owner::sender::{Outcome, Sender, SenderConfig};
use owner_support::*;
use tokio::sync::Notify;

const HASH: &str = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_refusals_and_lost_answers() {
    let cloud = start_cloud().await;
    let (_, token) = cloud.add_user("alice").await;
    let (_, bob_token) = cloud.add_user("bob").await;
    let api = cloud.client(&token);
    let project = api.create_project("p", "proj").await.unwrap().id;
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Manifest::open_in(dir.path()).unwrap();
    manifest.insert_project(&ProjectRow::new(project, cloud.url(), "p", "proj", dir.path(), Role::Owner)).unwrap();
    let db = Db::new(manifest);
    let sender =
        |token: &str| Sender::new(db.clone(), cloud.client(token), Arc::new(Notify::new()), SenderConfig::default());

    // A wrong token: kept and retried later, not quarantined.
    let batch = db
        .call(move |m| m.enqueue_changes(project, &[Change::upsert(Op::Create, "a.txt", HASH, 3, 1)]))
        .await
        .unwrap()
        .remove(0);
    let outcome = sender("wrong-token").send(batch.clone()).await.unwrap();
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    let pending = db.call(move |m| m.next_batch(project)).await.unwrap().expect("still queued");
    assert_eq!((pending.batch_id, pending.attempts), (batch.batch_id, 1));

    // The first attempt reached the cloud but its answer was lost: the
    // retry with the same batch_id is recognised, not sequenced again.
    let first = api
        .update_files(project, &UpdateFilesRequest { batch_id: batch.batch_id, changes: batch.changes.clone() })
        .await
        .unwrap();
    let outcome = sender(&token).send(pending).await.unwrap();
    assert_eq!(outcome, Outcome::Acked { first_seq: first.first_seq, last_seq: first.last_seq });
    assert_eq!(all_events(&api, project).await.len(), 1);
    assert!(db.call(move |m| m.next_batch(project)).await.unwrap().is_none());

    // A user who does not own the project: refused, quarantined with the reason.
    let batch = db
        .call(move |m| m.enqueue_changes(project, &[Change::upsert(Op::Create, "b.txt", HASH, 3, 1)]))
        .await
        .unwrap()
        .remove(0);
    let outcome = sender(&bob_token).send(batch).await.unwrap();
    let Outcome::Quarantined { reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.starts_with("404 not_found"), "{reason}");
    let quarantined = db.call(move |m| m.quarantined(Some(project))).await.unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].reason, reason);
    assert!(db.call(move |m| m.next_batch(project)).await.unwrap().is_none(), "the queue goes on");

    // The cloud down: a transient failure, retried.
    let batch = db
        .call(move |m| m.enqueue_changes(project, &[Change::upsert(Op::Create, "c.txt", HASH, 3, 1)]))
        .await
        .unwrap()
        .remove(0);
    let mut cloud = cloud;
    let down = Sender::new(db.clone(), cloud.client(&token), Arc::new(Notify::new()), SenderConfig::default());
    cloud.down().await;
    let outcome = down.send(batch.clone()).await.unwrap();
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    cloud.up().await;
    let outcome = down.send(batch).await.unwrap();
    assert!(matches!(outcome, Outcome::Acked { .. }), "{outcome:?}");
    assert_eq!(all_events(&cloud.client(&token), project).await.len(), 2);
}
