//! Soak: the whole product running for a while under a steady mix of work,
//! every process real (`cloud serve`, a Syncthing pair, the owner's and the
//! invitee's `companion run`). Every 10 s it samples each process's resident
//! memory, open descriptors and threads from /proc, the owner's outbox and
//! the cloud's push lag (its last seq minus the invitee's cursor) into a CSV.
//! Afterwards it must hold that resident memory and descriptors show no
//! growth trend after warm-up (least-squares slope under a bound a leak would
//! exceed), that every file ends ✓ on the invitee with the owner's bytes
//! (hashed here, from outside), and that no event was lost: the cloud's log
//! has every seq once, the invitee's cursor reached the last one and its view
//! of every path is the cloud's last word on it.
//!
//! `SOAK_SECS` sets the length of the workload (default 180 s, the suite's
//! run; `scripts/soak` runs 1800 s), `SOAK_OUT` the directory of the CSV and
//! of the summary table (default `target/soak`). Not in the nextest passes
//! (`.config/nextest.toml`'s default filter): `scripts/test` runs it beside pass 2.

mod sample;
mod trend;
mod workload;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use cloud_protocol::{Change, EventsPage, Op};
use companion::manifest::Manifest;
use e2e::{Stack, StackOptions};
use sample::{ProcFigures, Sample, proc_figures};
use serde_json::Value;
use syncthing_fixtures::poll::try_eventually_async;
use tokio::time::Instant;
use trend::{Trend, trend};
use workload::{Workload, disk_hash};

/// The watched processes, in CSV column order.
pub const WATCHED: [&str; 5] = ["cloud", "owner", "invitee", "st_owner", "st_invitee"];
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// One small-file operation this often.
const STEP_EVERY: Duration = Duration::from_millis(1000);
/// A large file this often, under the invitee's receive limit.
const BIG_EVERY: Duration = Duration::from_secs(45);
const BIG_BYTES: usize = 8 << 20;
const RECV_LIMIT_KIBPS: u32 = 2048;
/// After the workload, how long everything may take to settle.
const SETTLE_WITHIN: Duration = Duration::from_secs(240);

/// Resident memory may not grow faster than this after warm-up (MiB/min, in
/// [`WATCHED`] order). The workload makes ~75 events/min and hashes ~12 MiB/min
/// (small files and the large ones), so a cloud or companion keeping anything
/// per byte it handles (a buffer per file, say) grows several MiB a minute;
/// our three processes stay near 0.1 (the cloud's SQLite caching its growing
/// event log). Syncthing's is Go's collected heap, which swings by 40 MiB as
/// the large files pass: over the 3-minute run's 2-minute window only a
/// runaway Syncthing is caught; the 30-minute run's slopes are in BENCHMARKS.md.
const RSS_BOUND_MIB_PER_MIN: [f64; 5] = [4.0, 4.0, 4.0, 24.0, 24.0];
/// Open descriptors may not grow faster than this after warm-up: a leak of
/// one descriptor per operation would add 60 a minute.
const FD_BOUND_PER_MIN: f64 = 3.0;

#[tokio::test(flavor = "multi_thread")]
async fn soak() {
    let secs: u64 = std::env::var("SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(180);
    let out = std::env::var_os("SOAK_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/soak"));
    let mut dir = tempfile::tempdir().unwrap();
    let options = StackOptions {
        fs_watcher_delay_s: 1,
        invitee_recv_limit_kibps: Some(RECV_LIMIT_KIBPS),
        ..StackOptions::default()
    };
    let mut stack = Stack::start(dir.path(), options).await.unwrap();
    let result = run(&stack, Duration::from_secs(secs), &out).await;
    stack.stop_after(&mut dir, result).await.unwrap();
}

