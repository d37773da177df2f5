//! Shared parts of the invitee tests: a real cloud, a real Syncthing pair
//! (A = owner, B = invitee), two real `companion run` processes (the
//! owner's shares and invites, the invitee's joins), and probes of the
//! invitee's badges and of the owner's view of that member.

pub mod proxy;

use std::path::PathBuf;

use cloud_protocol::{FileProgress, FileState};
use companion::manifest::{MemberFileRow, ProjectStatus};
use syncthing_fixtures::poll::{eventually, eventually_async};
use syncthing_fixtures::{Cluster, ClusterBuilder, FolderType};
use uuid::Uuid;

pub use super::owner_support::*;
use proxy::Proxy;

/// Folder shared by the pair.
pub const FOLDER: &str = "proj";

/// The whole cast of one test.
pub struct Setup {
    pub cloud: TestCloud,
    pub cluster: Cluster,
    pub owner: Companion,
    pub member: Companion,
    pub project: Uuid,
    pub alice_token: String,
    pub bob: Uuid,
    /// Between the invitee and the cloud, with [`Knobs::via_proxy`].
    pub proxy: Option<Proxy>,
}

/// Knobs of [`setup`].
#[derive(Default, Clone, Copy)]
pub struct Knobs {
    /// B's receive limit in KiB/s.
    pub recv_limit_kibps: Option<u32>,
    /// `fsWatcherDelayS` of the folder; default 1 (Syncthing's own default is 10).
    pub watcher_delay_s: Option<u32>,
    /// The invitee reaches the cloud through a [`Proxy`].
    pub via_proxy: bool,
    /// `COMPANION_HEARTBEAT_MS` of both companions.
    pub heartbeat_ms: Option<u64>,
    /// `COMPANION_CLOCK_OFFSET` (seconds) of the owner's companion.
    pub owner_clock_offset_s: Option<i64>,
    /// `COMPANION_STALL_AFTER_MS` of the invitee's companion (the stall rule's 30 s).
    pub stall_after_ms: Option<u64>,
}

/// Cloud, pair, owner sharing `proj` and running, invitee joined and running.
pub async fn setup(knobs: Knobs) -> Setup {
    let cloud = start_cloud().await;
    let (_, alice_token) = cloud.add_user("alice").await;
    let (bob, bob_token) = cloud.add_user("bob").await;
    let mut builder = ClusterBuilder::new()
        .nodes(2)
        .folder(FOLDER, &[FolderType::SendReceive, FolderType::SendReceive])
        .fs_watcher_delay_s(knobs.watcher_delay_s.unwrap_or(1))
        .progress_update_interval_s(1)
        .reconnection_interval_s(1);
    if let Some(kib) = knobs.recv_limit_kibps {
        builder = builder.recv_limit_kibps(1, kib);
    }
    let cluster = builder.start().await.expect("a Syncthing pair starts");
    let mut owner = Companion::new(cluster.node(0));
    let mut member = Companion::new(cluster.node(1));
    if let Some(ms) = knobs.heartbeat_ms {
        owner.set_env("COMPANION_HEARTBEAT_MS", &ms.to_string());
        member.set_env("COMPANION_HEARTBEAT_MS", &ms.to_string());
    }
    if let Some(ms) = knobs.stall_after_ms {
        member.set_env(companion::STALL_AFTER_ENV, &ms.to_string());
    }
    if let Some(s) = knobs.owner_clock_offset_s {
        owner.set_env("COMPANION_CLOCK_OFFSET", &s.to_string());
    }
    let project = owner.login_and_share(&cloud.url(), &alice_token, FOLDER);
    owner.start();
    let code = owner.ok(&["invite", FOLDER]).trim().to_owned();
    let proxy = if knobs.via_proxy { Some(Proxy::start(cloud.addr()).await) } else { None };
    let member_cloud = proxy.as_ref().map_or_else(|| cloud.url(), Proxy::url);
    member.ok(&["login", "--cloud", &member_cloud, "--token", &bob_token]);
    let joined = member.ok(&["join", &code, FOLDER]);
    assert_eq!(joined.trim(), project.to_string());
    member.start();
    Setup { cloud, cluster, owner, member, project, alice_token, bob, proxy }
}

