//! Users, their tokens and projects on SQLite, and who may see which project.

use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use crate::store::rows::{AccessRow, UserRow, unique_or};
use crate::store::{Access, ProjectRow, StoreError, StoreResult, User};

/// The columns of `projects` every project read selects, under alias `p`.
const PROJECT_COLUMNS: &str = "p.id, p.name, p.folder_id, p.owner_id, p.last_seq, p.created_at";

pub(super) async fn create_user(
    mut tx: Transaction<'static, Sqlite>,
    name: &str,
    token_hash: [u8; 32],
    now_ms: i64,
) -> StoreResult<User> {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)")
        .bind(id.to_string())
        .bind(name)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_or(e, || StoreError::UserExists(name.to_owned())))?;
    sqlx::query("INSERT INTO tokens (token_hash, user_id, created_at) VALUES (?, ?, ?)")
        .bind(&token_hash[..])
        .bind(id.to_string())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(User { id, name: name.to_owned() })
}

pub(super) async fn user_by_token(pool: &SqlitePool, token_hash: [u8; 32]) -> StoreResult<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as("SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?")
            .bind(&token_hash[..])
            .fetch_optional(pool)
            .await?;
    row.map(UserRow::into_user).transpose()
}

pub(super) async fn create_project(
    pool: &SqlitePool,
    owner: Uuid,
    name: &str,
    folder_id: &str,
    now_ms: i64,
) -> StoreResult<ProjectRow> {
    let id = Uuid::new_v4();
    // A single statement is its own transaction; the one-connection pool serializes it.
    sqlx::query("INSERT INTO projects (id, name, folder_id, owner_id, last_seq, created_at) VALUES (?, ?, ?, ?, 0, ?)")
        .bind(id.to_string())
        .bind(name)
        .bind(folder_id)
        .bind(owner.to_string())
        .bind(now_ms)
        .execute(pool)
        .await
        .map_err(not_found_on_foreign_key)?;
    Ok(ProjectRow {
        id,
        name: name.to_owned(),
        folder_id: folder_id.to_owned(),
        owner_id: owner,
        last_seq: 0,
        created_at_ms: now_ms,
    })
}

pub(super) async fn access(pool: &SqlitePool, project: Uuid, user: Uuid) -> StoreResult<Option<Access>> {
    let sql = format!(
        "SELECT {PROJECT_COLUMNS}, m.status AS member_status FROM projects p \
         LEFT JOIN members m ON m.project_id = p.id AND m.user_id = ? WHERE p.id = ?"
    );
    let row: Option<AccessRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user.to_string())
        .bind(project.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.into_access(user)).transpose()?.flatten())
}

pub(super) async fn list_projects(pool: &SqlitePool, user: Uuid) -> StoreResult<Vec<Access>> {
    let sql = format!(
        "SELECT {PROJECT_COLUMNS}, m.status AS member_status FROM projects p \
         LEFT JOIN members m ON m.project_id = p.id AND m.user_id = ? \
         WHERE p.owner_id = ? OR m.status = 'accepted' ORDER BY p.created_at, p.id"
    );
    let rows: Vec<AccessRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user.to_string()).bind(user.to_string()).fetch_all(pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.extend(row.into_access(user)?);
    }
    Ok(out)
}

/// An unknown owner shows up as a foreign-key failure: the user does not exist.
fn not_found_on_foreign_key(err: sqlx::Error) -> StoreError {
    match err.as_database_error() {
        Some(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => StoreError::Database(err),
    }
}
