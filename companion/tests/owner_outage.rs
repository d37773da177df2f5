//! A cloud outage delays changes but loses none; a companion killed with
//! SIGKILL between enqueue and acknowledgement loses none and sequences
//! none twice after its restart; changes made while it was stopped are
//! sent at its next start; ten kills at seeded-random points of a stream of
//! 500 changes leave the cloud equal to the folder, nothing applied twice; a
//! manifest that stays locked delays a change but does not drop it.

use crate::owner_support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use cloud_protocol::{Event, Op};
use owner_support::*;
use syncthing_fixtures::poll::{eventually, eventually_async};
use uuid::Uuid;

/// The cloud's snapshot equals the folder: every file with its hash, every
/// other path deleted.
async fn assert_cloud_matches(
    api: &companion::cloud_client::api::CloudClient,
    project: Uuid,
    root: &Path,
    files: &[&str],
) {
    let snapshot = api.files(project).await.expect("snapshot");
    let live: BTreeMap<&str, &str> =
        snapshot.files.iter().filter(|f| f.deleted_at.is_none()).map(|f| (f.path.as_str(), f.hash.as_str())).collect();
    let on_disk: BTreeMap<&str, String> = files.iter().map(|f| (*f, blake3_of(&root.join(f)))).collect();
    let on_disk: BTreeMap<&str, &str> = on_disk.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(live, on_disk);
}

/// No change was sequenced twice: each (op, path, hash) appears once.
fn assert_no_repeats(events: &[Event]) {
    let mut seen: HashMap<(Op, &str, Option<&str>), i64> = HashMap::new();
    for e in events {
        let key = (e.change.op, e.change.path.as_str(), e.change.hash.as_deref());
        if let Some(first) = seen.insert(key, e.seq) {
            panic!("sequenced twice (seq {first} and {}): {:?}; log {}", e.seq, e.change, show(events));
        }
    }
}

/// A cloud, a Syncthing pair and a running owner companion that already sent
/// `first` (written with `content`) to the cloud.
struct Running {
    cloud: TestCloud,
    token: String,
    _cluster: syncthing_fixtures::Cluster,
    root: std::path::PathBuf,
    companion: Companion,
    project: Uuid,
}

async fn running_with(first: &str, content: &[u8]) -> Running {
    running_on(pair(&["proj"], 1).await, first, content).await
}

async fn running_on(cluster: syncthing_fixtures::Cluster, first: &str, content: &[u8]) -> Running {
    let cloud = start_cloud().await;
    let (_, token) = cloud.add_user("alice").await;
    let root = cluster.node(0).folder_path("proj");
    let mut companion = Companion::new(cluster.node(0));
    let project = companion.login_and_share(&cloud.url(), &token, "proj");
    companion.start();
    std::fs::write(root.join(first), content).unwrap();
    wait_count(&cloud.client(&token), project, 1).await;
    Running { cloud, token, _cluster: cluster, root, companion, project }
}

/// Writes each `(path, content)` under `root`.
fn write_files(root: &std::path::Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        std::fs::write(root.join(path), content).unwrap();
    }
}

