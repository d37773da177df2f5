//! Partition mid-transfer in containers: a large file crawls to the invitee
//! under a Syncthing rate limit; halfway, `docker network disconnect` cuts
//! the invitee's Syncthing off the owner's (the companions keep their own
//! networks and the cloud). While cut, the invitee's badge never shows ✓ and
//! holds the percent it had (it does not climb on bytes it cannot be getting);
//! reconnected with its old address, the transfer resumes and ends ✓ with the
//! verified hash, and the owner's view of that member says the same.
//! Within the cut both sides say the pull is stalled (`syncing` at the held
//! percent, `error` "stalled: …": docs/badges.md#stalled-pulls): a
//! `docker network disconnect` is silent to Syncthing, so it is the
//! "nothing received" rule that speaks (30 s in use, [`STALL_AFTER`] here),
//! not Syncthing's own errors.
//!
//! The limit is the owner's send limit, not the invitee's receive limit: under
//! a receive limit the owner's Syncthing fills the kernel's socket buffers at
//! full speed, and the invitee kept reading those ~8 MB for 14 s after the cut
//! (its badge rose, truthfully, from 57.5 % to 98.8 % while cut off).
//!
//! The invitee's badge (state, percent, error) and the owner's view of it are
//! sampled every ~0.5 s from the cut to ✓ and printed as a timeline.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use e2e::docker_stack::{DockerOptions, DockerStack, file_entry, member_file, run_in_containers, write_random};
use serde_json::Value;
use syncthing_fixtures::poll::try_eventually_async;

const LONG: Duration = Duration::from_secs(240);
const BIG: &str = "footage/take-03.mov";
const BIG_MIB: usize = 20;
/// The stall rule's wait in this test (`COMPANION_STALL_AFTER_MS` of the
/// invitee's companion): long enough that a pull reporting progress every
/// second never reads stalled.
const STALL_AFTER: Duration = Duration::from_secs(8);
/// How long the cut lasts: long enough to watch the badge hold and, after
/// [`STALL_AFTER`] without data, say so (with room for a loaded machine).
const CUT: Duration = Duration::from_secs(STALL_AFTER.as_secs() + 22);
/// Progress reported just before the cut may still land in the badge.
const SETTLE: Duration = Duration::from_secs(5);
const SAMPLE: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_mid_transfer_holds_the_badge_then_resumes() {
    let options = DockerOptions {
        owner_send_limit_kibps: 1024,
        invitee_stall_after_ms: Some(u64::try_from(STALL_AFTER.as_millis()).unwrap()),
        ..DockerOptions::default()
    };
    run_in_containers("partition", "partition", options, scenario).await;
}

/// One sample of the timeline.
#[derive(Debug, Clone)]
struct Sample {
    /// Seconds since the cut (negative before).
    t: f64,
    phase: &'static str,
    invitee: Option<Value>,
    owner_view: Option<Value>,
}

impl Sample {
    fn state(&self) -> &str {
        self.invitee.as_ref().and_then(|f| f["state"].as_str()).unwrap_or("-")
    }
    fn percent(&self) -> f64 {
        self.invitee.as_ref().and_then(|f| f["percent"].as_f64()).unwrap_or(0.0)
    }
    fn line(&self) -> String {
        let brief = |f: &Option<Value>| match f {
            Some(f) => format!(
                "{:<8} {:>5.1}% error={}",
                f["state"].as_str().unwrap_or("?"),
                f["percent"].as_f64().unwrap_or(0.0),
                f["error"]
            ),
            None => "(no entry)".into(),
        };
        format!(
            "{:>+7.1}s {:<7} invitee: {:<44} owner's view: {}",
            self.t,
            self.phase,
            brief(&self.invitee),
            brief(&self.owner_view)
        )
    }
}

async fn sample(stack: &DockerStack<'_>, cut_at: Instant, phase: &'static str) -> Sample {
    let (invitee, owner) = tokio::join!(stack.status(&stack.invitee), stack.status(&stack.owner));
    let t = cut_at.elapsed().as_secs_f64();
    let t = if phase == "before" { -t } else { t };
    Sample {
        t,
        phase,
        invitee: invitee.ok().and_then(|s| file_entry(&s, BIG).cloned()),
        owner_view: owner.ok().and_then(|s| member_file(&s, "invitee", BIG).cloned()),
    }
}

