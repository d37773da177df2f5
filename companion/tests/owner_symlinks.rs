//! A symlinked directory inside the shared folder (one a member with a
//! send-receive copy can plant) leads outside it: the owner publishes no
//! name, size or hash from behind it — neither for a link that was there
//! before `companion run` started nor for one created while it runs, nor
//! for files written behind a link later. A normal file written at the same
//! time does arrive, so the silence is not the silence of a dead pipeline.
//! Real Syncthing pair, real cloud, the real `companion run`.

use crate::owner_support;

use std::os::unix::fs::symlink;
use std::time::Duration;

use cloud_protocol::Event;
use owner_support::*;

/// Events that leak something from behind a link: a path under one, or the
/// hash of an outside file.
fn leaks<'a>(events: &'a [Event], outside_hashes: &[String]) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| {
            let p = e.change.path.as_str();
            p.starts_with("link/")
                || p.starts_with("link2/")
                || e.change.hash.as_ref().is_some_and(|h| outside_hashes.contains(h))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_behind_a_symlinked_directory_is_published() {
    let Owner { cloud, token, api, cluster: _cluster, root, mut companion } = Owner::new(10).await;

    // Outside the folder: two private directories.
    let outside = tempfile::tempdir().unwrap();
    let (out1, out2) = (outside.path().join("one"), outside.path().join("two"));
    std::fs::create_dir_all(out1.join("deep")).unwrap();
    std::fs::create_dir_all(&out2).unwrap();
    std::fs::write(out1.join("id_rsa"), b"private key, before start").unwrap();
    std::fs::write(out1.join("deep/notes.txt"), b"private notes, before start").unwrap();
    std::fs::write(out2.join("tax.pdf"), b"private tax return").unwrap();

    // Before start: a link to the first, and a normal file.
    symlink(&out1, root.join("link")).unwrap();
    std::fs::write(root.join("a.txt"), b"shared a").unwrap();
    let project = share_and_run(&mut companion, &cloud, &token);
    wait_events(&api, project, "a.txt", |e| e.iter().any(|e| e.change.path == "a.txt")).await;

    // While running: a second link, files written behind both links, and a
    // normal file at the same time.
    symlink(&out2, root.join("link2")).unwrap();
    std::fs::write(out1.join("id_ed25519"), b"private key, written while running").unwrap();
    std::fs::write(out1.join("deep/notes.txt"), b"private notes, edited while running").unwrap();
    std::fs::create_dir(out1.join("new-dir")).unwrap();
    std::fs::write(out1.join("new-dir/wallet.dat"), b"private wallet").unwrap();
    std::fs::write(out2.join("tax-2026.pdf"), b"another private tax return").unwrap();
    std::fs::write(root.join("b.txt"), b"shared b").unwrap();

    let outside_files = [
        out1.join("id_rsa"),
        out1.join("id_ed25519"),
        out1.join("deep/notes.txt"),
        out1.join("new-dir/wallet.dat"),
        out2.join("tax.pdf"),
        out2.join("tax-2026.pdf"),
    ];
    let outside_hashes: Vec<String> = outside_files.iter().map(|p| blake3_of(p)).collect();

    let events = wait_events(&api, project, "b.txt", |e| e.iter().any(|e| e.change.path == "b.txt")).await;
    // Give any leak time to arrive: our watcher reports within a second,
    // Syncthing's own watcher (10 s delay here) and its events a bit later.
    assert_quiet(&api, project, events.len(), Duration::from_secs(12)).await;

    // A restart walks the whole folder again (the start-up scan).
    companion.stop().await;
    std::fs::write(out2.join("after-restart.txt"), b"private, written while stopped").unwrap();
    std::fs::write(root.join("c.txt"), b"shared c").unwrap();
    companion.start();
    let events = wait_events(&api, project, "c.txt", |e| e.iter().any(|e| e.change.path == "c.txt")).await;
    let mut hashes = outside_hashes.clone();
    hashes.push(blake3_of(&out2.join("after-restart.txt")));
    let leaked = leaks(&events, &hashes);
    assert!(leaked.is_empty(), "published from outside the folder: {}", show(&events));
    let paths: Vec<&str> = events.iter().map(|e| e.change.path.as_str()).collect();
    assert!(paths.contains(&"a.txt") && paths.contains(&"b.txt"), "{}", show(&events));
    assert!(!paths.contains(&"link") && !paths.contains(&"link2"), "a symlink is skipped: {}", show(&events));
    companion.stop().await;
}
