//! What a conflict copy is in our model.
//!
//! Syncthing settles a conflict by keeping one version at the path and
//! moving the other to `name.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.ext`
//! beside it; the copy then syncs like any file, so the owner publishes it
//! like any file. We therefore treat a copy as two things at once:
//!
//! - a file of its own, announced and badged like any other (✓ once its
//!   bytes equal the announced hash);
//! - attached, by name, to its original: the original reads ⚠ "a
//!   conflicting copy exists: NAME" while a copy of it is on this disk,
//!   and `status` names the link both ways (`conflict_copies` on the
//!   original, `conflict_copy_of` on the copy).
//!
//! The owner's view of a member adds, for each file of such a family,
//! which of the owner's versions the member's bytes are (`conflict_version`).
//! Everything here works on names and hashes already known: no disk, no
//! Syncthing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::ignore::is_conflict_copy;
use crate::ui::status::{FileView, MemberFileView};

/// A file's links to its conflict family, flattened into its view:
/// `conflict_copies` on an original, `conflict_copy_of` on a copy, neither
/// (nothing serialized) outside a family.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictLinks {
    /// The original's `.sync-conflict-` copies.
    #[serde(rename = "conflict_copies", default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<String>,
    /// For a `.sync-conflict-` copy: the path of its original.
    #[serde(rename = "conflict_copy_of", default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
}

/// For a file of a conflict family (an original with copies, or a copy),
/// which of the owner's versions a member holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictVersion {
    /// The owner's path whose bytes equal the member's: the file itself
    /// (the member has the owner's version), its original or one of its
    /// copies; `None` when the member's bytes are none of them (or it has none).
    pub same_as: Option<String>,
    /// The same in words, for people ("has your version", "has the copy's
    /// version: NAME", "has neither version").
    pub says: String,
}

/// Links every file of `files` to its family. `on_disk`: copies seen on
/// this machine's disk by original (the invitee's engine lists them; the
/// owner publishes its own, so it passes none). A copy is linked to its
/// original even when the original is gone (Syncthing 2.x lets a delete
/// win a conflict and keeps the losing edit as a copy).
pub fn relate(files: &mut [FileView], on_disk: &BTreeMap<String, Vec<String>>) {
    let mut copies: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files.iter().filter(|f| !is_gone(f)) {
        if let Some(original) = is_conflict_copy(&f.path) {
            copies.entry(original).or_default().insert(f.path.clone());
        }
    }
    for (original, found) in on_disk {
        let set = copies.entry(original.clone()).or_default();
        // Only names that really are copies of that original.
        set.extend(found.iter().filter(|c| is_conflict_copy(c).as_ref() == Some(original)).cloned());
    }
    for f in files.iter_mut() {
        f.conflict = ConflictLinks {
            copies: copies.get(&f.path).map(|s| s.iter().cloned().collect()).unwrap_or_default(),
            copy_of: is_conflict_copy(&f.path),
        };
    }
}

/// Fills `conflict_copy_of`, `conflict_copies` and `conflict_version` of
/// one member's files from the owner's own files (already related).
pub fn member_versions(owner: &[FileView], member: &mut [MemberFileView]) {
    let by_path: HashMap<&str, &FileView> = owner.iter().map(|f| (f.path.as_str(), f)).collect();
    for m in member.iter_mut() {
        let mine = by_path.get(m.path.as_str());
        m.conflict = ConflictLinks {
            copies: mine.map(|f| f.conflict.copies.clone()).unwrap_or_default(),
            copy_of: is_conflict_copy(&m.path),
        };
        m.conflict_version = version(&by_path, m);
    }
}

/// Which owner version of its family `m` holds; `None` outside a family.
fn version(by_path: &HashMap<&str, &FileView>, m: &MemberFileView) -> Option<ConflictVersion> {
    // The family, in the order a match is named: the file itself first.
    let mut family: Vec<(&str, &str)> = vec![(m.path.as_str(), "your version")];
    if let Some(original) = &m.conflict.copy_of {
        family.push((original.as_str(), "the original's version"));
    }
    family.extend(m.conflict.copies.iter().map(|c| (c.as_str(), "the copy's version")));
    if family.len() == 1 {
        return None;
    }
    let member_hash = m.local_hash.as_deref().filter(|h| !h.is_empty());
    let found = member_hash.and_then(|hash| {
        family.iter().find(|(path, _)| {
            by_path.get(path).and_then(|f| f.local_hash.as_deref()).is_some_and(|owner_hash| owner_hash == hash)
        })
    });
    Some(match found {
        Some((path, words)) if *path == m.path => {
            ConflictVersion { same_as: Some(m.path.clone()), says: format!("has {words}") }
        }
        Some((path, words)) => {
            ConflictVersion { same_as: Some((*path).to_owned()), says: format!("has {words}: {path}") }
        }
        None => ConflictVersion { same_as: None, says: "has neither version".into() },
    })
}

