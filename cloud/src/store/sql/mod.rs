//! The queries of both backends, written once and compiled once per backend.
//!
//! `sqlite.rs` and `postgres.rs` each include this folder (`#[path]`) after naming
//! their store `Here`. Every query is then plain sqlx code on that backend's own
//! types, with one SQL text for both databases (sqlx binds `$1…$n` by number on
//! SQLite too). What truly differs is the [`Backend`] trait the two stores implement.
//! Generic code over sqlx's `Database` would need a bound per bound type and per
//! executor on every function; compiling the module twice keeps the queries plain.

mod members;
mod sequence;

use std::collections::HashSet;

use async_trait::async_trait;
use cloud_protocol::{Event, FilesSnapshot, Member, ProgressReport, ReportedFile};
use serde_json::json;
use sqlx::{AssertSqlSafe, QueryBuilder};
use uuid::Uuid;

use super::Here;
use crate::store::backend::Backend;
use crate::store::paging::page;
use crate::store::rows::{
    AccessRow, EventRow, FileRow, MemberRow, ProgressRow, latest_per_path, not_found_on_foreign_key, unique_or,
};
use crate::store::{
    Access, AppendOutcome, BatchInput, NewInvite, ProgressInput, ProgressQuery, ProjectRow, Store, StoreError,
    StoreResult, User, rfc3339,
};

type Db = <Here as Backend>::Db;

/// How long [`Store::ping`] waits for the database (readiness probes
/// commonly give up after 1 to 5 s).
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A project and the caller's (`$1`) membership status in it, under aliases `p` and `m`.
const ACCESS_SELECT: &str = "SELECT p.id, p.name, p.folder_id, p.owner_id, p.last_seq, p.created_at, \
    m.status AS member_status FROM projects p LEFT JOIN members m ON m.project_id = p.id AND m.user_id = $1";

#[async_trait]
impl Store for Here {
    async fn ping(&self) -> StoreResult<()> {
        // With the database down, taking a connection waits for the pool's
        // acquire timeout (30 s) while it retries connecting; a readiness
        // probe must answer "not ready" well before a prober gives up on it.
        match tokio::time::timeout(PING_TIMEOUT, sqlx::query("SELECT 1").execute(self.reader())).await {
            Ok(done) => done.map(drop).map_err(StoreError::from),
            Err(_) => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
    }

    async fn create_user(&self, name: &str, token_hash: [u8; 32], now_ms: i64) -> StoreResult<User> {
        let id = Uuid::new_v4();
        let mut tx = self.begin_write().await?;
        let user = sqlx::query("INSERT INTO users (id, name, created_at) VALUES ($1, $2, $3)").bind(id.to_string());
        let taken = |e| unique_or(e, || StoreError::UserExists(name.to_owned()));
        user.bind(name).bind(now_ms).execute(&mut *tx).await.map_err(taken)?;
        let token = sqlx::query("INSERT INTO tokens (token_hash, user_id, created_at) VALUES ($1, $2, $3)");
        token.bind(&token_hash[..]).bind(id.to_string()).bind(now_ms).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(User { id, name: name.to_owned() })
    }

    async fn user_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<User>> {
        let sql = "SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1";
        Ok(sqlx::query_as(sql).bind(&token_hash[..]).fetch_optional(self.reader()).await?)
    }

    async fn create_project(&self, owner: Uuid, name: &str, folder_id: &str, now_ms: i64) -> StoreResult<ProjectRow> {
        let id = Uuid::new_v4();
        let mut tx = self.begin_write().await?;
        let sql = "INSERT INTO projects (id, name, folder_id, owner_id, last_seq, created_at) \
                   VALUES ($1, $2, $3, $4, 0, $5)";
        let insert = sqlx::query(sql).bind(id.to_string()).bind(name).bind(folder_id).bind(owner.to_string());
        insert.bind(now_ms).execute(&mut *tx).await.map_err(not_found_on_foreign_key)?;
        tx.commit().await?;
        let (name, folder_id) = (name.to_owned(), folder_id.to_owned());
        Ok(ProjectRow { id, name, folder_id, owner_id: owner, last_seq: 0, created_at_ms: now_ms })
    }

    async fn access(&self, project: Uuid, user: Uuid) -> StoreResult<Option<Access>> {
        let sql = sqlx::AssertSqlSafe(format!("{ACCESS_SELECT} WHERE p.id = $2"));
        let query = sqlx::query_as(sql).bind(user.to_string()).bind(project.to_string());
        let row: Option<AccessRow> = query.fetch_optional(self.reader()).await?;
        Ok(row.and_then(|r| r.into_access(user)))
    }

    async fn list_projects(&self, user: Uuid) -> StoreResult<Vec<Access>> {
        let sql = format!("{ACCESS_SELECT} WHERE p.owner_id = $1 OR m.status = 'accepted' ORDER BY p.created_at, p.id");
        let query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user.to_string());
        let rows: Vec<AccessRow> = query.fetch_all(self.reader()).await?;
        Ok(rows.into_iter().filter_map(|r| r.into_access(user)).collect())
    }

    async fn create_invite(&self, invite: NewInvite, now_ms: i64) -> StoreResult<()> {
        members::create_invite(self.begin_write().await?, invite, now_ms).await
    }

    async fn accept_invite(&self, code_hash: [u8; 32], user: Uuid, now_ms: i64) -> StoreResult<Member> {
        members::accept_invite(self.begin_write().await?, code_hash, user, now_ms).await
    }

