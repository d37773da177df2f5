//! The cloud service: gives every change of a project the next sequence number,
//! stores it (SQLite or PostgreSQL) and pushes it over WebSocket to members.

pub mod accept;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod healthcheck;
pub mod metrics;
pub mod push;
pub mod ratelimit;
pub mod server;
mod settings;
pub mod state;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
