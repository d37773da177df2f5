//! The cloud's speed, in one run (`cargo bench -p cloud --bench cloud`):
//!
//! - **ingest**: events/s through `POST …/files/update` (batches of 1000, several
//!   writers, rate limit off) against the baseline of plain multi-row `INSERT`s of the
//!   same rows into a copy of `project_events` on the same database, through the same
//!   kind of sqlx pool; on SQLite and on PostgreSQL. The ratio is what matters: both
//!   sides run on the same machine, database and durability settings, minutes apart.
//! - **delivery**: commit → received latency over WebSocket with 1,000 subscribers on
//!   one project while a writer commits 1,000 events/s, and whether every subscriber
//!   got every event.
//!
//! The cloud runs in this process on a runtime of its own (two workers, like a
//! `cloud serve` on this 2-core machine), and the clients on another, so that client
//! and server times are read from one clock. Results are printed as Markdown tables,
//! ready for BENCHMARKS.md. `CLOUD_BENCH_QUICK=1` runs a smaller version (to check the
//! bench itself, not for figures); `CLOUD_BENCH_ONLY=ingest|delivery` and
//! `CLOUD_BENCH_BACKEND=sqlite|postgres` and `CLOUD_BENCH_PACE=fine|coarse` narrow it; `TEST_DATABASE_URL` points
//! PostgreSQL runs at an existing server instead of the throwaway one
//! `support::postgres` starts.

use e2e::kit::support;

mod cpu;
mod delivery;
mod ingest;
mod stats;

use std::future::Future;
use std::time::Duration;

use cloud::config::Database;
use cloud::state::Settings;
use support::server::TestCloud;
use tempfile::TempDir;
use tokio::runtime::{Builder, Handle, Runtime};

/// The two databases the cloud supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }

    /// A new, empty database; the temp dir (SQLite) must live as long as it is used.
    pub async fn fresh(self) -> (Database, Option<TempDir>) {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                (Database::in_dir(dir.path()), Some(dir))
            }
            Backend::Postgres => (Database::Postgres(support::postgres::fresh_database().await), None),
        }
    }
}

/// Where the cloud runs: a runtime the clients do not share.
#[derive(Clone)]
pub struct ServerSide {
    handle: Handle,
}

impl ServerSide {
    /// Starts a cloud on `database` with the rate limit off (the bench is one token
    /// sending as fast as it can, which the limit exists to stop).
    pub async fn start_cloud(&self, database: Database) -> TestCloud {
        let settings = Settings { rate_limit_per_s: 0, ..Settings::default() };
        self.run(TestCloud::start(database, settings, None)).await
    }

    /// Runs `work` on the server's runtime and waits for it.
    pub async fn run<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> T {
        self.handle.spawn(work).await.expect("server-side task")
    }

    /// A new user made through the store, as `cloud user add` does: `(id, token)`.
    pub async fn add_user(&self, cloud: &TestCloud, name: &str) -> (uuid::Uuid, String) {
        let store = cloud.store();
        let name = name.to_owned();
        self.run(async move {
            let token = cloud::auth::generate_token();
            let user = store.create_user(&name, cloud::auth::digest(&token), cloud::store::now_ms()).await;
            (user.expect("add user").id, token)
        })
        .await
    }
}

/// The run's size: the full one for figures, or a quick one to check the bench.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Ingest measurements per kind (raw, API), alternating; the median is reported.
    pub ingest_rounds: usize,
    /// Batches of 1000 each ingest writer sends per measurement.
    pub ingest_batches_per_writer: usize,
    pub subscribers: usize,
    /// Delivery run length, at 100 batches of 10 events per second.
    pub delivery_seconds: u64,
    /// `CLOUD_BENCH_ONLY=ingest|delivery`: one part only (while working on it).
    pub only: Option<&'static str>,
    /// `CLOUD_BENCH_BACKEND=sqlite|postgres`: one backend only.
    pub backend: Option<Backend>,
    /// `CLOUD_BENCH_PACE=fine|coarse`: one delivery pace only.
    pub pace: Option<delivery::Pace>,
}

