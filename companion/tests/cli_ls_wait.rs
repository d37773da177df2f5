//! `companion ls` and `companion wait` on the live pair, run as a user
//! would (from a working directory): entries ✓ and pending, a directory's
//! aggregate, the `--json` shape, a subdirectory as working directory, a
//! path outside every shared folder, and `wait` timing out (exit 3) then
//! returning 0 when the file arrives — on the member, and on the owner for
//! that member with `--member` — and exiting 5 for a deleted file.

use crate::member_support;

use std::path::Path;
use std::process::{Output, Stdio};

use cloud_protocol::FileState;
use member_support::*;
use serde_json::Value;

/// `companion ARGS` of `c`, run in `cwd`.
fn command(c: &Companion, cwd: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = c.command(args).expect("the companion binary");
    cmd.current_dir(cwd).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    cmd
}

async fn run(c: &Companion, cwd: &Path, args: &[&str]) -> Output {
    let out = command(c, cwd, args).output().await.expect("companion runs");
    // The real output, for whoever reads the test log (and the README's examples).
    println!("$ companion {}\n{}{}", args.join(" "), text(&out.stdout), text(&out.stderr));
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

fn names(listing: &Value) -> Vec<&str> {
    listing["entries"].as_array().expect("entries").iter().map(|e| e["name"].as_str().expect("a name")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_shows_badges_by_directory_and_wait_returns_when_files_arrive() {
    let s = setup(Knobs::default()).await;
    std::fs::create_dir(s.a("shots")).unwrap();
    s.write_synced("top.txt", b"top\n").await;
    s.write_synced("shots/a.txt", &[b'a'; 300]).await;
    // B cannot get what A writes now: announced by the owner, pending on B.
    s.pause_pair().await;
    wait_apart(&s).await;
    std::fs::write(s.a("shots/b.bin"), [b'b'; 100]).unwrap();
    s.wait_badge("shots/b.bin", "pending", |b| b.state == FileState::Pending).await;
    let folder = s.cluster.node(1).folder_path(FOLDER);

    let out = run(&s.member, &folder, &["ls"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("… pending") && lines[0].contains("75.0%") && lines[0].contains("shots/  (2 files)"));
    assert!(lines[1].starts_with("✓ synced") && lines[1].contains("100.0%") && lines[1].ends_with("top.txt"));

    // The directory's aggregate: its worst state, byte-weighted (300 B ✓, 100 B pending).
    let listing = json(&run(&s.member, &folder, &["ls", "--json"]).await);
    assert_eq!(listing["project_id"], s.project.to_string());
    assert_eq!(listing["path"], "");
    assert_eq!(names(&listing), ["shots", "top.txt"]);
    let shots = &listing["entries"][0];
    for (key, value) in [("kind", "dir"), ("state", "pending"), ("path", "shots")] {
        assert_eq!(shots[key], value, "{shots}");
    }
    assert_eq!(
        (shots["percent"].as_f64(), shots["size"].as_u64(), shots["files"].as_u64()),
        (Some(75.0), Some(400), Some(2))
    );
    for key in ["eta_s", "error"] {
        assert!(shots.get(key).is_some(), "{key} missing: {shots}");
    }

    // From the subdirectory, no argument: its own entries.
    let inside = json(&run(&s.member, &folder.join("shots"), &["ls", "--json"]).await);
    assert_eq!(inside["path"], "shots");
    assert_eq!(names(&inside), ["a.txt", "b.bin"]);
    assert_eq!(
        (inside["entries"][0]["state"].as_str(), inside["entries"][1]["state"].as_str()),
        (Some("synced"), Some("pending"))
    );

    // Outside every shared folder: a clear error.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = run(&s.member, elsewhere.path(), &["ls"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is in no shared folder on this machine"), "{}", text(&out.stderr));

    // Still pending: `wait` gives up with its own exit code, naming the file.
    let out = run(&s.member, &folder, &["wait", "shots", "--timeout", "1s"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("shots/b.bin"), "{}", text(&out.stderr));

    // Waiting on both sides, then the pair meets again: both return 0.
    let member_wait =
        command(&s.member, &folder, &["wait", "shots/b.bin", "top.txt", "--timeout", "60s"]).spawn().unwrap();
    let owner_path = s.a("shots").display().to_string();
    let owner_wait = command(&s.owner, Path::new("/"), &["wait", &owner_path, "--member", "bob", "--timeout", "60s"])
        .spawn()
        .unwrap();
    s.resume_pair().await;
    let out = member_wait.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(s.badge("shots/b.bin").map(|b| b.state), Some(FileState::Synced));
    let out = owner_wait.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(s.owner_view("shots/b.bin").map(|r| r.progress.state), Some(FileState::Synced));
    let out = run(&s.member, &folder, &["ls"]).await;
    assert!(text(&out.stdout).starts_with("✓ synced"), "{}", text(&out.stdout));

    // A file the owner deleted is not coming: `wait` says so with its own code.
    std::fs::remove_file(s.a("top.txt")).unwrap();
    s.wait_badge("top.txt", "deleted", |b| b.state == FileState::Deleted).await;
    let out = run(&s.member, &folder, &["wait", "top.txt"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
}
