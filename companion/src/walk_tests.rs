//! Tests of the folder walker, and a helper for making directories
//! unreadable even when the tests run as root.

use std::collections::BTreeSet;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use rustix::thread::{CapabilitySet, capabilities, set_capabilities};

use super::*;

/// Runs `f` on a rayon pool whose threads cannot bypass file permissions.
/// Root reads a `chmod 000` directory anyway (CAP_DAC_OVERRIDE,
/// CAP_DAC_READ_SEARCH); capabilities are per thread, so the pool's threads
/// drop both and the rest of the test process keeps them. For a plain user
/// this changes nothing.
pub(crate) fn without_dac_override<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| {
            let mut caps = capabilities(None).expect("capget");
            caps.effective -= CapabilitySet::DAC_OVERRIDE | CapabilitySet::DAC_READ_SEARCH;
            set_capabilities(None, caps).expect("dropping capabilities from our own thread");
        })
        .build()
        .expect("a rayon pool");
    pool.install(f)
}

/// Makes `dir` unreadable (mode 000); gives it back its mode on drop so the
/// temporary directory can be removed.
pub(crate) struct Locked(PathBuf);

impl Locked {
    pub(crate) fn new(dir: PathBuf) -> Self {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
        Locked(dir)
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

fn write(root: &Path, rel: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, rel).unwrap();
}

fn files(entries: &[Entry]) -> BTreeSet<String> {
    entries.iter().filter_map(|e| if let Entry::File { rel, .. } = e { Some(rel.clone()) } else { None }).collect()
}

#[test]
fn follows_syncthings_rules_and_never_a_link() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("folder");
    let outside = base.path().join("outside");
    write(&outside, "secret.txt");
    for rel in ["a.txt", "d/b.txt", "d/e/c.txt", ".stfolder/x", ".stversions/old.txt", "d/.syncthing.f.tmp"] {
        write(&root, rel);
    }
    write(&root, "~syncthing~g.tmp");
    write(&root, "build/out.o");
    write(&root, "build/keep.txt");
    symlink(&outside, root.join("link")).unwrap();
    symlink(outside.join("secret.txt"), root.join("d/secret.txt")).unwrap();

    let all = collect(&Walker { rules: None, stat_files: true }, &root, "");
    assert_eq!(
        files(&all),
        ["a.txt", "build/keep.txt", "build/out.o", "d/b.txt", "d/e/c.txt"].map(String::from).into()
    );
    // `link` and `d/secret.txt`; `.stfolder`, `.stversions` and the two temporary files.
    assert_eq!(all.iter().filter(|e| matches!(e, Entry::Other)).count(), 2);
    assert_eq!(all.iter().filter(|e| matches!(e, Entry::Ignored)).count(), 4);
    let a = all.iter().find_map(|e| match e {
        Entry::File { rel, stat: Some(st) } if rel == "a.txt" => Some(st.st_size),
        _ => None,
    });
    assert_eq!(a, Some(5));

    // Ignore patterns where the caller wants them; a `!` pattern is looked for below.
    let rules = IgnoreRules::new(&["!build/keep.txt", "build"]).unwrap();
    let some = collect(&Walker { rules: Some(&rules), stat_files: false }, &root, "");
    assert_eq!(files(&some), ["a.txt", "build/keep.txt", "d/b.txt", "d/e/c.txt"].map(String::from).into());

    // A start below the root: relative paths stay the folder's, and a start
    // that is a link is not entered.
    assert_eq!(files(&collect(&Walker::default(), &root, "d")), ["d/b.txt", "d/e/c.txt"].map(String::from).into());
    assert!(collect(&Walker::default(), &root, "link").is_empty());
    assert!(collect(&Walker::default(), &root, "missing").is_empty());
}

/// Unreadable directories among the others are reported, each, and the
/// walk still lists everything else.
#[test]
fn an_unreadable_directory_is_reported_and_the_walk_goes_on() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path();
    let mut want = BTreeSet::new();
    for i in 0..20 {
        write(root, &format!("f{i:02}.txt"));
        write(root, &format!("d{i:02}/inner.txt"));
        want.insert(format!("f{i:02}.txt"));
        want.insert(format!("d{i:02}/inner.txt"));
    }
    for i in 0..5 {
        write(root, &format!("locked{i}/hidden.txt"));
    }
    let locks: Vec<Locked> = (0..5).map(|i| Locked::new(root.join(format!("locked{i}")))).collect();

    let all = without_dac_override(|| {
        // The premise: these threads really cannot read a locked directory.
        assert!(std::fs::read_dir(root.join("locked0")).is_err(), "locked0 is still readable");
        collect(&Walker::default(), root, "")
    });
    drop(locks);
    assert_eq!(files(&all), want);
    let mut unreadable: Vec<&str> = all
        .iter()
        .filter_map(|e| if let Entry::Unreadable { rel, .. } = e { Some(rel.as_str()) } else { None })
        .collect();
    unreadable.sort();
    assert_eq!(unreadable, ["locked0", "locked1", "locked2", "locked3", "locked4"]);
}
