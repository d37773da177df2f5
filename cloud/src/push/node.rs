//! What this node holds that the hub and the cross-node listener both use:
//! the store, the project channels, the registry of sockets and the node's
//! id. Its own module so that the hub (which starts the listener) and the
//! listener (which delivers into this node) do not import each other.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use cloud_protocol::ServerMessage;
use uuid::Uuid;

use super::channels::Channels;
use super::registry::Registry;
use crate::store::Store;

pub(crate) struct LocalNode {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) channels: Arc<Channels>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) node_id: Uuid,
}

impl LocalNode {
    pub(crate) fn node_id(&self) -> Uuid {
        self.node_id
    }

    /// Sends `message` to every socket `user` has on this node.
    pub(crate) fn deliver_to_user(&self, user: Uuid, message: &ServerMessage) {
        if !self.registry.is_connected(user) {
            return;
        }
        match serde_json::to_string(message) {
            Ok(text) => self.registry.send_to_user(user, &Utf8Bytes::from(text)),
            Err(e) => tracing::error!(error = %e, "could not serialize a push message"),
        }
    }
}
