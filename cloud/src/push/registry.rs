//! Who is connected to this node: each user's open sockets, so a revocation
//! reaches every socket of the revoked member and a member's progress reaches
//! every socket of the project's owner.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Progress messages queued per socket; beyond that a slow owner misses some
/// (the full state stays readable with `GET …/progress`).
const PROGRESS_QUEUE: usize = 64;

/// What the hub asks one connection to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// The user lost access to this project: end its subscription now.
    Revoked(Uuid),
    /// Revocations may have been missed (the cross-node listener reconnected):
    /// check access to every subscribed project again.
    Recheck,
}

struct Handles {
    // Unbounded because a revocation must never be dropped; they are rare and tiny.
    control: mpsc::UnboundedSender<Control>,
    progress: mpsc::Sender<Utf8Bytes>,
}

/// Every open socket of this node, by user.
#[derive(Default)]
pub(crate) struct Registry {
    map: Mutex<HashMap<Uuid, HashMap<u64, Handles>>>,
    next_id: AtomicU64,
}

/// One socket's entry; dropping it unregisters the socket.
pub(crate) struct Registration {
    pub(crate) control: mpsc::UnboundedReceiver<Control>,
    pub(crate) progress: mpsc::Receiver<Utf8Bytes>,
    registry: Arc<Registry>,
    user: Uuid,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self.registry.lock();
        if let Some(sockets) = map.get_mut(&self.user) {
            sockets.remove(&self.id);
            if sockets.is_empty() {
                map.remove(&self.user);
            }
        }
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, HashMap<u64, Handles>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new socket of `user`.
    pub(crate) fn register(self: &Arc<Self>, user: Uuid) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (control_tx, control) = mpsc::unbounded_channel();
        let (progress_tx, progress) = mpsc::channel(PROGRESS_QUEUE);
        self.lock().entry(user).or_default().insert(id, Handles { control: control_tx, progress: progress_tx });
        Registration { control, progress, registry: Arc::clone(self), user, id }
    }

    /// Tells every socket of `user` that it lost `project`.
    pub(crate) fn revoke(&self, user: Uuid, project: Uuid) {
        if let Some(sockets) = self.lock().get(&user) {
            for handles in sockets.values() {
                // An error means the socket is closing anyway.
                let _ = handles.control.send(Control::Revoked(project));
            }
        }
    }

    /// Asks every socket to check its subscriptions again.
    pub(crate) fn recheck_all(&self) {
        for handles in self.lock().values().flat_map(HashMap::values) {
            let _ = handles.control.send(Control::Recheck);
        }
    }

    /// Whether `user` has a socket on this node.
    pub(crate) fn is_connected(&self, user: Uuid) -> bool {
        self.lock().contains_key(&user)
    }

    /// Queues a serialized message for every socket of `user`, skipping sockets
    /// whose queue is full.
    pub(crate) fn send_to_user(&self, user: Uuid, text: &Utf8Bytes) {
        if let Some(sockets) = self.lock().get(&user) {
            for handles in sockets.values() {
                if let Err(mpsc::error::TrySendError::Full(_)) = handles.progress.try_send(text.clone()) {
                    tracing::debug!(%user, "owner socket is behind; dropped a member_progress message");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn revocations_reach_every_socket_of_the_user_only() {
        let registry = Arc::new(Registry::default());
        let (ann, bob, project) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut a1 = registry.register(ann);
        let mut a2 = registry.register(ann);
        let mut b = registry.register(bob);
        registry.revoke(ann, project);
        assert_eq!(a1.control.recv().await, Some(Control::Revoked(project)));
        assert_eq!(a2.control.recv().await, Some(Control::Revoked(project)));
        assert!(b.control.try_recv().is_err());
        registry.send_to_user(bob, &Utf8Bytes::from_static("hi"));
        assert_eq!(b.progress.recv().await.as_deref(), Some("hi"));
        drop((a1, a2));
        assert!(!registry.is_connected(ann));
        assert!(registry.is_connected(bob));
    }

    #[tokio::test]
    async fn a_full_progress_queue_drops_instead_of_growing() {
        let registry = Arc::new(Registry::default());
        let owner = Uuid::new_v4();
        let mut reg = registry.register(owner);
        for _ in 0..PROGRESS_QUEUE * 2 {
            registry.send_to_user(owner, &Utf8Bytes::from_static("p"));
        }
        let mut n = 0;
        while reg.progress.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, PROGRESS_QUEUE);
    }
}