/// A deleted copy is no longer a copy anyone keeps.
fn is_gone(f: &FileView) -> bool {
    f.state == cloud_protocol::FileState::Deleted
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloud_protocol::FileState;
    use serde_json::json;

    const COPY: &str = "notes.sync-conflict-20261130-164500-ASMRTYP.txt";
    const OLDER: &str = "notes.sync-conflict-20261129-051504-MFZWI3D.txt";
    const H1: &str = "blake3:11";
    const H2: &str = "blake3:22";

    fn file(path: &str, state: FileState, hash: Option<&str>) -> FileView {
        FileView {
            path: path.into(),
            state,
            percent: 100.0,
            size: 5,
            expected_hash: hash.map(str::to_owned),
            local_hash: hash.map(str::to_owned),
            error: None,
            eta_s: None,
            conflict: ConflictLinks::default(),
        }
    }

    fn reported(path: &str, hash: Option<&str>) -> MemberFileView {
        MemberFileView {
            path: path.into(),
            state: FileState::Synced,
            percent: 100.0,
            local_hash: hash.map(str::to_owned),
            error: None,
            reported_at: "2026-11-30T16:45:00Z".into(),
            conflict: ConflictLinks::default(),
            conflict_version: None,
        }
    }

    #[test]
    fn the_link_is_named_both_ways_and_only_for_a_family() {
        let mut files = vec![
            file("notes.txt", FileState::Conflict, Some(H1)),
            file(COPY, FileState::Synced, Some(H2)),
            // Resolved by deleting it: no longer a copy of anything kept.
            file("notes.sync-conflict-20261101-000000-AAAAAAA.txt", FileState::Deleted, None),
            file("plain.txt", FileState::Synced, Some(H1)),
            file("a.sync-conflict-not-a-date.txt", FileState::Synced, Some(H1)),
        ];
        // One more copy on this disk, not announced yet; a stray name is not taken.
        let on_disk = BTreeMap::from([("notes.txt".to_owned(), vec![OLDER.to_owned(), "plain.txt".to_owned()])]);
        relate(&mut files, &on_disk);
        let json = serde_json::to_value(&files).unwrap();
        assert_eq!(json[0]["conflict_copies"], json!([OLDER, COPY]));
        assert!(json[0].get("conflict_copy_of").is_none(), "{json}");
        assert_eq!(json[1]["conflict_copy_of"], json!("notes.txt"));
        assert!(json[1].get("conflict_copies").is_none(), "{json}");
        assert_eq!(json[2]["conflict_copy_of"], json!("notes.txt"), "a deleted copy still says what it was");
        for plain in [&json[3], &json[4]] {
            assert!(plain.get("conflict_copies").is_none() && plain.get("conflict_copy_of").is_none(), "{plain}");
        }
        // Additive: the old shape still reads.
        let old = json!({"path": "x", "state": "synced", "percent": 100.0, "size": 1,
            "expected_hash": null, "local_hash": null, "error": null});
        let back: FileView = serde_json::from_value(old).unwrap();
        assert!(back.conflict == ConflictLinks::default());
    }

    /// The links are flattened into the views: the JSON keeps its keys
    /// in the same place, byte for byte (`status --json`, the dashboard).
    #[test]
    fn the_links_keep_their_place_in_the_json() {
        let mut owner = vec![file("notes.txt", FileState::Synced, Some(H1)), file(COPY, FileState::Synced, Some(H2))];
        relate(&mut owner, &BTreeMap::new());
        let mut member = vec![reported(COPY, Some(H1))];
        member_versions(&owner, &mut member);
        assert_eq!(
            serde_json::to_string(&owner).unwrap(),
            format!(
                r#"[{{"path":"notes.txt","state":"synced","percent":100.0,"size":5,"expected_hash":"{H1}","local_hash":"{H1}","error":null,"conflict_copies":["{COPY}"]}},{{"path":"{COPY}","state":"synced","percent":100.0,"size":5,"expected_hash":"{H2}","local_hash":"{H2}","error":null,"conflict_copy_of":"notes.txt"}}]"#
            )
        );
        assert_eq!(
            serde_json::to_string(&member).unwrap(),
            format!(
                r#"[{{"path":"{COPY}","state":"synced","percent":100.0,"local_hash":"{H1}","error":null,"reported_at":"2026-11-30T16:45:00Z","conflict_copy_of":"notes.txt","conflict_version":{{"same_as":"notes.txt","says":"has the original's version: notes.txt"}}}}]"#
            )
        );
    }

    #[test]
    fn a_copy_is_linked_to_an_original_that_is_gone() {
        // Syncthing 2.x: a delete won, the losing edit is the copy.
        let mut files = vec![file("notes.txt", FileState::Deleted, None), file(COPY, FileState::Synced, Some(H2))];
        relate(&mut files, &BTreeMap::new());
        assert_eq!(
            (files[0].conflict.copies.as_slice(), files[1].conflict.copy_of.as_deref()),
            (&[COPY.to_owned()][..], Some("notes.txt"))
        );
    }

    #[test]
    fn the_owner_sees_which_version_a_member_has() {
        let mut owner = vec![
            file("notes.txt", FileState::Synced, Some(H1)),
            file(COPY, FileState::Synced, Some(H2)),
            file("plain.txt", FileState::Synced, Some(H1)),
        ];
        relate(&mut owner, &BTreeMap::new());
        let mut member =
            vec![reported("notes.txt", Some(H2)), reported(COPY, Some(H2)), reported("plain.txt", Some(H2))];
        member_versions(&owner, &mut member);
        let json = serde_json::to_value(&member).unwrap();
        assert_eq!(
            json[0]["conflict_version"],
            json!({"same_as": COPY, "says": format!("has the copy's version: {COPY}")})
        );
        assert_eq!(json[0]["conflict_copies"], json!([COPY]));
        assert_eq!(json[1]["conflict_version"], json!({"same_as": COPY, "says": "has your version"}));
        assert_eq!(json[1]["conflict_copy_of"], json!("notes.txt"));
        assert!(json[2].get("conflict_version").is_none(), "not in a conflict: {json}");

        let mut member = vec![reported("notes.txt", Some(H1)), reported(COPY, Some(H1)), reported("notes.txt", None)];
        member_versions(&owner, &mut member);
        let says: Vec<&str> = member.iter().map(|m| m.conflict_version.as_ref().unwrap().says.as_str()).collect();
        assert_eq!(says, ["has your version", "has the original's version: notes.txt", "has neither version"]);
        assert_eq!(member[2].conflict_version.as_ref().unwrap().same_as, None);
    }
}
