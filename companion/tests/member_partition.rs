//! The link between the invitee's Syncthing and the owner's is cut in the
//! middle of a big pull (docs/badges.md#stalled-pulls): the invitee's badge
//! holds its last real percent, says `stalled: …` in its error within a
//! bounded time, never shows ✓ while cut, and after the link is back the
//! pull resumes to ✓ with the verified hash. The owner's view of that member
//! says the same. Two cuts: a silent one (bytes swallowed, no FIN: only
//! timeouts tell) and a clean one (the owner pauses the invitee's device).

use crate::member_support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloud_protocol::FileState;
use companion::invitee::badge::round_percent;
use member_support::proxy::Proxy;
use member_support::*;
use serde_json::{Value, json};
use syncthing_fixtures::poll::eventually_async;
use syncthing_fixtures::write_noise;

const MIB: u64 = 1 << 20;

/// One sample of the timeline: what each side showed at `t` seconds.
#[derive(Debug, Clone)]
struct Sample {
    t: f64,
    badge: Option<(FileState, f64, Option<String>)>,
    owner: Option<(FileState, f64, Option<String>)>,
    /// B's Syncthing events since the previous sample, summarised.
    events: Vec<String>,
    /// B's `db/status` state and need bytes.
    status: String,
}

/// Samples both badges, B's events and B's `db/status` every 0.5 s until
/// dropped, and keeps the last `DownloadProgress` percent B's Syncthing
/// reported for the file (what it really holds).
struct Recorder {
    samples: Arc<Mutex<Vec<Sample>>>,
    last_real: Arc<Mutex<Option<f64>>>,
    task: tokio::task::AbortHandle,
}

