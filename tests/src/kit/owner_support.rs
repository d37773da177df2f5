//! Shared parts of the owner tests: the workspace's in-process test cloud
//! (`cloud::testing`, restartable on the same port and database), the
//! workspace's `companion` process harness (`crate::companion`), and event-log
//! probes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloud::state::Settings;
use cloud_protocol::{Change, Event, Op};
use companion::cloud_client::api::CloudClient;
use companion::manifest::Manifest;
use syncthing_fixtures::poll::eventually_async;
use syncthing_fixtures::{Cluster, ClusterBuilder, FolderType};
use uuid::Uuid;

/// How long any one expected thing may take on a loaded 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub use cloud::testing::TestCloud;

/// The shared test cloud on SQLite, without the per-client rate limit (the
/// companions of one test all call from 127.0.0.1); restartable with
/// `down`/`up` on the same port and database.
pub async fn start_cloud() -> TestCloud {
    TestCloud::start_sqlite_with(Settings { rate_limit_per_s: 0, ..Settings::default() }).await
}

/// The companion's own typed client for a [`TestCloud`].
pub trait ClientOf {
    fn client(&self, token: &str) -> CloudClient;
}

impl ClientOf for TestCloud {
    fn client(&self, token: &str) -> CloudClient {
        CloudClient::new(&self.url(), token).expect("client")
    }
}

/// Users alice and bob on `cloud`: each one's id, token and typed client.
pub async fn alice_and_bob(cloud: &TestCloud) -> [(Uuid, String, CloudClient); 2] {
    let (alice_id, alice_token) = cloud.add_user("alice").await;
    let (bob_id, bob_token) = cloud.add_user("bob").await;
    let (alice, bob) = (cloud.client(&alice_token), cloud.client(&bob_token));
    [(alice_id, alice_token, alice), (bob_id, bob_token, bob)]
}

/// A Syncthing pair sharing `folders` (send-receive on both sides).
pub async fn pair(folders: &[&str], watcher_delay_s: u32) -> Cluster {
    let mut b = ClusterBuilder::new().nodes(2).fs_watcher_delay_s(watcher_delay_s);
    for f in folders {
        b = b.folder(f, &[FolderType::SendReceive, FolderType::SendReceive]);
    }
    b.start().await.expect("a Syncthing pair starts")
}

/// How most owner tests begin: the test cloud, user alice (her token and
/// typed client), a Syncthing pair sharing `proj`, its folder on node 0, and
/// a companion for node 0 that has not logged in yet.
pub struct Owner {
    pub cloud: TestCloud,
    pub token: String,
    pub api: CloudClient,
    pub cluster: Cluster,
    pub root: PathBuf,
    pub companion: Companion,
}

impl Owner {
    /// The pair with `watcher_delay_s` as its `fsWatcherDelayS`.
    pub async fn new(watcher_delay_s: u32) -> Owner {
        let cloud = start_cloud().await;
        let (_, token) = cloud.add_user("alice").await;
        let api = cloud.client(&token);
        let cluster = pair(&["proj"], watcher_delay_s).await;
        let root = cluster.node(0).folder_path("proj");
        let companion = Companion::new(cluster.node(0));
        Owner { cloud, token, api, cluster, root, companion }
    }
}

/// `login` as `token`, `share proj`, then `companion run`: the project's id.
pub fn share_and_run(companion: &mut Companion, cloud: &TestCloud, token: &str) -> Uuid {
    let project = companion.login_and_share(&cloud.url(), token, "proj");
    companion.start();
    project
}

/// The workspace's one companion process harness.
pub use crate::companion::Companion;

/// The companion's manifest, read where a [`Companion`] keeps its state.
pub trait ManifestOf {
    /// The manifest (read only use, while `run` may be writing it).
    fn manifest(&self) -> Manifest;
}

impl ManifestOf for Companion {
    fn manifest(&self) -> Manifest {
        Manifest::open_in(&self.state_dir()).expect("manifest opens")
    }
}

/// Every event of a project, in seq order.
pub async fn all_events(client: &CloudClient, project: Uuid) -> Vec<Event> {
    let (mut all, mut since) = (Vec::new(), 0);
    loop {
        let page = client.events(project, since, None).await.expect("events");
        all.extend(page.events);
        since = page.next_seq;
        if !page.has_more {
            return all;
        }
    }
}

/// Polls the event log until `done` accepts it; panics with the log after `DEADLINE`.
pub async fn wait_events(
    client: &CloudClient,
    project: Uuid,
    what: &str,
    done: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    eventually_async(what, DEADLINE, || async {
        let events = all_events(client, project).await;
        if done(&events) { Ok(events) } else { Err(show(&events)) }
    })
    .await
}

/// Waits until the log has at least `n` events.
pub async fn wait_count(client: &CloudClient, project: Uuid, n: usize) -> Vec<Event> {
    wait_events(client, project, &format!("{n} events"), |e| e.len() >= n).await
}

/// Checks that nothing more arrives for `quiet` (a bounded wait for an absence).
pub async fn assert_quiet(client: &CloudClient, project: Uuid, count: usize, quiet: Duration) {
    let until = Instant::now() + quiet;
    while Instant::now() < until {
        let events = all_events(client, project).await;
        assert_eq!(events.len(), count, "unexpected extra events: {}", show(&events[count.min(events.len())..]));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `op path` of each event, comma-separated: `create a.txt, delete b.txt`.
pub fn op_list(events: &[Event]) -> String {
    events.iter().map(|e| format!("{} {}", e.change.op.as_str(), e.change.path)).collect::<Vec<_>>().join(", ")
}

/// `op path hash` per event, for failure messages.
pub fn show(events: &[Event]) -> String {
    let lines: Vec<String> = events
        .iter()
        .map(|e| {
            format!("#{} {} {} {}", e.seq, e.change.op.as_str(), e.change.path, e.change.hash.as_deref().unwrap_or(""))
        })
        .collect();
    format!("[{}]", lines.join(", "))
}

/// The hash an independent reader gets for the file now.
pub fn blake3_of(path: &Path) -> String {
    format!("blake3:{}", blake3::hash(&std::fs::read(path).expect("read file")).to_hex())
}

/// Asserts a change is `op` of `path` with the file's current content.
pub fn assert_upsert(change: &Change, op: Op, path: &str, file: &Path) {
    assert_eq!((change.op, change.path.as_str()), (op, path), "{change:?}");
    assert_eq!(change.hash.as_deref(), Some(blake3_of(file).as_str()), "hash of {path}");
    assert_eq!(change.size, Some(std::fs::metadata(file).unwrap().len()), "size of {path}");
}
