//! One-run benchmark of hashing and the start-up scan, against the usual tools.
//!
//! 1. One 1 GiB file from the page cache: our `hash_file` (parallel `pread`s
//!    of BLAKE3 subtrees, no memory map) vs `b3sum` (memory map + rayon) vs
//!    `sha256sum`, plus two in-process variants (one thread; buffered reads
//!    fed to `update_rayon`), and our throughput as a ratio of b3sum's in
//!    the same run (target: at least 0.9).
//! 2. The start-up scan of 10,000 files (1 GiB) vs `b3sum` over the same
//!    files, then a second scan with nothing changed (each scan best of 3, in
//!    this process, page cache warm, no progress output).
//!
//! `cargo bench -p companion --bench hash_scan`; `BENCH_MIB` and
//! `BENCH_FILES` shrink it. A tool missing from PATH is reported as skipped.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cloud_protocol::Role;
use companion::hash::hash_file;
use companion::ignore::IgnoreRules;
use companion::manifest::{Manifest, ProjectRow};
use companion::owner::scan::{ProgressMode, ScanOptions, scan_folder};
use syncthing_fixtures::write_noise;

const MIB: u64 = 1024 * 1024;

fn main() {
    let mib: u64 = env_or("BENCH_MIB", 1024);
    let files: u64 = env_or("BENCH_FILES", 10_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    println!("hash_scan: {mib} MiB file; scan of {files} files, {mib} MiB in all; best of 3 unless noted\n");

    let big = dir.path().join("big.bin");
    write_noise(&big, mib * MIB, 1).expect("write the big file");
    let mut sink = Vec::new();
    File::open(&big).and_then(|mut f| f.read_to_end(&mut sink)).expect("warm the page cache");
    drop(sink);

    let bytes = mib * MIB;
    let ours = best_of(3, || {
        hash_file(dir.path(), "big.bin").expect("hash");
    });
    let mut rows = vec![("companion hash_file (parallel preads)", Some(ours))];
    rows.push((
        "blake3 update_reader, 1 thread",
        Some(best_of(3, || {
            let mut h = blake3::Hasher::new();
            h.update_reader(File::open(&big).expect("open")).expect("read");
        })),
    ));
    rows.push(("blake3 16 MiB reads + update_rayon", Some(best_of(3, || read_rayon(&big)))));
    let b3sum = tool_time("b3sum", std::slice::from_ref(&big), 3);
    rows.push(("b3sum", b3sum));
    rows.push(("sha256sum (1 run)", tool_time("sha256sum", std::slice::from_ref(&big), 1)));
    println!("{:<40} {:>9} {:>10} {:>14}", "one file from the page cache", "seconds", "GiB/s", "vs companion");
    for (name, time) in &rows {
        print_row(name, *time, bytes, ours);
    }
    if let Some(b3sum) = b3sum {
        let ratio = b3sum.as_secs_f64() / ours.as_secs_f64().max(1e-9);
        println!("companion throughput / b3sum throughput: {ratio:.2} (target: at least 0.90)");
    }
    std::fs::remove_file(&big).expect("remove the big file");

    // The scan: many mid-sized files in 100 directories.
    let folder = dir.path().join("folder");
    std::fs::create_dir_all(folder.join(".stfolder")).expect("marker");
    let per_file = mib * MIB / files;
    let mut paths = Vec::with_capacity(files as usize);
    for i in 0..files {
        let path = folder.join(format!("d{:02}/f{i:05}.bin", i % 100));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        write_noise(&path, per_file, i + 2).expect("write a file");
        paths.push(path);
    }
    let mut manifest = Manifest::open_in(&dir.path().join("state")).expect("manifest");
    let rules = IgnoreRules::default();
    // No bar and no log lines: the scan itself is timed, in this process, with
    // the files and directories in the page cache (just written and read).
    let options = ScanOptions { progress: ProgressMode::Quiet, ..ScanOptions::default() };

    // First scans: each of a new project (empty `local_files`), so each hashes everything.
    let mut first = None;
    let mut first_time = Duration::MAX;
    let mut project = uuid::Uuid::nil();
    for run in 0..3 {
        project = uuid::Uuid::new_v4();
        let row = ProjectRow::new(project, "http://127.0.0.1:1", format!("bench{run}"), "f", &folder, Role::Owner);
        manifest.insert_project(&row).expect("project");
        let started = Instant::now();
        let report = scan_folder(&mut manifest, project, &folder, &rules, &options).expect("scan");
        first_time = first_time.min(started.elapsed());
        first = Some(report);
    }
    let first = first.expect("three first scans");
    let started = Instant::now();
    manifest.enqueue_changes(project, &first.changes).expect("enqueue");
    let enqueue_time = started.elapsed();
    let b3 = tool_time("b3sum", &paths, 2);
    let second_time = best_of(3, || {
        let second = scan_folder(&mut manifest, project, &folder, &rules, &options).expect("rescan");
        assert!(second.changes.is_empty() && second.hashed_files == 0, "the rescan found work");
    });
    assert_eq!(first.changes.len() as u64, files, "every file is a create");

    println!("\n{:<40} {:>9} {:>10} {:>14}", format!("{files} files, {mib} MiB"), "seconds", "GiB/s", "vs scan");
    print_row("companion first scan (best of 3)", Some(first_time), bytes, first_time);
    print_row("b3sum over the same files (best of 2)", b3, bytes, first_time);
    print_row("second scan, no change (best of 3)", Some(second_time), bytes, first_time);
    println!(
        "{:<40} {:>9.3}   (manifest: {} changes, {} batches)",
        "enqueue of the first scan's changes",
        enqueue_time.as_secs_f64(),
        first.changes.len(),
        first.changes.len().div_ceil(1000)
    );
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Times `tool paths…` (output discarded), or `None` when it is not on PATH.
fn tool_time(tool: &str, paths: &[PathBuf], runs: usize) -> Option<Duration> {
    let run = || Command::new(tool).args(paths).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !run().is_ok_and(|s| s.success()) {
        return None;
    }
    Some(best_of(runs, || {
        let _ = run();
    }))
}

fn print_row(name: &str, time: Option<Duration>, bytes: u64, reference: Duration) {
    match time {
        Some(t) => {
            let secs = t.as_secs_f64();
            let gib_s = bytes as f64 / (1024.0 * MIB as f64) / secs.max(1e-9);
            let ratio = secs / reference.as_secs_f64().max(1e-9);
            println!("{name:<40} {secs:>9.3} {gib_s:>10.2} {ratio:>13.2}x");
        }
        None => println!("{name:<40} {:>9}", "skipped (not on PATH)"),
    }
}

/// Reads through a buffer and hashes each 16 MiB chunk on rayon's threads:
/// no memory map, so no SIGBUS if another process truncates the file.
fn read_rayon(path: &Path) {
    let mut file = File::open(path).expect("open");
    let mut buf = vec![0u8; 16 * MIB as usize];
    let mut hasher = blake3::Hasher::new();
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]).expect("read") {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            break;
        }
        hasher.update_rayon(&buf[..filled]);
    }
    hasher.finalize();
}
