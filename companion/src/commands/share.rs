//! `companion share FOLDER_ID [--name NAME]`: makes a cloud project for a
//! Syncthing folder (the caller owns it) and records it in the manifest
//! with the folder's local path from Syncthing's config.

use anyhow::bail;
use cloud_protocol::Role;

use crate::config::Settings;
use crate::manifest::ProjectRow;

use super::{cloud, cloud_error, syncthing_folder};

pub async fn run(
    settings: Settings,
    folder_id: &str,
    name: Option<&str>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let cloud = cloud(&settings)?;
    let folder = syncthing_folder(&settings, folder_id, "pass one of those ids").await?;
    let mut manifest = settings.open_manifest()?;
    if let Some(p) = manifest.projects_for_folder(folder_id)?.into_iter().find(|p| p.role == Role::Owner) {
        bail!(
            "folder {folder_id:?} is already shared as project {} ({}); invite people with `companion invite {}`",
            p.project_id,
            p.name,
            p.project_id
        );
    }
    let name = name
        .map(str::to_owned)
        .unwrap_or_else(|| if folder.label.is_empty() { folder.id.clone() } else { folder.label.clone() });
    let project = cloud.create_project(&name, folder_id).await.map_err(cloud_error)?;
    let path = crate::base_dirs::expand_tilde(&folder.path);
    let row = ProjectRow::new(project.id, cloud.base_url(), &project.name, folder_id, &path, Role::Owner);
    manifest.insert_project(&row)?;
    writeln!(out, "{}", project.id)?;
    tracing::info!(project = %project.id, folder = folder_id, path = %path.display(), "shared");
    eprintln!(
        "Shared Syncthing folder {folder_id:?} ({}) as project {:?}. `companion run` sends its changes; `companion invite {}` makes an invite code.",
        path.display(),
        project.name,
        project.id
    );
    Ok(())
}