async fn run(stack: &Stack, length: Duration, out: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let csv = out.join(format!("soak-{}s.csv", length.as_secs()));
    std::fs::write(&csv, sample::csv_header(&WATCHED))?;
    let pids = [
        stack.cloud.proc.pid(),
        stack.owner.pid(),
        stack.invitee.pid(),
        stack.cluster.node(0).pid(),
        stack.cluster.node(1).pid(),
    ]
    .map(|p| p.context("a watched process is not running"))
    .into_iter()
    .collect::<anyhow::Result<Vec<u32>>>()?;
    let log = EventLog::new(stack);
    let mut work = Workload::new(&stack.owner_folder(), BIG_BYTES);
    work.seed()?;

    let start = Instant::now();
    let mut samples = Vec::new();
    let (mut next_sample, mut next_big) = (start, start);
    let mut step = tokio::time::interval(STEP_EVERY);
    while start.elapsed() < length {
        step.tick().await;
        if Instant::now() >= next_big {
            work.big()?;
            next_big += BIG_EVERY;
        }
        work.step()?;
        if Instant::now() >= next_sample {
            let s = take_sample(stack, &pids, &log, start, work.files.len()).await?;
            sample::append(&csv, &s.csv_row())?;
            samples.push(s);
            next_sample += SAMPLE_EVERY;
        }
    }
    let counts = work.counts;
    eprintln!("workload done after {:?}: {counts:?}, {} files", start.elapsed(), work.files.len());

    let settled_at = Instant::now();
    try_eventually_async(
        "everything to settle (outbox empty, invitee caught up, every file ✓)",
        SETTLE_WITHIN,
        || settled(stack, &log, &work),
    )
    .await?;
    let events = log.catch_up().await?.seq;
    eprintln!("settled {:?} after the workload, at seq {events}", settled_at.elapsed());

    // Trends after warm-up: a tenth of the run, at least a minute.
    let warm_up = (length.as_secs_f64() / 10.0).max(60.0);
    let late: Vec<&Sample> = samples.iter().filter(|s| s.t_s >= warm_up).collect();
    let mut table = format!(
        "{} s workload ({} creates, {} edits, {} renames, {} deletes, {} large writes of {} MiB; {} events), \
         {} samples, slopes over the {} after {warm_up:.0} s\n\n\
         | process | RSS slope (MiB/min) | RSS min–max (MiB) | fds slope (/min) | fds min–max | threads min–max |\n\
         |---|---:|---:|---:|---:|---:|\n",
        length.as_secs(),
        counts.creates,
        counts.edits,
        counts.renames,
        counts.deletes,
        counts.big_writes,
        BIG_BYTES >> 20,
        events,
        samples.len(),
        late.len(),
    );
    let mut failures = Vec::new();
    for (i, name) in WATCHED.iter().enumerate() {
        let series = |f: fn(&ProcFigures) -> u64| -> anyhow::Result<Trend> {
            let points: Vec<(f64, f64)> = late.iter().map(|s| (s.t_s, f(&s.procs[i]) as f64)).collect();
            trend(&points).context("too few samples after warm-up for a trend")
        };
        let (rss, fds, threads) = (series(|p| p.rss_kib)?, series(|p| p.fds)?, series(|p| p.threads)?);
        writeln!(
            table,
            "| {name} | {:+.3} | {:.1}–{:.1} | {:+.2} | {:.0}–{:.0} | {:.0}–{:.0} |",
            rss.per_min / 1024.0,
            rss.min / 1024.0,
            rss.max / 1024.0,
            fds.per_min,
            fds.min,
            fds.max,
            threads.min,
            threads.max
        )?;
        if rss.per_min / 1024.0 > RSS_BOUND_MIB_PER_MIN[i] {
            failures.push(format!(
                "{name}: resident memory grows {:.2} MiB/min (bound {})",
                rss.per_min / 1024.0,
                RSS_BOUND_MIB_PER_MIN[i]
            ));
        }
        if fds.per_min > FD_BOUND_PER_MIN {
            failures.push(format!("{name}: open descriptors grow {:.2}/min (bound {FD_BOUND_PER_MIN})", fds.per_min));
        }
    }
    let outbox_max = samples.iter().map(|s| s.outbox_changes).max().unwrap_or(0);
    let lag_max = samples.iter().map(|s| s.lag_events).max().unwrap_or(0);
    writeln!(
        table,
        "\nowner outbox ≤ {outbox_max} changes, push lag ≤ {lag_max} events at the samples; CSV {}",
        csv.display()
    )?;
    eprintln!("{table}");
    std::fs::write(out.join(format!("soak-{}s.md", length.as_secs())), &table)?;
    if !failures.is_empty() {
        bail!("growth after warm-up:\n{}", failures.join("\n"));
    }
    Ok(())
}

/// One row: each process's figures, the owner's outbox, the cloud's seq and
/// how far the invitee's cursor is behind it.
async fn take_sample(
    stack: &Stack,
    pids: &[u32],
    log: &EventLog,
    start: Instant,
    files: usize,
) -> anyhow::Result<Sample> {
    let t_s = start.elapsed().as_secs_f64();
    let procs = pids.iter().map(|&pid| proc_figures(pid)).collect::<anyhow::Result<Vec<_>>>()?;
    let outbox_changes = outbox(stack)?;
    let cloud_seq = log.catch_up().await?.seq;
    let invitee_seq = project(&stack.invitee.status_json().await?)?["last_seq"].as_i64().unwrap_or(0);
    Ok(Sample { t_s, procs, outbox_changes, lag_events: cloud_seq - invitee_seq, cloud_seq, files })
}

