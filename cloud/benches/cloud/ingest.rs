//! Ingest: events/s through the HTTP API against plain batched `INSERT`s.
//!
//! The API side: `WRITERS` clients post batches of 1000 creates back to back (bodies
//! serialized before the clock starts, so the client's JSON work is not counted).
//! Each batch is validated, digested, sequenced and written (events, `remote_files`,
//! batch id) in one transaction, then pushed (nobody listens here).
//!
//! The baseline: the same rows, the same number of writers, one multi-row `INSERT` of
//! 1000 rows per transaction into `bench_raw_events`, a copy of `project_events` (same
//! columns, keys and checks) in the same database, through the same kind of pool the
//! store uses (SQLite: one connection, WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`;
//! PostgreSQL: a pool with one connection per writer). Seqs come from a counter in
//! the bench: the baseline does no sequencing, no validation and no HTTP — it is the
//! database's own speed for these rows, which the API can at best approach. A second
//! baseline runs the same rows from one writer: on PostgreSQL the raw writers insert
//! in parallel, while a project's batches are serial by design (dense seqs committed
//! in order), so this is the fairer ceiling for one project's stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use cloud::config::Database;
use cloud_protocol::{Change, Op, UpdateFilesRequest};
use reqwest::StatusCode;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, QueryBuilder};
use uuid::Uuid;

use crate::cpu::CpuTimes;
use crate::stats::{Percentiles, median, micros, thousands};
use crate::support::server::Client;
use crate::{Backend, Scale, ServerSide};

pub const BATCH: usize = 1000;
pub const WRITERS: usize = 4;

/// One backend's figures.
pub struct IngestFigures {
    pub backend: Backend,
    /// events/s of each API measurement.
    pub api: Vec<f64>,
    /// events/s of each baseline measurement, with `WRITERS` writers and with one.
    pub raw: Vec<f64>,
    pub raw1: Vec<f64>,
    /// Time of one API request (post → answer), over every measurement.
    pub request: Percentiles,
    /// Durability in effect, for the table's notes.
    pub durability: String,
    /// CPU spent over all API measurements, and over all baseline ones.
    pub api_cpu: CpuTimes,
    pub raw_cpu: CpuTimes,
    pub raw1_cpu: CpuTimes,
    pub events_per_measurement: usize,
}

/// The `n`-th batch of `writer` in measurement `tag`: 1000 creates of distinct paths
/// shaped like a media project's (so `remote_files` grows as it would).
fn changes(tag: &str, writer: usize, n: usize) -> Vec<Change> {
    (0..BATCH)
        .map(|i| {
            let unique = ((writer * 100_000 + n) * BATCH + i) as u64;
            let path = format!("footage/{tag}/cam-{writer}/reel-{n:04}/clip-{i:04}.mp4");
            Change::upsert(Op::Create, path, format!("blake3:{:064x}", unique), 10_000_000 + unique, 1_732_850_000_000)
        })
        .collect()
}

/// The baseline's pool and table, on the cloud's own database.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Raw {
    async fn open(database: &Database) -> Raw {
        match database {
            Database::Sqlite(path) => {
                // The options SqliteStore gives its single writer.
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full);
                let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.expect("raw pool");
                // The exact DDL of project_events, renamed: whatever the store's schema
                // becomes, the baseline writes the same kind of table.
                let ddl: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'project_events'")
                    .fetch_one(&pool)
                    .await
                    .expect("project_events DDL");
                let ddl = ddl.replacen("project_events", "bench_raw_events", 1);
                sqlx::query(sqlx::AssertSqlSafe(ddl)).execute(&pool).await.expect("create bench_raw_events");
                Raw::Sqlite(pool)
            }
            Database::Postgres(url) => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(WRITERS as u32)
                    .connect(url)
                    .await
                    .expect("raw pool");
                for ddl in [
                    "CREATE TABLE bench_raw_events (LIKE project_events INCLUDING ALL)",
                    // LIKE copies columns, keys and checks, not foreign keys.
                    "ALTER TABLE bench_raw_events ADD FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE",
                ] {
                    sqlx::query(ddl).execute(&pool).await.expect("create bench_raw_events");
                }
                Raw::Postgres(pool)
            }
        }
    }

    async fn durability(&self) -> String {
        match self {
            Raw::Sqlite(pool) => {
                let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.unwrap_or_default();
                let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.unwrap_or_default();
                format!("journal_mode={mode}, synchronous={}", if sync == 2 { "FULL".into() } else { sync.to_string() })
            }
            Raw::Postgres(pool) => {
                let mut parts = Vec::new();
                for setting in ["fsync", "synchronous_commit"] {
                    let value: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
                        .fetch_one(pool)
                        .await
                        .unwrap_or_default();
                    parts.push(format!("{setting}={value}"));
                }
                parts.join(", ")
            }
        }
    }

    /// One transaction with one multi-row INSERT of `changes` on seqs `first_seq..`.
    async fn insert(&self, project: &str, first_seq: i64, changes: &[Change], now_ms: i64) {
        macro_rules! rows {
            ($db:ty) => {{
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO bench_raw_events (project_id, seq, path, op, hash, size, mtime, created_at) ",
                );
                q.push_values((first_seq..).zip(changes), |mut row, (seq, c)| {
                    row.push_bind(project)
                        .push_bind(seq)
                        .push_bind(c.path.as_str())
                        .push_bind(c.op.as_str())
                        .push_bind(c.hash.as_deref())
                        .push_bind(c.size.map(|s| s as i64))
                        .push_bind(c.mtime)
                        .push_bind(now_ms);
                });
                q
            }};
        }
        match self {
            Raw::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.expect("begin");
                rows!(sqlx::Sqlite).build().execute(&mut *tx).await.expect("insert");
                tx.commit().await.expect("commit");
            }
            Raw::Postgres(pool) => {
                let mut tx = pool.begin().await.expect("begin");
                rows!(sqlx::Postgres).build().execute(&mut *tx).await.expect("insert");
                tx.commit().await.expect("commit");
            }
        }
    }
}