async fn wait_pending(companion: &Companion, min_attempts: u32) {
    eventually("changes waiting in the outbox", DEADLINE, || {
        let m = companion.manifest();
        let projects = m.projects().ok()?;
        let batch = m.next_batch(projects.first()?.project_id).ok()??;
        (batch.attempts >= min_attempts).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_outage_delays_but_loses_nothing() {
    let Running { mut cloud, token, root, mut companion, project, _cluster } =
        running_with("f1.txt", b"before the outage").await;

    cloud.down().await;
    std::fs::create_dir_all(root.join("dir")).unwrap();
    write_files(
        &root,
        &[
            ("o1.txt", "made during the outage"),
            ("f1.txt", "changed during the outage"),
            ("dir/o2.txt", "nested, during the outage"),
        ],
    );
    // Several attempts failed: the batches wait, they are not dropped.
    wait_pending(&companion, 2).await;

    cloud.up().await;
    let api = cloud.client(&token);
    let events = wait_count(&api, project, 4).await;
    assert_quiet(&api, project, 4, Duration::from_secs(3)).await;
    assert_no_repeats(&events);
    let ops: BTreeMap<&str, Vec<Op>> = events.iter().fold(BTreeMap::new(), |mut m, e| {
        m.entry(e.change.path.as_str()).or_default().push(e.change.op);
        m
    });
    assert_eq!(ops["f1.txt"], [Op::Create, Op::Update]);
    assert_eq!(ops["o1.txt"], [Op::Create]);
    assert_eq!(ops["dir/o2.txt"], [Op::Create]);
    assert_cloud_matches(&api, project, &root, &["f1.txt", "o1.txt", "dir/o2.txt"]).await;
    assert!(companion.log().contains("cloud unavailable; will retry"), "{}", companion.log());
    companion.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_and_repeats_nothing() {
    let Running { mut cloud, token, root, mut companion, project, _cluster } =
        running_with("gone.txt", b"will be deleted while stopped").await;

    // Queued but never acknowledged, then killed.
    cloud.down().await;
    write_files(&root, &[("k1.txt", "queued, then killed"), ("k2.txt", "queued too")]);
    wait_pending(&companion, 1).await;
    companion.kill().await;

    // Changed while the companion is not running.
    write_files(&root, &[("k1.txt", "changed while stopped"), ("s1.txt", "made while stopped")]);
    std::fs::remove_file(root.join("gone.txt")).unwrap();

    cloud.up().await;
    let api = cloud.client(&token);
    companion.start();
    let events = wait_count(&api, project, 6).await;
    assert_quiet(&api, project, 6, Duration::from_secs(3)).await;
    assert_no_repeats(&events);
    let summary: Vec<(Op, &str)> = events.iter().map(|e| (e.change.op, e.change.path.as_str())).collect();
    for expected in [
        (Op::Create, "gone.txt"),
        (Op::Create, "k1.txt"),
        (Op::Create, "k2.txt"),
        (Op::Update, "k1.txt"),
        (Op::Create, "s1.txt"),
        (Op::Delete, "gone.txt"),
    ] {
        assert!(summary.contains(&expected), "{expected:?} missing from {}", show(&events));
    }
    assert_cloud_matches(&api, project, &root, &["k1.txt", "k2.txt", "s1.txt"]).await;

    // Killed in the middle of sending a burst: some batches may be sequenced
    // by the cloud and not yet acknowledged. After the restart each file is
    // created exactly once.
    let before = events.len();
    std::fs::create_dir_all(root.join("burst")).unwrap();
    let names: Vec<String> = (0..300).map(|i| format!("burst/{i:03}.bin")).collect();
    for (i, name) in names.iter().enumerate() {
        std::fs::write(root.join(name), format!("burst file {i}")).unwrap();
    }
    wait_count(&api, project, before + 1).await;
    companion.kill().await;
    companion.start();
    let events = wait_count(&api, project, before + 300).await;
    assert_quiet(&api, project, before + 300, Duration::from_secs(3)).await;
    assert_no_repeats(&events);
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.extend(["k1.txt", "k2.txt", "s1.txt"]);
    assert_cloud_matches(&api, project, &root, &all).await;
    assert_eq!(companion.manifest().pending_count(None).unwrap().changes, 0);
    companion.stop().await;
}

/// Another process holds the manifest's write lock past the companion's busy
/// timeout while a file changes: recording the change fails, and the
/// companion compares the folder again once it can. Syncthing's own watcher
/// is slowed to an hour so that its event cannot be what rescues the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_manifest_delays_a_change_but_does_not_drop_it() {
    let Running { cloud, token, root, companion, project, _cluster } =
        running_on(pair(&["proj"], 3600).await, "f1.txt", b"before the lock").await;

    let lock = rusqlite::Connection::open(companion.state_dir().join(companion::state_dir::MANIFEST_FILE)).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::fs::write(root.join("during-lock.txt"), b"written while the manifest was locked").unwrap();
    eventually("the companion failing to record the change", DEADLINE, || {
        companion.log().contains("cannot record changes").then_some(())
    })
    .await;
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);

    let events = wait_count(&cloud.client(&token), project, 2).await;
    assert_upsert(&events[1].change, Op::Create, "during-lock.txt", &root.join("during-lock.txt"));
    assert!(companion.log().contains("compare the folder again"), "{}", companion.log());
}

/// The changes of the ten-kill stream, and where it kills.
const STREAM_CHANGES: usize = 500;
const STREAM_KILLS: usize = 10;

/// The seed of the ten-kill stream: `OWNER_KILL_SEED` replays a run, else a
/// fresh one (printed, so a failure can be replayed).
fn kill_seed() -> u64 {
    let seed = match std::env::var("OWNER_KILL_SEED") {
        Ok(s) => s.trim().parse().unwrap_or_else(|e| panic!("OWNER_KILL_SEED={s:?}: {e}")),
        Err(_) => rand::random(),
    };
    eprintln!("OWNER_KILL_SEED={seed}");
    seed
}

/// Makes `STREAM_CHANGES` changes to `root`: creates, edits, deletes and
/// renames, each write with content no other write has (so a change applied
/// twice shows in the log as the same path and hash twice). `done` counts the
/// changes made. Returns the files it left, path → content.
fn write_stream(root: &Path, seed: u64, done: &std::sync::atomic::AtomicUsize) -> BTreeMap<String, String> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut live: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..STREAM_CHANGES {
        let content = format!("change {i} of seed {seed}\n").repeat(rng.random_range(1..200));
        let roll = if live.len() < 5 { 0 } else { rng.random_range(0..100) };
        let pick = |rng: &mut rand::rngs::StdRng, live: &BTreeMap<String, String>| {
            live.keys().nth(rng.random_range(0..live.len())).cloned().expect("a live file")
        };
        if roll < 35 {
            let path = format!("s{i:03}.txt");
            std::fs::write(root.join(&path), &content).unwrap();
            live.insert(path, content);
        } else if roll < 65 {
            let path = pick(&mut rng, &live);
            std::fs::write(root.join(&path), &content).unwrap();
            live.insert(path, content);
        } else if roll < 80 {
            let path = pick(&mut rng, &live);
            std::fs::remove_file(root.join(&path)).unwrap();
            live.remove(&path);
        } else {
            let from = pick(&mut rng, &live);
            let to = format!("s{i:03}.txt");
            std::fs::rename(root.join(&from), root.join(&to)).unwrap();
            let moved = live.remove(&from).expect("live");
            live.insert(to, moved);
        }
        done.store(i + 1, std::sync::atomic::Ordering::SeqCst);
        // A stream over some seconds, so that kills land all along it.
        std::thread::sleep(Duration::from_millis(rng.random_range(5..40)));
    }
    live
}

/// Every regular file under `root` (Syncthing's marker folder aside), with its hash.
fn folder_state(root: &Path) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if entry.file_type().unwrap().is_file() && !name.starts_with(".st") {
            state.insert(name, blake3_of(&entry.path()));
        }
    }
    state
}