impl Setup {
    pub fn a(&self, name: &str) -> PathBuf {
        self.cluster.node(0).folder_path(FOLDER).join(name)
    }

    pub fn b(&self, name: &str) -> PathBuf {
        self.cluster.node(1).folder_path(FOLDER).join(name)
    }

    /// Pauses A and B towards each other (see [`wait_apart`] for when it took effect).
    pub async fn pause_pair(&self) {
        self.cluster.pause_device(0, 1).await.expect("pause B on A");
        self.cluster.pause_device(1, 0).await.expect("pause A on B");
    }

    /// Resumes what [`pause_pair`](Self::pause_pair) paused.
    pub async fn resume_pair(&self) {
        self.cluster.resume_device(0, 1).await.expect("resume B on A");
        self.cluster.resume_device(1, 0).await.expect("resume A on B");
    }

    /// The invitee's badge of `path`, as persisted.
    pub fn badge(&self, path: &str) -> Option<FileProgress> {
        let badges = self.member.manifest().badges(self.project).ok()?;
        badges.into_iter().find(|b| b.progress.path == path).map(|b| b.progress)
    }

    /// The owner's record of what bob reported about `path`.
    pub fn owner_view(&self, path: &str) -> Option<MemberFileRow> {
        let rows = self.owner.manifest().member_progress(self.project).ok()?;
        rows.into_iter().find(|r| r.user_id == self.bob && r.progress.path == path)
    }

    /// Waits until the invitee's badge of `path` satisfies `done`. (On a
    /// timeout the companions' logs are printed as they are dropped.)
    pub async fn wait_badge(&self, path: &str, what: &str, done: impl Fn(&FileProgress) -> bool) -> FileProgress {
        eventually(&format!("{path}: {what}"), DEADLINE, || match self.badge(path) {
            Some(b) if done(&b) => Ok(b),
            badge => Err(format!("badge {badge:?}")),
        })
        .await
    }

    /// Waits for `path` to be ✓ with the file's real hash on B.
    pub async fn wait_synced(&self, path: &str) -> FileProgress {
        let b = self.wait_badge(path, "synced", |b| b.state == FileState::Synced).await;
        assert_eq!(b.local_hash.as_deref(), Some(blake3_of(&self.b(path)).as_str()), "verified hash of {path}");
        b
    }

    /// Writes `content` to `path` on A and waits until B has it ✓.
    pub async fn write_synced(&self, path: &str, content: &[u8]) -> FileProgress {
        std::fs::write(self.a(path), content).expect("write on A");
        self.wait_synced(path).await
    }

    /// Waits until the owner's view of bob's `path` satisfies `done`.
    pub async fn wait_owner_view(
        &self,
        path: &str,
        what: &str,
        done: impl Fn(&MemberFileRow) -> bool,
    ) -> MemberFileRow {
        eventually(&format!("owner's view of {path}: {what}"), DEADLINE, || match self.owner_view(path) {
            Some(r) if done(&r) => Ok(r),
            row => Err(format!("{row:?}")),
        })
        .await
    }

    /// The invitee's project status in its manifest.
    pub fn member_project_status(&self) -> Option<ProjectStatus> {
        self.member.manifest().project(self.project).ok()?.map(|p| p.status)
    }
}

/// Waits until neither Syncthing lists the other as connected: the pause
/// has taken effect, so no index of what follows crosses before the resume.
pub async fn wait_apart(s: &Setup) {
    eventually_async("the pair apart after pausing", DEADLINE, || async {
        let (a, b) = (s.cluster.node(0), s.cluster.node(1));
        let ab = a.is_connected_to(&b.device_id).await.unwrap_or(true);
        let ba = b.is_connected_to(&a.device_id).await.unwrap_or(true);
        if !ab && !ba { Ok(()) } else { Err(format!("A to B connected: {ab}, B to A connected: {ba}")) }
    })
    .await
}