/// Inserts `rows` (one list of batches per writer) into the baseline table; returns
/// events/s and the CPU spent.
async fn measure_raw(
    server: &ServerSide,
    raw: &Arc<Raw>,
    project: Uuid,
    next_seq: &Arc<AtomicI64>,
    rows: Vec<Vec<Vec<Change>>>,
) -> (f64, CpuTimes) {
    let events: usize = rows.iter().flatten().map(Vec::len).sum();
    let (started, cpu) = (Instant::now(), CpuTimes::now());
    let writers: Vec<_> = rows
        .into_iter()
        .map(|batches| {
            let (raw, next) = (Arc::clone(raw), Arc::clone(next_seq));
            let project = project.to_string();
            server.handle.spawn(async move {
                for batch in batches {
                    let first = next.fetch_add(batch.len() as i64, Ordering::SeqCst);
                    raw.insert(&project, first, &batch, cloud::store::now_ms()).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("raw writer");
    }
    (events as f64 / started.elapsed().as_secs_f64(), CpuTimes::now().since(cpu))
}

/// Raw and API measurements, alternating, on one fresh database.
pub async fn run(server: &ServerSide, backend: Backend, scale: Scale) -> IngestFigures {
    let (database, _dir) = backend.fresh().await;
    let cloud = server.start_cloud(database.clone()).await;
    let (_, token) = server.add_user(&cloud, "bench-owner").await;
    let client = Client::new(&cloud.url(), Some(token.clone()));
    let project = client.create_project("Ingest", "ingest-folder").await.id;
    let raw = Arc::new(server.run(async move { Raw::open(&database).await }).await);
    let durability = {
        let raw = Arc::clone(&raw);
        server.run(async move { raw.durability().await }).await
    };

    let per_measurement = WRITERS * scale.ingest_batches_per_writer * BATCH;
    let (mut api, mut raw_eps, mut request_us) = (Vec::new(), Vec::new(), Vec::new());
    let (mut api_cpu, mut raw_cpu, mut raw1_cpu) = (CpuTimes::default(), CpuTimes::default(), CpuTimes::default());
    let mut raw1_eps = Vec::new();
    let next_raw_seq = Arc::new(AtomicI64::new(1));
    for round in 0..scale.ingest_rounds {
        // Baselines first, each on the same rows: with as many writers as the API
        // has, and with one (what a single sequenced stream could at best do).
        for (writers, eps, cpu) in [(WRITERS, &mut raw_eps, &mut raw_cpu), (1, &mut raw1_eps, &mut raw1_cpu)] {
            let tag = format!("raw{round}-{writers}");
            let mut rows: Vec<Vec<Vec<Change>>> = vec![Vec::new(); writers];
            for w in 0..WRITERS {
                for n in 0..scale.ingest_batches_per_writer {
                    rows[w % writers].push(changes(&tag, w, n));
                }
            }
            let (rate, spent) = measure_raw(server, &raw, project, &next_raw_seq, rows).await;
            eps.push(rate);
            *cpu = cpu.plus(spent);
        }

        let tag = format!("api{round}");
        let bodies: Vec<Vec<String>> = (0..WRITERS)
            .map(|w| {
                (0..scale.ingest_batches_per_writer)
                    .map(|n| {
                        let body = UpdateFilesRequest { batch_id: Uuid::new_v4(), changes: changes(&tag, w, n) };
                        serde_json::to_string(&body).expect("body")
                    })
                    .collect()
            })
            .collect();
        let path = format!("/api/projects/{project}/files/update");
        let (started, cpu) = (Instant::now(), CpuTimes::now());
        let writers: Vec<_> = bodies
            .into_iter()
            .map(|bodies| {
                let (client, path) = (client.clone(), path.clone());
                tokio::spawn(async move {
                    let mut times = Vec::with_capacity(bodies.len());
                    for body in bodies {
                        let sent = Instant::now();
                        let resp = client.post_serialized(&path, body).await.expect("post batch");
                        let status = resp.status();
                        let text = resp.text().await.expect("answer");
                        assert_eq!(status, StatusCode::OK, "batch refused: {text}");
                        times.push(micros(sent.elapsed()));
                    }
                    times
                })
            })
            .collect();
        for writer in writers {
            request_us.extend(writer.await.expect("api writer"));
        }
        api.push(per_measurement as f64 / started.elapsed().as_secs_f64());
        api_cpu = api_cpu.plus(CpuTimes::now().since(cpu));
    }
    // Everything sent is in the log, densely: the figures count real, stored events.
    let last_seq = client.project(project).await.last_seq;
    assert_eq!(last_seq as usize, per_measurement * scale.ingest_rounds, "events missing after ingest");
    server.run(cloud.shutdown()).await;
    let request = Percentiles::of_micros(&mut request_us);
    IngestFigures {
        backend,
        api,
        raw: raw_eps,
        raw1: raw1_eps,
        request,
        durability,
        api_cpu,
        raw_cpu,
        raw1_cpu,
        events_per_measurement: per_measurement,
    }
}

/// The Markdown table of every backend's figures.
pub fn table(figures: &[IngestFigures]) -> String {
    let mut out = format!(
        "### Ingest — batches of {BATCH}, {WRITERS} writers, rate limit off (median of the measurements)\n\n\
         | backend | API events/s | raw INSERT events/s | API ÷ raw | raw, 1 writer | API ÷ raw, 1 writer | API request p50 / p99 / max | all API runs | all raw runs | all raw runs, 1 writer | durability |\n\
         |---|---:|---:|---:|---:|---:|---|---|---|---|---|\n"
    );
    for f in figures {
        let (api, raw, raw1) = (median(&f.api), median(&f.raw), median(&f.raw1));
        let list = |v: &[f64]| v.iter().map(|x| thousands(*x)).collect::<Vec<_>>().join(", ");
        out.push_str(&format!(
            "| {} | {} | {} | {:.2} | {} | {:.2} | {} | {} | {} | {} | {} |\n",
            f.backend.name(),
            thousands(api),
            thousands(raw),
            api / raw,
            thousands(raw1),
            api / raw1,
            f.request.ms(),
            list(&f.api),
            list(&f.raw),
            list(&f.raw1),
            f.durability
        ));
    }
    out.push_str(
        "\nCPU per 1,000 events, over every measurement (cloud = its runtime: HTTP, JSON, validation, digest, \
         and PostgreSQL I/O; database = SQLite's worker threads, or the PostgreSQL processes this bench started):\n\n\
         | backend | API: cloud | API: database | API: clients | raw: database | raw: bench writers | raw, 1 writer: database |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for f in figures {
        let per_k = |d: std::time::Duration, runs: usize| {
            format!("{:.1} ms", d.as_secs_f64() * 1e3 * 1000.0 / (runs * f.events_per_measurement) as f64)
        };
        let (api_runs, raw_runs) = (f.api.len(), f.raw.len());
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            f.backend.name(),
            per_k(f.api_cpu.server, api_runs),
            per_k(f.api_cpu.sqlite + f.api_cpu.postgres, api_runs),
            per_k(f.api_cpu.clients, api_runs),
            per_k(f.raw_cpu.sqlite + f.raw_cpu.postgres, raw_runs),
            per_k(f.raw_cpu.server, raw_runs),
            per_k(f.raw1_cpu.sqlite + f.raw1_cpu.postgres, f.raw1.len()),
        ));
    }
    out
}
