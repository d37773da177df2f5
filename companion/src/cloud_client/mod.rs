//! The companion's two ways to reach the cloud, used by both roles: the
//! typed HTTP client (`api`) and the one WebSocket (`socket`). What goes over
//! them is decided elsewhere: `owner::sender` drains the outbox, `invitee`
//! subscribes and reports.

pub mod api;
pub mod socket;

pub use api::{ApiError, CloudClient};
