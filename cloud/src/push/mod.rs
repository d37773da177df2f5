//! Push: fans sequenced events out to subscribed WebSockets, on this node and
//! (with PostgreSQL) on every other node through LISTEN/NOTIFY.
//!
//! - [`hub`]: the [`Hub`] the API calls after a commit or a revoke;
//! - [`channels`]: one ordered, bounded live channel per listened project;
//! - [`subscription`]: backlog then live events for one socket and project;
//! - [`session`]: a socket's requests (subscribe, unsubscribe, progress);
//! - [`connection`]: the socket itself (pings, idle timeout, shutdown);
//! - [`throttle`]: per-socket limits on what a client sends;
//! - [`registry`]: each user's sockets, for revocations and progress;
//! - [`fanout`]: relaying between nodes with PostgreSQL `LISTEN/NOTIFY`;
//! - [`node`]: what this node holds (store, channels, registry), which the hub and fanout share;

mod channels;
pub(crate) mod connection;
mod fanout;
mod hub;
mod node;
mod registry;
mod session;
mod subscription;
mod throttle;

#[cfg(feature = "testing")]
pub(crate) use connection::OUT_QUEUE;
pub use fanout::FanoutError;
pub use hub::Hub;
pub(crate) use hub::SocketDeps;
