//! `companion join CODE FOLDER_ID`: accepts an invite, binds the project
//! to a local Syncthing folder, loads the project's current files (the
//! snapshot, with its `as_of_seq` as the event cursor) and records the
//! project as one we are a member of. `companion run` then follows it.

use anyhow::{Context as _, bail};
use cloud_protocol::Role;

use crate::config::Settings;
use crate::manifest::{ManifestError, ProjectRow};

use super::{cloud, cloud_error, syncthing_folder};

pub async fn run(settings: Settings, code: &str, folder_id: &str, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let cloud = cloud(&settings)?;
    let folder =
        syncthing_folder(&settings, folder_id, "accept the owner's folder in Syncthing first, then join with its id")
            .await?;
    let mut manifest = settings.open_manifest()?;
    let member = cloud.accept_invite(code.trim()).await.map_err(cloud_error)?;
    let project = cloud.project(member.project_id).await.map_err(cloud_error)?;
    if project.folder_id != folder_id {
        eprintln!(
            "Note: the owner shares this project as Syncthing folder {:?}; you bound it to {folder_id:?}. \
             Syncthing only syncs folders with the same id.",
            project.folder_id
        );
    }
    let snapshot = cloud.files(project.id).await.map_err(cloud_error)?;
    let row = ProjectRow::new(project.id, cloud.base_url(), &project.name, folder_id, &folder.path, Role::Member);
    match manifest.insert_project(&row) {
        Err(ManifestError::DuplicateProject(id)) => bail!("this machine already takes part in project {id}"),
        other => other?,
    }
    manifest.load_snapshot(project.id, &snapshot).context("cannot store the project's files")?;
    let live = snapshot.files.iter().filter(|f| f.deleted_at.is_none()).count();
    writeln!(out, "{}", project.id)?;
    eprintln!(
        "Joined project {:?} as a member, bound to Syncthing folder {folder_id:?} ({}): {live} files announced (as of event {}). \
         `companion run` follows it; `companion status` shows each file's badge.",
        project.name, folder.path, snapshot.as_of_seq
    );
    Ok(())
}
