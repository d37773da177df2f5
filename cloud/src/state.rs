//! Shared state handed to every request handler and WebSocket connection.

use std::sync::Arc;

use crate::push::Hub;
use crate::store::Store;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
}
