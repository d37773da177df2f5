//! Background WAL checkpoints for the SQLite backend.
//!
//! In WAL mode every commit appends pages to the `-wal` file; a checkpoint copies them
//! back into the database file and syncs it. Left to SQLite, the checkpoint runs inside
//! whichever commit crosses the threshold, stalling that write for as long as the copy
//! and the sync take (often longer than the batch itself). Here a connection of its own
//! checkpoints shortly after writes, beside the writer: a `PASSIVE` checkpoint never
//! blocks the writer nor readers. The writer keeps a (higher) automatic threshold as the
//! bound on the WAL's size should this task fall behind.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::store::StoreResult;

/// How long writes may accumulate before a checkpoint copies them all at once.
const PAUSE: Duration = Duration::from_millis(20);

/// Handle to the checkpoint task; dropping the last one stops it.
#[derive(Debug)]
pub(super) struct Checkpointer {
    wrote: Arc<Notify>,
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl Checkpointer {
    /// Opens the task's connection (with the writer's durability settings, so the
    /// database file is synced before the WAL is reused) and starts it.
    pub async fn start(options: &SqliteConnectOptions) -> StoreResult<Self> {
        let conn = options.connect().await?;
        let wrote = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        tokio::spawn(run(conn, Arc::clone(&wrote), stop.clone()));
        Ok(Checkpointer { wrote, stop: stop.clone(), _stop_on_drop: stop.drop_guard() })
    }

    /// Tells the task a write was committed.
    pub fn wrote(&self) {
        self.wrote.notify_one();
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}

async fn run(mut conn: SqliteConnection, wrote: Arc<Notify>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = wrote.notified() => {}
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(PAUSE) => {}
        }
        // A failed checkpoint loses nothing (the pages stay in the WAL for the next one).
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await {
            tracing::warn!(error = %e, "sqlite background checkpoint failed");
        }
    }
    let _ = conn.close().await;
}
