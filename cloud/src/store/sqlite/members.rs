//! Invites and memberships on SQLite: single-use expiring codes, accept, list, revoke.
//!
//! Each write runs in one `BEGIN IMMEDIATE` transaction, so two people racing with one
//! code are serialized: the second sees it used.

use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use crate::store::rows::{MemberRow, parse_uuid};
use crate::store::{NewInvite, StoreError, StoreResult};
use cloud_protocol::Member;

const MEMBER_SELECT: &str = "SELECT m.project_id, m.user_id, u.name, m.status, m.joined_at \
                             FROM members m JOIN users u ON u.id = m.user_id";

pub(super) async fn create_invite(
    mut tx: Transaction<'static, Sqlite>,
    invite: NewInvite,
    now_ms: i64,
) -> StoreResult<()> {
    let owner: Option<String> = sqlx::query_scalar("SELECT owner_id FROM projects WHERE id = ?")
        .bind(invite.project_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    let owner = parse_uuid(&owner.ok_or(StoreError::NotFound)?)?;
    if let Some(invitee) = invite.invitee {
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?")
            .bind(invitee.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        known.ok_or(StoreError::NotFound)?;
    }
    sqlx::query("INSERT INTO invites (code_hash, project_id, invitee, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
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
             VALUES (?, ?, 'invited', ?, ?) \
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

pub(super) async fn accept_invite(
    mut tx: Transaction<'static, Sqlite>,
    code_hash: [u8; 32],
    user: Uuid,
    now_ms: i64,
) -> StoreResult<Member> {
    let row: Option<InviteRow> = sqlx::query_as(
        "SELECT i.project_id, i.invitee, i.expires_at, i.used_at, p.owner_id \
         FROM invites i JOIN projects p ON p.id = i.project_id WHERE i.code_hash = ?",
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
    sqlx::query("UPDATE invites SET used_at = ?, used_by = ? WHERE code_hash = ?")
        .bind(now_ms)
        .bind(&user_text)
        .bind(&code_hash[..])
        .execute(&mut *tx)
        .await?;
    // An accepted member keeps their joining date; anyone else (invited, revoked, new)
    // joins now.
    sqlx::query(
        "INSERT INTO members (project_id, user_id, status, joined_at, updated_at) VALUES (?, ?, 'accepted', ?, ?) \
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

pub(super) async fn list_members(pool: &SqlitePool, project: Uuid) -> StoreResult<Vec<Member>> {
    let sql = format!("{MEMBER_SELECT} WHERE m.project_id = ? ORDER BY u.name");
    let rows: Vec<MemberRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(project.to_string()).fetch_all(pool).await?;
    rows.into_iter().map(MemberRow::into_member).collect()
}

pub(super) async fn revoke_member(
    mut tx: Transaction<'static, Sqlite>,
    project: Uuid,
    user: Uuid,
    now_ms: i64,
) -> StoreResult<Member> {
    let (project, user) = (project.to_string(), user.to_string());
    let updated =
        sqlx::query("UPDATE members SET status = 'revoked', updated_at = ? WHERE project_id = ? AND user_id = ?")
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
        "UPDATE invites SET expires_at = ? \
         WHERE project_id = ? AND invitee = ? AND used_at IS NULL AND expires_at > ?",
    )
    .bind(now_ms)
    .bind(&project)
    .bind(&user)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    let member = member(&mut tx, &project, &user).await?;
    tx.commit().await?;
    Ok(member)
}

async fn member(conn: &mut SqliteConnection, project: &str, user: &str) -> StoreResult<Member> {
    let sql = format!("{MEMBER_SELECT} WHERE m.project_id = ? AND m.user_id = ?");
    let row: MemberRow = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(project).bind(user).fetch_one(conn).await?;
    row.into_member()
}
