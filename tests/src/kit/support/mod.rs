//! Helpers shared by the cloud crate's integration tests and its bench.

pub mod postgres;
pub mod server;
