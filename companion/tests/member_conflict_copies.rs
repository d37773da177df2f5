//! A conflict copy on the live pair, both ways at once: while the pair is
//! paused the owner and bob edit `owner-loses.txt` (bob's mtime is the
//! newer, so the owner's edit becomes the copy) and `bob-loses.txt` (the
//! owner's mtime is the newer, so bob's edit becomes the copy). Mtimes are
//! set explicitly and each Syncthing is seen to have indexed its edit
//! before the resume, so who loses is decided, not raced.
//!
//! Bob's companion is stopped over the resolution, so the owner first sees
//! bob's last report: bob has the copy's version of `bob-loses.txt`. Once
//! it runs again, on bob's side each original is ⚠ "a conflicting copy
//! exists: COPY" and each copy is ✓ with its own bytes; `status --json`
//! links them both ways; the owner's view says bob has the owner's version
//! of each.

use crate::member_support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use cloud_protocol::FileState;
use member_support::*;
use serde_json::Value;
use syncthing_fixtures::poll::{eventually, eventually_async};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_copy_is_a_file_attached_to_its_original_on_both_sides() {
    let mut s = setup(Knobs::default()).await;
    for name in ["owner-loses.txt", "bob-loses.txt"] {
        std::fs::write(s.a(name), format!("{name}: base\n")).unwrap();
        s.wait_synced(name).await;
    }
    s.pause_pair().await;
    wait_apart(&s).await;

    let now = SystemTime::now();
    let (older, newer) = (now - Duration::from_secs(3600), now - Duration::from_secs(1800));
    // Lengths differ per edit, so "indexed" below is told by size.
    let edits = [
        (0, "owner-loses.txt", "owner-loses.txt: the owner's edit, older\n", older),
        (1, "owner-loses.txt", "owner-loses.txt: bob's edit, newer, longer\n", newer),
        (0, "bob-loses.txt", "bob-loses.txt: the owner's edit, newer\n", newer),
        (1, "bob-loses.txt", "bob-loses.txt: bob's edit, older, and longer\n", older),
    ];
    for (node, name, text, mtime) in edits {
        let path = s.cluster.node(node).folder_path(FOLDER).join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    }
    for (node, name, text, _) in edits {
        wait_indexed(&s, node, name, text.len()).await;
    }
    let owner_edit = blake3_of(&s.a("owner-loses.txt"));
    let bob_edit = blake3_of(&s.b("bob-loses.txt"));
    let (owner_wins, bob_wins) = (blake3_of(&s.a("bob-loses.txt")), blake3_of(&s.b("owner-loses.txt")));

    // Bob's report of his own edit reaches the owner; then bob's companion
    // stops, so the owner's view keeps that report through the resolution.
    s.wait_owner_view("bob-loses.txt", "bob's edit", |r| r.progress.local_hash.as_deref() == Some(bob_edit.as_str()))
        .await;
    s.member.stop().await;

    s.resume_pair().await;

    // Bob's edit reaches the owner as the copy: by his last report, bob
    // has the copy's version of bob-loses.txt, not the owner's.
    let (copy, seen) = eventually("the owner seeing bob's edit as the copy's version", DEADLINE, || {
        let report = companion::ui::status::gather(&s.owner.manifest(), None, companion::HEARTBEAT).ok()?;
        let project = report.projects.into_iter().next()?;
        let copy = project.files.iter().find(|f| f.path.starts_with("bob-loses.sync-conflict-"))?.path.clone();
        let bob = project.members.into_iter().find(|m| m.name == "bob")?;
        let seen = bob.files.into_iter().find(|f| f.path == "bob-loses.txt")?.conflict_version?;
        (seen.same_as.as_deref() == Some(copy.as_str())).then_some((copy, seen))
    })
    .await;
    assert_eq!(seen.says, format!("has the copy's version: {copy}"));
    let table = s.owner.ok(&["status"]);
    assert!(table.contains(&format!("bob has the copy's version: {copy}")), "{table}");
    s.member.start();

    // (original, the winning bytes, the losing bytes kept in the copy)
    let cases = [("owner-loses.txt", &bob_wins, &owner_edit), ("bob-loses.txt", &owner_wins, &bob_edit)];
    let mut copies = Vec::new();
    for (original, winner, loser) in cases {
        let stem = original.trim_end_matches(".txt").to_owned() + ".sync-conflict-";
        let copy = eventually("the conflict copy on bob's disk", DEADLINE, || {
            copies_at(&s.b("")).into_iter().find(|c| c.starts_with(&stem))
        })
        .await;
        assert!(s.a(&copy).exists() || wait_file(&s.a(&copy)).await, "the copy reaches the owner");
        // The copy: a file with its own true badge.
        let c = s.wait_synced(&copy).await;
        assert_eq!(c.local_hash.as_deref(), Some(loser.as_str()), "{copy} holds the losing edit");
        // The original: the winner's bytes, ⚠ naming its copy.
        let want = format!("a conflicting copy exists: {copy}");
        let b = s
            .wait_badge(original, "⚠ naming the copy", |b| {
                b.state == FileState::Conflict && b.error.as_deref() == Some(want.as_str())
            })
            .await;
        assert_eq!(b.local_hash.as_deref(), Some(winner.as_str()), "{original} holds the winning edit");
        assert_eq!(blake3_of(&s.a(original)), **winner, "the owner has the same winner");
        copies.push((original, copy, winner.to_string(), loser.to_string()));
    }

    // Bob's `status --json`: the link both ways.
    let bob = status_json(&s.member.ok(&["status", "--json"]));
    for (original, copy, _, _) in &copies {
        assert_eq!(bob_file(&bob, original)["conflict_copies"], serde_json::json!([copy]), "{bob}");
        assert_eq!(bob_file(&bob, copy)["conflict_copy_of"], serde_json::json!(original), "{bob}");
        assert_eq!(bob_file(&bob, copy)["state"], "synced");
    }

    // The owner's view of bob: bob has the owner's version of each.
    for (original, copy, winner, loser) in &copies {
        s.wait_owner_view(copy, "bob's copy ✓", |r| r.progress.local_hash.as_deref() == Some(loser.as_str())).await;
        s.wait_owner_view(original, "bob's original", |r| r.progress.local_hash.as_deref() == Some(winner.as_str()))
            .await;
    }
    let owner = status_json(&s.owner.ok(&["status", "--json"]));
    let project = &owner["projects"][0];
    let member = project["members"].as_array().unwrap().iter().find(|m| m["name"] == "bob").expect("bob");
    for (original, copy, _, _) in &copies {
        let mine = find(&project["files"], original);
        assert_eq!(mine["conflict_copies"], serde_json::json!([copy]), "{owner}");
        let theirs = find(&member["files"], original);
        assert_eq!(theirs["conflict_version"]["same_as"], serde_json::json!(original), "{owner}");
        assert_eq!(theirs["conflict_version"]["says"], "has your version");
        let theirs = find(&member["files"], copy);
        assert_eq!(theirs["conflict_copy_of"], serde_json::json!(original));
        assert_eq!(theirs["conflict_version"]["same_as"], serde_json::json!(copy), "{owner}");
    }
    // And in the human table.
    let table = s.owner.ok(&["status"]);
    assert!(table.contains("bob has your version"), "{table}");
    let table = s.member.ok(&["status"]);
    for (original, copy, _, _) in &copies {
        assert!(table.contains(&format!("conflicting copy: {copy}")), "{original}: {table}");
        assert!(table.contains(&format!("conflict copy of {original}")), "{table}");
    }
}

