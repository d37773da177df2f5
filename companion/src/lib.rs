//! The companion: runs next to a Syncthing node.
//!
//! A library first; `main.rs` only calls [`cli::main`].

pub mod cli;
pub mod doctor;
pub mod hash;
pub mod ignore;
pub mod manifest;
pub mod progress;
pub mod scan;
pub mod syncthing;
pub mod uplink;
