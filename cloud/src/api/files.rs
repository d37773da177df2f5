//! A project's files: `POST /api/projects/{id}/files/update` (the owner sends a
//! batch of changes; all or nothing) and `GET /api/projects/{id}/files` (the
//! current state of every path, as of one seq).

use axum::Json;
use axum::extract::State;
use cloud_protocol::{Change, ErrorBody, FilesSnapshot, MAX_BATCH_CHANGES, UpdateFilesRequest, UpdateFilesResponse};
use sha2::{Digest, Sha256};

use super::access::ProjectCall;
use super::extract::ApiJson;
use crate::error::ApiError;
use crate::metrics;
use crate::state::AppState;
use crate::store::{AppendOutcome, BatchInput, now_ms};

/// Appends a batch of changes (owner only): all are applied or none. A retry
/// with the same `batch_id` and changes answers the first outcome again.
#[utoipa::path(post, path = "/api/projects/{id}/files/update", operation_id = "updateFiles", tag = "files", security(("bearer" = [])), params(("id" = Uuid, Path, description = "the project")),
    request_body = UpdateFilesRequest,
    responses(
        (status = 200, description = "applied (or replayed): the seqs given", body = UpdateFilesResponse),
        (status = 400, description = "`malformed_json`, `invalid_body`, `empty_batch` or `invalid_id`", body = ErrorBody),
        (status = 403, description = "the caller is a member, not the owner", body = ErrorBody),
        (status = 409, description = "`batch_conflict`: the batch_id was used with other changes", body = ErrorBody),
        (status = 413, description = "`payload_too_large` or `too_many_changes` (more than 1000)", body = ErrorBody),
        (status = 422, description = "`invalid_change` (each bad entry in `invalid`) or `quota_exceeded`", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    call: ProjectCall,
    ApiJson(req): ApiJson<UpdateFilesRequest>,
) -> Result<Json<UpdateFilesResponse>, ApiError> {
    call.owned(&state, "send changes").await?;
    check_count(req.changes.len())?;
    cloud_protocol::validate_batch(&req.changes).map_err(ApiError::InvalidChanges)?;

    let digest = batch_digest(&req.changes)?;
    let input = BatchInput {
        project_id: call.id,
        actor: call.user.0.id,
        batch_id: req.batch_id,
        digest,
        changes: &req.changes,
        now_ms: now_ms(),
        max_paths: state.settings.max_paths_per_project,
    };
    match state.store.append_batch(input).await? {
        AppendOutcome::Applied { response, events } => {
            metrics::batch_applied(events.len());
            tracing::debug!(project = %call.id, batch = %req.batch_id, first = response.first_seq,
                last = response.last_seq, "batch applied");
            // Only now is the batch durable: members may see it.
            state.hub.committed(call.id, events).await;
            Ok(Json(response))
        }
        AppendOutcome::Replayed(response) => {
            metrics::batch_replayed();
            tracing::debug!(project = %call.id, batch = %req.batch_id, "batch replayed");
            Ok(Json(response))
        }
    }
}

/// The current state of every path, as of one seq.
#[utoipa::path(get, path = "/api/projects/{id}/files", operation_id = "getFiles", tag = "files", security(("bearer" = [])), params(("id" = Uuid, Path, description = "the project")),
    responses(
        (status = 200, description = "the snapshot", body = FilesSnapshot),
    ))]
pub async fn snapshot(State(state): State<AppState>, call: ProjectCall) -> Result<Json<FilesSnapshot>, ApiError> {
    call.readable(&state).await?;
    Ok(Json(state.store.files_snapshot(call.id).await?))
}

/// 1..=MAX_BATCH_CHANGES changes: an empty batch is a client bug (400), a big one
/// must be split (413).
fn check_count(count: usize) -> Result<(), ApiError> {
    match count {
        0 => Err(ApiError::bad_request("empty_batch", "the batch has no changes; send at least one")),
        n if n > MAX_BATCH_CHANGES => Err(ApiError::TooManyChanges { count: n, max: MAX_BATCH_CHANGES }),
        _ => Ok(()),
    }
}

/// SHA-256 of the changes' canonical JSON: what makes a retried `batch_id` the
/// same batch. Field order is fixed by the `Change` struct, so the encoding is stable.
pub fn batch_digest(changes: &[Change]) -> Result<[u8; 32], ApiError> {
    let json = serde_json::to_vec(changes).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Sha256::digest(&json).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloud_protocol::Op;

    #[test]
    fn counts() {
        assert_eq!(check_count(0).unwrap_err().status_and_code().1, "empty_batch");
        assert!(check_count(1).is_ok());
        assert!(check_count(MAX_BATCH_CHANGES).is_ok());
        assert_eq!(check_count(MAX_BATCH_CHANGES + 1).unwrap_err().status_and_code().1, "too_many_changes");
    }

    #[test]
    fn digest_depends_on_content_and_order() {
        let h = format!("blake3:{}", "a".repeat(64));
        let a = Change::upsert(Op::Create, "a", h.clone(), 1, 1);
        let b = Change::delete("b");
        let ab = batch_digest(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(ab, batch_digest(&[a.clone(), b.clone()]).unwrap());
        assert_ne!(ab, batch_digest(&[b, a.clone()]).unwrap());
        assert_ne!(ab, batch_digest(&[a]).unwrap());
    }
}
