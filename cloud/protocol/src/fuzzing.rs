//! Fuzz target bodies for the wire contract's parsers (docs/fuzzing.md).
//!
//! Each function takes bytes a peer could send and must never panic; it
//! panics only when an invariant breaks, which is what a fuzzer reports.
//! The `fuzz/` crate's libFuzzer targets call these, and so does a unit test
//! that replays the committed corpus on stable, so the suite checks every
//! corpus file and every past crash on each run without a nightly toolchain.
//! Not part of the API: hidden, and kept apart from the types it exercises.

use std::path::{Component, Path};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{
    Change, ClientMessage, EventsPage, FilesSnapshot, MAX_PATH_BYTES, ServerMessage, UpdateFilesRequest,
    validate_batch, validate_path,
};

/// The path rule: whatever the bytes, a path is refused or names a file
/// strictly beneath the folder it is joined onto, on Unix and on Windows.
pub fn path(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if validate_path(&text).is_ok() {
        assert_beneath(&text);
    }
}

/// A `Change` and a `files/update` body as the cloud reads them: parse,
/// validate; what validates keeps its path beneath the root, and survives a
/// JSON round trip unchanged and still valid.
pub fn change(data: &[u8]) {
    if let Ok(change) = serde_json::from_slice::<Change>(data)
        && change.validate().is_ok()
    {
        assert_beneath(&change.path);
        let back = round_trip(&change);
        assert_eq!(back.validate(), Ok(()), "a valid change is invalid after a round trip");
    }
    if let Ok(request) = serde_json::from_slice::<UpdateFilesRequest>(data) {
        match validate_batch(&request.changes) {
            Ok(()) => request.changes.iter().for_each(|c| assert_beneath(&c.path)),
            Err(invalid) => {
                assert!(!invalid.is_empty(), "a refused batch names no bad entry");
                for bad in &invalid {
                    let change = request.changes.get(bad.index).expect("the index of a bad entry is in the batch");
                    assert_eq!(bad.path, change.path);
                    assert!(change.validate().is_err(), "entry {} is named bad but validates", bad.index);
                }
            }
        }
        round_trip(&request);
    }
}

/// A WebSocket message from a companion, as the cloud reads it: parse, and
/// check each reported file the way the cloud does before storing it.
pub fn client_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(message) = serde_json::from_str::<ClientMessage>(text) else { return };
    if let ClientMessage::Progress { files, .. } = &message {
        for file in files {
            if file.validate().is_ok() {
                assert_beneath(&file.path);
                assert!((0.0..=100.0).contains(&file.percent));
            }
        }
    }
    round_trip(&message);
}

/// A WebSocket message from the cloud, as a companion reads it: parse, and
/// check each event's change the way the manifest does before applying it.
pub fn server_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(message) = serde_json::from_str::<ServerMessage>(text) else { return };
    match &message {
        ServerMessage::Events { events, .. } => events.iter().for_each(|e| valid_change_is_beneath(&e.change)),
        ServerMessage::MemberProgress { files, .. } => files.iter().for_each(|f| {
            if f.progress.validate().is_ok() {
                assert_beneath(&f.progress.path);
            }
        }),
        _ => {}
    }
    round_trip(&message);
}

/// The cloud's HTTP answers a companion reads to catch up: an events page and
/// a files snapshot, checked as the manifest checks them.
pub fn cloud_answers(data: &[u8]) {
    if let Ok(page) = serde_json::from_slice::<EventsPage>(data) {
        page.events.iter().for_each(|e| valid_change_is_beneath(&e.change));
        round_trip(&page);
    }
    if let Ok(snapshot) = serde_json::from_slice::<FilesSnapshot>(data) {
        for file in &snapshot.files {
            if validate_path(&file.path).is_ok() {
                assert_beneath(&file.path);
            }
        }
        round_trip(&snapshot);
    }
}

fn valid_change_is_beneath(change: &Change) {
    if change.validate().is_ok() {
        assert_beneath(&change.path);
    }
}

/// The invariant behind the path rule (docs/wire.md): joined onto a root,
/// a valid path is one or more plain names below it, on Unix and on Windows.
pub fn assert_beneath(path: &str) {
    assert!(!path.is_empty() && path.len() <= MAX_PATH_BYTES, "{path:?}: bad length");
    assert!(!path.chars().any(char::is_control), "{path:?} carries a control character");
    let root = Path::new("/srv/folder");
    let joined = root.join(path);
    let relative = joined.strip_prefix(root).unwrap_or_else(|_| panic!("{path:?} left the root: {joined:?}"));
    assert!(relative.components().count() >= 1, "{path:?} names the root itself");
    assert!(
        relative.components().all(|c| matches!(c, Component::Normal(_))),
        "{path:?} has a component that is not a plain name"
    );
    // Windows splits on both separators and strips trailing dots and spaces.
    for name in path.split(['/', '\\']) {
        assert!(
            !name.is_empty() && name != "." && name != ".." && !name.contains(':') && !name.ends_with(['.', ' ']),
            "{path:?} escapes or is unstorable on Windows ({name:?})"
        );
    }
}

/// Serializes `value` and reads it back: the same value, or the wire format
/// cannot carry what it accepted. Returns the value read back.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> T {
    let json = serde_json::to_string(value).expect("a parsed value serializes");
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json} does not read back: {e}"));
    assert_eq!(&back, value, "changed by a round trip through {json}");
    back
}

/// A target's name (its directory under `fuzz/corpus`) and body.
pub type Target = (&'static str, fn(&[u8]));

/// Runs `body` on every file of `fuzz/corpus/<name>` and
/// `fuzz/regressions/<name>` under `fuzz`, naming the file that fails; returns
/// how many files ran. The stable replay of a target (docs/fuzzing.md).
pub fn replay(fuzz: &Path, name: &str, body: fn(&[u8])) -> usize {
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(name)) else { continue };
        for entry in entries {
            let file = entry.expect("a readable corpus directory").path();
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "{name}: {} breaks the target's invariants", file.display());
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every committed corpus file and crash regression of each target, run
    /// through its body (the suite's share of fuzzing; docs/fuzzing.md).
    #[test]
    fn corpus_replays_clean() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let targets: [Target; 5] = [
            ("path", path),
            ("change", change),
            ("client_message", client_message),
            ("server_message", server_message),
            ("cloud_answers", cloud_answers),
        ];
        for (name, body) in targets {
            let replayed = replay(&fuzz, name, body);
            assert!(replayed >= 5, "{name}: only {replayed} corpus files; is fuzz/corpus/{name} missing?");
        }
    }
}