/// The cloud's live files, path → hash.
async fn cloud_state(api: &companion::cloud_client::api::CloudClient, project: Uuid) -> BTreeMap<String, String> {
    let snapshot = api.files(project).await.expect("snapshot");
    snapshot.files.into_iter().filter(|f| f.deleted_at.is_none()).map(|f| (f.path, f.hash)).collect()
}

/// Replays the log path by path: a create only of an absent path, an update
/// or delete only of a live one, and never the same content twice. A batch
/// applied a second time (under any id) breaks one of these.
fn assert_applied_once(events: &[Event]) {
    let mut live: HashMap<&str, &str> = HashMap::new();
    let mut seen: HashMap<(&str, &str), i64> = HashMap::new();
    for e in events {
        let (path, hash) = (e.change.path.as_str(), e.change.hash.as_deref());
        let fine = match (e.change.op, hash) {
            (Op::Create, Some(h)) => live.insert(path, h).is_none(),
            (Op::Update, Some(h)) => live.insert(path, h).is_some_and(|old| old != h),
            (Op::Delete, None) => live.remove(path).is_some(),
            _ => false,
        };
        if !fine {
            let history: Vec<Event> = events.iter().filter(|o| o.change.path == path).cloned().collect();
            panic!(
                "seq {} does not follow from the log before it: {:?}; {path} in the log: {}",
                e.seq,
                e.change,
                show(&history)
            );
        }
        if let Some(h) = hash
            && let Some(first) = seen.insert((path, h), e.seq)
        {
            panic!("the same content sequenced twice (seq {first} and {}): {:?}", e.seq, e.change);
        }
    }
}

/// A log line without its terminal colour codes (`ESC [ … m`).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('\x1b') {
        out.push_str(&rest[..start]);
        rest = rest[start..].find('m').map_or("", |end| &rest[start + end + 1..]);
    }
    out.push_str(rest);
    out
}

