//! `companion wait PATH… [--timeout DUR] [--member NAME]`: blocks until
//! every file at or under each PATH is ✓ verified on this machine (or, for
//! an owner with `--member`, until that member reported it ✓), for scripts:
//! "start the render once the footage has arrived".
//!
//! It polls the manifest the running daemon keeps every [`POLL_EVERY`]: the
//! daemon offers no change signal outside its own process, and a read of a
//! project's rows costs milliseconds while badges move at Syncthing's pace
//! (its progress events come every second at best), so half a second adds
//! little wait and no load. A path the companion knows nothing about yet is
//! waited for: the owner may not have announced it yet.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use cloud_protocol::{FileState, Role};
use tokio::time::Instant;
use uuid::Uuid;

use crate::config::Settings;
use crate::listing::{self, Located, is_under};
use crate::ui::status::ProjectStatusView;

/// How often the manifest is read again.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

/// Every path is ✓.
pub const DONE: u8 = 0;
/// `--timeout` passed first.
pub const TIMED_OUT: u8 = 3;
/// A file has an error or conflict badge, or is not synced here (it would never arrive).
pub const FAILED: u8 = 4;
/// A file waited for was deleted.
pub const DELETED: u8 = 5;

/// What `wait --help` says about its exit codes.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every path is ✓ verified (on this machine, or on --member's)
  1  an error (a path outside the shared folders, no manifest, an unknown project)
  2  usage error (unknown option, bad duration)
  3  --timeout passed first
  4  a file has an error or conflict badge, or is ignored there (it would never arrive)
  5  a file waited for was deleted";

/// Where one PATH is.
struct Target {
    shown: PathBuf,
    at: Located,
}

/// How the files of one target stand.
#[derive(Debug, PartialEq)]
enum Verdict {
    Done,
    Waiting(String),
    Failed(String),
    Deleted(String),
}

pub async fn run(
    settings: &Settings,
    paths: &[PathBuf],
    timeout: Option<Duration>,
    member: Option<&str>,
) -> anyhow::Result<ExitCode> {
    if !settings.manifest_path().exists() {
        bail!(
            "no manifest in {} yet: `companion share` or `companion join` a folder first",
            settings.state_dir.display()
        );
    }
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let manifest = settings.open_manifest()?;
    let mut targets = Vec::new();
    for path in paths {
        let at = listing::locate(&manifest, path, &cwd)?;
        if member.is_some() && at.project.role != Role::Owner {
            bail!("--member is for the owner: {} is {}'s folder as a member here", path.display(), at.project.name);
        }
        targets.push(Target { shown: path.clone(), at });
    }
    drop(manifest);
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut warned_member = false;
    loop {
        let manifest = settings.open_manifest()?;
        // Each project read once per round, however many paths are in it.
        let mut views: HashMap<Uuid, ProjectStatusView> = HashMap::new();
        let mut waiting = Vec::new();
        for t in &targets {
            let id = t.at.project.project_id;
            let view = match views.entry(id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(crate::listing::project_files(settings, &manifest, id)?),
            };
            if let Some(name) = member
                && !warned_member
                && !view.members.iter().any(|m| m.name == name)
            {
                eprintln!("note: no member {name:?} has reported on {} yet; waiting", view.name);
                warned_member = true;
            }
            match verdict(view, &t.at.rel, member) {
                Verdict::Done => {}
                Verdict::Waiting(why) => waiting.push(format!("{}: {why}", t.shown.display())),
                Verdict::Failed(why) => {
                    eprintln!("{}: {why}", t.shown.display());
                    return Ok(ExitCode::from(FAILED));
                }
                Verdict::Deleted(why) => {
                    eprintln!("{}: {why}", t.shown.display());
                    return Ok(ExitCode::from(DELETED));
                }
            }
        }
        drop(manifest);
        if waiting.is_empty() {
            return Ok(ExitCode::from(DONE));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            eprintln!("timed out; still waiting for:");
            for line in &waiting {
                eprintln!("  {line}");
            }
            return Ok(ExitCode::from(TIMED_OUT));
        }
        let nap = deadline.map_or(POLL_EVERY, |d| POLL_EVERY.min(d.saturating_duration_since(Instant::now())));
        tokio::time::sleep(nap).await;
    }
}

