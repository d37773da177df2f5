//! `companion invite PROJECT [--user USER_ID]`: prints a single-use invite
//! code for a project this machine owns.

use uuid::Uuid;

use crate::config::Settings;

use super::{cloud, cloud_error, find_project};

pub async fn run(
    settings: Settings,
    project: &str,
    user: Option<Uuid>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let cloud = cloud(&settings)?;
    let row = find_project(&settings.open_manifest()?, project)?;
    let invite = cloud.create_invite(row.project_id, user).await.map_err(cloud_error)?;
    writeln!(out, "{}", invite.code)?;
    eprintln!(
        "Invite to {:?}, single use, expires {}. The invitee runs: companion join {} FOLDER_ID",
        row.name, invite.expires_at, invite.code
    );
    Ok(())
}