impl Scale {
    fn from_env() -> Scale {
        let var =
            |name: &str| std::env::var(name).ok().map(|v| v.trim().to_ascii_lowercase()).filter(|v| !v.is_empty());
        let only = match var("CLOUD_BENCH_ONLY").as_deref() {
            None => None,
            Some("ingest") => Some("ingest"),
            Some("delivery") => Some("delivery"),
            Some(other) => panic!("CLOUD_BENCH_ONLY={other}: use ingest or delivery"),
        };
        let backend = match var("CLOUD_BENCH_BACKEND").as_deref() {
            None => None,
            Some("sqlite") => Some(Backend::Sqlite),
            Some("postgres" | "postgresql") => Some(Backend::Postgres),
            Some(other) => panic!("CLOUD_BENCH_BACKEND={other}: use sqlite or postgres"),
        };
        let pace = match var("CLOUD_BENCH_PACE").as_deref() {
            None => None,
            Some("fine") => Some(delivery::Pace::FINE),
            Some("coarse") => Some(delivery::Pace::COARSE),
            Some(other) => panic!("CLOUD_BENCH_PACE={other}: use fine or coarse"),
        };
        let full = Scale {
            ingest_rounds: 5,
            ingest_batches_per_writer: 25,
            subscribers: 1000,
            delivery_seconds: 10,
            only,
            backend,
            pace,
        };
        match var("CLOUD_BENCH_QUICK").as_deref() {
            None | Some("0") => full,
            Some(_) => {
                Scale { ingest_rounds: 1, ingest_batches_per_writer: 5, subscribers: 100, delivery_seconds: 2, ..full }
            }
        }
    }

    fn backends(self) -> Vec<Backend> {
        [Backend::Sqlite, Backend::Postgres]
            .into_iter()
            .filter(|b| self.backend.is_none_or(|only| only == *b))
            .collect()
    }

    fn paces(self) -> Vec<delivery::Pace> {
        self.pace.map_or_else(|| vec![delivery::Pace::FINE, delivery::Pace::COARSE], |pace| vec![pace])
    }

    fn runs(self, part: &str) -> bool {
        self.only.is_none_or(|only| only == part)
    }
}

/// 1,000 subscribers hold 2,000 sockets in this process (both ends), plus the
/// database's files: lift the soft open-file limit to the hard one.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                eprintln!("warning: cannot raise the open-file limit from {soft} to {hard}: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot read the open-file limit: {e}"),
    }
    if let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < 4096
    {
        eprintln!("warning: open-file limit {soft} is below the ~2,100 the delivery run needs (ulimit -n)");
    }
}

fn runtime(name: &str) -> Runtime {
    Builder::new_multi_thread().worker_threads(2).thread_name(name).enable_all().build().expect("tokio runtime")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    // `cargo bench` passes `--bench`; a harness = false binary just ignores it.
    raise_open_file_limit();
    let scale = Scale::from_env();
    let server_rt = runtime("cloud-server");
    let client_rt = runtime("bench-client");
    let server = ServerSide { handle: server_rt.handle().clone() };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    println!("cloud bench — {date}, {cores} cores, load average at start {}, {scale:?}\n", loadavg());

    let mut ingests = Vec::new();
    let mut deliveries = Vec::new();
    client_rt.block_on(async {
        for backend in scale.backends() {
            if scale.runs("ingest") {
                eprintln!("ingest on {} …", backend.name());
                ingests.push(ingest::run(&server, backend, scale).await);
            }
        }
        for backend in scale.backends() {
            if scale.runs("delivery") {
                for pace in scale.paces() {
                    eprintln!("delivery on {} at {pace:?} …", backend.name());
                    deliveries.push(delivery::run(&server, backend, scale, pace).await);
                }
            }
        }
    });

    println!("{}", ingest::table(&ingests));
    println!("{}", delivery::table(&deliveries, scale));
    println!("load average at end: {} (1, 5, 15 min; other work on the machine skews the figures)", loadavg());
    // Sockets and pools wind down with their runtimes; nothing left to wait for.
    client_rt.shutdown_timeout(Duration::from_secs(5));
    server_rt.shutdown_timeout(Duration::from_secs(5));
}
