//! Hashing progress for people: an `indicatif` bar (files, bytes, rate, ETA)
//! when stderr is a terminal, else a `tracing` line every few seconds, so a
//! long first scan of a big folder never looks hung, in a shell or a log.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How scan progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, log lines otherwise.
    #[default]
    Auto,
    Bar,
    Log,
    Quiet,
}

#[derive(Debug, Default)]
struct Counters {
    files: AtomicU64,
    bytes: AtomicU64,
}

/// Live progress of one hashing run; `add` may be called from many threads.
#[derive(Debug)]
pub(super) struct Progress {
    counters: Arc<Counters>,
    bar: Option<ProgressBar>,
    total_files: u64,
    logger: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Progress {
    pub fn start(mode: ProgressMode, total_files: u64, total_bytes: u64, log_every: Duration) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Log,
            other => other,
        };
        let counters = Arc::new(Counters::default());
        let mut progress = Progress { counters: counters.clone(), bar: None, total_files, logger: None };
        match mode {
            ProgressMode::Bar => {
                let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
                let template =
                    "hashing [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}";
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_message(format!("0/{total_files} files"));
                progress.bar = Some(bar);
            }
            ProgressMode::Log => {
                let (stop, stopped) = mpsc::channel::<()>();
                let started = Instant::now();
                let handle = std::thread::spawn(move || {
                    // Wakes every `log_every` until told to stop (or the sender drops).
                    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(log_every) {
                        log_line(&counters, total_files, total_bytes, started.elapsed());
                    }
                });
                progress.logger = Some((stop, handle));
            }
            ProgressMode::Auto | ProgressMode::Quiet => {}
        }
        progress
    }

    /// One more file of `bytes` hashed.
    pub fn add(&self, bytes: u64) {
        let files = self.counters.files.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            bar.set_message(format!("{files}/{} files", self.total_files));
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        if let Some((stop, handle)) = self.logger {
            let _ = stop.send(());
            let _ = handle.join();
        }
    }
}

fn log_line(counters: &Counters, total_files: u64, total_bytes: u64, elapsed: Duration) {
    let files = counters.files.load(Ordering::Relaxed);
    let bytes = counters.bytes.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = bytes as f64 / secs;
    let eta_secs = if rate > 0.0 { (total_bytes.saturating_sub(bytes)) as f64 / rate } else { f64::INFINITY };
    tracing::info!(
        files,
        total_files,
        mib = bytes / (1024 * 1024),
        total_mib = total_bytes / (1024 * 1024),
        mib_per_s = format_args!("{:.1}", rate / (1024.0 * 1024.0)),
        eta_s = format_args!("{eta_secs:.0}"),
        "hashing"
    );
}
