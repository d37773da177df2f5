//! The sidecar deployment of `docker-compose.yml`, in containers made for one
//! test: a Syncthing container per person, the cloud, and a companion sidecar
//! per person that mounts its Syncthing's config (read-only, for the API key)
//! and data (read-only) and reaches Syncthing by service name.
//!
//! Three networks, so that a partition cuts only Syncthing's traffic:
//! `sync` (the two Syncthings; the invitee dials `syncthing-owner:22000`),
//! `owner` (owner's Syncthing and companion, the cloud) and `invitee` (the
//! same for the invitee). Everything is bind-mounted from the run's host
//! directory, so the test writes and hashes files directly.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::RngExt;
use serde_json::{Value, json};
use syncthing_fixtures::poll::try_eventually_async;

use crate::docker::{Container, Images, Run, Spec, images};

/// The shared Syncthing folder.
pub const FOLDER: &str = "proj";
const SYNCTHING_DATA: &str = "/var/syncthing/data";
const WAIT: Duration = Duration::from_secs(90);

/// Knobs of a deployment.
#[derive(Debug, Clone)]
pub struct DockerOptions {
    /// Receive limit of the invitee's Syncthing, KiB/s (0: none).
    pub invitee_recv_limit_kibps: u32,
    /// Send limit of the owner's Syncthing, KiB/s (0: none). Unlike a receive
    /// limit, it keeps the bytes on the owner's side: under a receive limit
    /// megabytes wait in the kernel's socket buffers, and the invitee keeps
    /// reading them after its network is cut.
    pub owner_send_limit_kibps: u32,
    /// The folder's `fsWatcherDelayS` on both Syncthings.
    pub fs_watcher_delay_s: u32,
    /// `COMPANION_STALL_AFTER_MS` of the invitee's companion (none: the 30 s in use).
    pub invitee_stall_after_ms: Option<u64>,
}

impl Default for DockerOptions {
    fn default() -> Self {
        DockerOptions {
            invitee_recv_limit_kibps: 0,
            owner_send_limit_kibps: 0,
            fs_watcher_delay_s: 1,
            invitee_stall_after_ms: None,
        }
    }
}

/// One person's Syncthing and companion.
#[derive(Debug)]
pub struct Person {
    pub role: &'static str,
    pub syncthing: Container,
    pub companion: Container,
    /// Host side of `/var/syncthing` (config/ and data/).
    pub syncthing_dir: PathBuf,
    /// Host side of the companion's `/var/lib/companion`.
    pub companion_dir: PathBuf,
    pub device_id: String,
    api_key: String,
    /// Syncthing's address on the person's own network (the host talks to it there).
    api_ip: String,
    spec: Spec,
}

/// Everything running.
pub struct DockerStack<'r> {
    pub run: &'r Run,
    pub images: Images,
    pub cloud: Container,
    pub owner: Person,
    pub invitee: Person,
    pub owner_token: String,
    pub project_id: String,
    /// The invitee Syncthing's address on `sync`, given back after a partition.
    invitee_sync_ip: String,
    http: reqwest::Client,
}

