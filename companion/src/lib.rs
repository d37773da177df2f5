//! The companion: runs next to a Syncthing node.
//!
//! A library first; `main.rs` only calls [`cli::main`]. The modules follow
//! the product, owner → cloud → invitee (docs/architecture.md):
//!
//! - [`owner`]: the owner's machine. `watch` and Syncthing's events give
//!   changed paths, `scan` catches up after a restart, `resolve` hashes and
//!   queues them in the outbox, and `sender` is where owner changes leave for
//!   the cloud. `members` is the owner's view of what each member has.
//! - [`invitee`]: a member's machine. It subscribes to a project's events,
//!   applies them, and runs the badge engine ([`invitee::badge`]; the badge
//!   rule is in `invitee/badge/rule.rs`), reporting badges back.
//! - Shared by both roles: [`cloud_client`] (HTTP client and the one
//!   WebSocket), [`syncthing`], [`manifest`] (the local SQLite state and its
//!   async handle `manifest::db`), [`live`] (badge news for the dashboard),
//!   [`ui`] (dashboard and what `status` shows), `socket` (the local status
//!   socket for file managers), [`listing`] (badges by
//!   place on disk, for `ls` and `wait`), `daemon` (plugs both sides
//!   in the same way), [`cli`] + `commands`, and small helpers (`hash`,
//!   `walk`, `ignore`, `beneath`, `presence`, `clock`, `config`, `base_dirs`,
//!   `base_url`, `state_dir`, `doctor`).

pub mod base_dirs;
pub mod base_url;
pub mod beneath;
pub mod cli;
pub mod clock;
pub mod cloud_client;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod daemon;
pub(crate) mod doctor;
#[doc(hidden)]
pub mod fuzzing;
pub mod hash;
pub mod ignore;
pub mod invitee;
pub mod listing;
pub mod live;
pub mod manifest;
pub mod owner;
pub(crate) mod presence;
pub(crate) mod socket;
pub mod state_dir;
pub mod syncthing;
pub mod ui;
mod walk;

pub use config::STALL_AFTER_ENV;
pub use presence::HEARTBEAT;