/// How the files at or under `rel` stand, here or (`member`) on that member's machine.
fn verdict(view: &ProjectStatusView, rel: &str, member: Option<&str>) -> Verdict {
    let ours: Vec<_> = view.files.iter().filter(|f| is_under(&f.path, rel)).collect();
    let is_file = ours.len() == 1 && ours[0].path == rel;
    // The states to judge: ours, or what the member reported about our files.
    let states: Vec<(&str, FileState, Option<&str>)> = match member {
        None => ours.iter().map(|f| (f.path.as_str(), f.state, f.error.as_deref())).collect(),
        Some(name) => {
            let reported = view.members.iter().find(|m| m.name == name).map(|m| m.files.as_slice()).unwrap_or(&[]);
            ours.iter()
                .map(|f| match (f.state, reported.iter().find(|r| r.path == f.path)) {
                    (FileState::Deleted, _) => (f.path.as_str(), FileState::Deleted, None),
                    (_, Some(r)) => (f.path.as_str(), r.state, r.error.as_deref()),
                    (_, None) => (f.path.as_str(), FileState::Pending, None),
                })
                .collect()
        }
    };
    if let Some((path, state, error)) =
        states.iter().find(|(_, s, _)| matches!(s, FileState::Error | FileState::Conflict))
    {
        let why = error.map_or_else(String::new, |e| format!(": {e}"));
        return Verdict::Failed(format!("{path} is {}{why}", state.as_str()));
    }
    let live: Vec<_> = states.iter().filter(|(_, s, _)| *s != FileState::Deleted).collect();
    if live.is_empty() && !states.is_empty() {
        let what = if is_file { "was deleted".to_owned() } else { "holds only deleted files".to_owned() };
        return Verdict::Deleted(what);
    }
    if is_file && live[0].1 == FileState::IgnoredHere {
        return Verdict::Failed(format!("{rel} is ignored there: it will never arrive"));
    }
    let left: Vec<_> =
        live.iter().filter(|(_, s, _)| !matches!(s, FileState::Synced | FileState::IgnoredHere)).collect();
    match (states.is_empty(), left.first()) {
        (true, _) => Verdict::Waiting("not announced yet".into()),
        (false, None) => Verdict::Done,
        (false, Some((path, state, _))) => {
            Verdict::Waiting(format!("{} file(s) not ✓ yet, e.g. {path} ({})", left.len(), state.as_str()))
        }
    }
}

/// `30s`, `5m`, `2h`, `500ms`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration (say 30s, 5m, 2h or 500ms)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {text:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a duration we can wait"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::status::{ConflictLinks, FileView, MemberFileView, MemberView};

    fn file(path: &str, state: FileState) -> FileView {
        FileView {
            path: path.into(),
            state,
            percent: if state == FileState::Synced { 100.0 } else { 0.0 },
            size: 1,
            expected_hash: None,
            local_hash: None,
            error: (state == FileState::Error).then(|| "Syncthing: permission denied".into()),
            eta_s: None,
            conflict: ConflictLinks::default(),
        }
    }

    fn view(files: Vec<FileView>, bob: &[(&str, FileState)]) -> ProjectStatusView {
        let reported = bob
            .iter()
            .map(|(path, state)| MemberFileView {
                path: (*path).into(),
                state: *state,
                percent: 0.0,
                local_hash: None,
                error: None,
                reported_at: "2026-12-01T00:00:00Z".into(),
                conflict: ConflictLinks::default(),
                conflict_version: None,
            })
            .collect();
        let member = MemberView {
            user_id: Uuid::nil(),
            name: "bob".into(),
            percent: 0.0,
            files: reported,
            as_of: None,
            as_of_age_s: None,
            online: true,
            offline_after_s: 3,
        };
        ProjectStatusView {
            project_id: Uuid::nil(),
            name: "film".into(),
            folder_id: "film".into(),
            role: Role::Owner,
            last_seq: 1,
            percent: 0.0,
            files,
            members: vec![member],
            status: "active".into(),
            eta_s: None,
            rate_bps: None,
            folder_error: None,
        }
    }

    #[test]
    fn verdicts_here_and_on_a_member() {
        let v = view(
            vec![
                file("a/one", FileState::Synced),
                file("a/two", FileState::Syncing),
                file("b/bad", FileState::Error),
                file("c/gone", FileState::Deleted),
                file("d/x", FileState::Synced),
                file("d/old", FileState::Deleted),
                file("e/skip", FileState::IgnoredHere),
            ],
            &[("a/one", FileState::Synced), ("a/two", FileState::Synced), ("d/x", FileState::Conflict)],
        );
        assert!(matches!(verdict(&v, "a", None), Verdict::Waiting(w) if w.contains("a/two (syncing)")));
        assert_eq!(verdict(&v, "a/one", None), Verdict::Done);
        assert!(matches!(verdict(&v, "b", None), Verdict::Failed(w) if w.contains("permission denied")));
        assert!(matches!(verdict(&v, "c/gone", None), Verdict::Deleted(_)));
        assert!(matches!(verdict(&v, "c", None), Verdict::Deleted(_)));
        // A directory's deleted files are not waited for; a file ignored here never arrives.
        assert_eq!(verdict(&v, "d", None), Verdict::Done);
        assert!(matches!(verdict(&v, "e/skip", None), Verdict::Failed(_)));
        assert!(matches!(verdict(&v, "not/yet", None), Verdict::Waiting(w) if w.contains("not announced")));
        // Bob's reports instead of ours: his ✓ of a, his conflict in d, nothing of b yet.
        assert_eq!(verdict(&v, "a", Some("bob")), Verdict::Done);
        assert!(matches!(verdict(&v, "d", Some("bob")), Verdict::Failed(w) if w.contains("d/x is conflict")));
        assert!(matches!(verdict(&v, "b", Some("bob")), Verdict::Waiting(w) if w.contains("b/bad (pending)")));
        assert!(matches!(verdict(&v, "a", Some("carol")), Verdict::Waiting(_)));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err() && parse_duration("5 weeks").is_err() && parse_duration("").is_err());
    }
}