impl<'r> DockerStack<'r> {
    /// Builds the images if needed and starts every container of the deployment
    /// in `run`; returns once both companion daemons run.
    pub async fn start(run: &'r Run, options: DockerOptions) -> anyhow::Result<DockerStack<'r>> {
        let images = tokio::task::spawn_blocking(images).await??;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let (sync_net, _) = run.network_with_subnet("sync").await?;
        run.network("owner", None).await?;
        run.network("invitee", None).await?;

        // Syncthing first: each generates its config and keys at first start.
        let mut st = Vec::new();
        for role in ["owner", "invitee"] {
            let dir = run.mkdir(&format!("{role}/syncthing"))?;
            run.mkdir(&format!("{role}/syncthing/config"))?;
            // The folder root with Syncthing's marker, so it is used as is.
            run.mkdir(&format!("{role}/syncthing/data/{FOLDER}/.stfolder"))?;
            let spec = Spec {
                name: format!("syncthing-{role}"),
                image: images.syncthing.clone(),
                network: role.into(),
                alias: format!("syncthing-{role}"),
                mounts: vec![(dir.clone(), "/var/syncthing".into(), false)],
                ..Spec::default()
            };
            let container = run.start(&spec).await?;
            run.connect("sync", &container, &format!("syncthing-{role}"), None).await?;
            st.push((role, dir, container));
        }
        let mut ids = Vec::new();
        let mut keys = Vec::new();
        let mut ips = Vec::new();
        for (role, dir, container) in &st {
            let ip = container.ip(&run.name(role)).await?;
            let key = wait_api_key(dir, container).await?;
            let status = wait_rest(&http, &ip, &key, container).await?;
            ids.push(status["myID"].as_str().context("no myID in /rest/system/status")?.to_owned());
            keys.push(key);
            ips.push(ip);
        }
        let invitee_sync_ip = st[1].2.ip(&sync_net).await?;

        // Pair them and share the folder, through Syncthing's REST API as a user's
        // script would. Only the invitee dials (two 1.19 nodes dialling each other at
        // once can stall on the Hello exchange, see syncthing-fixtures).
        for i in 0..2 {
            let peer = 1 - i;
            let (recv, send) =
                if i == 1 { (options.invitee_recv_limit_kibps, 0) } else { (0, options.owner_send_limit_kibps) };
            let options_patch = json!({
                "listenAddresses": ["tcp://0.0.0.0:22000"],
                "globalAnnounceEnabled": false, "localAnnounceEnabled": false,
                "relaysEnabled": false, "natEnabled": false, "urAccepted": -1,
                "autoUpgradeIntervalH": 0, "crashReportingEnabled": false,
                // Docker's private addresses count as LAN, which ignores limits otherwise.
                "limitBandwidthInLan": true, "maxRecvKbps": recv, "maxSendKbps": send,
                "progressUpdateIntervalS": 1, "reconnectionIntervalS": 3,
            });
            rest(&http, "PATCH", &ips[i], &keys[i], "/rest/config/options", Some(options_patch)).await?;
            let address = if i == 1 { "tcp://syncthing-owner:22000" } else { "dynamic" };
            let device = json!({"deviceID": ids[peer], "name": st[peer].0, "addresses": [address]});
            rest(&http, "POST", &ips[i], &keys[i], "/rest/config/devices", Some(device)).await?;
            let folder = json!({
                "id": FOLDER, "label": FOLDER, "path": format!("{SYNCTHING_DATA}/{FOLDER}"),
                "type": "sendreceive", "fsWatcherEnabled": true, "fsWatcherDelayS": options.fs_watcher_delay_s,
                "devices": [{"deviceID": ids[0]}, {"deviceID": ids[1]}],
            });
            rest(&http, "POST", &ips[i], &keys[i], "/rest/config/folders", Some(folder)).await?;
        }
        let (owner_id, invitee_ip, invitee_key) = (ids[0].clone(), ips[1].clone(), keys[1].clone());
        try_eventually_async("the invitee's Syncthing to connect to the owner's", WAIT, || async {
            let c = rest(&http, "GET", &invitee_ip, &invitee_key, "/rest/system/connections", None).await;
            let c = c.map_err(|e| e.to_string())?;
            (c["connections"][&owner_id]["connected"] == true).then_some(()).ok_or_else(|| c.to_string())
        })
        .await?;

        // The cloud, on both people's networks.
        let cloud_dir = run.mkdir("cloud")?;
        let cloud_spec = Spec {
            name: "cloud".into(),
            image: images.cloud.clone(),
            network: "owner".into(),
            alias: "cloud".into(),
            env: vec![("RUST_LOG".into(), "info".into())],
            mounts: vec![(cloud_dir, "/var/lib/cloud".into(), false)],
            ..Spec::default()
        };
        let cloud = run.start(&cloud_spec).await?;
        run.connect("invitee", &cloud, "cloud", None).await?;
        wait_cloud(&http, &cloud, &run.name("owner")).await?;
        let add_user = |name: &'static str| {
            let cloud = cloud.clone();
            async move {
                let out = cloud.exec(&["/usr/local/bin/cloud", "user", "add", name, "--json"]).await?;
                let v: Value = serde_json::from_str(&out).with_context(|| format!("cloud user add: {out}"))?;
                v["token"].as_str().map(str::to_owned).context("no token from cloud user add")
            }
        };
        let owner_token = add_user("owner").await?;
        let invitee_token = add_user("invitee").await?;

        // The companions: one-shot commands in throwaway containers, then the daemons.
        let mut people = Vec::new();
        for (i, (role, st_dir, container)) in st.into_iter().enumerate() {
            let companion_dir = run.mkdir(&format!("{role}/companion"))?;
            let mut env = vec![
                ("COMPANION_SYNCTHING_URL".into(), format!("http://syncthing-{role}:8384")),
                ("RUST_LOG".into(), "info".into()),
            ];
            if let (1, Some(ms)) = (i, options.invitee_stall_after_ms) {
                env.push((companion::STALL_AFTER_ENV.into(), ms.to_string()));
            }
            let spec = Spec {
                name: format!("companion-{role}"),
                image: images.companion.clone(),
                network: role.into(),
                alias: format!("companion-{role}"),
                env,
                mounts: vec![
                    (companion_dir.clone(), "/var/lib/companion".into(), false),
                    (st_dir.join("config"), "/var/syncthing/config".into(), true),
                    (st_dir.join("data"), SYNCTHING_DATA.into(), true),
                ],
                args: vec!["run".into()],
            };
            people.push(Person {
                role,
                syncthing: container,
                companion: Container { name: run.name(&spec.name) },
                syncthing_dir: st_dir,
                companion_dir,
                device_id: ids[i].clone(),
                api_key: keys[i].clone(),
                api_ip: ips[i].clone(),
                spec,
            });
        }
        let invitee = people.pop().context("two people")?;
        let owner = people.pop().context("two people")?;
        let once = |person: &Person, args: &[&str]| {
            let mut spec = person.spec.clone();
            spec.name = format!("{}-once-{:04x}", person.spec.name, rand::random::<u16>());
            spec.args = args.iter().map(|a| a.to_string()).collect();
            async move { run.run_once(&spec).await }
        };
        once(&owner, &["init"]).await?;
        once(&owner, &["login", "--cloud", "http://cloud:3001", "--token", &owner_token]).await?;
        let project_id = once(&owner, &["share", FOLDER, "--name", "Docker project"]).await?;
        let code = once(&owner, &["invite", &project_id]).await?;
        once(&invitee, &["init"]).await?;
        once(&invitee, &["login", "--cloud", "http://cloud:3001", "--token", &invitee_token]).await?;
        once(&invitee, &["join", &code, FOLDER]).await?;
        for person in [&owner, &invitee] {
            run.start(&person.spec).await?;
        }
        let stack = DockerStack { run, images, cloud, owner, invitee, owner_token, project_id, invitee_sync_ip, http };
        for person in [&stack.owner, &stack.invitee] {
            stack.wait_daemon(person).await?;
        }
        Ok(stack)
    }

