//! What one socket's user asked for: the `subscribe`, `unsubscribe` and
//! `progress` requests, the subscriptions they started, and the hub's
//! revocations that end them. No socket I/O here: replies are returned to the
//! connection, which writes them.

use std::collections::HashMap;
use std::sync::Arc;

use cloud_protocol::{ClientMessage, FileProgress, ReportedFile, Role, ServerMessage};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use uuid::Uuid;

use super::Hub;
use super::subscription::{Outgoing, Subscription};
use crate::store::{ProgressInput, User, now_ms};

/// Most files one `progress` message may carry.
pub const MAX_PROGRESS_FILES: usize = 1000;

struct Active {
    generation: u64,
    task: AbortHandle,
}

/// The subscriptions of one socket.
pub(crate) struct Session {
    hub: Arc<Hub>,
    user: User,
    subs: HashMap<Uuid, Active>,
    next_generation: u64,
    out: mpsc::Sender<Outgoing>,
}

fn error(code: &str, message: impl Into<String>, project_id: Option<Uuid>) -> ServerMessage {
    ServerMessage::Error { code: code.into(), message: message.into(), project_id }
}

fn not_found(project: Uuid) -> ServerMessage {
    error("not_found", "no such project, or you are not a member of it", Some(project))
}

fn internal(project: Uuid) -> ServerMessage {
    error("internal", "the server could not do that right now; try again", Some(project))
}

impl Session {
    pub(crate) fn new(hub: Arc<Hub>, user: User, out: mpsc::Sender<Outgoing>) -> Self {
        Session { hub, user, subs: HashMap::new(), next_generation: 0, out }
    }

    /// Handles one client request; the replies to send, in order.
    pub(crate) async fn handle(&mut self, message: ClientMessage) -> Vec<ServerMessage> {
        match message {
            ClientMessage::Subscribe { project_id, since_seq } => {
                self.subscribe(project_id, since_seq).await.into_iter().collect()
            }
            ClientMessage::Unsubscribe { project_id } => {
                self.stop(project_id);
                Vec::new()
            }
            ClientMessage::Progress { project_id, files, seq } => {
                let (reply, done) = self.progress(project_id, files).await;
                let ack = seq.filter(|_| done).map(|seq| ServerMessage::ProgressAck { project_id, seq });
                // The refusal first: by the ack, the member knows everything the cloud had to say.
                reply.into_iter().chain(ack).collect()
            }
        }
    }

    async fn subscribe(&mut self, project: Uuid, since_seq: i64) -> Option<ServerMessage> {
        // Resubscribing replaces: the old subscription's queued messages are dropped.
        self.stop(project);
        if since_seq < 0 {
            return Some(error("bad_request", "since_seq must be 0 or more", Some(project)));
        }
        let access = match self.hub.store().access(project, self.user.id).await {
            Ok(Some(access)) => access,
            Ok(None) => return Some(not_found(project)),
            Err(e) => {
                tracing::error!(%project, error = %e, "access check failed on subscribe");
                return Some(internal(project));
            }
        };
        if since_seq > access.project.last_seq {
            return Some(error(
                "since_seq_ahead",
                format!(
                    "since_seq {since_seq} is beyond the project's last seq {}; pull again",
                    access.project.last_seq
                ),
                Some(project),
            ));
        }
        self.next_generation += 1;
        let (live, counted) = self.hub.subscribe(project, access.project.last_seq);
        let subscription = Subscription {
            store: Arc::clone(self.hub.store()),
            project,
            since_seq,
            generation: self.next_generation,
            live,
            out: self.out.clone(),
            _counted: counted,
        };
        let task = tokio::spawn(subscription.run()).abort_handle();
        self.subs.insert(project, Active { generation: self.next_generation, task });
        None
    }

    fn stop(&mut self, project: Uuid) -> bool {
        self.subs.remove(&project).map(|active| active.task.abort()).is_some()
    }

    /// Stores a report and tells the owner. The reply, and whether the cloud
    /// is done with the message (stored, or refused for good): a report that
    /// failed to store for a passing reason is not done, so it is not
    /// acknowledged and the member sends it again.
    async fn progress(&mut self, project: Uuid, files: Vec<FileProgress>) -> (Option<ServerMessage>, bool) {
        match self.store_progress(project, files).await {
            Ok(reply) => (reply, true),
            Err(reply) => (Some(reply), false),
        }
    }