/// Changes waiting in the owner's outbox.
fn outbox(stack: &Stack) -> anyhow::Result<u64> {
    let manifest = Manifest::open_in(&stack.owner.state_dir())?;
    Ok(manifest.pending_count(None)?.changes)
}

fn project(status: &Value) -> anyhow::Result<&Value> {
    status["projects"].get(0).with_context(|| format!("no project in {status}"))
}

/// `Ok` once the run has settled and every promise holds; `Err` says what is missing.
async fn settled(stack: &Stack, log: &EventLog, work: &Workload) -> Result<(), String> {
    let outbox = outbox(stack).map_err(|e| e.to_string())?;
    if outbox > 0 {
        return Err(format!("{outbox} changes still in the owner's outbox"));
    }
    let log = log.catch_up().await.map_err(|e| e.to_string())?;
    // The cloud's last word on each path is the owner's final state.
    for name in Workload::all_names() {
        let last = log.last.get(&name);
        match (work.files.get(&name), last) {
            (Some(hash), Some(c)) if c.op != Op::Delete && c.hash.as_ref() == Some(hash) => {}
            (None, None) => {}
            (None, Some(c)) if c.op == Op::Delete => {}
            (want, got) => return Err(format!("the cloud's last change of {name} is {got:?}, the owner has {want:?}")),
        }
    }
    let status = stack.invitee.status_json().await.map_err(|e| e.to_string())?;
    let project = project(&status).map_err(|e| e.to_string())?;
    let cursor = project["last_seq"].as_i64().unwrap_or(0);
    if cursor != log.seq {
        return Err(format!("the invitee's cursor is at seq {cursor}, the cloud's log at {}", log.seq));
    }
    let shown: BTreeMap<&str, &Value> =
        project["files"].as_array().into_iter().flatten().filter_map(|f| Some((f["path"].as_str()?, f))).collect();
    let invitee_folder = stack.invitee_folder();
    for (path, entry) in &shown {
        match work.files.get(*path) {
            Some(hash) => {
                let shows = (&entry["state"], &entry["expected_hash"], &entry["local_hash"]);
                if shows != (&Value::from("synced"), &Value::from(hash.as_str()), &Value::from(hash.as_str())) {
                    return Err(format!("the invitee shows {path} as {entry}, expected ✓ with {hash}"));
                }
                // From outside: the bytes on the invitee's disk are the owner's.
                let on_disk = disk_hash(&invitee_folder.join(path)).map_err(|e| e.to_string())?;
                if &on_disk != hash {
                    return Err(format!("{path} on the invitee's disk hashes to {on_disk}, the owner's to {hash}"));
                }
            }
            None if entry["state"] == "deleted" && !invitee_folder.join(path).exists() => {}
            None => return Err(format!("the invitee shows {path} as {entry}, but the owner deleted it")),
        }
    }
    if let Some(missing) = work.files.keys().find(|p| !shown.contains_key(p.as_str())) {
        return Err(format!("the invitee does not show {missing}"));
    }
    Ok(())
}

/// The cloud's event log, read from the start with the owner's token: every
/// seq must come exactly once, in order.
struct EventLog {
    http: reqwest::Client,
    url: String,
    token: String,
    // Behind a lock: the settle probe reads it from a closure called again and again.
    read: tokio::sync::Mutex<LogRead>,
}

/// What the log said so far.
#[derive(Debug, Clone, Default)]
struct LogRead {
    /// The last seq read.
    seq: i64,
    /// Each path's last change.
    last: BTreeMap<String, Change>,
}

impl EventLog {
    fn new(stack: &Stack) -> EventLog {
        EventLog {
            // The cloud closes a keep-alive connection idle for its header read
            // timeout (10 s), the sampling period: a pooled connection reused
            // just then dies mid-request. Drop idle ones sooner instead.
            http: reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(4)).build().expect("http client"),
            url: format!("{}/api/projects/{}/events", stack.cloud.url, stack.project_id),
            token: stack.owner_user.token.clone(),
            read: tokio::sync::Mutex::default(),
        }
    }

    /// Reads every event after the last one read; what was read so far.
    async fn catch_up(&self) -> anyhow::Result<LogRead> {
        let mut read = self.read.lock().await;
        loop {
            let response = self
                .http
                .get(&self.url)
                .query(&[("since_seq", read.seq)])
                .bearer_auth(&self.token)
                .send()
                .await?
                .error_for_status()?;
            let page: EventsPage = response.json().await?;
            for event in page.events {
                if event.seq != read.seq + 1 {
                    bail!("the cloud's log went from seq {} to {}: an event lost or repeated", read.seq, event.seq);
                }
                read.seq = event.seq;
                read.last.insert(event.change.path.clone(), event.change);
            }
            if !page.has_more {
                return Ok(read.clone());
            }
        }
    }
}
