//! Real REST and event payloads captured from a Syncthing 1.19.2 pair
//! for parser tests in other crates. docs/syncthing.md names the capture
//! behind each fact it states.

use std::path::PathBuf;

use serde_json::Value;

use crate::FixtureError;

/// Path of the recorded capture `name`, e.g. `"db-status-A.json"`.
pub fn recorded(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("recorded").join(name)
}

/// The recorded capture `name`, parsed. These files ship with the crate,
/// so a missing or broken one is a bug in the caller's test: it panics
/// with the path. Use [`try_recorded_json`] to handle the error instead.
pub fn recorded_json(name: &str) -> Value {
    match try_recorded_json(name) {
        Ok(value) => value,
        Err(e) => panic!("recorded capture {name}: {e}"),
    }
}

/// [`recorded_json`] returning an error instead of panicking.
pub fn try_recorded_json(name: &str) -> Result<Value, FixtureError> {
    let path = recorded(name);
    let text = std::fs::read_to_string(&path).map_err(FixtureError::io(format!("reading {}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| FixtureError::Io {
        context: format!("parsing {}", path.display()),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

/// Names of all recorded captures, sorted.
pub fn recorded_names() -> Result<Vec<String>, FixtureError> {
    let dir = recorded("");
    let entries = std::fs::read_dir(&dir).map_err(FixtureError::io(format!("listing {}", dir.display())))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(FixtureError::io(format!("listing {}", dir.display())))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capture_parses() {
        let names = recorded_names().unwrap();
        assert!(names.len() >= 70, "{names:?}");
        for name in names {
            try_recorded_json(&name).unwrap();
        }
        assert_eq!(recorded_json("system-ping-A.json")["GET"], serde_json::json!({"ping": "pong"}));
    }

    #[test]
    fn missing_capture_is_an_error() {
        assert!(try_recorded_json("nope.json").is_err());
    }
}