    /// `Err`: the internal error to reply with; the report was not stored.
    async fn store_progress(
        &mut self,
        project: Uuid,
        files: Vec<FileProgress>,
    ) -> Result<Option<ServerMessage>, ServerMessage> {
        if files.len() > MAX_PROGRESS_FILES {
            return Ok(Some(error(
                "too_many_files",
                format!("{} files in one progress message; send at most {MAX_PROGRESS_FILES}", files.len()),
                Some(project),
            )));
        }
        if let Err(reason) = validate_progress(&files) {
            return Ok(Some(error("invalid_progress", reason, Some(project))));
        }
        let access = match self.hub.store().access(project, self.user.id).await {
            Ok(Some(access)) => access,
            Ok(None) => return Ok(Some(not_found(project))),
            Err(e) => {
                tracing::error!(%project, error = %e, "access check failed on progress");
                return Err(internal(project));
            }
        };
        if access.role == Role::Owner {
            return Ok(Some(error("forbidden", "owners do not report progress; members do", Some(project))));
        }
        if files.is_empty() {
            // "Still here, nothing changed": the owner learns the member's
            // state is current as of now (nothing is stored).
            self.tell_owner(project, access.project.owner_id, Vec::new()).await;
            return Ok(None);
        }
        // Only files of the project: a member cannot grow the store (or the
        // owner's report) with rows for paths the owner never published.
        let (files, unknown) = self.known_only(project, files).await?;
        let unknown_reply = unknown.map(|(count, first)| {
            error(
                "unknown_paths",
                format!("{count} reported file(s) are not in the project (such as {first:?}); they were not stored"),
                Some(project),
            )
        });
        if files.is_empty() {
            return Ok(unknown_reply);
        }
        let report = ProgressInput { project_id: project, user: self.user.id, files: &files, now_ms: now_ms() };
        let stored = match self.hub.store().record_progress(report).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(%project, error = %e, "could not store progress");
                return Err(internal(project));
            }
        };
        self.tell_owner(project, access.project.owner_id, stored).await;
        Ok(unknown_reply)
    }

    async fn tell_owner(&self, project: Uuid, owner: Uuid, files: Vec<ReportedFile>) {
        let message = ServerMessage::MemberProgress {
            project_id: project,
            user_id: self.user.id,
            name: self.user.name.clone(),
            files,
        };
        self.hub.member_progress(project, owner, &message).await;
    }

    /// Splits `files` into those the project has and, if any are not, how
    /// many were not and the first of them.
    async fn known_only(
        &self,
        project: Uuid,
        files: Vec<FileProgress>,
    ) -> Result<(Vec<FileProgress>, Option<(usize, String)>), ServerMessage> {
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let known = self.hub.store().known_paths(project, &paths).await.map_err(|e| {
            tracing::error!(%project, error = %e, "could not check reported paths");
            internal(project)
        })?;
        let (files, unknown): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| known.contains(&f.path));
        let summary = unknown.first().map(|first| (unknown.len(), first.path.clone()));
        Ok((files, summary))
    }

    /// The user lost `project`: end its subscription and say so.
    pub(crate) fn revoke(&mut self, project: Uuid) -> Option<ServerMessage> {
        self.stop(project).then(|| error("access_revoked", "your access to this project was revoked", Some(project)))
    }

    /// Checks access to every subscribed project again (revocations may have
    /// been missed); the messages for those that were lost.
    pub(crate) async fn recheck(&mut self) -> Vec<ServerMessage> {
        let mut lost = Vec::new();
        let projects: Vec<Uuid> = self.subs.keys().copied().collect();
        for project in projects {
            if let Ok(None) = self.hub.store().access(project, self.user.id).await {
                lost.extend(self.revoke(project));
            }
        }
        lost
    }

    /// Whether a subscription's message may still go out (it is from the
    /// current subscription of its project). Forgets subscriptions that ended.
    pub(crate) fn admit(&mut self, out: &Outgoing) -> bool {
        match self.subs.get(&out.project) {
            Some(active) if active.generation == out.generation => {
                if out.ends {
                    self.subs.remove(&out.project);
                }
                true
            }
            _ => false,
        }
    }
}

impl Session {
    /// Ends every subscription (the socket is closing).
    pub(crate) fn end(&mut self) {
        for (_, active) in self.subs.drain() {
            active.task.abort();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.end();
    }
}

/// Every file valid (path, percent, hash, error size); else the first problem.
fn validate_progress(files: &[FileProgress]) -> Result<(), String> {
    for (index, file) in files.iter().enumerate() {
        if let Err(e) = file.validate() {
            let path: String = file.path.chars().take(200).collect();
            return Err(format!("files[{index}] ({path:?}): {e}"));
        }
    }
    Ok(())
}