async fn scenario(stack: &DockerStack<'_>) -> anyhow::Result<()> {
    let expected = write_random(&stack.owner_folder().join(BIG), BIG_MIB << 20)?;
    try_eventually_async("the invitee to show the file syncing past 30 %", LONG, || async {
        let status = stack.status(&stack.invitee).await.map_err(|e| e.to_string())?;
        let file = file_entry(&status, BIG).ok_or("no badge yet")?;
        let percent = file["percent"].as_f64().unwrap_or(0.0);
        (file["state"] == "syncing" && percent >= 30.0).then_some(()).ok_or_else(|| file.to_string())
    })
    .await?;
    let mut timeline = Vec::new();
    let before = sample(stack, Instant::now(), "before").await;
    timeline.push(Sample { t: 0.0, ..before.clone() });
    let percent_at_cut = before.percent();

    stack.partition().await?;
    let cut_at = Instant::now();
    let mut tick = tokio::time::interval(SAMPLE);
    while cut_at.elapsed() < CUT {
        tick.tick().await;
        timeline.push(sample(stack, cut_at, "cut").await);
    }
    stack.heal().await?;
    let healed_at = cut_at.elapsed().as_secs_f64();
    let healed = RefCell::new(Vec::new());
    let resumed = try_eventually_async("✓ on both sides after the reconnect", LONG, || async {
        let probe_started = Instant::now();
        let s = sample(stack, cut_at, "healed").await;
        let done = s.state() == "synced" && s.owner_view.as_ref().is_some_and(|f| f["state"] == "synced");
        let line = s.line();
        healed.borrow_mut().push(s);
        if !done {
            // Paces the timeline (and the `docker exec`s) at one sample per SAMPLE.
            tokio::time::sleep(SAMPLE.saturating_sub(probe_started.elapsed())).await;
        }
        done.then_some(()).ok_or(line)
    })
    .await;
    timeline.extend(healed.into_inner());

    eprintln!(
        "timeline of the invitee's badge for {BIG} ({BIG_MIB} MiB, owner sends at 1024 KiB/s; cut at 0 s, healed at {healed_at:.1} s):"
    );
    for s in &timeline {
        eprintln!("  {}", s.line());
    }

    resumed?;
    let cut: Vec<&Sample> = timeline.iter().filter(|s| s.phase == "cut").collect();
    for s in &cut {
        assert_ne!(s.state(), "synced", "✓ while the invitee was cut off: {}", s.line());
        let owner_synced = s.owner_view.as_ref().is_some_and(|f| f["state"] == "synced");
        assert!(!owner_synced, "the owner saw the member ✓ while it was cut off: {}", s.line());
        assert!(
            s.percent() >= percent_at_cut,
            "the badge dropped below its last real percent {percent_at_cut}: {}",
            s.line()
        );
    }
    // Stalled, said on both sides before the cut ends, and said until healed.
    let stalled = |f: &Option<Value>| {
        f.as_ref()
            .is_some_and(|f| f["state"] == "syncing" && f["error"].as_str().is_some_and(|e| e.starts_with("stalled: ")))
    };
    let first = cut.iter().position(|s| stalled(&s.invitee));
    let first = first.unwrap_or_else(|| panic!("the invitee never said 'stalled' while cut off for {CUT:?}"));
    for s in &cut[first..] {
        assert!(stalled(&s.invitee), "the stall was not held while cut off: {}", s.line());
    }
    assert!(
        cut.iter().any(|s| stalled(&s.owner_view)),
        "the owner's view never said 'stalled' while the member was cut off for {CUT:?}"
    );
    let settled: Vec<f64> = cut.iter().filter(|s| s.t >= SETTLE.as_secs_f64()).map(|s| s.percent()).collect();
    let held = settled.first().copied().unwrap_or(percent_at_cut);
    assert!(settled.iter().all(|p| *p == held), "the badge kept moving while cut off (from {held} %): {settled:?}");
    assert!(held < 100.0, "the cut came after the transfer ended");

    let last = timeline.last().expect("samples");
    let file = last.invitee.as_ref().expect("synced");
    assert_eq!(file["local_hash"], Value::from(expected.clone()), "{file}");
    assert_eq!(file["error"], Value::Null, "the stall words outlived the stall: {file}");
    let owner_view = last.owner_view.as_ref().expect("checked in the loop");
    assert_eq!(owner_view["state"], "synced", "{owner_view}");
    assert_eq!(owner_view["percent"].as_f64(), Some(100.0), "{owner_view}");
    let on_disk = std::fs::read(stack.invitee_folder().join(BIG))?;
    assert_eq!(format!("blake3:{}", blake3::hash(&on_disk).to_hex()), expected, "the invitee's bytes");
    Ok(())
}
