//! Table tests of Syncthing's ignore rules (companion::ignore).

use companion::ignore::{IgnoreError, IgnoreRules, Verdict, is_conflict_copy, is_internal, is_temporary};

fn rules(lines: &[&str]) -> IgnoreRules {
    IgnoreRules::new(lines).unwrap_or_else(|e| panic!("{lines:?}: {e}"))
}

/// Pattern lines, then (path, ignored?) pairs.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, bool)]);

#[test]
fn pattern_table() {
    let ignored = |v: Verdict| v.is_ignored();
    let cases: &[Case] = &[
        // A plain name matches itself at any depth, and everything below it.
        (
            &["foo"],
            &[
                ("foo", true),
                ("sub/foo", true),
                ("foo/x", true),
                ("a/foo/b/c", true),
                ("foobar", false),
                ("xfoo", false),
            ],
        ),
        // `*` stays inside one component.
        (&["te*st"], &[("test", true), ("subdir/telerest", true), ("tele/rest", false)]),
        (&["*.tmp"], &[("a.tmp", true), ("d/e/a.tmp", true), ("a.tmp/inner", true), ("a.tmpx", false)]),
        // `**` crosses `/`, also inside a name (Syncthing, not globset).
        (&["te**st"], &[("test", true), ("subdir/telerest", true), ("tele/sub/dir/rest", true), ("tele/sub", false)]),
        (&["a/**/b"], &[("a/b", true), ("a/x/b", true), ("a/x/y/b", true), ("q/a/x/b", true), ("a/x/c", false)]),
        (&["**/cache"], &[("cache", true), ("x/cache", true), ("x/cache/y", true), ("x/caches", false)]),
        (&["dir/**"], &[("dir", false), ("dir/a", true), ("dir/a/b", true), ("x/dir/a", true)]),
        // `?` is one character, never `/`.
        (&["te??st"], &[("tebest", true), ("teb/st", false), ("test", false)]),
        // Classes and alternatives.
        (&["[a-c]*.log"], &[("a1.log", true), ("c.log", true), ("d.log", false)]),
        (&["*.{jpg,png}"], &[("x.jpg", true), ("y/x.png", true), ("x.gif", false)]),
        // A leading `/` anchors to the folder root.
        (&["/foo"], &[("foo", true), ("foo/bar", true), ("sub/foo", false)]),
        (&["/a/b"], &[("a/b", true), ("a/b/c", true), ("x/a/b", false), ("a", false)]),
        // A trailing `/` names what is below only.
        (&["build/"], &[("build", false), ("build/out.o", true), ("src/build/x", true)]),
        // Escapes.
        (&[r"\*star"], &[("*star", true), ("xstar", false)]),
        // Case: exact unless (?i).
        (&["Photo.JPG"], &[("Photo.JPG", true), ("photo.jpg", false)]),
        (&["(?i)photo.jpg"], &[("PHOTO.JPG", true), ("x/Photo.Jpg", true), ("photo.png", false)]),
        (&["(?i)ÄRGER"], &[("ärger", true), ("x/Ärger", true)]),
        // Comments, blank lines, surrounding spaces.
        (&["// just a comment", "", "  spaced  "], &[("spaced", true), ("// just a comment", false)]),
        // Spaces inside are ordinary characters.
        (&["my file"], &[("my file", true), ("my", false)]),
        // Deeper patterns match at any depth too.
        (&["a/b"], &[("a/b", true), ("x/a/b", true), ("x/a/b/c", true), ("a/x/b", false)]),
    ];
    for (lines, paths) in cases {
        let r = rules(lines);
        for (path, want) in *paths {
            assert_eq!(ignored(r.verdict(path)), *want, "patterns {lines:?}, path {path:?}");
        }
    }
}

#[test]
fn first_match_wins() {
    let r = rules(&["!important.log", "*.log"]);
    assert_eq!(r.verdict("important.log"), Verdict::Included);
    assert_eq!(r.verdict("x/important.log"), Verdict::Included);
    assert_eq!(r.verdict("other.log"), Verdict::Ignored { deletable: false });
    assert!(r.has_negations());

    // The other order: the ignore line comes first and wins.
    let r = rules(&["*.log", "!important.log"]);
    assert!(r.verdict("important.log").is_ignored());

    // Keep one subdirectory of an ignored tree.
    let r = rules(&["!/photos/keep", "/photos"]);
    assert_eq!(r.verdict("photos/keep/a.jpg"), Verdict::Included);
    assert!(r.verdict("photos/other.jpg").is_ignored());
    assert!(r.verdict("photos").is_ignored());

    // Mixed case modes keep file order across the two glob sets.
    let r = rules(&["(?i)!KEEP.txt", "*.txt"]);
    assert_eq!(r.verdict("Keep.TXT"), Verdict::Included);
    assert!(r.verdict("drop.txt").is_ignored());
    assert_eq!(r.verdict("drop.TXT"), Verdict::NotMatched);
}

