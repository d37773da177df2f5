//! Everything between the companion and the cloud: the typed HTTP client
//! (`api`, used by the owner and the invitee side) and the owner's outbox
//! sender.

pub mod api;
pub mod subscription;
pub mod sender;

pub use api::{ApiError, CloudClient};
