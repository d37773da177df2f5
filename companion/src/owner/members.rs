//! The owner's view of who has what: `member_progress` messages as they
//! arrive, and on each connect the cloud's stored reports
//! (`GET …/progress`), which cover members who reported while we were away.
//! The cloud's `reported_at` times are kept on our clock
//! ([`crate::cloud_client::cloud_clock`]): they are compared with our "now".

use std::time::Duration;

use cloud_protocol::{ReportedFile, Role};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::cloud_client::api::CloudClient;
use crate::cloud_client::cloud_clock::to_local;
use crate::live::{Live, LiveUpdate};
use crate::manifest::db::Db;

/// Records a member's report that just came live through the cloud: what
/// it says, and that the member was heard from now (an empty report is only
/// that). Tells the dashboard when there is something new to draw.
/// `heartbeat`: [`crate::config::Settings::heartbeat`].
pub(crate) async fn heard(
    db: &Db,
    live: &Live,
    project: Uuid,
    user: Uuid,
    name: String,
    mut files: Vec<ReportedFile>,
    heartbeat: Duration,
) {
    // Stamped by the cloud as it passed the report on, i.e. just now.
    let stamped = files.iter().filter_map(|f| OffsetDateTime::parse(&f.reported_at, &Rfc3339).ok()).max();
    if let Some(stamped) = stamped {
        on_our_clock(&mut files, crate::clock::now_utc() - stamped);
    }
    let offline_after = crate::presence::offline_after(heartbeat);
    let stored_name = name.clone();
    let was_online = db
        .call(move |m| {
            let before = m.members_heard(project)?;
            m.record_member_heard(project, user, &stored_name)?;
            Ok::<_, crate::manifest::ManifestError>(
                before.into_iter().any(|(u, _, at)| u == user && recent(&at, offline_after)),
            )
        })
        .await;
    match was_online {
        // The dashboard counts the age itself; it needs news only when a
        // member comes back (or reports files, below).
        Ok(true) if files.is_empty() => return,
        Ok(_) => {}
        Err(crate::manifest::ManifestError::UnknownProject(_)) => return,
        Err(e) => return tracing::warn!(%project, error = %e, "cannot note that a member was heard from"),
    }
    record(db, live, project, user, name, files).await;
}

/// Heard from within `offline_after` of now.
fn recent(at: &str, offline_after: Duration) -> bool {
    OffsetDateTime::parse(at, &Rfc3339).is_ok_and(|at| (crate::clock::now_utc() - at) < offline_after)
}

/// Moves the cloud's `reported_at` of `files` onto our clock (`offset`: ours minus the cloud's).
fn on_our_clock(files: &mut [ReportedFile], offset: time::Duration) {
    for f in files {
        f.reported_at = to_local(&f.reported_at, offset);
    }
}

/// Records one member's report and tells the dashboard.
pub(super) async fn record(db: &Db, live: &Live, project: Uuid, user: Uuid, name: String, files: Vec<ReportedFile>) {
    let (stored_name, stored_files) = (name.clone(), files.clone());
    match db.call(move |m| m.record_member_progress(project, user, &stored_name, &stored_files)).await {
        Ok(()) => live.publish(LiveUpdate::Members { project_id: project, user_id: user, name, files }),
        // A project we do not hold (shared from another machine): nothing to keep.
        Err(crate::manifest::ManifestError::UnknownProject(_)) => {}
        Err(e) => tracing::warn!(%project, error = %e, "cannot record a member's progress"),
    }
}

/// Loads the cloud's stored reports of every project we own.
pub async fn refresh_member_progress(db: Db, cloud: CloudClient, live: Live) {
    let projects = match db.call(|m| m.projects()).await {
        Ok(projects) => projects,
        Err(e) => return tracing::warn!(error = %e, "cannot read the projects"),
    };
    for project in projects.into_iter().filter(|p| p.role == Role::Owner) {
        let id = project.project_id;
        match cloud.progress(id).await {
            Ok(report) => {
                let offset = cloud.clock_offset();
                for mut member in report.members {
                    if let Some(offset) = offset {
                        on_our_clock(&mut member.files, offset);
                    }
                    record(&db, &live, id, member.user_id, member.name, member.files).await;
                }
            }
            Err(e) => tracing::debug!(project = %id, error = %e, "cannot load members' progress"),
        }
    }
}
