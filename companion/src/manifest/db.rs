//! A manifest connection shared by async tasks.
//!
//! [`Manifest`] is a blocking `rusqlite` connection: every call through
//! [`Db::call`] runs on tokio's blocking pool, one at a time per connection.
//! Components that work independently (the owner pipeline, the outbox
//! sender, the invitee side) each open their own `Db`; SQLite's WAL lets
//! them read while another writes. Every transaction takes the write lock
//! at BEGIN (see `Manifest::open`), so the busy timeout queues the writers.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::manifest::{Manifest, ManifestError};

/// A shared handle on one manifest connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    inner: Arc<Mutex<Manifest>>,
}

impl Db {
    /// Opens (creating if needed) `state_dir/manifest.db`, making the
    /// directory and the manifest private first ([`crate::state_dir`]).
    pub fn open_in(state_dir: &Path) -> Result<Db, ManifestError> {
        crate::state_dir::prepare(state_dir)
            .map_err(|source| ManifestError::StateDir { path: state_dir.to_path_buf(), source })?;
        Ok(Db::new(Manifest::open_in(state_dir)?))
    }

    pub fn new(manifest: Manifest) -> Db {
        Db { inner: Arc::new(Mutex::new(manifest)) }
    }

    /// Runs `f` on the blocking pool with the connection.
    pub async fn call<R, F>(&self, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&mut Manifest) -> R + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || {
            // A panic in an earlier call leaves the connection usable: SQLite
            // rolled back the unfinished transaction when it was dropped.
            let mut manifest = inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut manifest)
        });
        match task.await {
            Ok(r) => r,
            // A bug in `f`: surface it where the call was made.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("manifest task was cancelled: {e}"),
        }
    }

    /// Runs `f` on the calling thread (for code already off the runtime).
    pub fn blocking<R>(&self, f: impl FnOnce(&mut Manifest) -> R) -> R {
        let mut manifest = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut manifest)
    }
}
