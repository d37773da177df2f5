//! The whole system, assembled from the real built binaries: a `cloud serve`
//! process, a real Syncthing pair (syncthing-fixtures) and two `companion`
//! processes. Used by the one-command demo (`src/bin/demo.rs`) and by the
//! end-to-end tests in `tests/`.

pub mod bins;
pub mod cloud;
pub mod companion;
pub mod proc;
pub mod stack;

pub use cloud::{CloudDb, CloudProc};
pub use companion::{CompanionHome, dashboard_status, file_entry};
pub use proc::Proc;
pub use stack::{Stack, StackOptions};

/// Polls `probe` until it yields a value or `timeout` passes; the error names `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the OS does not hand it out again at once).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
