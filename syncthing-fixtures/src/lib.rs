//! Real Syncthing nodes for tests and the demo.
//!
//! [`Cluster::builder`] starts N paired `syncthing` processes on loopback,
//! each in its own temporary home, sharing folders, with discovery, relays,
//! NAT, usage and crash reporting and upgrades off. Dropping the [`Cluster`]
//! stops them and removes the homes (kept, with log paths printed, when a
//! test panics or `KEEP_SYNCTHING_LOGS` is set).
//!
//! ```no_run
//! # async fn demo() -> Result<(), syncthing_fixtures::FixtureError> {
//! use syncthing_fixtures::{Cluster, FolderType};
//! let cluster = Cluster::builder()
//!     .folder("proj", &[FolderType::SendOnly, FolderType::ReceiveOnly])
//!     .fs_watcher_delay_s(1)
//!     .start()
//!     .await?;
//! std::fs::write(cluster.node(0).folder_path("proj").join("hello.txt"), "hi").ok();
//! # Ok(()) }
//! ```
//!
//! [`recorded`] and [`recorded_json`] give the real REST/event captures
//! from a 1.19.2 pair for parser tests; [`noise`] and [`write_noise`] make
//! incompressible file content. [`poll`] and [`ports`] are the test kit
//! every test crate of the workspace shares: waiting for a condition with a
//! deadline, and free loopback ports.

mod binary;
mod builder;
mod cluster;
mod config;
mod error;
mod node;
mod noise;
pub mod poll;
pub mod ports;
mod ready;
mod recorded;
mod rest;
mod version;

pub use binary::{SYNCTHING_BIN_ENV, syncthing_binary};
pub use builder::{ClusterBuilder, DEFAULT_FOLDER_ID, DEFAULT_FS_WATCHER_DELAY_S, DEFAULT_READY_TIMEOUT, FolderType};
pub use cluster::{Cluster, KEEP_LOGS_ENV};
pub use error::FixtureError;
pub use node::Node;
pub use noise::{noise, write_noise};
pub use recorded::{recorded, recorded_json, recorded_names, try_recorded_json};
pub use version::{SyncthingVersion, syncthing_version, syncthing_version_of};
