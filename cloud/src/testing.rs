//! The in-process test cloud every test crate of the workspace shares
//! (feature `testing`): built by the same `server::build` as `cloud serve`,
//! on SQLite in a temp dir or on a PostgreSQL database, bound on a free
//! loopback port, and restartable on the same port and database so clients
//! see an outage and a return.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use syncthing_fixtures::poll::eventually_async;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::{Config, Database};
use crate::server::{self, ServerError};
use crate::state::{AppState, Settings};
use crate::store::{Store, now_ms};

/// Push messages a socket queues before its subscriptions wait: what a
/// stalled socket holds in the server is bounded by a few of them.
pub const PUSH_OUT_QUEUE: usize = crate::push::OUT_QUEUE;

/// How long starting or stopping may take on a loaded 2-core machine.
const WITHIN: Duration = Duration::from_secs(60);

/// A running (or, between [`down`](Self::down) and [`up`](Self::up),
/// stopped) in-process cloud. Dropping it starts its shutdown.
pub struct TestCloud {
    addr: SocketAddr,
    database: Database,
    settings: Settings,
    state: Option<AppState>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
    // Kept until the server is gone: it holds the SQLite file.
    dir: Option<TempDir>,
}

impl TestCloud {
    /// On a fresh SQLite database in a temp dir, default settings.
    pub async fn start_sqlite() -> TestCloud {
        Self::start_sqlite_with(Settings::default()).await
    }

    pub async fn start_sqlite_with(settings: Settings) -> TestCloud {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = Database::in_dir(dir.path());
        Self::start(database, settings, Some(dir)).await
    }

    /// On the PostgreSQL database at `url`.
    pub async fn start_postgres(url: &str) -> TestCloud {
        Self::start_postgres_with(url, Settings::default()).await
    }

    pub async fn start_postgres_with(url: &str, settings: Settings) -> TestCloud {
        Self::start(Database::Postgres(url.to_owned()), settings, None).await
    }

    /// On any database; `dir` is kept alive as long as the cloud.
    pub async fn start(database: Database, settings: Settings, dir: Option<TempDir>) -> TestCloud {
        let addr = "127.0.0.1:0".parse().expect("addr");
        let mut cloud = TestCloud { addr, database, settings, state: None, task: None, dir };
        cloud.up().await;
        cloud
    }

    /// Starts serving (again) on the same address and database.
    pub async fn up(&mut self) {
        assert!(self.state.is_none(), "the test cloud is already up");
        let config = Config { listen: self.addr, database: self.database.clone(), settings: self.settings.clone() };
        // After a stop the old socket may linger for a moment.
        let server = eventually_async("the cloud server starts", WITHIN, || server::build(config.clone())).await;
        self.addr = server.local_addr();
        self.state = Some(server.state().clone());
        self.task = Some(tokio::spawn(server.run(std::future::pending())));
    }

    /// Stops serving (graceful) and waits until it stopped, keeping the database.
    pub async fn down(&mut self) {
        if let Some(state) = self.state.take() {
            state.shutdown.cancel();
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(WITHIN, task).await.expect("the cloud stops in time");
            result.expect("cloud server task").expect("the cloud stops cleanly");
        }
    }

    /// Shuts down for good; what it returns keeps the database (and its temp
    /// dir) for checks made after.
    pub async fn shutdown(mut self) -> Stopped {
        let state = self.state().clone();
        self.down().await;
        Stopped { state, _dir: self.dir.take() }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/api/ws`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/ws", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The running server's state; panics while the cloud is down.
    pub fn state(&self) -> &AppState {
        self.state.as_ref().expect("the test cloud is up")
    }

    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.state().store)
    }

    /// A new user, made through the store as `cloud user add` does: `(id, token)`.
    pub async fn add_user(&self, name: &str) -> (Uuid, String) {
        let token = crate::auth::generate_token();
        let user = self.state().store.create_user(name, crate::auth::digest(&token), now_ms()).await.expect("add user");
        (user.id, token)
    }
}

impl Drop for TestCloud {
    fn drop(&mut self) {
        if let Some(state) = &self.state {
            state.shutdown.cancel();
        }
    }
}

/// A test cloud that has stopped, with its store still usable: the temp dir
/// holding a SQLite database lives as long as this, so a check made after the
/// shutdown never finds the file gone (SQLite: "unable to open database file").
pub struct Stopped {
    state: AppState,
    _dir: Option<TempDir>,
}

impl Stopped {
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.state.store)
    }
}