#[test]
fn prefixes_in_any_order() {
    let r = rules(&["(?d).DS_Store", "(?i)(?d)thumbs.db", "(?d)(?i)!KEEP"]);
    assert_eq!(r.verdict(".DS_Store"), Verdict::Ignored { deletable: true });
    assert_eq!(r.verdict("a/Thumbs.DB"), Verdict::Ignored { deletable: true });
    assert_eq!(r.verdict("keep"), Verdict::Included);
    assert!(!rules(&["foo"]).has_negations());
    // Syncthing's `expanded` form of `(?i)foo`: re-expanding is harmless.
    let r = rules(&["(?i)foo", "(?i)**/foo", "(?i)foo/**", "(?i)**/foo/**"]);
    assert!(r.verdict("x/FOO/y").is_ignored());
}

#[test]
fn bad_lines_are_refused_with_the_line() {
    for (lines, want) in [
        (vec!["!"], IgnoreError::MissingPattern { line: "!".into() }),
        (vec!["(?i)(?d)"], IgnoreError::MissingPattern { line: "(?i)(?d)".into() }),
        (vec!["#include other.txt"], IgnoreError::Include { line: "#include other.txt".into() }),
        (vec!["a**b**c**d**e**f"], IgnoreError::TooComplex { line: "a**b**c**d**e**f".into() }),
    ] {
        assert_eq!(IgnoreRules::new(&lines).unwrap_err(), want);
    }
    let err = IgnoreRules::new(&["[unclosed"]).unwrap_err();
    assert!(matches!(&err, IgnoreError::BadGlob { line, .. } if line == "[unclosed"), "{err}");
    assert!(err.to_string().contains("[unclosed"), "{err}");
}

#[test]
fn syncthing_always_skips_its_own_files() {
    let r = IgnoreRules::default();
    assert!(r.is_empty());
    for path in [".stfolder", ".stfolder/x", ".stignore", ".stversions", ".stversions/a/b~20261129.txt"] {
        assert!(is_internal(path), "{path}");
        assert!(r.should_skip(path), "{path}");
    }
    for path in [".stignore-like", "sub/.stfolder", ".stversionsX", "a.stignore"] {
        assert!(!is_internal(path), "{path}");
    }
    for path in [".syncthing.a.txt.tmp", "d/.syncthing.big.bin.tmp", "~syncthing~a.txt.tmp", "d/~syncthing~x.tmp"] {
        assert!(is_temporary(path), "{path}");
        assert!(r.should_skip(path), "{path}");
    }
    for path in ["syncthing.tmp", "a/.syncthingx", "x.tmp", "notes/.syncthing"] {
        assert!(!is_temporary(path), "{path}");
        assert!(!r.should_skip(path), "{path}");
    }
    assert!(rules(&["*.bak"]).should_skip("a/b.bak"));
}

#[test]
fn conflict_copies_map_to_their_original() {
    let cases = [
        ("conflict.sync-conflict-20261129-051504-ASMRTYP.txt", Some("conflict.txt")),
        ("d/e/photo.sync-conflict-20260101-000000-ABCDEF7.jpg", Some("d/e/photo.jpg")),
        ("Makefile.sync-conflict-20261129-051504-ASMRTYP", Some("Makefile")),
        (".bashrc.sync-conflict-20261129-051504-ASMRTYP", Some(".bashrc")),
        (".sync-conflict-20261129-051504-ASMRTYP.bashrc", Some(".bashrc")),
        ("a.tar.sync-conflict-20261129-051504-ASMRTYP.gz", Some("a.tar.gz")),
        // Older Syncthing: no device ID.
        ("old.sync-conflict-20150101-120000.txt", Some("old.txt")),
        ("plain.txt", None),
        ("a.sync-conflict-2026-bad.txt", None),
        ("a.sync-conflict-20261129-051504-ASMRTYPx", None),
        ("dir.sync-conflict-20261129-051504-ASMRTYP/inner.txt", None),
        (".sync-conflict-20261129-051504-ASMRTYP", None),
    ];
    for (path, want) in cases {
        assert_eq!(is_conflict_copy(path).as_deref(), want, "{path}");
    }
}
