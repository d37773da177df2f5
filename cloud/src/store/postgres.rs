//! STUB: the postgres backend of [`Store`](super::Store); the storage engineer fills it in.

/// Postgres-backed store.
#[derive(Debug)]
pub struct PostgresStore {}
