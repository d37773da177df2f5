//! The companion's two ways to reach the cloud, used by both roles: the
//! typed HTTP client (`api`) and the one WebSocket (`socket`), which share
//! one TLS setup (`tls`: system roots plus `--cloud-ca`). What goes over
//! them is decided elsewhere: `owner::sender` drains the outbox, `invitee`
//! subscribes and reports.

pub mod api;
pub mod cloud_clock;
pub mod socket;
pub mod tls;

pub use api::{ApiError, CloudClient};
