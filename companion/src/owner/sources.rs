//! Syncthing's events as a change source: which paths of our folder they name.
//!
//! `LocalChangeDetected` (one per file, after Syncthing's own scan) and
//! `LocalIndexUpdated` (the file names of a scan or a pull) both count; the
//! second also covers receive-only folders, where the first is not sent
//! (docs/syncthing.md §8). Paths use `/` on every platform we run on; a Windows `\` is
//! turned into `/` all the same.

use crate::syncthing::{Event, EventKind};

/// The relative paths `event` says changed in `folder`; empty for other events.
pub fn paths_from_event(event: &Event, folder: &str) -> Vec<String> {
    match &event.kind {
        EventKind::LocalChangeDetected(c) if c.folder == folder || c.folder_id == folder => vec![normalise(&c.path)],
        EventKind::LocalIndexUpdated(u) if u.folder == folder => u.filenames.iter().map(|f| normalise(f)).collect(),
        _ => Vec::new(),
    }
}

fn normalise(path: &str) -> String {
    path.replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, data: serde_json::Value) -> Event {
        Event::from_value(
            json!({"id": 1, "globalID": 1, "time": "2026-11-29T05:15:04.123456789Z", "type": kind, "data": data}),
        )
        .unwrap()
    }

    #[test]
    fn local_changes_of_our_folder_only() {
        let lcd = event(
            "LocalChangeDetected",
            json!({"action": "modified", "type": "file", "path": "d/a.txt", "folder": "proj", "folderID": "proj", "label": "P", "modifiedBy": "ABC"}),
        );
        assert_eq!(paths_from_event(&lcd, "proj"), ["d/a.txt"]);
        assert!(paths_from_event(&lcd, "other").is_empty());
        let liu = event(
            "LocalIndexUpdated",
            json!({"folder": "proj", "items": 2, "filenames": ["a", "b/c"], "sequence": 5, "version": 5}),
        );
        assert_eq!(paths_from_event(&liu, "proj"), ["a", "b/c"]);
        let remote = event(
            "RemoteChangeDetected",
            json!({"action": "modified", "type": "file", "path": "x", "folder": "proj", "folderID": "proj", "label": "P", "modifiedBy": "ABC"}),
        );
        assert!(paths_from_event(&remote, "proj").is_empty());
    }
}
