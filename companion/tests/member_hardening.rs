//! An owner (or a compromised cloud) announcing paths to an invitee learns
//! nothing of the invitee's files beyond the shared folder: a symlinked
//! directory or file inside the folder is never followed (error badge, no
//! hash), and paths the invitee's Syncthing does not sync (its `.stignore`,
//! Syncthing's own files, what its ignore patterns match) are never read
//! (`ignored here`, no hash, not in the percent). Real pair, real cloud,
//! two real companions; the announcements go through the cloud's API as
//! the owner's.

use crate::member_support;

use cloud_protocol::{Change, FileState, Op, ProgressReport, UpdateFilesRequest};
use companion::cloud_client::api::CloudClient;
use member_support::*;
use syncthing_fixtures::poll::eventually_async;
use uuid::Uuid;

const NOT_REGULAR: &str = "not a regular file inside the folder";

/// The owner announces `paths` as files with `content`'s hash and size.
async fn announce(alice: &CloudClient, project: Uuid, paths: &[&str], content: &[u8]) {
    let hash = format!("blake3:{}", blake3::hash(content).to_hex());
    let changes = paths.iter().map(|p| Change::upsert(Op::Create, *p, hash.clone(), content.len() as u64, 1)).collect();
    let request = UpdateFilesRequest { batch_id: Uuid::new_v4(), changes };
    alice.update_files(project, &request).await.expect("announcement accepted");
}

/// The owner's `GET /progress`, as JSON text and parsed.
async fn progress(alice: &CloudClient, project: Uuid) -> (String, ProgressReport) {
    let report = alice.progress(project).await.expect("GET /progress");
    (serde_json::to_string(&report).unwrap(), report)
}

