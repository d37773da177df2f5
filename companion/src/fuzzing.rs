//! Fuzz target bodies for the companion's parsers of bytes it does not write:
//! Syncthing's event JSON and REST answers, its `config.xml`, a folder's
//! `.stignore` lines, and the companion's own config file (docs/fuzzing.md).
//!
//! Each function must never panic on any input; it panics only when an
//! invariant breaks. The `fuzz/` crate's libFuzzer targets call these, and a
//! unit test replays the committed corpus through them on stable. Hidden,
//! not an API: it exists so the fuzz crate needs no crate-private item.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::FileConfig;
use crate::ignore::{IgnoreRules, is_conflict_copy, is_internal, is_temporary};
use crate::syncthing::config_xml;
use crate::syncthing::event::{Event, EventKind, parse_events};
use crate::syncthing::types::{Completion, DbFile, DbStatus};

/// A `/rest/events` body: the batch reads (or the whole body is refused),
/// every element is either an event or a skipped envelope, and an event's
/// type name is the one Syncthing sent, whatever its data.
pub fn syncthing_events(data: &[u8]) {
    let Ok((events, skipped)) = parse_events(data) else { return };
    let values: Vec<Value> = serde_json::from_slice(data).expect("parse_events read it, so it is an array");
    assert_eq!(events.len() + skipped.len(), values.len(), "an element was lost");
    let mut read = events.iter();
    for value in values {
        let sent = value.get("type").and_then(Value::as_str).map(str::to_owned);
        let Ok(event) = Event::from_value(value) else { continue };
        let from_batch = read.next().expect("as many events as single reads");
        assert_eq!(from_batch.id, event.id);
        assert_eq!(Some(event.type_name()), sent.as_deref(), "the type name is not the one sent");
        if let EventKind::Malformed { error, .. } = &event.kind {
            assert!(!error.is_empty(), "a malformed event without a reason");
        }
        let _ = event.folder();
    }
}

/// `GET /rest/db/file`: reads leniently and survives a round trip.
pub fn db_file(data: &[u8]) {
    if let Some(file) = lenient::<DbFile>(data) {
        let _ = (file.local.flags().is_unusable_here(), file.global.flags().is_receive_only_change());
    }
}

/// `GET /rest/db/status` (also a `FolderSummary`'s summary).
pub fn db_status(data: &[u8]) {
    lenient::<DbStatus>(data);
}

/// `GET /rest/db/completion` (also a `FolderCompletion`'s data).
pub fn completion(data: &[u8]) {
    if let Some(completion) = lenient::<Completion>(data) {
        let _ = completion.is_known_for_peer();
    }
}

/// Syncthing's `config.xml`: parsed or refused with a reason; what parses
/// gives a GUI URL or a reason, and an API key that is trimmed and not empty.
pub fn config_xml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("config.xml");
    match config_xml::parse(path, text) {
        Ok(config) => {
            if let Some(key) = &config.gui.api_key {
                assert!(!key.is_empty() && key.trim() == key, "api key {key:?} is not trimmed");
            }
            if let Ok(url) = config.gui.url() {
                let (_, port) = url.rsplit_once(':').expect("a URL with a port");
                assert!(url.contains("://") && port.parse::<u16>().is_ok(), "{url:?} from {:?}", config.gui.address);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// `.stignore` lines (as `GET /rest/db/ignores` returns them): compiled or
/// refused naming a line; compiled rules answer for any path, the internal
/// files are always skipped, and a conflict copy's original stays in its
/// directory. Each line is also tried as a path.
pub fn stignore(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let probes = lines.iter().copied().chain(["a", "dir/file.txt", ".stignore", ".stfolder/x", "x/.syncthing.y.tmp"]);
    match IgnoreRules::new(&lines) {
        Ok(rules) => {
            for path in probes.clone() {
                let _ = rules.verdict(path);
                if is_internal(path) || is_temporary(path) {
                    assert!(rules.should_skip(path), "{path:?} is Syncthing's own but not skipped");
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    for path in probes {
        if let Some(original) = is_conflict_copy(path) {
            assert!(original.len() < path.len(), "{path:?} → {original:?} is not shorter");
            let dir = |p: &str| p.rfind('/').map_or(String::new(), |i| p[..=i].to_owned());
            assert_eq!(dir(&original), dir(path), "{path:?} → {original:?} moved directory");
        }
    }
}

/// The companion's `config.toml`: parsed or refused, and what parses is
/// written back (as `save` writes it) to text that parses to the same.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("config.toml");
    let Ok(config) = FileConfig::parse(path, text) else { return };
    let written = config.render().expect("a parsed config renders");
    let back = FileConfig::parse(path, &written).unwrap_or_else(|e| panic!("{written:?} does not read back: {e}"));
    assert_eq!(back, config, "changed by a round trip through {written:?}");
}

/// Reads a REST answer; what reads survives a JSON round trip unchanged.
fn lenient<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(data).ok()?;
    let json = serde_json::to_string(&value).expect("a parsed answer serializes");
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json} does not read back: {e}"));
    assert_eq!(back, value, "changed by a round trip through {json}");
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every committed corpus file and crash regression of each target, run
    /// through its body (the suite's share of fuzzing; docs/fuzzing.md).
    #[test]
    fn corpus_replays_clean() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let targets: [cloud_protocol::fuzzing::Target; 7] = [
            ("syncthing_events", syncthing_events),
            ("db_file", db_file),
            ("db_status", db_status),
            ("completion", completion),
            ("config_xml", config_xml),
            ("stignore", stignore),
            ("config_toml", config_toml),
        ];
        for (name, body) in targets {
            let replayed = cloud_protocol::fuzzing::replay(&fuzz, name, body);
            assert!(replayed >= 5, "{name}: only {replayed} corpus files; is fuzz/corpus/{name} missing?");
        }
    }
}
