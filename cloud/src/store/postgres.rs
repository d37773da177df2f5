//! PostgreSQL backend of [`Store`]: one connection pool, for one or several cloud nodes
//! sharing a database.
//!
//! Sequencing relies on the row lock that bumping `projects.last_seq` takes: writers of
//! one project queue on it, so seqs are dense and commit in order, whichever node writes.
//! Migrations run at connect under sqlx's advisory lock, so nodes may start together.

/// The shared queries, compiled for this store (and once more for the other).
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "instantiated once per backend on purpose")]
mod sql;
type Here = PostgresStore;

use std::time::Duration;

use cloud_protocol::{Event, FileProgress};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};

use super::StoreResult;
use super::backend::{Backend, Dialect, ON_FILE_CONFLICT, ON_PROGRESS_CONFLICT, Stamp};
use super::plan::{Delete, Upsert};
use super::rows::size_to_db;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per node: requests are short, and PostgreSQL's default limit (100) must
/// leave room for several nodes and the push listener.
const MAX_CONNECTIONS: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the first connection may take before start-up gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL-backed store. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`) and brings the schema up
    /// to date.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        // One direct connection first, so an unreachable server or a bad password fails
        // in seconds with the real cause; the pool would retry for its whole acquire timeout.
        let probe =
            tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await.map_err(|_| {
                sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer from PostgreSQL within {CONNECT_TIMEOUT:?}"),
                ))
            })??;
        probe.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// The pool, for what the store does not cover (LISTEN/NOTIFY between nodes).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Bulk writes go in as arrays through `UNNEST`: one statement and a handful of
/// parameters whatever the batch size, with the same SQL text every time, so it stays
/// prepared.
impl Backend for PostgresStore {
    type Db = Postgres;
    const DIALECT: Dialect = Dialect {
        // Whatever the database's collation, as on SQLite.
        byte_order: " COLLATE \"C\"",
        // The sequencer's first statement locks the project row: no lock up front.
        begin_write: "BEGIN",
        begin_snapshot: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };

    /// Reads and writes share the pool.
    fn pools(&self) -> (&PgPool, &PgPool) {
        (&self.pool, &self.pool)
    }

    async fn existing_paths(conn: &mut PgConnection, project: &str, paths: &[&str]) -> StoreResult<Vec<String>> {
        let sql = "SELECT path FROM remote_files WHERE project_id = $1 AND path = ANY($2::text[])";
        Ok(sqlx::query_scalar(sql).bind(project).bind(paths).fetch_all(conn).await?)
    }

    async fn insert_events(conn: &mut PgConnection, at: Stamp<'_>, events: &[Event]) -> StoreResult<()> {
        let sql = "INSERT INTO project_events (project_id, seq, path, op, hash, size, mtime, created_at) \
                   SELECT $1, e.seq, e.path, e.op, e.hash, e.size, e.mtime, $2 \
                   FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[]) \
                   AS e (seq, path, op, hash, size, mtime)";
        let column = |f: fn(&Event) -> Option<i64>| events.iter().map(f).collect::<Vec<_>>();
        let text = |f: fn(&Event) -> Option<&str>| events.iter().map(f).collect::<Vec<_>>();
        let insert = sqlx::query(sql).bind(at.project).bind(at.now_ms).bind(column(|e| Some(e.seq)));
        let insert = insert.bind(text(|e| Some(&e.change.path))).bind(text(|e| Some(e.change.op.as_str())));
        let insert = insert.bind(text(|e| e.change.hash.as_deref()));
        let insert = insert.bind(column(|e| e.change.size.map(size_to_db))).bind(column(|e| e.change.mtime));
        insert.execute(conn).await?;
        Ok(())
    }

    async fn upsert_files(conn: &mut PgConnection, project: &str, upserts: &[Upsert<'_>]) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO remote_files (project_id, path, size, hash, mtime, seq, version) \
             SELECT $1, f.path, f.size, f.hash, f.mtime, f.seq, 1 \
             FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[]) \
             AS f (path, size, hash, mtime, seq){ON_FILE_CONFLICT}"
        );
        let column = |f: fn(&Upsert<'_>) -> i64| upserts.iter().map(f).collect::<Vec<_>>();
        let upsert = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(project);
        let upsert = upsert.bind(upserts.iter().map(|u| u.path).collect::<Vec<_>>()).bind(column(|u| u.size));
        let upsert = upsert.bind(upserts.iter().map(|u| u.hash).collect::<Vec<_>>());
        upsert.bind(column(|u| u.mtime)).bind(column(|u| u.seq)).execute(conn).await?;
        Ok(())
    }

    async fn delete_files(conn: &mut PgConnection, at: Stamp<'_>, deletes: &[Delete<'_>]) -> StoreResult<()> {
        let sql = "UPDATE remote_files AS f SET \
                   deleted_by = CASE WHEN f.deleted_at IS NULL THEN $2 ELSE f.deleted_by END, \
                   deleted_at = COALESCE(f.deleted_at, $3), seq = gone.seq \
                   FROM UNNEST($4::text[], $5::bigint[]) AS gone (path, seq) \
                   WHERE f.project_id = $1 AND f.path = gone.path";
        let (paths, seqs): (Vec<&str>, Vec<i64>) = deletes.iter().map(|d| (d.path, d.seq)).unzip();
        let update = sqlx::query(sql).bind(at.project).bind(at.who).bind(at.now_ms);
        update.bind(paths).bind(seqs).execute(conn).await?;
        Ok(())
    }

    async fn upsert_progress(conn: &mut PgConnection, at: Stamp<'_>, files: &[&FileProgress]) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO member_progress (project_id, user_id, path, state, percent, local_hash, error, reported_at) \
             SELECT $1, $2, f.path, f.state, f.percent, f.local_hash, f.error, $3 \
             FROM UNNEST($4::text[], $5::text[], $6::float8[], $7::text[], $8::text[]) \
             AS f (path, state, percent, local_hash, error){ON_PROGRESS_CONFLICT}"
        );
        let text = |f: fn(&FileProgress) -> Option<&str>| files.iter().map(|p| f(p)).collect::<Vec<_>>();
        let upsert = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at.project).bind(at.who).bind(at.now_ms);
        let upsert = upsert.bind(text(|f| Some(&f.path))).bind(text(|f| Some(f.state.as_str())));
        let upsert = upsert.bind(files.iter().map(|f| f.percent).collect::<Vec<_>>());
        upsert.bind(text(|f| f.local_hash.as_deref())).bind(text(|f| f.error.as_deref())).execute(conn).await?;
        Ok(())
    }
}
