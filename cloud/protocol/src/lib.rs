//! Wire types shared by the cloud and the companion: the wire contract v1 of docs/wire.md.
//!
//! Everything here is plain data plus the validation rules both sides apply
//! (the cloud to refuse, the companion to check before sending), so the two
//! can never disagree about what a valid change is.

mod api;
mod change;
#[doc(hidden)]
pub mod fuzzing;
mod path;
pub mod retry;
#[cfg(feature = "openapi")]
mod schema;
mod ws;

pub use api::*;
pub use change::*;
pub use path::*;
pub use ws::*;

/// Most changes one `files/update` batch may carry.
pub const MAX_BATCH_CHANGES: usize = 1000;
/// Most events one `GET …/events` page returns.
pub const MAX_EVENTS_PAGE: u32 = 1000;
/// Rows one `GET …/progress` page returns unless `limit` says otherwise.
pub const DEFAULT_PROGRESS_PAGE: u32 = 1000;
/// Most rows one `GET …/progress` page returns.
pub const MAX_PROGRESS_PAGE: u32 = 5000;
/// Longest `error` a member may report for one file, in bytes.
pub const MAX_PROGRESS_ERROR_BYTES: usize = 1024;
/// Longest accepted path, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Largest file size a change may carry: 2^53 bytes (8 PiB), so sizes stay exact
/// in JSON numbers everywhere and sums of many sizes cannot overflow a `u64`.
pub const MAX_FILE_SIZE: u64 = 1 << 53;
