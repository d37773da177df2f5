//! What the soak samples every few seconds, read from outside the processes:
//! resident memory and threads from `/proc/PID/status`, open descriptors
//! from `/proc/PID/fd`, and the rows of the CSV the plot is drawn from.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

/// One process's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcFigures {
    pub rss_kib: u64,
    pub threads: u64,
    pub fds: u64,
}

/// Reads `pid`'s resident set, thread count and open descriptors.
pub fn proc_figures(pid: u32) -> anyhow::Result<ProcFigures> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status (has the process died?)"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} for pid {pid}"))?;
        let value = line[name.len()..].split_whitespace().next().unwrap_or_default();
        value.parse().with_context(|| format!("bad {name} {value:?} for pid {pid}"))
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).with_context(|| format!("cannot list /proc/{pid}/fd"))?;
    Ok(ProcFigures { rss_kib: field("VmRSS:")?, threads: field("Threads:")?, fds: fds.count() as u64 })
}

/// One row of the soak's CSV: the time, each watched process's figures (in
/// [`crate::WATCHED`] order), the owner's outbox and the push lag.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Seconds since the workload started.
    pub t_s: f64,
    pub procs: Vec<ProcFigures>,
    /// Changes waiting in the owner's outbox.
    pub outbox_changes: u64,
    /// The cloud's last committed seq minus the invitee's cursor.
    pub lag_events: i64,
    /// The cloud's last committed seq.
    pub cloud_seq: i64,
    /// Files on the owner's disk (the workload's own count).
    pub files: usize,
}

/// The CSV header for `names` (e.g. `cloud_rss_kib,cloud_fds,cloud_threads,…`).
pub fn csv_header(names: &[&str]) -> String {
    let mut header = String::from("t_s");
    for name in names {
        write!(header, ",{name}_rss_kib,{name}_fds,{name}_threads").expect("string");
    }
    header.push_str(",outbox_changes,lag_events,cloud_seq,files\n");
    header
}

impl Sample {
    pub fn csv_row(&self) -> String {
        let mut row = format!("{:.1}", self.t_s);
        for p in &self.procs {
            write!(row, ",{},{},{}", p.rss_kib, p.fds, p.threads).expect("string");
        }
        writeln!(row, ",{},{},{},{}", self.outbox_changes, self.lag_events, self.cloud_seq, self.files)
            .expect("string");
        row
    }
}

/// Appends `text` to the CSV at `path`.
pub fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[test]
fn reads_this_process() {
    let me = proc_figures(std::process::id()).unwrap();
    assert!(me.rss_kib > 0 && me.threads >= 1 && me.fds >= 3, "{me:?}");
    let row = Sample { t_s: 10.0, procs: vec![me], outbox_changes: 2, lag_events: 1, cloud_seq: 7, files: 3 }.csv_row();
    assert_eq!(row.split(',').count(), csv_header(&["me"]).split(',').count());
}
