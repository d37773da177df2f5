//! `companion scan [PROJECT]`: the start-up scan alone. Compares each owned
//! project's folder with the manifest and queues what changed in the
//! outbox; `companion run` (running or started later) sends it.

use cloud_protocol::Role;

use crate::config::Settings;
use crate::manifest::ProjectStatus;
use crate::owner::load_rules;
use crate::owner::scan::{ScanOptions, scan_folder};

use super::{find_project, syncthing};

pub async fn run(settings: Settings, project: Option<&str>, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let mut manifest = settings.open_manifest()?;
    let projects = match project {
        Some(key) => vec![find_project(&manifest, key)?],
        None => manifest
            .projects()?
            .into_iter()
            .filter(|p| p.role == Role::Owner && p.status == ProjectStatus::Active)
            .collect(),
    };
    if projects.is_empty() {
        anyhow::bail!("this machine owns no project yet; `companion share FOLDER_ID` creates one");
    }
    let (_, client) = syncthing(&settings)?;
    for p in projects {
        if p.role != Role::Owner {
            anyhow::bail!("project {} ({}) is not owned here; only owners scan for changes", p.project_id, p.name);
        }
        let rules = load_rules(&client, &p).await;
        let report = tokio::task::block_in_place(|| {
            scan_folder(&mut manifest, p.project_id, &p.folder_path, &rules, &ScanOptions::default())
        })?;
        let batches = crate::owner::resolve::enqueue(&mut manifest, p.project_id, &report.changes)?;
        let queued: usize = batches.iter().map(|b| b.changes.len()).sum();
        writeln!(
            out,
            "{}: {} files, {} hashed ({} bytes), {} changed, {queued} queued, {} skipped, in {:.1}s",
            p.name,
            report.files_seen,
            report.hashed_files,
            report.bytes_hashed,
            report.changes.len(),
            report.skipped.len(),
            report.duration.as_secs_f64()
        )?;
        for s in &report.skipped {
            writeln!(out, "  skipped {}: {}", s.path.display(), s.reason)?;
        }
    }
    Ok(())
}
