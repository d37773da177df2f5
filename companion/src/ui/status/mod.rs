//! What `companion status` and the dashboard show, read from the manifest:
//! per project its files with their badges, the folder's byte-weighted
//! percent and measured ETA, and (owner) each member's last reports. The
//! serialized form of [`StatusReport`] is the `status --json` shape of docs/badges.md.

pub(crate) mod conflict;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use cloud_protocol::{FileState, Role};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::invitee::badge::round_percent;
use crate::live::{FolderLive, folder_key};
use crate::manifest::{Manifest, ManifestError, ProjectRow, ProjectStatus};
pub use conflict::{ConflictLinks, ConflictVersion};
use conflict::{member_versions, relate};

/// File in the state directory holding the dashboard's URL (with its secret).
pub(crate) const DASHBOARD_URL_FILE: &str = "dashboard.url";

/// `{"projects": [...]}` (plus where the dashboard and the status socket are, when it runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub projects: Vec<ProjectStatusView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
    /// The status socket's path, when a running companion answers on it (docs/status-socket.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
}

/// One project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectStatusView {
    pub project_id: Uuid,
    pub name: String,
    pub folder_id: String,
    pub role: Role,
    pub last_seq: i64,
    /// Byte-weighted, 0..=100.
    pub percent: f64,
    pub files: Vec<FileView>,
    /// Owner only: each member's last reported state per file.
    pub members: Vec<MemberView>,
    /// `active` or `revoked`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_bps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_error: Option<String>,
}

/// One file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileView {
    pub path: String,
    pub state: FileState,
    pub percent: f64,
    pub size: u64,
    pub expected_hash: Option<String>,
    pub local_hash: Option<String>,
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_s: Option<u64>,
    /// This file's `.sync-conflict-` copies (announced, or on this disk),
    /// or the original it is a copy of.
    #[serde(flatten)]
    pub conflict: ConflictLinks,
}

/// One member, as the owner sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: Uuid,
    pub name: String,
    /// Byte-weighted over the files they reported, 0..=100.
    pub percent: f64,
    pub files: Vec<MemberFileView>,
    /// How current this report is (RFC 3339): the last time the member was
    /// heard from through the cloud, else its newest `reported_at`. See
    /// [`crate::presence`] for what can be known.
    #[serde(default)]
    pub as_of: Option<String>,
    /// Seconds from `as_of` to when this view was made.
    #[serde(default)]
    pub as_of_age_s: Option<u64>,
    /// Heard from within the last `offline_after_s` seconds.
    #[serde(default)]
    pub online: bool,
    /// How long without a word makes this member offline.
    #[serde(default)]
    pub offline_after_s: u64,
}

/// One member's last report about one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberFileView {
    pub path: String,
    pub state: FileState,
    pub percent: f64,
    pub local_hash: Option<String>,
    pub error: Option<String>,
    pub reported_at: String,
    /// The owner's `.sync-conflict-` copies of this file, or the original
    /// it is a copy of.
    #[serde(flatten)]
    pub conflict: ConflictLinks,
    /// For a file with copies, or a copy: which of the owner's versions
    /// the member's bytes are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_version: Option<ConflictVersion>,
}

/// The status of every project (or those `filter` matches by id, name or
/// folder id). `heartbeat` ([`crate::config::Settings::heartbeat`]) tells
/// which members count as online.
pub fn gather(manifest: &Manifest, filter: Option<&str>, heartbeat: Duration) -> Result<StatusReport, ManifestError> {
    let mut projects = Vec::new();
    for p in manifest.projects()? {
        if filter.is_some_and(|f| !matches(&p, f)) {
            continue;
        }
        projects.push(project_view(manifest, &p, heartbeat)?);
    }
    Ok(StatusReport { projects, dashboard: None, socket: None })
}

/// Whether `key` names the project (id, name or folder id).
pub fn matches(p: &ProjectRow, key: &str) -> bool {
    let key = key.trim();
    p.project_id.to_string() == key || p.name == key || p.folder_id == key
}

/// The dashboard URL the running daemon wrote, if any.
pub fn dashboard_url(state_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(state_dir.join(DASHBOARD_URL_FILE)).ok()?;
    Some(text.trim().to_owned()).filter(|s| !s.is_empty())
}

/// One project's view.
fn project_view(manifest: &Manifest, p: &ProjectRow, heartbeat: Duration) -> Result<ProjectStatusView, ManifestError> {
    let id = p.project_id;
    let folder: Option<FolderLive> =
        manifest.kv_get(&folder_key(id))?.and_then(|text| serde_json::from_str(&text).ok());
    let mut files = match p.role {
        Role::Member => member_files(manifest, id, folder.as_ref())?,
        Role::Owner => owner_files(manifest, id)?,
    };
    let on_disk = folder.as_ref().map(|f| f.conflict_copies.clone()).unwrap_or_default();
    relate(&mut files, &on_disk);
    let members = if p.role == Role::Owner { members(manifest, id, &files, heartbeat)? } else { Vec::new() };
    let weighted: Vec<(u64, f64)> = files.iter().filter(|f| counts(f.state)).map(|f| (f.size, f.percent)).collect();
    Ok(ProjectStatusView {
        project_id: id,
        name: p.name.clone(),
        folder_id: p.folder_id.clone(),
        role: p.role,
        last_seq: if p.role == Role::Owner { p.acked_seq } else { p.last_seq },
        percent: weighted_percent(&weighted),
        files,
        members,
        status: match p.status {
            ProjectStatus::Active => "active".into(),
            ProjectStatus::Revoked => "revoked".into(),
        },
        eta_s: folder.as_ref().and_then(|f| f.folder.eta).map(|d| d.as_secs()),
        rate_bps: folder.as_ref().and_then(|f| f.folder.rate_bps),
        folder_error: folder.and_then(|f| f.folder.folder_error),
    })
}

