//! The local dashboard: served by the daemon on 127.0.0.1 (a random port
//! unless configured), protected by a secret and a `Host` check ([`auth`]).
//! It may listen beyond loopback (`0.0.0.0:8385` in a container): the
//! secret and the `Host` check still hold, and the names it is browsed
//! with are listed in `[dashboard] allowed_hosts`. It lists projects
//! and files with their badges, percent and ETA, and (owner) each member's
//! progress, and updates live over server-sent events (`/api/events`,
//! fed by [`Live`]). Plain HTML/CSS/JS embedded in the binary; the page
//! builds the DOM with `textContent` only, so file names (untrusted) are
//! always text, and a strict Content-Security-Policy forbids inline script.

mod auth;
mod routes;
pub mod status;

pub use auth::{HostCheck, Secret};

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::DEFAULT_DASHBOARD_LISTEN;
use crate::daemon::Context;
use crate::live::Live;
use crate::manifest::db::Db;
use crate::presence::HEARTBEAT;
use crate::ui::status::DASHBOARD_URL_FILE;

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("the dashboard address {0:?} is not host:port")]
    BadAddress(String),
    #[error("{0}; fix [dashboard] allowed_hosts (or COMPANION_DASHBOARD_ALLOWED_HOSTS)")]
    AllowedHost(String),
    #[error("cannot listen on {addr} for the dashboard: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the dashboard URL to {}: {source}", path.display())]
    UrlFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A bound dashboard, not serving yet.
#[derive(Debug)]
pub struct Dashboard {
    listener: TcpListener,
    addr: SocketAddr,
    secret: Secret,
    hosts: HostCheck,
    db: Db,
    live: Live,
    heartbeat: Duration,
}

impl Dashboard {
    /// Binds `listen` (`host:port`), answering to the loopback names only.
    /// The built-in default address falls back to a random port when taken,
    /// so several companions can run side by side.
    pub async fn bind(listen: &str, db: Db, live: Live) -> Result<Dashboard, UiError> {
        Dashboard::bind_allowing(listen, &[], db, live).await
    }

    /// [`Dashboard::bind`], also answering to the `Host` values in
    /// `allowed_hosts` (`name:port`, or `name` for any port).
    pub async fn bind_allowing(
        listen: &str,
        allowed_hosts: &[String],
        db: Db,
        live: Live,
    ) -> Result<Dashboard, UiError> {
        let addr: SocketAddr = listen.parse().map_err(|_| UiError::BadAddress(listen.to_owned()))?;
        // Checked before binding: a bad entry must not leave a port taken.
        HostCheck::new(addr, allowed_hosts).map_err(UiError::AllowedHost)?;
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(_) if listen == DEFAULT_DASHBOARD_LISTEN => {
                let any = SocketAddr::new(addr.ip(), 0);
                TcpListener::bind(any).await.map_err(|source| UiError::Bind { addr: any, source })?
            }
            Err(source) => return Err(UiError::Bind { addr, source }),
        };
        let addr = listener.local_addr().map_err(|source| UiError::Bind { addr, source })?;
        let hosts = HostCheck::new(addr, allowed_hosts).map_err(UiError::AllowedHost)?;
        Ok(Dashboard { listener, addr, secret: Secret::generate(addr.port()), hosts, db, live, heartbeat: HEARTBEAT })
    }

    /// The heartbeat members keep ([`crate::config::Settings::heartbeat`]),
    /// which tells who counts as online; [`HEARTBEAT`] unless told.
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Dashboard {
        self.heartbeat = heartbeat;
        self
    }

    /// The URL to open: it carries the secret once, then a cookie does. It
    /// names the first allowed host when there is one; a wildcard listener
    /// is otherwise reached through loopback.
    pub fn url(&self) -> String {
        let port = self.addr.port();
        let host = self.hosts.first_listed(port).unwrap_or_else(|| match self.addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv6() => format!("[::1]:{port}"),
            ip if ip.is_unspecified() => format!("127.0.0.1:{port}"),
            _ => self.addr.to_string(),
        });
        format!("http://{host}/?key={}", self.secret.as_str())
    }

    /// The `Host` values it answers to.
    pub fn hosts(&self) -> &HostCheck {
        &self.hosts
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Writes [`Dashboard::url`] to `state_dir/dashboard.url`, readable by
    /// this user only, for `companion status` to print.
    pub fn write_url(&self, state_dir: &Path) -> Result<(), UiError> {
        let path = state_dir.join(DASHBOARD_URL_FILE);
        crate::state_dir::write_private(&path, &self.url()).map_err(|source| UiError::UrlFile { path, source })
    }

    /// Serves until `shutdown`.
    pub async fn serve(self, shutdown: CancellationToken) {
        let state = routes::UiState {
            secret: self.secret,
            hosts: self.hosts,
            db: self.db,
            live: self.live,
            heartbeat: self.heartbeat,
        };
        let app = routes::router(state);
        let stop = shutdown.clone();
        if let Err(e) =
            axum::serve(self.listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
        {
            tracing::error!(error = %e, "the dashboard stopped");
        }
    }

    /// The daemon service: bind, keep the URL, serve. The URL carries the
    /// secret, so it goes to stderr only when that is a terminal (the user
    /// who ran `companion run` in it); under systemd stderr is the journal,
    /// which the log names the file instead.
    pub async fn service(ctx: Context, live: Live) {
        let db = match ctx.open_db() {
            Ok(db) => db,
            Err(e) => return tracing::error!(error = %e, "dashboard: cannot open the manifest"),
        };
        let settings = &ctx.settings;
        let dashboard =
            match Dashboard::bind_allowing(&settings.dashboard_listen, &settings.dashboard_allowed_hosts, db, live)
                .await
            {
                Ok(d) => d.with_heartbeat(settings.heartbeat),
                Err(e) => return tracing::error!(error = %e, "the dashboard is off"),
            };
        if !dashboard.addr().ip().is_loopback() {
            // Reachable from other machines: say so, and what it answers to.
            tracing::warn!(
                addr = %dashboard.addr(),
                accepted_hosts = %dashboard.hosts().describe(),
                "the dashboard listens beyond loopback (plain HTTP; its secret still guards it); a browser must \
                 use one of the accepted host names: add yours to [dashboard] allowed_hosts"
            );
        }
        let on_terminal = std::io::stderr().is_terminal();
        match dashboard.write_url(&ctx.state_dir) {
            Ok(()) => tracing::info!(
                addr = %dashboard.addr(),
                "dashboard URL in {}; `companion status` shows it",
                ctx.state_dir.join(DASHBOARD_URL_FILE).display()
            ),
            Err(e) if on_terminal => tracing::warn!(error = %e, "the dashboard URL is only printed"),
            Err(e) => {
                tracing::warn!(error = %e, "the dashboard URL could not be saved; run `companion run` in a terminal to see it")
            }
        }
        if on_terminal {
            eprintln!("Dashboard: {}", dashboard.url());
        }
        dashboard.serve(ctx.shutdown.clone()).await;
        let _ = std::fs::remove_file(ctx.state_dir.join(DASHBOARD_URL_FILE));
    }
}
