//! The local status socket (docs/status-socket.md): `companion run` listens
//! on `status.sock` in its state directory so that a file manager's
//! extension, a shell prompt or a script can ask a path's badge, a
//! directory's entries, and be told when badges change.
//!
//! The socket is made safely: a socket already there is removed only when
//! nothing answers on it (a companion that crashed), never anything else,
//! never through a symlink; it is mode 0600 in a 0700 directory. At most
//! [`MAX_CLIENTS`] clients at once; one more gets an error line and is closed.

pub mod client;
pub mod protocol;

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::daemon::Context;
use crate::live::Live;
use protocol::Line;

/// The socket's file name in the state directory.
pub const SOCKET_FILE: &str = "status.sock";
/// Clients served at once: a file manager uses one or two, scripts a few.
pub const MAX_CLIENTS: usize = 64;
/// Pause after a failed `accept` (out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why the socket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("{} is a symlink; the status socket is never made through one (remove it)", path.display())]
    Symlink { path: PathBuf },
    #[error("{} is there and is not a socket; move it away for the status socket", path.display())]
    NotASocket { path: PathBuf },
    #[error("another companion answers on {}; this one runs without a status socket", path.display())]
    InUse { path: PathBuf },
    #[error("cannot listen on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the status socket of the companion using `state_dir` is.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_FILE)
}

/// The socket's path when a running companion answers on it.
pub fn answering(state_dir: &Path) -> Option<PathBuf> {
    let path = socket_path(state_dir);
    std::os::unix::net::UnixStream::connect(&path).ok().map(|_| path)
}

/// `companion doctor`'s line about the socket.
pub fn doctor_line(state_dir: &Path) -> String {
    let path = socket_path(state_dir);
    match answering(state_dir) {
        Some(_) => format!("Socket:    {} (answering)", path.display()),
        None => format!("Socket:    {} (not answering: is `companion run` running?)", path.display()),
    }
}

/// Listens at `path`, removing a stale socket first.
pub fn bind(path: &Path) -> Result<UnixListener, SocketError> {
    let io = |source| SocketError::Io { path: path.to_owned(), source };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(SocketError::Symlink { path: path.to_owned() }),
        Ok(meta) if !meta.file_type().is_socket() => return Err(SocketError::NotASocket { path: path.to_owned() }),
        Ok(_) => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(SocketError::InUse { path: path.to_owned() });
            }
            tracing::info!(socket = %path.display(), "removing the stale status socket of a companion that stopped");
            std::fs::remove_file(path).map_err(io)?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    // bind(2) creates the file and fails if anything appeared meanwhile: it never follows a link.
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

/// The daemon service: listens until shutdown, then removes its socket.
pub async fn service(ctx: Context, live: Live) {
    let path = socket_path(&ctx.state_dir);
    let listener = match bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "no status socket");
            return;
        }
    };
    let ours = std::fs::symlink_metadata(&path).map(|m| m.ino()).ok();
    tracing::info!(socket = %path.display(), "status socket listening");
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    // Dropped at shutdown, which ends every client.
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            Some(_) = clients.join_next() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        let (settings, live) = (ctx.settings.clone(), live.clone());
                        clients.spawn(async move {
                            client::serve(stream, settings, live).await;
                            drop(slot);
                        });
                    }
                    Err(_) => {
                        // A new socket's buffer is empty: this write does not block.
                        let message = format!("{MAX_CLIENTS} clients are connected already; try again later");
                        let _ = stream.try_write(&Line::error(None, "busy", &message).into_bytes());
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "status socket: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    // Only our own socket: a companion started meanwhile may have made its own.
    if std::fs::symlink_metadata(&path).map(|m| m.ino()).ok() == ours {
        let _ = std::fs::remove_file(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stale_socket_is_replaced_but_a_live_one_a_symlink_or_a_file_never_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = socket_path(dir.path());
        let first = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(bind(&path), Err(SocketError::InUse { .. })));
        assert!(answering(dir.path()).is_some());
        drop(first);
        // The file stays behind, nothing answers: stale, replaced.
        assert!(path.exists() && answering(dir.path()).is_none());
        let _second = bind(&path).unwrap();

        let target = dir.path().join("elsewhere.sock");
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(bind(&link), Err(SocketError::Symlink { .. })));
        assert!(!target.exists());
        let file = dir.path().join("file.sock");
        std::fs::write(&file, "keep me").unwrap();
        assert!(matches!(bind(&file), Err(SocketError::NotASocket { .. })));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    }
}
