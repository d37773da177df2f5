//! `companion doctor`: finds Syncthing, checks that it answers with the key,
//! and prints version, device id and folders, or one plain sentence saying
//! what is wrong and what to do about it.

use crate::base_url::SetupError;
use crate::syncthing::discovery::{self, DiscoveryError, Endpoint, Overrides, SearchEnv};
use crate::syncthing::types::parse_release;
use crate::syncthing::types::{FolderState, FolderType};
use crate::syncthing::{Client, ClientError};
use std::fmt::Write as _;
use std::process::ExitCode;

/// What doctor found when Syncthing answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub url: String,
    pub config_file: Option<String>,
    /// Why that config file (see `discovery::Candidate::reason`).
    pub config_reason: Option<String>,
    pub version: String,
    /// Said when the version is outside what we test or have read.
    pub version_note: Option<String>,
    pub device_id: String,
    pub peers_connected: Vec<String>,
    pub peers_total: usize,
    pub folders: Vec<FolderReport>,
    /// Things that are wrong although Syncthing answers (folder errors).
    pub problems: Vec<String>,
}

/// One folder's line in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderReport {
    pub id: String,
    pub label: String,
    pub path: String,
    pub folder_type: FolderType,
    pub paused: bool,
    /// `None` when `db/status` failed; `status_error` says why.
    pub state: Option<FolderState>,
    pub need_bytes: i64,
    pub status_error: Option<String>,
}

/// The oldest Syncthing the test suite runs against.
pub const OLDEST_TESTED: (u32, u32) = (1, 19);
/// The newest release line whose source the companion was checked against
/// (live tests run 1.19.2 and 1.29.5; 2.x was read from its source, 2.1.3).
pub const NEWEST_CHECKED: (u32, u32) = (2, 1);

/// A sentence for a version outside [`OLDEST_TESTED`]..=[`NEWEST_CHECKED`],
/// or `None` inside it (or when the version cannot be read).
pub fn version_note(version: &str) -> Option<String> {
    let (major, minor, _) = parse_release(version)?;
    if (major, minor) < OLDEST_TESTED {
        Some(format!(
            "Syncthing {version} is older than the oldest version the companion is tested with ({}.{}); please upgrade Syncthing.",
            OLDEST_TESTED.0, OLDEST_TESTED.1
        ))
    } else if (major, minor) > NEWEST_CHECKED {
        Some(format!(
            "Syncthing {version} is newer than the newest version the companion was checked against ({}.{}); it should work, but report anything odd.",
            NEWEST_CHECKED.0, NEWEST_CHECKED.1
        ))
    } else {
        None
    }
}

/// Why doctor could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    Syncthing(#[from] ClientError),
}

impl DoctorError {
    /// One plain sentence: what is wrong, then what to do.
    pub fn advice(&self) -> String {
        match self {
            DoctorError::Discovery(e) => format!("{e}."),
            DoctorError::Syncthing(e) => match e {
                ClientError::Unreachable { url, .. } => format!(
                    "Syncthing is not reachable at {url}: is it running? Start it with `syncthing serve` or pass --syncthing-url."
                ),
                ClientError::ApiKeyRejected { url, .. } => format!(
                    "Syncthing at {url} rejected the API key (API key rejected): pass the key shown in Syncthing's GUI under Settings (or <apikey> in config.xml) with --syncthing-api-key."
                ),
                ClientError::Migrating { url, .. } => format!(
                    "Syncthing is migrating its database; try again in a few minutes (Syncthing at {url} answers nothing else until it is done)."
                ),
                ClientError::Timeout { url, .. } => format!(
                    "Syncthing at {url} did not answer in time: it may still be starting or overloaded; try again in a moment."
                ),
                ClientError::Setup(SetupError::InvalidUrl { .. }) => {
                    format!("{e}; pass a URL such as http://127.0.0.1:8384.")
                }
                other => format!("Syncthing answered unexpectedly: {other}."),
            },
        }
    }
}

/// Runs every check.
pub async fn run(overrides: &Overrides, env: &SearchEnv) -> Result<Report, DoctorError> {
    let endpoint = discovery::resolve(overrides, env)?;
    check(&endpoint).await
}

/// Checks one endpoint.
pub async fn check(endpoint: &Endpoint) -> Result<Report, DoctorError> {
    let client = Client::new(&endpoint.url, &endpoint.api_key)?;
    // Status first: it fails fast and clearly when Syncthing is down or the
    // key is wrong, before any folder call.
    let status = client.system_status().await?;
    let version = client.system_version().await?;
    let connections = client.connections().await?;
    let folders = client.config_folders().await?;
    let peers: Vec<(&String, &_)> = connections.connections.iter().filter(|(id, _)| **id != status.my_id).collect();
    let mut report = Report {
        url: endpoint.url.clone(),
        config_file: endpoint.config.as_ref().map(|c| c.path.display().to_string()),
        config_reason: endpoint.config_reason.map(str::to_owned),
        version_note: version_note(&version.version),
        version: version.version,
        device_id: status.my_id.clone(),
        peers_connected: peers.iter().filter(|(_, c)| c.connected).map(|(id, _)| (*id).clone()).collect(),
        peers_total: peers.len(),
        folders: Vec::with_capacity(folders.len()),
        problems: Vec::new(),
    };
    for f in folders {
        let status = client.db_status(&f.id).await;
        let (state, need_bytes, status_error) = match status {
            Ok(s) => {
                if s.state == FolderState::Error || !s.error.as_deref().unwrap_or("").is_empty() {
                    let why = s.error.clone().unwrap_or_else(|| "in error state".into());
                    report.problems.push(format!("folder {:?} has an error: {why}", f.id));
                }
                (Some(s.state), s.need_bytes, None)
            }
            Err(e) => {
                report.problems.push(format!("folder {:?}: {e}", f.id));
                (None, 0, Some(e.to_string()))
            }
        };
        report.folders.push(FolderReport {
            id: f.id,
            label: f.label,
            path: f.path,
            folder_type: f.folder_type,
            paused: f.paused,
            state,
            need_bytes,
            status_error,
        });
    }
    Ok(report)
}