    /// Waits until `person`'s companion daemon answers `status --json` with the project.
    pub async fn wait_daemon(&self, person: &Person) -> anyhow::Result<()> {
        let what = format!("the {} companion to show the project", person.role);
        try_eventually_async(&what, WAIT, || async {
            let status = self.status(person).await.map_err(|e| e.to_string())?;
            status["projects"].get(0).map(drop).ok_or_else(|| status.to_string())
        })
        .await?;
        Ok(())
    }

    /// `companion status --json` inside `person`'s companion container.
    pub async fn status(&self, person: &Person) -> anyhow::Result<Value> {
        let out = person.companion.exec(&["/usr/local/bin/companion", "status", "--json"]).await?;
        serde_json::from_str(&out).with_context(|| format!("status --json printed no JSON: {out}"))
    }

    /// The owner's copy of the folder, on the host.
    pub fn owner_folder(&self) -> PathBuf {
        self.owner.syncthing_dir.join("data").join(FOLDER)
    }

    /// The invitee's copy of the folder, on the host.
    pub fn invitee_folder(&self) -> PathBuf {
        self.invitee.syncthing_dir.join("data").join(FOLDER)
    }

    /// A request to `person`'s Syncthing REST API.
    pub async fn syncthing_rest(&self, person: &Person, method: &str, path: &str) -> anyhow::Result<Value> {
        rest(&self.http, method, &person.api_ip, &person.api_key, path, None).await
    }

    /// Cuts the invitee's Syncthing off the owner's (`docker network disconnect`).
    pub async fn partition(&self) -> anyhow::Result<()> {
        self.run.disconnect("sync", &self.invitee.syncthing).await
    }

    /// Reconnects it with the address it had, as a cable plugged back in would:
    /// the TCP connection both sides still hold can carry on.
    pub async fn heal(&self) -> anyhow::Result<()> {
        self.run.connect("sync", &self.invitee.syncthing, "syncthing-invitee", Some(&self.invitee_sync_ip)).await
    }

    /// The cloud's URL from the host (its address changes when it restarts).
    pub async fn cloud_url(&self) -> anyhow::Result<String> {
        Ok(format!("http://{}:3001", self.cloud.ip(&self.run.name("owner")).await?))
    }

    /// Waits until the cloud answers `/readyz` again (after a restart).
    pub async fn wait_cloud(&self) -> anyhow::Result<()> {
        wait_cloud(&self.http, &self.cloud, &self.run.name("owner")).await
    }

