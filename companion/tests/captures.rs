//! Every recorded Syncthing 1.19.2 capture parses into the companion's typed
//! structs: events into typed events (never `Unknown` for known types), REST
//! answers into the client's types, error answers into typed errors. A new
//! capture that no rule covers fails the test, so none is skipped by accident.

use companion::syncthing::ClientError;
use companion::syncthing::event::{Event, EventKind};
use companion::syncthing::types::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use syncthing_fixtures::{recorded_json, recorded_names};

/// Captures that are notes of the recording session, not REST shapes the
/// client reads (stats, listings, timing tables).
const NOT_CLIENT_SHAPES: &[&str] = &[
    "conflict-result.json",
    "stats-device-A.json",
    "stats-folder-A.json",
    "timings-jittered.json",
    "timings-variants.json",
    "timings.json",
];

fn typed<T: DeserializeOwned>(name: &str, v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parses<T: DeserializeOwned>(name: &str, v: &Value) -> usize {
    typed::<T>(name, v);
    1
}

/// Every array of event envelopes anywhere in `v`.
fn event_arrays<'a>(v: &'a Value, out: &mut Vec<&'a Vec<Value>>) {
    match v {
        Value::Array(items) => {
            if items.iter().any(|i| i.get("id").is_some() && i.get("type").is_some()) {
                out.push(items);
            } else {
                items.iter().for_each(|i| event_arrays(i, out));
            }
        }
        Value::Object(map) => map.values().for_each(|i| event_arrays(i, out)),
        _ => {}
    }
}

