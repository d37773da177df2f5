//! The cloud service: gives every change of a project the next sequence number,
//! stores it (SQLite or PostgreSQL) and pushes it over WebSocket to members.

pub(crate) mod accept;
pub(crate) mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub(crate) mod error;
pub(crate) mod healthcheck;
pub(crate) mod metrics;
pub(crate) mod push;
pub mod ratelimit;
pub mod server;
mod settings;
pub mod state;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
