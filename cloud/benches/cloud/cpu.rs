//! CPU time used by this process's threads, by role, from `/proc/self/task`.
//!
//! The machine is shared (other builds run beside the bench), so wall-clock figures
//! move with the load; the CPU the cloud itself spent per delivered frame does not,
//! and it says how many subscribers a core can feed. Roles follow thread names: the
//! cloud's runtime threads are named `cloud-server`, the clients' `bench-client`, and
//! sqlx names its SQLite worker threads `sqlx-sqlite-worker-N`.

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
}

impl CpuTimes {
    pub fn now() -> CpuTimes {
        let mut times = CpuTimes::default();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return times };
        for task in tasks.flatten() {
            let path = task.path();
            let (Ok(comm), Ok(stat)) =
                (std::fs::read_to_string(path.join("comm")), std::fs::read_to_string(path.join("stat")))
            else {
                continue;
            };
            // Fields after the `(comm)` part: state is field 3, utime 14 and stime 15.
            let Some(rest) = stat.rsplit_once(") ").map(|(_, rest)| rest) else { continue };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
            let spent = Duration::from_millis(ticks * 1000 / TICKS_PER_S);
            let comm = comm.trim();
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

    /// What was spent since `earlier`.
    pub fn since(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            server: self.server.saturating_sub(earlier.server),
            sqlite: self.sqlite.saturating_sub(earlier.sqlite),
            clients: self.clients.saturating_sub(earlier.clients),
        }
    }
}
