//! Shared state handed to every request handler and WebSocket connection.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::push::Hub;
pub use crate::settings::Settings;
use crate::store::Store;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub settings: Arc<Settings>,
    /// Cancelled once when the server starts shutting down: long-lived tasks
    /// (WebSocket connections) watch it to close cleanly, since graceful
    /// shutdown otherwise waits for them forever.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// State with a fresh, not yet cancelled `shutdown` token.
    pub fn new(store: Arc<dyn Store>, hub: Arc<Hub>, settings: Settings) -> Self {
        AppState { store, hub, settings: Arc::new(settings), shutdown: CancellationToken::new() }
    }
}