impl Recorder {
    async fn start(s: &Setup, path: &'static str) -> Recorder {
        let b = s.cluster.node(1);
        let (api, key) = (b.api_url.clone(), b.api_key.clone());
        let samples = Arc::new(Mutex::new(Vec::new()));
        let last_real = Arc::new(Mutex::new(None));
        let (member_db, owner_db) = (s.member.state_dir(), s.owner.state_dir());
        let (project, bob) = (s.project, s.bob);
        let (out, real) = (Arc::clone(&samples), Arc::clone(&last_real));
        let http = reqwest::Client::new();
        let mask = "DeviceConnected,DeviceDisconnected,DevicePaused,DeviceResumed,ItemStarted,ItemFinished,\
                    DownloadProgress,FolderErrors,StateChanged";
        let mut since: u64 = http
            .get(format!("{api}/rest/events?since=0&timeout=0&events={mask}"))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .last()
            .and_then(|e| e["id"].as_u64())
            .unwrap_or(0);
        let t0 = Instant::now();
        let task = tokio::spawn(async move {
            loop {
                let get = |q: String| {
                    let http = http.clone();
                    let (api, key) = (api.clone(), key.clone());
                    async move {
                        let r = http.get(format!("{api}{q}")).header("X-API-Key", key).send().await.ok()?;
                        r.json::<Value>().await.ok()
                    }
                };
                let evs = get(format!("/rest/events?since={since}&timeout=0&events={mask}")).await;
                let mut events = Vec::new();
                for e in evs.as_ref().and_then(Value::as_array).into_iter().flatten() {
                    since = e["id"].as_u64().unwrap_or(since);
                    let d = &e["data"];
                    let line = match e["type"].as_str().unwrap_or("") {
                        "DownloadProgress" => {
                            let f = &d["proj"][path];
                            if f.is_null() {
                                continue;
                            }
                            let (done, total) = (
                                f["copiedFromOrigin"].as_i64().unwrap_or(0)
                                    + f["copiedFromElsewhere"].as_i64().unwrap_or(0)
                                    + f["reused"].as_i64().unwrap_or(0)
                                    + f["pulled"].as_i64().unwrap_or(0),
                                f["total"].as_i64().unwrap_or(0),
                            );
                            if total > 0 {
                                *real.lock().unwrap() = Some(done as f64 * 100.0 / total as f64);
                            }
                            format!("DownloadProgress {done}/{total}")
                        }
                        "StateChanged" => format!("StateChanged {}→{}", d["from"], d["to"]),
                        t => format!("{t} {}", compact(d)),
                    };
                    events.push(line);
                }
                let st = get("/rest/db/status?folder=proj".into()).await.unwrap_or(Value::Null);
                let status = format!("{} need={}", st["state"], st["needBytes"]);
                let badge = companion::manifest::Manifest::open_in(&member_db)
                    .ok()
                    .and_then(|m| m.badges(project).ok())
                    .and_then(|bs| bs.into_iter().find(|b| b.progress.path == path))
                    .map(|b| (b.progress.state, b.progress.percent, b.progress.error));
                let owner = companion::manifest::Manifest::open_in(&owner_db)
                    .ok()
                    .and_then(|m| m.member_progress(project).ok())
                    .and_then(|rs| rs.into_iter().find(|r| r.user_id == bob && r.progress.path == path))
                    .map(|r| (r.progress.state, r.progress.percent, r.progress.error));
                out.lock().unwrap().push(Sample { t: t0.elapsed().as_secs_f64(), badge, owner, events, status });
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .abort_handle();
        Recorder { samples, last_real, task }
    }

    fn samples(&self) -> Vec<Sample> {
        self.samples.lock().unwrap().clone()
    }

    /// The last percent B's Syncthing itself reported for the file.
    fn last_real(&self) -> Option<f64> {
        *self.last_real.lock().unwrap()
    }

    /// The timeline as text, one line per sample (printed with the test's output).
    fn print(&self, marks: &[(f64, &str)]) {
        let mut marks = marks.to_vec();
        for s in self.samples() {
            while let Some((t, m)) = marks.first().copied().filter(|(t, _)| *t <= s.t) {
                eprintln!("{t:6.1}s ---- {m}");
                marks.remove(0);
            }
            eprintln!("{:6.1}s badge={:?} owner={:?} st={} ev={:?}", s.t, s.badge, s.owner, s.status, s.events);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn compact(v: &Value) -> String {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in ["addr", "clientName", "clientVersion", "deviceName", "type"] {
            o.remove(k);
        }
    }
    let s = v.to_string();
    if s.len() > 160 { format!("{}…", &s[..160]) } else { s }
}

/// Routes B's connection to A through a [`Proxy`]: A never dials B, B
/// dials A only through the proxy. The pair is reconnected through it.
async fn through_proxy(s: &Setup) -> Proxy {
    let (a, b) = (s.cluster.node(0), s.cluster.node(1));
    let target: SocketAddr = a.sync_address().trim_start_matches("tcp://").parse().expect("A's sync address");
    let proxy = Proxy::start(target).await;
    s.cluster.patch_device(0, 1, json!({"addresses": ["dynamic"]})).await.expect("A never dials B");
    s.cluster.patch_device(1, 0, json!({"addresses": [format!("tcp://{}", proxy.addr)]})).await.expect("B via proxy");
    s.cluster.pause_device(1, 0).await.expect("pause");
    wait_apart(s).await;
    s.cluster.resume_device(1, 0).await.expect("resume");
    let port = proxy.addr.port().to_string();
    eventually_async("B connected to A through the proxy", DEADLINE, || async {
        let c = b.get_json("/rest/system/connections").await.map_err(|e| e.to_string())?;
        let conn = &c["connections"][&a.device_id];
        let addr = conn["address"].as_str().unwrap_or("");
        if conn["connected"] == true && addr.ends_with(&format!(":{port}")) { Ok(()) } else { Err(conn.to_string()) }
    })
    .await;
    proxy
}

/// The member's and the owner's `status --json` rows of `path`.
fn status_rows(s: &Setup, path: &str) -> (Value, Value) {
    let member: Value = serde_json::from_str(&s.member.ok(&["status", "--json"])).unwrap();
    let file = member["projects"][0]["files"].as_array().unwrap().iter().find(|f| f["path"] == path).cloned();
    let owner: Value = serde_json::from_str(&s.owner.ok(&["status", "--json"])).unwrap();
    let bob = owner["projects"][0]["members"].as_array().unwrap().iter().find(|m| m["name"] == "bob").cloned();
    let row = bob.and_then(|b| b["files"].as_array().unwrap().iter().find(|f| f["path"] == path).cloned());
    (file.unwrap_or(Value::Null), row.unwrap_or(Value::Null))
}

/// Waits until both sides' `status --json` show `path` `syncing` at
/// `percent` (any, if `None`, but the same on both sides) with an `error`
/// starting `stalled: {why}`; returns the member's row.
async fn wait_stalled_everywhere(s: &Setup, path: &str, percent: Option<f64>, why: &str, within: Duration) -> Value {
    let prefix = format!("stalled: {why}");
    let stalled = |f: &Value| {
        f["state"] == "syncing"
            && (percent.is_none() || f["percent"].as_f64() == percent)
            && f["error"].as_str().is_some_and(|e| e.starts_with(&prefix))
    };
    eventually_async(&format!("{path} stalled ({why}) at {percent:?} % on both sides"), within, || async {
        let (member, owner) = status_rows(s, path);
        if stalled(&member) && stalled(&owner) && member["percent"] == owner["percent"] {
            Ok(member)
        } else {
            Err(format!("member {member}, owner's view {owner}"))
        }
    })
    .await
}

/// The stall rule's wait in this test (`COMPANION_STALL_AFTER_MS`): long
/// enough that a pull reporting progress every second never reads stalled.
const STALL_AFTER: Duration = Duration::from_secs(8);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_mid_transfer_holds_the_real_percent_says_stalled_and_resumes_to_a_verified_check_mark() {
    // 4 MiB/s: 64 MiB take about 16 s, and the cuts hold it from about 20 %.
    // The stall rule's wait (30 s in use) is shortened, its logic the same.
    let stall_ms = u64::try_from(STALL_AFTER.as_millis()).unwrap();
    let s = setup(Knobs { recv_limit_kibps: Some(4 * 1024), stall_after_ms: Some(stall_ms), ..Knobs::default() }).await;
    std::fs::write(s.a("hello.txt"), b"up\n").unwrap();
    s.wait_synced("hello.txt").await;
    let proxy = through_proxy(&s).await;
    let rec = Recorder::start(&s, "big.bin").await;
    let t0 = Instant::now();
    let mark = |what: &'static str| (t0.elapsed().as_secs_f64(), what);
    let mut marks = Vec::new();
    write_noise(&s.a("big.bin"), 64 * MIB, 3).unwrap();
    s.wait_badge("big.bin", "syncing past 20 %", |b| b.state == FileState::Syncing && b.percent >= 20.0).await;

    // 1. A silent cut: bytes are swallowed, nobody is told. Only the quiet tells.
    marks.push(mark("the link goes silent"));
    proxy.go_dead();
    let within = STALL_AFTER + DEADLINE;
    let silent = wait_stalled_everywhere(&s, "big.bin", None, "nothing received (since ", within).await;
    marks.push(mark("stalled (silent) on both sides"));
    // Its last real percent: what B's Syncthing last reported in place.
    let held = silent["percent"].as_f64().unwrap();
    let real = rec.last_real().expect("B's Syncthing reported progress");
    assert_eq!(held, round_percent(real), "the badge holds the last real percent");

    // 2. A clean cut: the owner pauses the invitee's device. Syncthing says
    // no device has the file; the badge says so, at the same percent.
    marks.push(mark("A pauses B"));
    s.cluster.pause_device(0, 1).await.expect("A pauses B");
    let cut = wait_stalled_everywhere(
        &s,
        "big.bin",
        Some(held),
        "no device that has this file is connected (since ",
        DEADLINE,
    )
    .await;
    marks.push(mark("stalled (unreachable) on both sides"));
    // B redials through a live proxy again; A refuses while B is paused there.
    proxy.cut();
    wait_apart(&s).await;
    // It stays that way while the link stays cut (the timer changes nothing).
    let again = eventually_async("B still cut off after its redials", DEADLINE, || async {
        let (member, _) = status_rows(&s, "big.bin");
        if rec.samples().last().is_some_and(|l| l.t > marks.last().unwrap().0 + (STALL_AFTER.as_secs_f64())) {
            Ok(member)
        } else {
            Err(member.to_string())
        }
    })
    .await;
    assert_eq!((&again["state"], &again["percent"], &again["error"]), (&cut["state"], &cut["percent"], &cut["error"]));

    // 3. Reconnected: it resumes, the stall message goes, ✓ with the owner's hash.
    marks.push(mark("A resumes B"));
    let resumed_at = t0.elapsed().as_secs_f64();
    s.cluster.resume_device(0, 1).await.expect("A resumes B");
    let b = s.wait_synced("big.bin").await;
    assert_eq!(b.error, None);
    let owner = s.wait_owner_view("big.bin", "✓", |r| r.progress.state == FileState::Synced).await;
    assert_eq!((owner.progress.local_hash, owner.progress.error), (b.local_hash.clone(), None));
    let (member, owner) = status_rows(&s, "big.bin");
    assert_eq!((&member["state"], &member["error"]), (&json!("synced"), &Value::Null));
    assert_eq!(member["local_hash"], member["expected_hash"]);
    assert_eq!((&owner["state"], &owner["local_hash"]), (&json!("synced"), &member["local_hash"]));
    marks.push(mark("✓ on both sides"));
    // The printed timeline ends with a sample taken after ✓.
    let done_at = marks.last().unwrap().0;
    eventually_async("a sample after ✓", DEADLINE, || async {
        rec.samples().last().is_some_and(|l| l.t > done_at).then_some(())
    })
    .await;
    rec.print(&marks);

    // Throughout: never ✓ while cut, never ✗, never above the real percent
    // while cut, on either side.
    let cut_from = marks[0].0;
    for sample in rec.samples().iter().filter(|x| x.t > cut_from + 1.0 && x.t < resumed_at) {
        for (who, shown) in [("invitee", &sample.badge), ("owner's view", &sample.owner)] {
            let Some((state, percent, _)) = shown else { continue };
            assert_eq!(*state, FileState::Syncing, "{who} at {:.1} s: {shown:?}", sample.t);
            assert!(*percent <= held, "{who} at {:.1} s shows {percent} % > {held} %", sample.t);
        }
    }
}