/// Batch ids the companion logged as acknowledged, each with its seqs: one id
/// is never answered with two ranges, and two ids never share a seq. Returns
/// how many batches the logs name.
fn assert_batches_disjoint(logs: &[String]) -> usize {
    let mut ranges: HashMap<String, (i64, i64)> = HashMap::new();
    let plain: Vec<String> = logs.iter().flat_map(|l| l.lines()).map(without_colours).collect();
    for line in plain.iter().filter(|l| l.contains(" sent ") && l.contains("batch=")) {
        let field = |key: &str| {
            let start = line.find(&format!("{key}=")).unwrap_or_else(|| panic!("no {key} in {line}")) + key.len() + 1;
            line[start..].split([' ', ',']).next().unwrap().to_owned()
        };
        let range = (field("first_seq").parse().unwrap(), field("last_seq").parse().unwrap());
        if let Some(before) = ranges.insert(field("batch"), range) {
            assert_eq!(before, range, "batch answered with two ranges: {line}");
        }
    }
    let mut sorted: Vec<(i64, i64)> = ranges.into_values().collect();
    sorted.sort();
    for pair in sorted.windows(2) {
        assert!(pair[0].1 < pair[1].0, "two batches share seqs: {pair:?}");
    }
    sorted.len()
}

/// Ten SIGKILLs at seeded-random points of a stream of 500 changes (creates,
/// edits, deletes, renames), each restart some changes later: once the stream
/// ends the outbox drains and the cloud holds exactly the folder's files and
/// hashes, and no change was applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_sigkills_during_a_stream_lose_nothing_and_repeat_nothing() {
    use rand::{RngExt, SeedableRng};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let seed = kill_seed();
    let Running { cloud, token, root, mut companion, project, _cluster } =
        running_with("first.txt", b"before the stream").await;
    let api = cloud.client(&token);

    // One kill in each tenth of the stream, the restart 0 to 8 changes later.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x6b69_6c6c);
    let tenth = STREAM_CHANGES / STREAM_KILLS;
    let kills: Vec<(usize, usize)> = (0..STREAM_KILLS)
        .map(|k| {
            let at = k * tenth + rng.random_range(1..tenth - 10);
            (at, at + rng.random_range(0..=8))
        })
        .collect();
    eprintln!("kills (after change, restart after change): {kills:?}");

    let done = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (root, done) = (root.clone(), Arc::clone(&done));
        std::thread::spawn(move || write_stream(&root, seed, &done))
    };
    let mut logs = Vec::new();
    for (kill_at, restart_at) in kills {
        let reached = |n: usize| (done.load(Ordering::SeqCst) >= n).then_some(());
        eventually(&format!("change {kill_at} made"), DEADLINE, || reached(kill_at)).await;
        companion.kill().await;
        logs.push(companion.log());
        eventually(&format!("change {restart_at} made"), DEADLINE, || reached(restart_at)).await;
        companion.start();
    }
    let mut expected = writer.join().expect("the writer");
    expected.insert("first.txt".into(), "before the stream".into());

    let on_disk = folder_state(&root);
    let written: BTreeMap<String, String> =
        expected.iter().map(|(p, c)| (p.clone(), format!("blake3:{}", blake3::hash(c.as_bytes()).to_hex()))).collect();
    assert_eq!(on_disk, written, "the folder holds what the writer left");
    eventually_async("the outbox drained and the cloud equal to the folder", DEADLINE, || async {
        let pending = companion.manifest().pending_count(None).expect("outbox").changes;
        let cloud_files = cloud_state(&api, project).await;
        if pending == 0 && cloud_files == on_disk {
            Ok(())
        } else {
            let missing: Vec<_> = on_disk.iter().filter(|(p, h)| cloud_files.get(*p) != Some(*h)).collect();
            let extra: Vec<_> = cloud_files.keys().filter(|p| !on_disk.contains_key(*p)).collect();
            Err(format!("{pending} changes pending; cloud lacks {missing:?}; cloud has extra {extra:?}"))
        }
    })
    .await;
    let events = all_events(&api, project).await;
    // Nothing late either: a batch re-sent under a new id would come now.
    assert_quiet(&api, project, events.len(), Duration::from_secs(2)).await;
    assert_applied_once(&events);
    logs.push(companion.log());
    let batches = assert_batches_disjoint(&logs);
    assert!(batches >= STREAM_KILLS, "only {batches} acknowledged batches in the logs");
    eprintln!(
        "{STREAM_CHANGES} changes, {STREAM_KILLS} kills: {} events in {batches} acknowledged batches, {} files at the end",
        events.len(),
        on_disk.len()
    );
    companion.stop().await;
}
