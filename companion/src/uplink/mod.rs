//! Everything between the companion and the cloud: the typed HTTP client
//! (`api`, used by the owner and the invitee side), the owner's outbox
//! sender and the invitee's WebSocket subscription.

pub mod api;
pub mod sender;
pub mod subscription;

pub use api::{ApiError, CloudClient};
