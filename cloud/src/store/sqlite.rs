//! STUB: the sqlite backend of [`Store`](super::Store); the storage engineer fills it in.

/// Sqlite-backed store.
#[derive(Debug)]
pub struct SqliteStore {}
