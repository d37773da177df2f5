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

use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};

use super::StoreResult;
use super::backend::{self, Backend, Query};

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

impl Backend for PostgresStore {
    type Db = Postgres;
    /// Whatever the database's collation, as on SQLite.
    const BYTE_ORDER: &str = " COLLATE \"C\"";
    /// The sequencer's first statement locks the project row: no lock up front.
    const BEGIN_WRITE: &str = "BEGIN";
    const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

    /// Reads and writes share the pool.
    fn pools(&self) -> (&PgPool, &PgPool) {
        (&self.pool, &self.pool)
    }

    /// One array per column, through `UNNEST`: arrays travel in binary, which
    /// PostgreSQL reads faster than it parses JSON.
    fn rows(n: usize, alias: &str, columns: &str) -> String {
        let arrays: Vec<String> =
            (n..).zip(backend::columns(columns)).map(|(i, (_, ty))| format!("${i}::{ty}[]")).collect();
        let names: Vec<&str> = backend::columns(columns).map(|(name, _)| name).collect();
        format!("UNNEST({}) AS {alias} ({})", arrays.join(", "), names.join(", "))
    }

    fn bind_rows<'q>(mut query: Query<'q, Self>, columns: &str, rows: Vec<Value>) -> Query<'q, Self> {
        for (i, (_, ty)) in backend::columns(columns).enumerate() {
            let cells = rows.iter().map(|row| &row[i]);
            query = match ty {
                "bigint" => query.bind(cells.map(Value::as_i64).collect::<Vec<_>>()),
                "float8" => query.bind(cells.map(Value::as_f64).collect::<Vec<_>>()),
                _ => query.bind(cells.map(Value::as_str).collect::<Vec<_>>()),
            };
        }
        query
    }
}