/// Waits until Syncthing on `node` has indexed its own edit of `name`.
async fn wait_indexed(s: &Setup, node: usize, name: &str, size: usize) {
    let n = s.cluster.node(node);
    let me: String = n.device_id.chars().take(7).collect();
    eventually_async(&format!("node {node} to index its edit of {name}"), DEADLINE, || async {
        let file = n.get_json(&format!("/rest/db/file?folder={FOLDER}&file={name}")).await.unwrap_or_default();
        let local = &file["local"];
        let indexed = local["size"].as_u64() == Some(size as u64) && local["modifiedBy"].as_str() == Some(me.as_str());
        if indexed { Ok(()) } else { Err(file) }
    })
    .await
}

/// Waits until neither Syncthing lists the other as connected.
async fn wait_file(path: &Path) -> bool {
    eventually("the file", DEADLINE, || path.exists().then_some(())).await;
    true
}

/// The `.sync-conflict-` files at the top of a folder.
fn copies_at(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".sync-conflict-"))
        .collect()
}

fn status_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("status --json: {e}: {text}"))
}

fn bob_file<'a>(report: &'a Value, path: &str) -> &'a Value {
    find(&report["projects"][0]["files"], path)
}

fn find<'a>(files: &'a Value, path: &str) -> &'a Value {
    let files = files.as_array().unwrap_or_else(|| panic!("no files in {files}"));
    files.iter().find(|f| f["path"] == path).unwrap_or_else(|| panic!("{path} not in {files:?}"))
}
