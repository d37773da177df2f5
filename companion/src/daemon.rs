//! `companion run`: wires the long-running parts together.
//!
//! - one Syncthing event stream, fanned out on a broadcast channel so each
//!   component reads every event (a component that falls behind gets
//!   `Lagged` and reconciles);
//! - per owned project, the owner pipeline (`owner::run_project`);
//! - per project this machine is a member of, whatever the invitee side
//!   registers with [`Daemon::on_member_project`];
//! - the outbox sender (`owner::sender`);
//! - extra services such as the dashboard, registered with
//!   [`Daemon::with_service`].
//!
//! Projects added while the daemon runs (`companion share`/`join` in
//! another shell) are picked up within [`PROJECT_POLL`]. Shutdown cancels
//! one token; every task stops at its next await.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cloud_protocol::Role;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cloud_client::api::{ApiError, CloudClient};
use crate::config::{ConfigError, Settings};
use crate::manifest::db::Db;
use crate::manifest::{ManifestError, ProjectRow, ProjectStatus};
use crate::owner::sender::{Sender, SenderConfig};
use crate::owner::watch::WatchConfig;
use crate::owner::{self, OwnerDeps};
use crate::syncthing::{Client, ClientError, DiscoveryError, EventStream, SearchEnv, StreamConfig, StreamItem};

/// How often the manifest is checked for projects added meanwhile.
pub const PROJECT_POLL: Duration = Duration::from_secs(2);
/// Syncthing events buffered per component before it lags.
const EVENT_BUFFER: usize = 8192;
/// How long tasks get to finish after a shutdown signal.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A boxed task, as hooks return them.
pub type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
/// Starts the task of one project (see [`Daemon::on_member_project`]).
pub type ProjectHook = Arc<dyn Fn(Context, ProjectRow) -> TaskFuture + Send + Sync>;
/// Starts a daemon-wide service (see [`Daemon::with_service`]).
pub type ServiceHook = Box<dyn FnOnce(Context) -> TaskFuture + Send>;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    Syncthing(#[from] ClientError),
    #[error(transparent)]
    Cloud(#[from] ApiError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// What every task of the daemon may use. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Context {
    pub settings: Arc<Settings>,
    pub syncthing: Client,
    pub cloud: CloudClient,
    pub state_dir: PathBuf,
    /// Cancelled when the daemon stops: every task ends at its next await.
    pub shutdown: CancellationToken,
    /// Notify after queueing outbox batches, so the sender starts at once.
    pub outbox_ready: Arc<Notify>,
    events: broadcast::Sender<StreamItem>,
}

impl Context {
    /// Every Syncthing event from now on (subscribe before doing anything
    /// that the events should cover).
    pub fn subscribe(&self) -> broadcast::Receiver<StreamItem> {
        self.events.subscribe()
    }

    /// A manifest connection of the task's own.
    pub fn open_db(&self) -> Result<Db, ManifestError> {
        Db::open_in(&self.state_dir)
    }
}

/// The daemon, before it runs: settings plus the parts plugged in.
pub struct Daemon {
    settings: Settings,
    member_hook: Option<ProjectHook>,
    services: Vec<(String, ServiceHook)>,
    watch: WatchConfig,
    sender: SenderConfig,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let services: Vec<&str> = self.services.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Daemon").field("services", &services).finish_non_exhaustive()
    }
}

impl Daemon {
    pub fn new(settings: Settings) -> Daemon {
        Daemon {
            settings,
            member_hook: None,
            services: Vec::new(),
            watch: WatchConfig::default(),
            sender: SenderConfig::default(),
        }
    }

    /// The task to run for each active project this machine is a *member*
    /// of (badge engine, subscription, progress reports). It is started once
    /// per project and should return when `ctx.shutdown` is cancelled.
    pub fn on_member_project<F>(mut self, hook: F) -> Daemon
    where
        F: Fn(Context, ProjectRow) -> TaskFuture + Send + Sync + 'static,
    {
        self.member_hook = Some(Arc::new(hook));
        self
    }

    /// A daemon-wide service (the dashboard), started once.
    pub fn with_service<F>(mut self, name: &str, start: F) -> Daemon
    where
        F: FnOnce(Context) -> TaskFuture + Send + 'static,
    {
        self.services.push((name.to_owned(), Box::new(start)));
        self
    }

    pub fn with_watch_config(mut self, watch: WatchConfig) -> Daemon {
        self.watch = watch;
        self
    }