fn check_events(name: &str, v: &Value) -> usize {
    let mut arrays = Vec::new();
    event_arrays(v, &mut arrays);
    let mut n = 0;
    for raw in arrays.into_iter().flatten() {
        let e = Event::from_value(raw.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(e.time.is_some(), "{name}: time of event {} did not parse", e.id);
        match &e.kind {
            EventKind::Unknown { event_type, .. } => panic!("{name}: event type {event_type} is unknown"),
            EventKind::Malformed { event_type, error, .. } => panic!("{name}: {event_type} malformed: {error}"),
            _ => {}
        }
        assert_eq!(e.type_name(), raw["type"].as_str().unwrap(), "{name}");
        n += 1;
    }
    n
}

/// Composite captures: their keys say which REST answer each part is.
fn check_composite(name: &str, v: &Value) -> usize {
    let mut n = 0;
    let rows: Vec<&Value> = match v {
        Value::Array(rows) => rows.iter().collect(),
        other => vec![other],
    };
    for row in rows {
        let Some(map) = row.as_object() else { continue };
        for (key, part) in map {
            if key.contains("completion") {
                let _: Completion = typed(name, part);
            } else if key.ends_with("db_status") {
                let s: DbStatus = typed(name, part);
                assert!(!matches!(s.state, FolderState::Other(_)), "{name}: {key}");
            } else if key.contains("db_file") {
                let _: DbFile = typed(name, part);
            } else if key.ends_with("db_need") {
                let _: Need = typed(name, part);
            } else if key.contains("remoteneed") || key.ends_with("localchanged") {
                let _: FileList = typed(name, part);
            } else {
                continue;
            }
            n += 1;
        }
    }
    n
}

fn check_errors(name: &str, v: &Value) -> usize {
    let cases = v.as_array().unwrap_or_else(|| panic!("{name}: not a list"));
    for case in cases {
        let request = case["request"].as_str().unwrap();
        let status = case["status"].as_u64().unwrap() as u16;
        let folder = request.split("folder=").nth(1).map(|s| s.split('&').next().unwrap());
        let file = request.split("file=").nth(1).map(|s| s.split('&').next().unwrap());
        match (&case["body"], status) {
            (Value::String(body), _) if status != 200 => {
                let e = ClientError::from_response("http://127.0.0.1:8384", request, status, body, folder, file);
                let text = e.to_string();
                match body.trim() {
                    "CSRF Error" => assert!(text.contains("API key rejected"), "{name}: {text}"),
                    "no such folder" => {
                        assert!(matches!(&e, ClientError::UnknownFolder { folder } if folder == "nope"), "{text}")
                    }
                    "No such object in the index" => assert!(matches!(e, ClientError::NotFound { .. }), "{text}"),
                    _ => assert!(matches!(e, ClientError::Http { .. }), "{name}: {text}"),
                }
            }
            (body @ Value::Array(_), 200) => {
                let events: Vec<Event> =
                    body.as_array().unwrap().iter().map(|e| Event::from_value(e.clone()).unwrap()).collect();
                assert!(events.iter().all(|e| !matches!(e.kind, EventKind::Unknown { .. })), "{name}");
            }
            (body @ Value::Object(_), 200) => {
                let c: Completion = typed(name, body);
                // The trap of docs/syncthing.md §2: an unknown device looks complete.
                assert_eq!((c.completion, c.sequence), (100.0, 0));
            }
            other => panic!("{name}: unexpected case {other:?}"),
        }
    }
    cases.len()
}

fn check(name: &str, v: &Value) -> usize {
    let stem = name.trim_end_matches(".json");
    match stem {
        s if s.starts_with("events-buffer-overflow") => {
            for mask in ["all_mask", "default_mask"] {
                let m = &v[mask];
                let gap = m["first_id"].as_u64().unwrap() - m["since"].as_u64().unwrap() - 1;
                assert_eq!(gap, m["missing"].as_u64().unwrap(), "{name}: {mask}");
            }
            1
        }
        // An empty answer (events-disk-startup) is a valid events answer too.
        s if s.starts_with("events-") && v.as_array().is_some_and(Vec::is_empty) => 1,
        s if s.starts_with("events-") => check_events(name, v),
        s if s.starts_with("errors") => check_errors(name, v),
        s if s.starts_with("db-status") => parses::<DbStatus>(name, v),
        s if s.starts_with("db-completion") => parses::<Completion>(name, v),
        s if s.starts_with("db-file") => parses::<DbFile>(name, v),
        s if s.starts_with("db-need") => parses::<Need>(name, v),
        s if s.starts_with("db-remoteneed") || s.starts_with("db-localchanged") => parses::<FileList>(name, v),
        s if s.starts_with("db-browse") => parses::<Vec<BrowseEntry>>(name, v),
        s if s.starts_with("system-status") => {
            let st: SystemStatus = typed(name, v);
            assert!(!st.my_id.is_empty() && !st.start_time.is_empty(), "{name}");
            1
        }
        s if s.starts_with("system-version") => parses::<SystemVersion>(name, v),
        s if s.starts_with("system-connections") => parses::<Connections>(name, v),
        s if s.starts_with("system-ping") => {
            for method in ["GET", "POST"] {
                assert_eq!(typed::<Ping>(name, &v[method]).ping, "pong");
            }
            1
        }
        s if s.starts_with("system-config") || s == "config-A" => {
            let c: Config = typed(name, v);
            assert_eq!((c.folders.len(), c.devices.len()), (1, 2), "{name}");
            assert!(!c.gui.api_key.is_empty(), "{name}");
            1
        }
        s if s.starts_with("config-devices") => parses::<Vec<DeviceConfig>>(name, v),
        s if s.starts_with("config-folder") => {
            let f: FolderConfig = typed(name, v);
            assert_eq!(f.id, "proj");
            1
        }
        s if s.starts_with("config-options") => parses::<OptionsConfig>(name, v),
        _ => check_composite(name, v),
    }
}

#[test]
fn every_recorded_capture_parses_into_typed_values() {
    let names = recorded_names().unwrap();
    assert!(names.len() >= 70, "only {} captures", names.len());
    for name in names.iter().filter(|n| n.ends_with(".json")) {
        if NOT_CLIENT_SHAPES.contains(&name.as_str()) {
            continue;
        }
        let parsed = check(name, &recorded_json(name));
        assert!(parsed > 0, "{name}: no rule read anything from it");
    }
}

/// The events of a recorded `/rest/events` answer.
fn recorded_events(name: &str) -> Vec<Event> {
    recorded_json(name).as_array().unwrap().iter().map(|v| Event::from_value(v.clone()).unwrap()).collect()
}

#[test]
fn recorded_payloads_keep_their_meaning() {
    let file: DbFile = serde_json::from_value(recorded_json("db-file-big-during-sync-A.json")).unwrap();
    assert!(file.availability[0].from_temporary);
    assert_eq!((file.global.num_blocks, file.global.size), (Some(1200), 314572800));
    let need: Need = serde_json::from_value(recorded_json("db-need-during-sync-B.json")).unwrap();
    assert_eq!(need.files().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["big.bin"]);
    assert_eq!(need.progress[0].num_blocks, None);
    let status: DbStatus = serde_json::from_value(recorded_json("db-status-during-sync-B.json")).unwrap();
    assert_eq!(status.state, FolderState::Syncing);

    let events: Vec<Event> = recorded_events("events-b2-big-progress1s-B.json");
    let done: Vec<(i64, i64)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::DownloadProgress(dp) => dp.0.get("proj")?.get("big2.bin").map(|p| (p.blocks_done(), p.total)),
            _ => None,
        })
        .collect();
    assert!(done.len() >= 5 && done.windows(2).all(|w| w[0].0 <= w[1].0), "{done:?}");
    assert!(done.iter().all(|(_, total)| *total == 800));

    let rename: Vec<Event> = recorded_events("events-e-rename-A.json");
    let changes: Vec<(String, String)> = rename
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LocalChangeDetected(c) => Some((format!("{:?}", c.action), c.path.clone())),
            _ => None,
        })
        .collect();
    assert!(changes.contains(&("Modified".into(), "renamed.txt".into())), "{changes:?}");
    assert!(changes.contains(&("Deleted".into(), "hello-2.txt".into())), "{changes:?}");
}
