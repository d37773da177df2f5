//! The cloud service: gives every change of a project the next sequence number,
//! stores it (SQLite or PostgreSQL) and pushes it over WebSocket to members.

pub mod auth;
pub mod error;
pub mod push;
pub mod state;
pub mod store;
