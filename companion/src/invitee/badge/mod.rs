//! The badge engine (invitee side): per file, how far the owner's version
//! really is on this disk, following docs/badges.md.
//!
//! - [`Engine`] is a pure state machine per folder: facts in (the cloud's
//!   announcements, Syncthing's events and REST answers, hash results),
//!   [`Action`]s and changed badges out. It measures, it never assumes: ✓
//!   only once the local BLAKE3 equals the announced hash; ⟳ n % from
//!   Syncthing's block counts; ⚠ for conflict copies, local edits and a
//!   hash that differs while Syncthing says "in sync".
//! - `driver` runs an engine against the live Syncthing (event stream +
//!   REST) and the disk, and persists its badges in the manifest.
//! - `rule` holds the badge rule itself (`Tracked::judge`), `evidence` the
//!   facts it weighs.

mod copies;
mod driver;
mod engine;
mod events;
mod evidence;
mod exec;
mod here;
mod model;
mod rate;
mod redact;
mod rule;
mod stall;
mod view;

pub use driver::{Driver, DriverDeps, DriverError};
pub use engine::Engine;
pub use here::HereRules;
pub use model::{Action, DiskFact, Expected, HashOutcome, Prior, Verified, round_percent};
pub use rate::Rate;
pub use stall::STALL_AFTER;
