//! The invitee side inside the daemon. Its socket service also hands the
//! owner's `member_progress` to `owner::members`.
//!
//! [`MemberSide::plug`] adds two things to a [`Daemon`]:
//! - a service holding the one WebSocket to the cloud
//!   ([`crate::cloud_client::socket`]), routing each project's messages to
//!   its task and recording `member_progress` for the projects we own;
//! - per project we are a member of, a task ([`project`]) that subscribes
//!   with the stored cursor, applies events in order, runs the badge
//!   [`Driver`] and reports badge changes back ([`report`]).

pub mod badge;
mod project;
mod report;

pub use project::{ProjectOutcome, ProjectTask};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloud_protocol::{Event, ServerMessage};
use tokio::sync::{Notify, OnceCell, mpsc};
use uuid::Uuid;

use crate::cloud_client::socket::{self, LinkConfig, LinkEvent, LinkHandle};
use crate::daemon::{Context, Daemon};
use crate::live::Live;
use crate::manifest::ProjectRow;
use crate::owner::refresh_member_progress;
use badge::{Driver, DriverDeps};

/// A message for one project's task.
#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    /// The socket is (back) up: subscribe again from the stored cursor.
    Connected,
    Events(Vec<Event>),
    /// The cloud gave up on our subscription: pull, then subscribe again.
    Resync,
    /// The cloud stored our `progress` message with this seq.
    Ack(u64),
    /// The cloud refused or ended our subscription.
    Error {
        code: String,
        message: String,
    },
}

/// The invitee side, before it is plugged into a daemon. See the module docs.
#[derive(Debug, Clone)]
pub struct MemberSide {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    live: Live,
    config: LinkConfig,
    link: OnceCell<LinkHandle>,
    routes: Mutex<HashMap<Uuid, mpsc::Sender<Routed>>>,
}

impl MemberSide {
    /// `live`: where badge news goes (the dashboard reads it).
    pub fn new(live: Live) -> MemberSide {
        MemberSide::with_link_config(live, LinkConfig::default())
    }

    pub fn with_link_config(live: Live, config: LinkConfig) -> MemberSide {
        MemberSide {
            shared: Arc::new(Shared { live, config, link: OnceCell::new(), routes: Mutex::new(HashMap::new()) }),
        }
    }

    /// Adds the cloud link service and the per-project member task.
    pub fn plug(&self, daemon: Daemon) -> Daemon {
        let (service, member) = (Arc::clone(&self.shared), Arc::clone(&self.shared));
        daemon
            .with_service("cloud link", move |ctx| {
                Box::pin(async move {
                    service.link(&ctx).await;
                    ctx.shutdown.cancelled().await;
                })
            })
            .on_member_project(move |ctx, project| {
                let shared = Arc::clone(&member);
                Box::pin(async move { shared.run_member(ctx, project).await })
            })
    }
}

impl Shared {
    /// The link, started on first use (by the service or a project task).
    async fn link(self: &Arc<Self>, ctx: &Context) -> LinkHandle {
        self.link
            .get_or_init(|| async {
                let (handle, events) = socket::spawn(&ctx.cloud, self.config.clone(), ctx.shutdown.clone());
                tokio::spawn(Arc::clone(self).route(ctx.clone(), events));
                handle
            })
            .await
            .clone()
    }

    /// Hands each link event to whom it concerns.
    async fn route(self: Arc<Self>, ctx: Context, mut events: mpsc::Receiver<LinkEvent>) {
        let db = match ctx.open_db() {
            Ok(db) => db,
            Err(e) => return tracing::error!(error = %e, "cloud link: cannot open the manifest"),
        };
        while let Some(event) = events.recv().await {
            match event {
                LinkEvent::Connected => {
                    tracing::info!(cloud = %ctx.cloud.base_url(), "connected to the cloud");
                    self.broadcast(Routed::Connected).await;
                    // Owner side: what members reported while we were away.
                    tokio::spawn(refresh_member_progress(db.clone(), ctx.cloud.clone(), self.live.clone()));
                }
                LinkEvent::Disconnected { reason, unauthorized, retry_in } => {
                    if unauthorized {
                        tracing::error!(%reason, "the cloud refused our token; `companion login` again");
                    } else {
                        tracing::warn!(%reason, ?retry_in, "cloud link down; retrying");
                    }
                }
                LinkEvent::Message(message) => self.message(&db, message, ctx.settings.heartbeat).await,
            }
        }
    }

