//! CPU time used by this process's threads, by role, from `/proc/self/task`.
//!
//! The machine is shared (other builds run beside the bench), so wall-clock figures
//! move with the load; the CPU the cloud itself spent per delivered frame does not,
//! and it says how many subscribers a core can feed. Roles follow thread names: the
//! cloud's runtime threads are named `cloud-server`, the clients' `bench-client`, and
//! sqlx names its SQLite worker threads `sqlx-sqlite-worker-N`. The PostgreSQL the
//! bench starts is a child process: its server and backends are counted too
//! (reaped backends through the server's children-time fields).

use std::path::Path;
use std::time::Duration;

/// Clock ticks per second in `/proc/*/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_S: u64 = 100;

/// CPU time per role at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    /// The cloud's runtime (HTTP, push, PostgreSQL I/O).
    pub server: Duration,
    /// SQLite's worker threads (the store's queries).
    pub sqlite: Duration,
    /// The bench's clients (writer and subscribers).
    pub clients: Duration,
    /// The PostgreSQL server this process started, with its backends.
    pub postgres: Duration,
}

impl CpuTimes {
    pub fn now() -> CpuTimes {
        let mut times = CpuTimes::default();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return times };
        for task in tasks.flatten() {
            let path = task.path();
            for child in children(&path) {
                let child = Path::new("/proc").join(child);
                if comm(&child).as_deref() == Some("postgres") {
                    // The server: itself, its reaped backends, and its live ones.
                    times.postgres += ticks(&child, &[11, 12, 13, 14]);
                    for backend in children(&child.join("task").join(child.file_name().unwrap_or_default())) {
                        times.postgres += ticks(&Path::new("/proc").join(backend), &[11, 12]);
                    }
                }
            }
            let (Some(comm), spent) = (comm(&path), ticks(&path, &[11, 12])) else { continue };
            if comm.starts_with("cloud-server") {
                times.server += spent;
            } else if comm.starts_with("sqlx-sqlite") {
                times.sqlite += spent;
            } else if comm.starts_with("bench-client") {
                times.clients += spent;
            }
        }
        times
    }

    /// Both added up.
    pub fn plus(self, other: CpuTimes) -> CpuTimes {
        CpuTimes {
            server: self.server + other.server,
            sqlite: self.sqlite + other.sqlite,
            clients: self.clients + other.clients,
            postgres: self.postgres + other.postgres,
        }
    }

    /// What was spent since `earlier`.
    pub fn since(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            server: self.server.saturating_sub(earlier.server),
            sqlite: self.sqlite.saturating_sub(earlier.sqlite),
            clients: self.clients.saturating_sub(earlier.clients),
            postgres: self.postgres.saturating_sub(earlier.postgres),
        }
    }
}

fn comm(proc_dir: &Path) -> Option<String> {
    std::fs::read_to_string(proc_dir.join("comm")).ok().map(|c| c.trim().to_owned())
}

/// CPU time from the `stat` fields at `indexes`, counted after the `(comm)` part
/// (index 11 is utime, 12 stime, 13 and 14 the same for reaped children).
fn ticks(proc_dir: &Path, indexes: &[usize]) -> Duration {
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else { return Duration::ZERO };
    let Some((_, rest)) = stat.rsplit_once(") ") else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = indexes.iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 1000 / TICKS_PER_S)
}

/// Process ids a thread (`/proc/PID/task/TID`) started.
fn children(task_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(task_dir.join("children"))
        .map(|c| c.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}