    /// Every event of the project after `since_seq`, from the cloud, as the owner.
    pub async fn cloud_events(&self, since_seq: i64) -> anyhow::Result<Vec<Value>> {
        let base = self.cloud_url().await?;
        let mut since = since_seq;
        let mut all = Vec::new();
        loop {
            let url = format!("{base}/api/projects/{}/events?since_seq={since}&limit=500", self.project_id);
            let page: Value =
                self.http.get(&url).bearer_auth(&self.owner_token).send().await?.error_for_status()?.json().await?;
            let events = page["events"].as_array().cloned().unwrap_or_default();
            all.extend(events);
            since = page["next_seq"].as_i64().context("no next_seq")?;
            if page["has_more"] != true {
                return Ok(all);
            }
        }
    }
}

/// The frame of every container test: starts the deployment of test `test` under
/// `options`, runs `scenario` on it, ends the run (keeping the logs when it failed,
/// see [`Run::finish`]) and prints how long `what` took.
pub async fn run_in_containers(
    test: &str,
    what: &str,
    options: DockerOptions,
    scenario: impl AsyncFnOnce(&DockerStack<'_>) -> anyhow::Result<()>,
) {
    let started = Instant::now();
    let run = Run::new(test).unwrap();
    let result = async {
        let stack = DockerStack::start(&run, options).await?;
        eprintln!("deployment up after {:.1} s", started.elapsed().as_secs_f64());
        scenario(&stack).await
    }
    .await;
    run.finish(result).unwrap();
    eprintln!("{what} in containers took {:.1} s", started.elapsed().as_secs_f64());
}

/// Writes `len` random bytes to `path` (parents created) and returns their wire hash.
pub fn write_random(path: &std::path::Path, len: usize) -> anyhow::Result<String> {
    let mut data = vec![0u8; len];
    rand::rng().fill(&mut data[..]);
    write_file(path, &data)
}

/// Writes `data` to `path` (parents created) and returns its wire hash.
pub fn write_file(path: &std::path::Path, data: &[u8]) -> anyhow::Result<String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, data).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(format!("blake3:{}", blake3::hash(data).to_hex()))
}

/// The entry of `path` in the first project of a `status --json` report.
pub fn file_entry<'a>(status: &'a Value, path: &str) -> Option<&'a Value> {
    crate::companion::file_entry(status, path)
}

/// The owner's view of member `name`'s entry for `path`.
pub fn member_file<'a>(status: &'a Value, name: &str, path: &str) -> Option<&'a Value> {
    let members = status["projects"].get(0)?["members"].as_array()?;
    let member = members.iter().find(|m| m["name"] == name)?;
    member["files"].as_array()?.iter().find(|f| f["path"] == path)
}

async fn rest(
    http: &reqwest::Client,
    method: &str,
    ip: &str,
    key: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let url = format!("http://{ip}:8384{path}");
    let mut request = http.request(method.parse()?, &url).header("X-API-Key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{method} {url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Waits for the config.xml Syncthing writes at first start; returns its API key.
async fn wait_api_key(dir: &std::path::Path, container: &Container) -> anyhow::Result<String> {
    let path = dir.join("config/config.xml");
    let what = format!("{} to write its config.xml", container.name);
    let found = try_eventually_async(&what, WAIT, || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let key = text.split_once("<apikey>").and_then(|(_, rest)| rest.split_once("</apikey>")).map(|(k, _)| k);
        std::future::ready(key.filter(|k| !k.is_empty()).map(str::to_owned))
    })
    .await;
    match found {
        Ok(key) => Ok(key),
        Err(e) => bail!("{e}; its log:\n{}", container.logs(30).await),
    }
}

/// Waits until Syncthing's REST API answers; returns `/rest/system/status`.
async fn wait_rest(http: &reqwest::Client, ip: &str, key: &str, container: &Container) -> anyhow::Result<Value> {
    let what = format!("{}'s REST API", container.name);
    let status = try_eventually_async(&what, WAIT, || rest(http, "GET", ip, key, "/rest/system/status", None)).await;
    match status {
        Ok(status) => Ok(status),
        Err(e) => bail!("{e}; its log:\n{}", container.logs(30).await),
    }
}

async fn wait_cloud(http: &reqwest::Client, cloud: &Container, net: &str) -> anyhow::Result<()> {
    let waited = try_eventually_async("the cloud container to answer /readyz", WAIT, || async {
        let ip = cloud.ip(net).await.map_err(|e| e.to_string())?;
        let response = http.get(format!("http://{ip}:3001/readyz")).send().await.map_err(|e| e.to_string())?;
        response.status().is_success().then_some(()).ok_or_else(|| format!("/readyz answered {}", response.status()))
    })
    .await;
    match waited {
        Ok(()) => Ok(()),
        Err(e) => bail!("{e}; its log:\n{}", cloud.logs(30).await),
    }
}