    pub fn with_sender_config(mut self, sender: SenderConfig) -> Daemon {
        self.sender = sender;
        self
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), DaemonError> {
        let access = self.settings.cloud()?;
        let cloud = CloudClient::from_access(&access)?;
        let endpoint = crate::syncthing::discovery::resolve(&self.settings.syncthing, &SearchEnv::from_process())?;
        let syncthing = Client::new(&endpoint.url, &endpoint.api_key)?;
        let db = Db::open_in(&self.settings.state_dir)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let ctx = Context {
            settings: Arc::new(self.settings.clone()),
            syncthing: syncthing.clone(),
            cloud: cloud.clone(),
            state_dir: self.settings.state_dir.clone(),
            shutdown: shutdown.child_token(),
            outbox_ready: Arc::new(Notify::new()),
            events,
        };
        tracing::info!(cloud = %cloud.base_url(), syncthing = %endpoint.url, state = %ctx.state_dir.display(), "companion running");

        let mut tasks = JoinSet::new();
        let sender = Sender::new(Db::open_in(&ctx.state_dir)?, cloud, ctx.outbox_ready.clone(), self.sender.clone());
        tasks.spawn(sender.run(ctx.shutdown.clone()));
        for (name, start) in std::mem::take(&mut self.services) {
            tracing::debug!(service = name, "starting");
            tasks.spawn(start(ctx.clone()));
        }
        let mut started: HashSet<Uuid> = HashSet::new();
        // Project tasks subscribe before the stream starts: they miss nothing.
        self.start_projects(&ctx, &db, &mut started, &mut tasks).await;
        tasks.spawn(forward_events(syncthing, ctx.events.clone(), ctx.shutdown.clone()));

        let mut poll = tokio::time::interval(PROJECT_POLL);
        poll.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = poll.tick() => self.start_projects(&ctx, &db, &mut started, &mut tasks).await,
                Some(done) = tasks.join_next() => {
                    if let Err(e) = done && e.is_panic() {
                        tracing::error!(error = %e, "a companion task failed");
                    }
                }
            }
        }
        tracing::info!("stopping");
        ctx.shutdown.cancel();
        if tokio::time::timeout(STOP_GRACE, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
            tasks.abort_all();
        }
        Ok(())
    }

    async fn start_projects(&self, ctx: &Context, db: &Db, started: &mut HashSet<Uuid>, tasks: &mut JoinSet<()>) {
        let projects = match db.call(|m| m.projects()).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the projects from the manifest");
                return;
            }
        };
        for project in projects {
            if project.status != ProjectStatus::Active || !started.insert(project.project_id) {
                continue;
            }
            match project.role {
                Role::Owner => match ctx.open_db() {
                    Ok(db) => {
                        let deps = OwnerDeps {
                            db,
                            syncthing: ctx.syncthing.clone(),
                            outbox_ready: ctx.outbox_ready.clone(),
                            watch: self.watch,
                        };
                        tasks.spawn(owner::run_project(deps, project, ctx.subscribe(), ctx.shutdown.clone()));
                    }
                    Err(e) => {
                        tracing::error!(project = %project.project_id, error = %e, "cannot open the manifest");
                        started.remove(&project.project_id);
                    }
                },
                Role::Member => match &self.member_hook {
                    Some(hook) => {
                        tasks.spawn(hook(ctx.clone(), project));
                    }
                    None => tracing::debug!(project = %project.project_id, "member project: no member task plugged in"),
                },
            }
        }
    }
}

/// Reads the Syncthing event stream and hands each item to every subscriber.
async fn forward_events(client: Client, tx: broadcast::Sender<StreamItem>, shutdown: CancellationToken) {
    let mut stream = EventStream::spawn(client, StreamConfig::default());
    loop {
        let item = tokio::select! {
            _ = shutdown.cancelled() => return,
            item = stream.recv() => item,
        };
        let Some(item) = item else { return };
        match &item {
            StreamItem::Connected { since, .. } => tracing::info!(since, "Syncthing events connected"),
            StreamItem::Missed { expected_first, got_first } => {
                tracing::warn!(expected_first, got_first, "Syncthing events were lost; reconciling")
            }
            StreamItem::Restarted { .. } => tracing::info!("Syncthing restarted; reconciling"),
            StreamItem::Disconnected { reason, retry_in, .. } => {
                tracing::warn!(reason, ?retry_in, "Syncthing events interrupted")
            }
            StreamItem::Event(_) => {}
        }
        // No subscriber yet is fine: nothing to tell.
        let _ = tx.send(item);
    }
}
