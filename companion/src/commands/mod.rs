//! The bodies of the commands (`init`, `login`, `share`, `invite`, `scan`,
//! `run`, `join`, `status`, `ls`, `wait`, `completions`), one module each;
//! `cli.rs` only parses.
//!
//! Errors leave here as `anyhow` with one plain sentence that says what is
//! wrong and what to do; `cli::main` prints it.

pub mod completions;
pub mod init;
pub mod invite;
pub mod join;
pub mod login;
pub mod ls;
pub mod run;
pub mod scan;
pub mod share;
pub mod status;
pub mod wait;

use anyhow::{Context as _, anyhow, bail};
use uuid::Uuid;

use crate::cloud_client::api::{ApiError, CloudClient};
use crate::config::Settings;
use crate::manifest::{Manifest, ProjectRow};
use crate::syncthing::types::FolderConfig;
use crate::syncthing::{Client, Endpoint, SearchEnv, discovery};

/// A client for the cloud the user logged in to.
pub fn cloud(settings: &Settings) -> anyhow::Result<CloudClient> {
    Ok(CloudClient::from_access(&settings.cloud()?)?)
}

/// Where Syncthing is, and a client for it.
pub fn syncthing(settings: &Settings) -> anyhow::Result<(Endpoint, Client)> {
    let endpoint = discovery::resolve(&settings.syncthing, &SearchEnv::from_process())?;
    let client = Client::new(&endpoint.url, &endpoint.api_key)?;
    Ok((endpoint, client))
}

/// The local Syncthing's folder `folder_id`; an unknown id is an error that lists
/// the ids Syncthing has and ends with `what_to_do`.
pub async fn syncthing_folder(settings: &Settings, folder_id: &str, what_to_do: &str) -> anyhow::Result<FolderConfig> {
    let (endpoint, client) = syncthing(settings)?;
    let folders = client
        .config_folders()
        .await
        .map_err(|e| anyhow!("cannot list Syncthing's folders at {}: {e}; is Syncthing running?", endpoint.url))?;
    let ids: Vec<&str> = folders.iter().map(|f| f.id.as_str()).collect();
    match folders.iter().find(|f| f.id == folder_id) {
        Some(folder) => Ok(folder.clone()),
        None => bail!("Syncthing has no folder {folder_id:?} (it has: {}); {what_to_do}", ids.join(", ")),
    }
}

/// A cloud error as one sentence with advice.
pub fn cloud_error(e: ApiError) -> anyhow::Error {
    anyhow!(e.advice())
}

/// The project named by `key`: its id, or its name or folder id in the manifest.
pub fn find_project(manifest: &Manifest, key: &str) -> anyhow::Result<ProjectRow> {
    let projects = manifest.projects().context("cannot read the manifest")?;
    if let Ok(id) = Uuid::parse_str(key.trim()) {
        return projects
            .into_iter()
            .find(|p| p.project_id == id)
            .ok_or_else(|| anyhow!("no project {id} on this machine; `companion share FOLDER_ID` creates one"));
    }
    let matching: Vec<ProjectRow> = projects.into_iter().filter(|p| p.name == key || p.folder_id == key).collect();
    match matching.len() {
        1 => Ok(matching.into_iter().next().expect("one")),
        0 => Err(anyhow!(
            "no project named {key:?} on this machine; pass a project id or `companion share` the folder first"
        )),
        n => Err(anyhow!("{n} projects are named {key:?}; pass the project id instead")),
    }
}

/// Lines about the changes the cloud refused, for `doctor` (and `status`):
/// empty when there are none or there is no manifest yet.
pub fn quarantine_report(settings: &Settings) -> Vec<String> {
    if !settings.manifest_path().exists() {
        return Vec::new();
    }
    let quarantined = match settings.open_manifest().and_then(|m| m.quarantined(None)) {
        Ok(q) => q,
        Err(e) => return vec![format!("Cannot read the outbox: {e}.")],
    };
    if quarantined.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "Quarantined: {} batch(es) the cloud refused; they are kept aside and the rest keeps flowing:",
        quarantined.len()
    )];
    lines.extend(crate::owner::sender::quarantine_lines(&quarantined).into_iter().map(|l| format!("  {l}")));
    lines
}

/// `doctor`'s cloud lines: who the token belongs to and what waits to be
/// sent, or what is wrong. The flag is false when something is wrong.
pub async fn cloud_report(settings: &Settings) -> (bool, Vec<String>) {
    let Ok(access) = settings.cloud() else {
        return (true, vec!["Cloud:     not logged in (run `companion login --cloud URL --token TOKEN`)".to_owned()]);
    };
    let mut lines = Vec::new();
    let ok = match CloudClient::from_access(&access) {
        Ok(client) => match client.me().await {
            Ok(me) => {
                lines.push(format!("Cloud:     {} as {} ({})", access.url, me.name, me.user_id));
                true
            }
            Err(e) => {
                lines.push(format!("Cloud:     {}", e.advice()));
                false
            }
        },
        Err(e @ ApiError::Tls(_)) => {
            lines.push(format!("Cloud:     {e}."));
            false
        }
        Err(e) => {
            lines.push(format!("Cloud:     {e}; run `companion login` with a valid URL."));
            false
        }
    };
    if settings.manifest_path().exists()
        && let Ok(count) = settings.open_manifest().and_then(|m| m.pending_count(None))
    {
        lines.push(format!("Outbox:    {} change(s) in {} batch(es) waiting to be sent", count.changes, count.batches));
    }
    (ok, lines)
}