    async fn list_members(&self, project: Uuid) -> StoreResult<Vec<Member>> {
        let sql = format!("{} WHERE m.project_id = $1 ORDER BY u.name{}", members::MEMBER_SELECT, Here::BYTE_ORDER);
        let query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(project.to_string());
        let rows: Vec<MemberRow> = query.fetch_all(self.reader()).await?;
        rows.into_iter().map(MemberRow::into_member).collect()
    }

    async fn revoke_member(&self, project: Uuid, user: Uuid, now_ms: i64) -> StoreResult<Member> {
        members::revoke_member(self.begin_write().await?, project, user, now_ms).await
    }

    async fn append_batch(&self, batch: BatchInput<'_>) -> StoreResult<AppendOutcome> {
        let outcome = sequence::append(self.begin_write().await?, batch).await?;
        self.wrote();
        Ok(outcome)
    }

    async fn events_since(&self, project: Uuid, since_seq: i64, limit: u32) -> StoreResult<Vec<Event>> {
        let sql = "SELECT seq, path, op, hash, size, mtime, created_at FROM project_events \
                   WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
        let query = sqlx::query_as(sql).bind(project.to_string()).bind(since_seq).bind(i64::from(limit));
        let rows: Vec<EventRow> = query.fetch_all(self.reader()).await?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    async fn files_snapshot(&self, project: Uuid) -> StoreResult<FilesSnapshot> {
        // Every path's state as of one seq: both statements run in one snapshot.
        let mut tx = self.begin_snapshot().await?;
        let project = project.to_string();
        let last = sqlx::query_scalar("SELECT last_seq FROM projects WHERE id = $1").bind(&project);
        let as_of_seq: i64 = last.fetch_optional(&mut *tx).await?.ok_or(StoreError::NotFound)?;
        let sql = format!(
            "SELECT path, size, hash, mtime, version, seq, deleted_at, deleted_by FROM remote_files \
             WHERE project_id = $1 ORDER BY path{}",
            Here::BYTE_ORDER
        );
        let rows: Vec<FileRow> = sqlx::query_as(AssertSqlSafe(sql)).bind(&project).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let files = rows.into_iter().map(FileRow::into_file).collect::<StoreResult<_>>()?;
        Ok(FilesSnapshot { files, as_of_seq })
    }

    async fn record_progress(&self, report: ProgressInput<'_>) -> StoreResult<Vec<ReportedFile>> {
        let ProgressInput { project_id: project, user, files, now_ms } = report;
        // One row per path: a single upsert may not touch a row twice.
        let files = latest_per_path(files);
        if !files.is_empty() {
            // A member's newer report on a file replaces the older one.
            const COLUMNS: &str = "path text, state text, percent float8, local_hash text, error text";
            let sql = format!(
                "INSERT INTO member_progress (project_id, user_id, path, state, percent, local_hash, error, reported_at) \
                 SELECT $1, $2, f.path, f.state, f.percent, f.local_hash, f.error, $3 FROM {} WHERE true \
                 ON CONFLICT (project_id, user_id, path) DO UPDATE SET state = excluded.state, \
                 percent = excluded.percent, local_hash = excluded.local_hash, error = excluded.error, \
                 reported_at = excluded.reported_at",
                Here::rows(4, "f", COLUMNS)
            );
            let rows = files.iter().map(|f| json!([f.path, f.state.as_str(), f.percent, f.local_hash, f.error]));
            let upsert = sqlx::query(AssertSqlSafe(sql)).bind(project.to_string()).bind(user.to_string()).bind(now_ms);
            // One statement, so the report is stored whole.
            Here::bind_rows(upsert, COLUMNS, rows.collect()).execute(self.pools().1).await?;
            self.wrote();
        }
        Ok(files.iter().map(|f| ReportedFile { progress: (*f).clone(), reported_at: rfc3339(now_ms) }).collect())
    }

    async fn progress(&self, project: Uuid, query: &ProgressQuery) -> StoreResult<ProgressReport> {
        // Only current members: a revoked member's last words no longer describe the
        // project. Byte order on both databases, so cursors mean the same.
        let order = Here::BYTE_ORDER;
        let mut q = QueryBuilder::<Db>::new(
            "SELECT p.user_id, u.name, p.path, p.state, p.percent, p.local_hash, p.error, p.reported_at \
             FROM member_progress p \
             JOIN members m ON m.project_id = p.project_id AND m.user_id = p.user_id AND m.status = 'accepted' \
             JOIN users u ON u.id = p.user_id WHERE p.project_id = ",
        );
        q.push_bind(project.to_string());
        if let Some(user) = query.user {
            q.push(" AND p.user_id = ").push_bind(user.to_string());
        }
        if let Some(after) = &query.after {
            q.push(format_args!(" AND (u.name{order} > ")).push_bind(after.name.clone());
            q.push(" OR (u.name = ").push_bind(after.name.clone());
            q.push(format_args!(" AND p.path{order} > ")).push_bind(after.path.clone()).push("))");
        }
        // One more than the page, to know whether more follow.
        let limit = i64::from(query.limit) + 1;
        q.push(format_args!(" ORDER BY u.name{order}, p.path{order} LIMIT ")).push_bind(limit);
        let rows: Vec<ProgressRow> = q.build_query_as().fetch_all(self.reader()).await?;
        page(rows, query.limit)
    }

    async fn known_paths(&self, project: Uuid, paths: &[&str]) -> StoreResult<HashSet<String>> {
        let mut conn = self.reader().acquire().await?;
        Ok(sequence::existing_paths(&mut conn, &project.to_string(), paths).await?.into_iter().collect())
    }
}
