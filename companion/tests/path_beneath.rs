//! The path rule end to end, as a property: any path a peer can send is
//! either refused by the wire rule or, opened beneath a folder full of
//! escaping symlinks, reaches only files that really are inside it.

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use companion::beneath;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

/// A folder with real files and every kind of escaping symlink, next to an
/// outside directory holding a secret. Returns the inodes of the inside
/// regular files.
fn folder(base: &Path) -> HashSet<u64> {
    let outside = base.join("outside");
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    std::fs::write(outside.join("secret"), b"private").unwrap();
    std::fs::write(outside.join("sub/secret"), b"private").unwrap();
    let root = base.join("folder");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    let mut inside = HashSet::new();
    for rel in ["x", "a/x", "a/b/x", "a/b/secret"] {
        std::fs::write(root.join(rel), rel).unwrap();
        inside.insert(std::fs::metadata(root.join(rel)).unwrap().ino());
    }
    symlink(&outside, root.join("out")).unwrap();
    symlink("..", root.join("up")).unwrap();
    symlink("../..", root.join("a/up")).unwrap();
    symlink(outside.join("secret"), root.join("a/secret")).unwrap();
    symlink("/", root.join("a/b/slash")).unwrap();
    symlink("x", root.join("a/b/sibling")).unwrap();
    inside
}

fn component() -> impl Strategy<Value = String> {
    // Each fixed component as likely as the random one, as one `Just` each would be.
    let fixed: Vec<String> = [
        "..",
        ".",
        "",
        "a",
        "b",
        "x",
        "secret",
        "out",
        "up",
        "slash",
        "sibling",
        "outside",
        "sub",
        "C:",
        "CON",
        "nul.txt",
        "a\0b",
        "a\\..\\..",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([String::from("x").repeat(300)])
    .collect();
    let weight = u32::try_from(fixed.len()).expect("a few");
    prop_oneof![weight => prop::sample::select(fixed), 1 => "\\PC{1,8}"]
}

fn path() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(component(), 1..7)).prop_map(|(absolute, parts)| {
        let joined = parts.join("/");
        if absolute { format!("/{joined}") } else { joined }
    })
}

#[test]
fn accepted_paths_open_only_files_inside() {
    let base = tempfile::tempdir().unwrap();
    let inside = folder(base.path());
    let root = base.path().join("folder");
    let base_text = base.path().to_str().unwrap().to_owned();
    let mut runner = TestRunner::new(ProptestConfig { cases: 4000, ..ProptestConfig::default() });
    let result = runner.run(&path(), |rel| {
        if cloud_protocol::validate_path(&rel).is_err() {
            return Ok(());
        }
        match beneath::open_regular(&root, &rel) {
            Ok((_, meta)) => prop_assert!(inside.contains(&meta.ino()), "{rel:?} opened a file outside the folder"),
            Err(e) => {
                let text = e.to_string();
                prop_assert!(!text.contains(&base_text), "{rel:?}: absolute path in {text}");
            }
        }
        if let Ok(meta) = beneath::symlink_metadata(&root, &rel) {
            // A final symlink is described, never followed; anything else
            // must be inside.
            prop_assert!(meta.file_type().is_symlink() || meta.is_dir() || inside.contains(&meta.ino()), "{rel:?}");
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
