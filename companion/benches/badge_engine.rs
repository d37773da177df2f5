//! Badge engine throughput and memory for a 100,000-file project: every
//! file announced, then pulled (ItemStarted, three DownloadProgress ticks,
//! ItemFinished, LocalIndexUpdated echo) and verified (hash answer), with
//! the changed badges drained every 1000 inputs as the driver does.
//! Prints events/s and the process's resident memory (target: under
//! 100 MB for the whole companion). Figures go to BENCHMARKS.md.
//!
//! Run: `cargo bench -p companion --bench badge_engine`

use std::collections::BTreeMap;
use std::time::Instant;

use companion::hash::FileStamp;
use companion::invitee::badge::{Action, Engine, Expected, HashOutcome};
use companion::syncthing::event::{
    DownloadProgressData, Event, EventKind, ItemFinishedData, ItemStartedData, LocalIndexUpdatedData, PullerProgress,
};

const FILES: usize = 100_000;
const FOLDER: &str = "proj";

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn hash_of(i: usize) -> String {
    format!("blake3:{i:064x}")
}

fn event(id: u64, kind: EventKind) -> Event {
    Event { id, global_id: id, time: None, kind }
}

fn main() {
    let before = rss_kib("VmRSS:");
    let mut engine = Engine::new(FOLDER);
    let paths: Vec<String> = (0..FILES).map(|i| format!("shots/day{:02}/clip-{i:06}.mp4", i % 30)).collect();
    let t0 = Instant::now();
    for (i, p) in paths.iter().enumerate() {
        engine.announce(p, Expected { size: 1 << 20, hash: hash_of(i).into(), mtime_ms: 1, deleted: false });
    }
    // The announce hashes find nothing yet.
    answer(&mut engine, None);
    let announced = t0.elapsed();
    let mut inputs = 0u64;
    let mut id = 0u64;
    let t1 = Instant::now();
    let now = Instant::now();
    for (i, p) in paths.iter().enumerate() {
        let mut feed = |kind| {
            id += 1;
            engine.event(&event(id, kind), now);
            inputs += 1;
        };
        feed(EventKind::ItemStarted(ItemStartedData {
            folder: FOLDER.into(),
            item: p.clone(),
            item_type: "file".into(),
            action: "update".into(),
        }));
        for pulled in [2, 5, 8] {
            let progress = PullerProgress { total: 8, pulled, ..Default::default() };
            let files = BTreeMap::from([(p.clone(), progress)]);
            feed(EventKind::DownloadProgress(DownloadProgressData(BTreeMap::from([(FOLDER.to_owned(), files)]))));
        }
        feed(EventKind::ItemFinished(ItemFinishedData {
            folder: FOLDER.into(),
            item: p.clone(),
            item_type: "file".into(),
            action: "update".into(),
            error: None,
        }));
        feed(EventKind::LocalIndexUpdated(LocalIndexUpdatedData {
            folder: FOLDER.into(),
            items: 1,
            filenames: vec![p.clone()],
            sequence: 0,
            version: 0,
        }));
        inputs += answer(&mut engine, Some(i));
        if i % 1000 == 0 {
            let _ = engine.take_changes();
        }
    }
    let _ = engine.take_changes();
    let pulled = t1.elapsed();
    let folder = engine.folder(Instant::now());
    assert_eq!(folder.counts.synced, FILES, "every file ends ✓");
    let after = rss_kib("VmRSS:");
    let peak = rss_kib("VmHWM:");
    println!("badge engine, {FILES} files");
    println!("  announce: {:.0} files/s", FILES as f64 / announced.as_secs_f64());
    println!("  pull+verify: {inputs} inputs in {pulled:.2?} = {:.0} inputs/s", inputs as f64 / pulled.as_secs_f64());
    println!(
        "  memory: RSS {:.1} MiB (engine +{:.1} MiB), peak {:.1} MiB",
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}

/// Answers queued actions: hashes find file `i`'s announced content.
fn answer(engine: &mut Engine, i: Option<usize>) -> u64 {
    let mut n = 0;
    while let Some(action) = engine.next_action() {
        n += 1;
        match action {
            Action::Hash { path, .. } => {
                let outcome = match i {
                    Some(i) => HashOutcome::Hashed {
                        hash: hash_of(i),
                        stamp: FileStamp { size: 1 << 20, mtime_ms: 1 },
                        inode: None,
                    },
                    None => HashOutcome::Missing,
                };
                engine.hashed(&path, outcome);
            }
            Action::QueryFile { path } => engine.db_file_failed(&path),
            _ => {}
        }
    }
    n
}
