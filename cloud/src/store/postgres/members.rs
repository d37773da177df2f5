//! Invites and memberships on PostgreSQL: single-use expiring codes, accept, list, revoke.
//!
//! Accepting locks the invite row (`FOR UPDATE`), so two people racing with one code
//! are serialized: the second sees it used.

use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use crate::store::rows::{MemberRow, parse_uuid};
use crate::store::{NewInvite, StoreError, StoreResult};
use cloud_protocol::Member;

const MEMBER_SELECT: &str = "SELECT m.project_id, m.user_id, u.name, m.status, m.joined_at \
                             FROM members m JOIN users u ON u.id = m.user_id";

pub(super) async fn create_invite(pool: &PgPool, invite: NewInvite, now_ms: i64) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let owner: Option<String> = sqlx::query_scalar("SELECT owner_id FROM projects WHERE id = $1")
        .bind(invite.project_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    let owner = parse_uuid(&owner.ok_or(StoreError::NotFound)?)?;
    if let Some(invitee) = invite.invitee {
        let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
            .bind(invitee.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        known.ok_or(StoreError::NotFound)?;
    }
    sqlx::query(
        "INSERT INTO invites (code_hash, project_id, invitee, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&invite.code_hash[..])
    .bind(invite.project_id.to_string())
    .bind(invite.invitee.map(|u| u.to_string()))
    .bind(now_ms)
    .bind(invite.expires_at_ms)
    .execute(&mut *tx)
    .await?;
    // The addressed user shows as invited until they accept; an accepted member stays
    // accepted, a revoked one is invited again. The owner is never a member row.
    if let Some(invitee) = invite.invitee.filter(|u| *u != owner) {
        sqlx::query(
            "INSERT INTO members (project_id, user_id, status, joined_at, updated_at) \
             VALUES ($1, $2, 'invited', $3, $4) \
             ON CONFLICT (project_id, user_id) DO UPDATE SET status = 'invited', \
             joined_at = excluded.joined_at, updated_at = excluded.updated_at \
             WHERE members.status <> 'accepted'",
        )
        .bind(invite.project_id.to_string())
        .bind(invitee.to_string())
        .bind(now_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct InviteRow {
    project_id: String,
    invitee: Option<String>,
    expires_at: i64,
    used_at: Option<i64>,
    owner_id: String,
}

pub(super) async fn accept_invite(pool: &PgPool, code_hash: [u8; 32], user: Uuid, now_ms: i64) -> StoreResult<Member> {
    let mut tx = pool.begin().await?;
    let row: Option<InviteRow> = sqlx::query_as(
        "SELECT i.project_id, i.invitee, i.expires_at, i.used_at, p.owner_id \
         FROM invites i JOIN projects p ON p.id = i.project_id WHERE i.code_hash = $1 FOR UPDATE OF i",
    )
    .bind(&code_hash[..])
    .fetch_optional(&mut *tx)
    .await?;
    let invite = row.ok_or(StoreError::InviteUnknown)?;
    let user_text = user.to_string();
    if invite.used_at.is_some() {
        return Err(StoreError::InviteUsed);
    }
    if now_ms >= invite.expires_at {
        return Err(StoreError::InviteExpired);
    }
    if invite.invitee.as_ref().is_some_and(|i| *i != user_text) {
        return Err(StoreError::InviteForSomeoneElse);
    }
    if invite.owner_id == user_text {
        return Err(StoreError::OwnerCannotJoin);
    }
    sqlx::query("UPDATE invites SET used_at = $1, used_by = $2 WHERE code_hash = $3")
        .bind(now_ms)
        .bind(&user_text)
        .bind(&code_hash[..])
        .execute(&mut *tx)
        .await?;
    // An accepted member keeps their joining date; anyone else (invited, revoked, new)
    // joins now.
    sqlx::query(
        "INSERT INTO members (project_id, user_id, status, joined_at, updated_at) VALUES ($1, $2, 'accepted', $3, $4) \
         ON CONFLICT (project_id, user_id) DO UPDATE SET status = 'accepted', \
         joined_at = CASE WHEN members.status = 'accepted' THEN members.joined_at ELSE excluded.joined_at END, \
         updated_at = excluded.updated_at",
    )
    .bind(&invite.project_id)
    .bind(&user_text)
    .bind(now_ms)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    let member = member(&mut tx, &invite.project_id, &user_text).await?;
    tx.commit().await?;
    Ok(member)
}

pub(super) async fn list_members(pool: &PgPool, project: Uuid) -> StoreResult<Vec<Member>> {
    let sql = format!("{MEMBER_SELECT} WHERE m.project_id = $1 ORDER BY u.name COLLATE \"C\"");
    let rows: Vec<MemberRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(project.to_string()).fetch_all(pool).await?;
    rows.into_iter().map(MemberRow::into_member).collect()
}

pub(super) async fn revoke_member(pool: &PgPool, project: Uuid, user: Uuid, now_ms: i64) -> StoreResult<Member> {
    let mut tx = pool.begin().await?;
    let (project, user) = (project.to_string(), user.to_string());
    let updated =
        sqlx::query("UPDATE members SET status = 'revoked', updated_at = $1 WHERE project_id = $2 AND user_id = $3")
            .bind(now_ms)
            .bind(&project)
            .bind(&user)
            .execute(&mut *tx)
            .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    // Codes still addressed to them would let a revoked invitee back in: end them now.
    sqlx::query(
        "UPDATE invites SET expires_at = $1 \
         WHERE project_id = $2 AND invitee = $3 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now_ms)
    .bind(&project)
    .bind(&user)
    .execute(&mut *tx)
    .await?;
    let member = member(&mut tx, &project, &user).await?;
    tx.commit().await?;
    Ok(member)
}

async fn member(conn: &mut PgConnection, project: &str, user: &str) -> StoreResult<Member> {
    let sql = format!("{MEMBER_SELECT} WHERE m.project_id = $1 AND m.user_id = $2");
    let row: MemberRow = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(project).bind(user).fetch_one(conn).await?;
    row.into_member()
}
