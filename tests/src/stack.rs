//! The whole product on one machine: a Syncthing pair, a cloud, an owner
//! companion sharing a folder and an invitee companion that joined it, each
//! daemon running as its own process. With [`StackOptions::tls_front`] the
//! companions reach the cloud through nginx over `https://` and `wss://`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use syncthing_fixtures::{Cluster, ClusterBuilder, FolderType};

use crate::cloud::{self, CloudDb, CloudProc, CloudUser};
use crate::companion::Companion;
use crate::nginx::{Nginx, TlsFront};

/// How to set the stack up.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The Syncthing folder id shared on both nodes.
    pub folder: String,
    /// Owner's and invitee's folder types.
    pub folder_types: [FolderType; 2],
    /// Syncthing's `fsWatcherDelayS` (its default is 10).
    pub fs_watcher_delay_s: u32,
    /// Syncthing's `progressUpdateIntervalS` (its default is 5).
    pub progress_update_interval_s: u32,
    /// Receive-rate limit on the invitee's Syncthing, KiB/s.
    pub invitee_recv_limit_kibps: Option<u32>,
    /// `None`: SQLite in the stack's directory; `Some(url)`: that PostgreSQL database.
    pub postgres_url: Option<String>,
    /// `Some`: nginx terminates TLS in front of the cloud with this
    /// certificate, and the companions log in with `--cloud-ca`.
    pub tls_front: Option<TlsFront>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            folder: "proj".into(),
            folder_types: [FolderType::SendReceive, FolderType::SendReceive],
            fs_watcher_delay_s: 10,
            progress_update_interval_s: 1,
            invitee_recv_limit_kibps: None,
            postgres_url: None,
            tls_front: None,
        }
    }
}

/// Everything running. Dropping it kills what is left; [`Stack::stop`] stops in order.
#[derive(Debug)]
pub struct Stack {
    pub root: PathBuf,
    pub options: StackOptions,
    pub cluster: Cluster,
    pub cloud: CloudProc,
    /// nginx in front of the cloud, with [`StackOptions::tls_front`].
    pub proxy: Option<Nginx>,
    /// The URL the companions use: the cloud's, or nginx's.
    pub cloud_url: String,
    pub owner_user: CloudUser,
    pub invitee_user: CloudUser,
    /// The owner's companion, its daemon running.
    pub owner: Companion,
    /// The invitee's companion, its daemon running.
    pub invitee: Companion,
    pub project_id: String,
}

impl Stack {
    /// Starts every piece under `root` and waits until both daemons run.
    pub async fn start(root: &Path, options: StackOptions) -> anyhow::Result<Stack> {
        std::fs::create_dir_all(root)?;
        let types = options.folder_types;
        let cluster = ClusterBuilder::new()
            .nodes(2)
            .folder(&options.folder, &types)
            .fs_watcher_delay_s(options.fs_watcher_delay_s)
            .progress_update_interval_s(options.progress_update_interval_s)
            .start()
            .await?;
        if let Some(kib) = options.invitee_recv_limit_kibps {
            cluster.set_recv_limit_kibps(1, kib).await?;
        }

        let db = match &options.postgres_url {
            Some(url) => CloudDb::Postgres(url.clone()),
            None => CloudDb::DataDir(root.join("cloud")),
        };
        let owner_user = cloud::add_user(&db, "owner").await?;
        let invitee_user = cloud::add_user(&db, "invitee").await?;
        let cloud = CloudProc::start(db, root).await?;
        let proxy = match &options.tls_front {
            Some(front) => Some(Nginx::start(&root.join("nginx"), cloud.port(), front).await?),
            None => None,
        };
        let cloud_url = proxy.as_ref().map_or_else(|| cloud.url.clone(), |p| p.url.clone());
        let ca = options.tls_front.as_ref().map(|f| f.ca.display().to_string());
        // `login` keeps the CA in the config file, for every later command.
        let login = |token: &str| {
            let mut args =
                vec!["login".to_owned(), "--cloud".into(), cloud_url.clone(), "--token".into(), token.into()];
            args.extend(ca.iter().flat_map(|ca| ["--cloud-ca".to_owned(), ca.clone()]));
            args
        };

        let mut owner = Companion::in_dir("owner", &root.join("owner"), &cluster.node(0).home)?;
        owner.run(&["init"]).await?;
        owner.run(&login(&owner_user.token).iter().map(String::as_str).collect::<Vec<_>>()).await?;
        let project_id = owner.run(&["share", &options.folder, "--name", "Demo project"]).await?;
        let code = owner.run(&["invite", &project_id]).await?;

        let mut invitee = Companion::in_dir("invitee", &root.join("invitee"), &cluster.node(1).home)?;
        invitee.run(&["init"]).await?;
        invitee.run(&login(&invitee_user.token).iter().map(String::as_str).collect::<Vec<_>>()).await?;
        invitee.run(&["join", &code, &options.folder]).await?;

        owner.spawn_daemon()?;
        invitee.spawn_daemon()?;
        let stack = Stack {
            root: root.to_owned(),
            options,
            cluster,
            cloud,
            proxy,
            cloud_url,
            owner_user,
            invitee_user,
            owner,
            invitee,
            project_id,
        };
        // Both daemons are up once their dashboards are.
        stack.owner.dashboard_url().await?;
        stack.invitee.dashboard_url().await?;
        Ok(stack)
    }

    /// The owner's copy of the shared folder.
    pub fn owner_folder(&self) -> PathBuf {
        self.cluster.node(0).folder_path(&self.options.folder)
    }

    /// The invitee's copy of the shared folder.
    pub fn invitee_folder(&self) -> PathBuf {
        self.cluster.node(1).folder_path(&self.options.folder)
    }

    /// Stops the stack after a scenario whose outcome is `result`. When it
    /// failed, every log and `dir` (where the stack was started) are kept
    /// first, and where they are is printed, so the failure can be read.
    /// `dir` stays the caller's: what the stack wrote there (nginx's access
    /// log) can be read after the stop.
    pub async fn stop_after<T>(&mut self, dir: &mut tempfile::TempDir, result: anyhow::Result<T>) -> anyhow::Result<T> {
        if result.is_err() {
            self.cluster.keep_logs();
            let nginx = if self.proxy.is_some() { ", nginx" } else { "" };
            eprintln!("logs: {} (owner, invitee, cloud.log{nginx})", dir.path().display());
            dir.disable_cleanup(true);
        }
        self.stop().await?;
        result
    }

    /// Stops the companions, then the proxy and the cloud (SIGTERM, then SIGKILL
    /// after 10 s); the Syncthing nodes stop when the stack is dropped.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let grace = Duration::from_secs(10);
        self.invitee.try_stop(grace).await?;
        self.owner.try_stop(grace).await?;
        if let Some(proxy) = &mut self.proxy {
            proxy.proc.stop(grace).await?;
        }
        self.cloud.proc.stop(grace).await?;
        Ok(())
    }
}
