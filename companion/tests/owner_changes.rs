//! The owner's changes reach the cloud once each, with the right op and
//! hash: create, modify (content, then touch only), nested directories,
//! rename, delete, a slowly written file, ignored and temporary files, and
//! 1,000 files at once. Real Syncthing pair, real cloud, the real binary.

use crate::owner_support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

use cloud_protocol::Op;
use owner_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_real_change_reaches_the_cloud_once() {
    let Owner { cloud, token, api, cluster: _cluster, root, mut companion } = Owner::new(1).await;
    std::fs::write(root.join(".stignore"), "*.log\nbuild\n").unwrap();
    std::fs::write(root.join("pre.txt"), b"made before the companion started").unwrap();

    let project = share_and_run(&mut companion, &cloud, &token);
    let mut expected = 0;

    // The start-up scan sends what was there before.
    let events = wait_count(&api, project, 1).await;
    assert_upsert(&events[0].change, Op::Create, "pre.txt", &root.join("pre.txt"));
    expected += 1;

    // Create.
    let a = root.join("a.txt");
    std::fs::write(&a, b"first version").unwrap();
    let events = wait_count(&api, project, expected + 1).await;
    assert_upsert(&events[expected].change, Op::Create, "a.txt", &a);
    expected += 1;

    // Modify the content.
    std::fs::write(&a, b"second version, longer").unwrap();
    let events = wait_count(&api, project, expected + 1).await;
    assert_upsert(&events[expected].change, Op::Update, "a.txt", &a);
    expected += 1;

    // Touch only: a new mtime, the same content: nothing to send.
    let f = std::fs::OpenOptions::new().write(true).open(&a).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(60)).unwrap();
    drop(f);

    // Nested directories made and filled at once.
    let deep = root.join("deep/er/still");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("x.txt"), b"nested").unwrap();
    let events = wait_count(&api, project, expected + 1).await;
    assert_upsert(&events[expected].change, Op::Create, "deep/er/still/x.txt", &deep.join("x.txt"));
    expected += 1;

    // Rename: delete + create in one batch (one transaction: same created_at).
    let b = root.join("b.txt");
    std::fs::rename(&a, &b).unwrap();
    let events = wait_count(&api, project, expected + 2).await;
    let (del, create) = (&events[expected], &events[expected + 1]);
    assert_eq!((del.change.op, del.change.path.as_str()), (Op::Delete, "a.txt"), "{}", show(&events));
    assert_upsert(&create.change, Op::Create, "b.txt", &b);
    assert_eq!(del.created_at, create.created_at, "rename sent as one batch");
    let b_hash = blake3_of(&b);
    expected += 2;

    // Delete.
    std::fs::remove_file(&b).unwrap();
    let events = wait_count(&api, project, expected + 1).await;
    assert_eq!((events[expected].change.op, events[expected].change.path.as_str()), (Op::Delete, "b.txt"));
    assert_eq!(events[expected].change.hash, None);
    expected += 1;

    // Ignored by .stignore, Syncthing's temporary files: never sent.
    std::fs::write(root.join("debug.log"), b"ignored").unwrap();
    std::fs::create_dir_all(root.join("build")).unwrap();
    std::fs::write(root.join("build/out.o"), b"ignored dir").unwrap();
    std::fs::write(root.join(".syncthing.part.bin.tmp"), b"temp").unwrap();
    std::fs::write(root.join("~syncthing~part.bin.tmp"), b"temp").unwrap();

    // A file written slowly, in chunks, held open: one create, final content.
    let slow = root.join("slow.bin");
    let mut file = std::fs::File::create(&slow).unwrap();
    for chunk in 0..5u8 {
        file.write_all(&[chunk; 64 * 1024]).unwrap();
        file.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    drop(file);
    let events = wait_count(&api, project, expected + 1).await;
    assert_upsert(&events[expected].change, Op::Create, "slow.bin", &slow);
    expected += 1;

    // A changed .stignore is reloaded from Syncthing: debug.log is no longer
    // ignored (the reconcile sends it), *.skip now is.
    std::fs::write(root.join(".stignore"), "build\n*.skip\n").unwrap();
    let log = root.join("debug.log");
    let events = wait_count(&api, project, expected + 1).await;
    assert_upsert(&events[expected].change, Op::Create, "debug.log", &log);
    expected += 1;
    std::fs::write(root.join("new.skip"), b"ignored by the new pattern").unwrap();

    // 1,000 files at once.
    let burst = root.join("burst");
    std::fs::create_dir_all(&burst).unwrap();
    let mut contents = BTreeMap::new();
    for i in 0..1000 {
        let name = format!("burst/f{i:04}.txt");
        let body = format!("file number {i}");
        std::fs::write(root.join(&name), &body).unwrap();
        contents.insert(name, format!("blake3:{}", blake3::hash(body.as_bytes()).to_hex()));
    }
    let started = std::time::Instant::now();
    let events = wait_count(&api, project, expected + 1000).await;
    eprintln!("1,000 files in the cloud {:?} after the last write", started.elapsed());
    let mut seen = BTreeMap::new();
    for e in &events[expected..] {
        assert_eq!(e.change.op, Op::Create, "{e:?}");
        assert!(seen.insert(e.change.path.clone(), e.change.hash.clone().unwrap()).is_none(), "twice: {e:?}");
    }
    assert_eq!(seen, contents);
    expected += 1000;

    // Syncthing's own (later) events for all of this add nothing.
    assert_quiet(&api, project, expected, Duration::from_secs(4)).await;
    let events = all_events(&api, project).await;
    assert_eq!(
        op_list(&events[..9]),
        "create pre.txt, create a.txt, update a.txt, create deep/er/still/x.txt, delete a.txt, \
         create b.txt, delete b.txt, create slow.bin, create debug.log"
    );
    assert_eq!(events[5].change.hash.as_deref(), Some(b_hash.as_str()));
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=expected as i64).collect::<Vec<_>>(), "dense, in order");
    let manifest = companion.manifest();
    assert_eq!(manifest.pending_count(None).unwrap().changes, 0);
    assert!(manifest.quarantined(None).unwrap().is_empty());
    companion.stop().await;
}
