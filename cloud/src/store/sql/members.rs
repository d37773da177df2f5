//! Invites and memberships: single-use expiring codes, accept, revoke.
//!
//! Using a code marks it used only if it still is not (`used_at IS NULL` in the
//! update), so two people racing with one code are serialized on either database:
//! the second sees it used.

use cloud_protocol::Member;
use uuid::Uuid;

use super::Here;
use crate::store::backend::{Conn, Tx};
use crate::store::rows::{MemberRow, parse_uuid};
use crate::store::{NewInvite, StoreError, StoreResult};

pub(super) const MEMBER_SELECT: &str = "SELECT m.project_id, m.user_id, u.name, m.status, m.joined_at \
                                        FROM members m JOIN users u ON u.id = m.user_id";

pub(super) async fn create_invite(mut tx: Tx<Here>, invite: NewInvite, now_ms: i64) -> StoreResult<()> {
    let project = invite.project_id.to_string();
    let owner = sqlx::query_scalar("SELECT owner_id FROM projects WHERE id = $1").bind(&project);
    let owner: Option<String> = owner.fetch_optional(&mut *tx).await?;
    let owner = parse_uuid(&owner.ok_or(StoreError::NotFound)?)?;
    if let Some(invitee) = invite.invitee {
        let known = sqlx::query("SELECT 1 FROM users WHERE id = $1").bind(invitee.to_string());
        known.fetch_optional(&mut *tx).await?.ok_or(StoreError::NotFound)?;
    }
    let sql =
        "INSERT INTO invites (code_hash, project_id, invitee, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
    let insert = sqlx::query(sql).bind(&invite.code_hash[..]).bind(&project);
    let insert = insert.bind(invite.invitee.map(|u| u.to_string())).bind(now_ms).bind(invite.expires_at_ms);
    insert.execute(&mut *tx).await?;
    // The addressed user shows as invited until they accept; an accepted member stays
    // accepted, a revoked one is invited again. The owner is never a member row.
    if let Some(invitee) = invite.invitee.filter(|u| *u != owner) {
        let sql = "INSERT INTO members (project_id, user_id, status, joined_at, updated_at) \
                   VALUES ($1, $2, 'invited', $3, $3) \
                   ON CONFLICT (project_id, user_id) DO UPDATE SET status = 'invited', \
                   joined_at = excluded.joined_at, updated_at = excluded.updated_at \
                   WHERE members.status <> 'accepted'";
        sqlx::query(sql).bind(&project).bind(invitee.to_string()).bind(now_ms).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn accept_invite(mut tx: Tx<Here>, digest: [u8; 32], user: Uuid, now_ms: i64) -> StoreResult<Member> {
    let sql = "SELECT i.project_id, i.invitee, i.expires_at, i.used_at, p.owner_id \
               FROM invites i JOIN projects p ON p.id = i.project_id WHERE i.code_hash = $1";
    let row = sqlx::query_as(sql).bind(&digest[..]).fetch_optional(&mut *tx).await?;
    let (project_id, invitee, expires_at, used_at, owner_id): (String, Option<String>, i64, Option<i64>, String) =
        row.ok_or(StoreError::InviteUnknown)?;
    let user_text = user.to_string();
    if used_at.is_some() {
        return Err(StoreError::InviteUsed);
    }
    if now_ms >= expires_at {
        return Err(StoreError::InviteExpired);
    }
    if invitee.as_ref().is_some_and(|i| *i != user_text) {
        return Err(StoreError::InviteForSomeoneElse);
    }
    if owner_id == user_text {
        return Err(StoreError::OwnerCannotJoin);
    }
    // Someone may have used it since the read above: only one update finds it unused.
    let sql = "UPDATE invites SET used_at = $1, used_by = $2 WHERE code_hash = $3 AND used_at IS NULL";
    let used = sqlx::query(sql).bind(now_ms).bind(&user_text).bind(&digest[..]).execute(&mut *tx).await?;
    if used.rows_affected() == 0 {
        return Err(StoreError::InviteUsed);
    }
    // An accepted member keeps their joining date; anyone else (invited, revoked, new)
    // joins now.
    let sql = "INSERT INTO members (project_id, user_id, status, joined_at, updated_at) \
               VALUES ($1, $2, 'accepted', $3, $3) \
               ON CONFLICT (project_id, user_id) DO UPDATE SET status = 'accepted', joined_at = CASE \
               WHEN members.status = 'accepted' THEN members.joined_at ELSE excluded.joined_at END, \
               updated_at = excluded.updated_at";
    sqlx::query(sql).bind(&project_id).bind(&user_text).bind(now_ms).execute(&mut *tx).await?;
    let member = member(&mut tx, &project_id, &user_text).await?;
    tx.commit().await?;
    Ok(member)
}

pub(super) async fn revoke_member(mut tx: Tx<Here>, project: Uuid, user: Uuid, now_ms: i64) -> StoreResult<Member> {
    let (project, user) = (project.to_string(), user.to_string());
    let sql = "UPDATE members SET status = 'revoked', updated_at = $1 WHERE project_id = $2 AND user_id = $3";
    let updated = sqlx::query(sql).bind(now_ms).bind(&project).bind(&user).execute(&mut *tx).await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    // Codes still addressed to them would let a revoked invitee back in: end them now.
    let sql = "UPDATE invites SET expires_at = $1 \
               WHERE project_id = $2 AND invitee = $3 AND used_at IS NULL AND expires_at > $1";
    sqlx::query(sql).bind(now_ms).bind(&project).bind(&user).execute(&mut *tx).await?;
    let member = member(&mut tx, &project, &user).await?;
    tx.commit().await?;
    Ok(member)
}

async fn member(conn: &mut Conn<Here>, project: &str, user: &str) -> StoreResult<Member> {
    let sql = sqlx::AssertSqlSafe(format!("{MEMBER_SELECT} WHERE m.project_id = $1 AND m.user_id = $2"));
    let row: MemberRow = sqlx::query_as(sql).bind(project).bind(user).fetch_one(conn).await?;
    row.into_member()
}