/// bob's reported file `path`, if any.
fn reported<'a>(report: &'a ProgressReport, bob: Uuid, path: &str) -> Option<&'a cloud_protocol::FileProgress> {
    let member = report.members.iter().find(|m| m.user_id == bob)?;
    member.files.iter().find(|f| f.progress.path == path).map(|f| &f.progress)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_inside_the_folder_are_never_followed() {
    let s = setup(Knobs::default()).await;
    s.write_synced("a.txt", b"shared\n").await;
    // B's links stay on B (Syncthing would replicate them to A otherwise).
    s.pause_pair().await;

    // Outside B's folder: a secret. Inside: a symlinked directory and a
    // symlinked file leading to it.
    let outside = tempfile::tempdir().unwrap();
    let secret = b"-----BEGIN OPENSSH PRIVATE KEY----- bob's\n";
    std::fs::write(outside.path().join("id_rsa"), secret).unwrap();
    std::os::unix::fs::symlink(outside.path(), s.b("link")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("id_rsa"), s.b("key")).unwrap();
    let secret_hex = blake3::hash(secret).to_hex().to_string();

    // The owner guesses the content: were it read, the badge would say ✓.
    let alice = s.cloud.client(&s.alice_token);
    announce(&alice, s.project, &["link/id_rsa", "key"], secret).await;

    for path in ["link/id_rsa", "key"] {
        let b = s.wait_badge(path, "error", |b| b.state == FileState::Error).await;
        assert_eq!((b.error.as_deref(), b.local_hash.as_deref()), (Some(NOT_REGULAR), None), "{path}: {b:?}");
    }
    // What the owner sees: the error, never the secret's hash nor a ✓.
    eventually_async("bob's error badges at the owner", DEADLINE, || async {
        let (text, report) = progress(&alice, s.project).await;
        assert!(!text.contains(&secret_hex), "the outside file's hash reached the owner: {text}");
        let rows: Vec<_> = ["link/id_rsa", "key"].iter().filter_map(|p| reported(&report, s.bob, p)).collect();
        assert!(rows.iter().all(|r| r.state != FileState::Synced), "{text}");
        let home = s.b("").to_string_lossy().trim_end_matches('/').to_owned();
        assert!(!text.contains(&home), "an absolute path of bob's reached the owner: {text}");
        let errors = rows.iter().all(|r| r.state == FileState::Error && r.error.as_deref() == Some(NOT_REGULAR));
        if rows.len() == 2 && errors { Ok(()) } else { Err(text) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_ignored_here_are_neither_read_nor_reported() {
    let s = setup(Knobs::default()).await;
    s.write_synced("a.txt", b"shared\n").await;

    // bob keeps `private/` to himself; his Syncthing learns it (and so his
    // companion, before it applies the next announcement).
    let stignore = b"private\n";
    std::fs::write(s.b(".stignore"), stignore).unwrap();
    std::fs::create_dir(s.b("private")).unwrap();
    let mine = b"bob's own notes\n";
    std::fs::write(s.b("private/x"), mine).unwrap();
    let st = companion::syncthing::Client::new(&s.cluster.node(1).api_url, &s.cluster.node(1).api_key).unwrap();
    eventually_async("B's Syncthing to read .stignore", DEADLINE, || async {
        st.db_ignores(FOLDER).await.is_ok_and(|i| i.ignore.iter().any(|l| l == "private")).then_some(())
    })
    .await;
    // The owner announces exactly bob's bytes: were they read, ✓ and their hash.
    let alice = s.cloud.client(&s.alice_token);
    announce(&alice, s.project, &["private/x"], mine).await;
    announce(&alice, s.project, &[".stignore"], stignore).await;
    announce(&alice, s.project, &[".stfolder/x", "sub/.syncthing.y.tmp"], b"internal").await;
    s.write_synced("b.txt", b"after the announcements\n").await;

    for path in ["private/x", ".stignore", ".stfolder/x", "sub/.syncthing.y.tmp"] {
        let b = s.wait_badge(path, "ignored here", |b| b.state == FileState::IgnoredHere).await;
        assert_eq!((b.local_hash.as_deref(), b.error.as_deref()), (None, None), "{path}: {b:?}");
    }
    // `status --json`: ignored here, and the folder is complete all the same.
    let json: serde_json::Value = serde_json::from_str(&s.member.ok(&["status", "--json"])).unwrap();
    let project = &json["projects"][0];
    assert_eq!(project["percent"], serde_json::json!(100.0), "{project}");
    let files = project["files"].as_array().unwrap();
    let state_of = |p: &str| files.iter().find(|f| f["path"] == p).map(|f| f["state"].clone());
    assert_eq!(state_of("private/x"), Some(serde_json::json!("ignored_here")), "{project}");
    assert_eq!(state_of(".stignore"), Some(serde_json::json!("ignored_here")), "{project}");
    let table = s.member.ok(&["status"]);
    assert!(table.contains("ignored here") && table.contains("100.0%"), "{table}");

    // The owner learns that bob does not sync them, and nothing more: no
    // hash, no ✓. (b.txt, reported after them, shows the reports are through.)
    let ignored = ["private/x", ".stignore", ".stfolder/x", "sub/.syncthing.y.tmp"];
    let (text, report) =
        eventually_async("b.txt ✓ and the ignored paths 'ignored_here' at the owner", DEADLINE, || async {
            let (text, report) = progress(&alice, s.project).await;
            let all_ignored =
                ignored.iter().all(|p| reported(&report, s.bob, p).is_some_and(|f| f.state == FileState::IgnoredHere));
            if all_ignored && reported(&report, s.bob, "b.txt").is_some_and(|f| f.state == FileState::Synced) {
                Ok((text, report))
            } else {
                Err(text)
            }
        })
        .await;
    for path in ignored {
        let row = reported(&report, s.bob, path).unwrap();
        assert!(row.local_hash.is_none() && row.error.is_none() && row.percent == 0.0, "{path}: {text}");
    }
    for content in [&mine[..], &stignore[..]] {
        assert!(!text.contains(blake3::hash(content).to_hex().as_str()), "{text}");
    }
}
