//! Helpers shared by the cloud crate's integration tests.

pub mod postgres;
pub mod process;
pub mod server;