/// Invitee: the announced files joined with their badges.
fn member_files(manifest: &Manifest, id: Uuid, folder: Option<&FolderLive>) -> Result<Vec<FileView>, ManifestError> {
    let badges: HashMap<String, _> =
        manifest.badges(id)?.into_iter().map(|b| (b.progress.path.clone(), b.progress)).collect();
    let etas: BTreeMap<String, u64> = folder.map(|f| f.file_eta_s.clone()).unwrap_or_default();
    Ok(manifest
        .remote_files(id)?
        .into_iter()
        .map(|r| {
            let badge = badges.get(&r.path);
            let expected = (!r.hash.is_empty() && r.deleted_at.is_none()).then(|| r.hash.clone());
            FileView {
                state: badge.map_or(FileState::Pending, |b| b.state),
                percent: badge.map_or(0.0, |b| b.percent),
                size: r.size,
                expected_hash: expected,
                local_hash: badge.and_then(|b| b.local_hash.clone()),
                error: badge.and_then(|b| b.error.clone()),
                eta_s: etas.get(&r.path).copied(),
                conflict: ConflictLinks::default(),
                path: r.path,
            }
        })
        .collect())
}

/// Owner: our own files, which are the reference (synced by definition).
fn owner_files(manifest: &Manifest, id: Uuid) -> Result<Vec<FileView>, ManifestError> {
    Ok(manifest
        .local_files(id)?
        .into_iter()
        .map(|f| FileView {
            state: if f.deleted { FileState::Deleted } else { FileState::Synced },
            percent: if f.deleted { 0.0 } else { 100.0 },
            size: f.size,
            expected_hash: f.last_sent_hash.clone(),
            local_hash: (!f.deleted).then(|| f.hash.clone()),
            error: None,
            eta_s: None,
            conflict: ConflictLinks::default(),
            path: f.path,
        })
        .collect())
}

/// Owner: each member's reports, with (for conflict families) which of
/// the owner's versions they hold.
fn members(
    manifest: &Manifest,
    id: Uuid,
    owner: &[FileView],
    heartbeat: Duration,
) -> Result<Vec<MemberView>, ManifestError> {
    let sizes: HashMap<&str, u64> = owner.iter().map(|f| (f.path.as_str(), f.size)).collect();
    let mut by_member: BTreeMap<(String, Uuid), Vec<MemberFileView>> = BTreeMap::new();
    // Heard from (and so listed) even before reporting a file.
    let mut heard: HashMap<Uuid, OffsetDateTime> = HashMap::new();
    for (user, name, at) in manifest.members_heard(id)? {
        if let Some(at) = parse_time(&at) {
            heard.insert(user, at);
        }
        by_member.entry((name, user)).or_default();
    }
    for row in manifest.member_progress(id)? {
        let p = row.progress;
        by_member.entry((row.name, row.user_id)).or_default().push(MemberFileView {
            path: p.path,
            state: p.state,
            percent: p.percent,
            local_hash: p.local_hash,
            error: p.error,
            reported_at: row.reported_at,
            conflict: ConflictLinks::default(),
            conflict_version: None,
        });
    }
    let now = crate::clock::now_utc();
    let offline_after = crate::presence::offline_after(heartbeat);
    Ok(by_member
        .into_iter()
        .map(|((name, user_id), mut files)| {
            member_versions(owner, &mut files);
            let weighted: Vec<(u64, f64)> = files
                .iter()
                .filter(|f| counts(f.state))
                .map(|f| (sizes.get(f.path.as_str()).copied().unwrap_or(0), f.percent))
                .collect();
            let newest_report = files.iter().filter_map(|f| parse_time(&f.reported_at)).max();
            let as_of = heard.get(&user_id).copied().into_iter().chain(newest_report).max();
            let age = as_of.map(|at| u64::try_from((now - at).whole_seconds()).unwrap_or(0));
            MemberView {
                user_id,
                name,
                percent: weighted_percent(&weighted),
                files,
                as_of: as_of.and_then(|at| at.format(&Rfc3339).ok()),
                as_of_age_s: age,
                online: as_of.is_some_and(|at| now - at < offline_after),
                offline_after_s: offline_after.as_secs_f64().ceil() as u64,
            }
        })
        .collect())
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Whether a file in this state counts in a percent: deleted files and
/// files not synced on that machine have nothing left to arrive.
fn counts(state: FileState) -> bool {
    !matches!(state, FileState::Deleted | FileState::IgnoredHere)
}

/// Byte-weighted percent; by file count when every size is 0; 100 when empty.
pub(crate) fn weighted_percent(files: &[(u64, f64)]) -> f64 {
    let total: u64 = files.iter().map(|(s, _)| s).sum();
    if files.is_empty() {
        return 100.0;
    }
    let p = if total > 0 {
        files.iter().map(|(s, p)| *s as f64 * p).sum::<f64>() / total as f64
    } else {
        files.iter().map(|(_, p)| p).sum::<f64>() / files.len() as f64
    };
    round_percent(p)
}