    async fn message(&self, db: &crate::manifest::db::Db, message: ServerMessage, heartbeat: Duration) {
        match message {
            ServerMessage::Events { project_id, events, .. } => self.send(project_id, Routed::Events(events)).await,
            ServerMessage::Resync { project_id } => self.send(project_id, Routed::Resync).await,
            ServerMessage::ProgressAck { project_id, seq } => self.send(project_id, Routed::Ack(seq)).await,
            ServerMessage::Error { code, message, project_id: Some(project_id) } => {
                self.send(project_id, Routed::Error { code, message }).await
            }
            ServerMessage::Error { code, message, project_id: None } => {
                tracing::warn!(%code, %message, "the cloud reported an error")
            }
            ServerMessage::MemberProgress { project_id, user_id, name, files } => {
                crate::owner::members::heard(db, &self.live, project_id, user_id, name, files, heartbeat).await
            }
        }
    }

    async fn send(&self, project: Uuid, routed: Routed) {
        let route = self.routes.lock().unwrap_or_else(|p| p.into_inner()).get(&project).cloned();
        match route {
            Some(tx) => {
                let _ = tx.send(routed).await;
            }
            None => tracing::debug!(%project, "message for a project without a task; ignored"),
        }
    }

    async fn broadcast(&self, routed: Routed) {
        let routes: Vec<_> = self.routes.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for tx in routes {
            let _ = tx.send(routed.clone()).await;
        }
    }

    /// One member project: its driver and its task, until revoked or shutdown.
    async fn run_member(self: Arc<Self>, ctx: Context, project: ProjectRow) {
        let id = project.project_id;
        let (db, driver_db) = match (ctx.open_db(), ctx.open_db()) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return tracing::error!(project = %id, error = %e, "cannot open the manifest"),
        };
        // Subscribed before the driver restores, so no Syncthing event falls between.
        let syncthing_events = ctx.subscribe();
        let link = self.link(&ctx).await;
        let (tx, inbox) = mpsc::channel(256);
        self.routes.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
        let (announce_tx, announce_rx) = mpsc::channel(64);
        let saved = Arc::new(Notify::new());
        let stop = ctx.shutdown.child_token();
        let deps = DriverDeps {
            db: driver_db,
            syncthing: ctx.syncthing.clone(),
            live: self.live.clone(),
            saved: saved.clone(),
            watch: crate::owner::watch::WatchConfig::default(),
            stall_after: ctx.settings.stall_after.unwrap_or(badge::STALL_AFTER),
        };
        let driver = Driver::new(deps, id, &project.folder_id, project.folder_path.clone());
        let driver_stop = stop.clone();
        let driver = tokio::spawn(async move {
            // Said when it happens, not when the project ends: badges stop moving.
            if let Err(e) = driver.run(syncthing_events, announce_rx, driver_stop).await {
                tracing::error!(project = %id, error = %e, "badge engine stopped");
            }
        });
        let task = ProjectTask {
            db,
            cloud: ctx.cloud.clone(),
            link,
            live: self.live.clone(),
            announce: announce_tx,
            saved,
            project,
            heartbeat: ctx.settings.heartbeat,
        };
        let outcome = task.run(inbox, stop.clone()).await;
        self.routes.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        stop.cancel();
        if let Err(e) = driver.await {
            tracing::error!(project = %id, error = %e, "badge engine failed");
        }
        tracing::info!(project = %id, ?outcome, "member task ended");
    }
}