/// Prints the outcome (report on stdout, trouble on stderr) and picks the exit code.
pub fn print(outcome: &Result<Report, DoctorError>) -> ExitCode {
    match outcome {
        Ok(report) => {
            print!("{}", render(report));
            if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                for p in &report.problems {
                    eprintln!("problem: {p}");
                }
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("{}", e.advice());
            ExitCode::from(1)
        }
    }
}

/// The human-readable report.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Syncthing {} at {}", r.version, r.url);
    if let Some(note) = &r.version_note {
        let _ = writeln!(out, "Note:      {note}");
    }
    match (&r.config_file, &r.config_reason) {
        (Some(file), Some(why)) => {
            let _ = writeln!(out, "Config:    {file} ({why})");
        }
        (Some(file), None) => {
            let _ = writeln!(out, "Config:    {file}");
        }
        _ => {}
    }
    let _ = writeln!(out, "Device ID: {}", r.device_id);
    let _ = writeln!(out, "Peers:     {} of {} connected", r.peers_connected.len(), r.peers_total);
    if r.folders.is_empty() {
        let _ = writeln!(out, "Folders:   none");
    } else {
        let _ = writeln!(out, "Folders:");
        let rows: Vec<[String; 6]> = r.folders.iter().map(folder_row).collect();
        let header = ["ID", "LABEL", "TYPE", "STATE", "NEED", "PATH"].map(String::from);
        let mut widths = [0usize; 6];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    let _ = write!(line, "  {cell}");
                } else {
                    let _ = write!(line, "  {cell:<w$}");
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}

fn folder_row(f: &FolderReport) -> [String; 6] {
    let state = match (&f.state, f.paused) {
        (_, true) => "paused".to_owned(),
        (Some(s), false) => s.to_string(),
        (None, false) => "unknown".to_owned(),
    };
    [f.id.clone(), f.label.clone(), f.folder_type.to_string(), state, human_bytes(f.need_bytes), f.path.clone()]
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_a_human_wrote_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(20 * 1024 * 1024), "20.0 MiB");
    }

    #[test]
    fn the_report_lists_folders_in_columns() {
        let report = Report {
            url: "http://127.0.0.1:8384".into(),
            config_file: None,
            config_reason: None,
            version: "v1.19.2-ds1".into(),
            version_note: None,
            device_id: "AAA".into(),
            peers_connected: vec!["BBB".into()],
            peers_total: 1,
            folders: vec![FolderReport {
                id: "proj".into(),
                label: "Project".into(),
                path: "/srv/proj".into(),
                folder_type: FolderType::SendReceive,
                paused: false,
                state: Some(FolderState::Idle),
                need_bytes: 0,
                status_error: None,
            }],
            problems: vec![],
        };
        let text = render(&report);
        assert!(text.starts_with("Syncthing v1.19.2-ds1 at http://127.0.0.1:8384\n"), "{text}");
        assert!(text.contains("  proj  Project  sendreceive  idle   0 B   /srv/proj"), "{text}");

        let report = Report {
            config_file: Some("/home/u/.config/syncthing/config.xml".into()),
            config_reason: Some(
                "an existing config in the pre-1.27 location wins over the default, as in Syncthing".into(),
            ),
            ..report
        };
        let text = render(&report);
        assert!(
            text.contains(
                "Config:    /home/u/.config/syncthing/config.xml (an existing config in the pre-1.27 location"
            ),
            "{text}"
        );
    }

    #[test]
    fn versions_outside_the_checked_range_are_named() {
        assert_eq!(version_note("v1.19.2-ds1"), None);
        assert_eq!(version_note("v1.29.5"), None);
        assert_eq!(version_note("v2.1.3"), None);
        let old = version_note("v1.18.6").unwrap();
        assert!(old.contains("older than the oldest version the companion is tested with (1.19)"), "{old}");
        let new = version_note("v2.2.0").unwrap();
        assert!(new.contains("newer than the newest version the companion was checked against (2.1)"), "{new}");
        assert_eq!(version_note("unknown-dev"), None);
    }

    #[tokio::test]
    async fn a_migrating_syncthing_gets_a_plain_sentence() {
        // What 2.x's temporary server answers to every request during its
        // first start on a 1.x home (2.x cmd/syncthing/main.go, migratingAPI).
        let url = crate::syncthing::stand_in::serve(|_| {
            let body = "*** Database migration in progress ***\n\n2025-08-12 12:00:00 INF Migrating database\n";
            (200, "text/plain; charset=utf-8", body.to_owned())
        })
        .await;
        let endpoint = Endpoint { url, api_key: "k".into(), config: None, config_reason: None };
        let err = check(&endpoint).await.unwrap_err();
        assert!(matches!(err, DoctorError::Syncthing(ClientError::Migrating { .. })), "{err:?}");
        assert!(
            err.advice().starts_with("Syncthing is migrating its database; try again in a few minutes"),
            "{}",
            err.advice()
        );
    }
}
