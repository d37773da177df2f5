//! The companion: runs next to a Syncthing node.
//!
//! A library first; `main.rs` only calls [`cli::main`].

pub mod beneath;
pub mod cli;
pub mod commands;
pub mod config;
pub mod conflict;
pub mod daemon;
pub mod db;
pub mod doctor;
pub mod hash;
pub mod ignore;
pub mod manifest;
pub mod member;
pub mod owner;
pub mod presence;
pub mod progress;
pub mod scan;
pub mod state_dir;
pub mod status;
pub mod syncthing;
pub mod ui;
pub mod uplink;
mod walk;
pub mod watch;
