//! Answers and events in the shapes Syncthing 2.x sends, which no binary
//! here can produce: each JSON value below was written from the 2.x source
//! (syncthing/syncthing at v2.1.3) named beside it, and checks that the
//! companion reads it the way it reads 1.19's.

use super::event::{Event, EventKind};
use super::types::*;
use serde_json::json;

#[test]
fn db_file_without_mtime_or_permissions_and_with_2x_flags() {
    // lib/api/api.go, getDBFile: {global, local, availability} and no
    // `mtime`; fileIntfJSONMap: `permissions` only when the file has
    // permission bits, plus `platform`, `blocksHash`, `previousBlocksHash`.
    // lib/protocol/bep_fileinfo.go: FlagLocalGlobal 16, FlagLocalNeeded 32.
    let body = json!({
        "global": {
            "name": "a.txt", "type": "FILE_INFO_TYPE_FILE", "size": 3, "deleted": false, "invalid": false,
            "ignored": false, "mustRescan": false, "noPermissions": true,
            "modified": "2025-08-12T10:00:00.123456789+02:00", "modifiedBy": "ABCDEFG", "sequence": 7,
            "version": ["ABCDEFG:1755000000"], "localFlags": 16, "platform": {"unix": null},
            "blocksHash": "q1w2e3", "previousBlocksHash": null, "numBlocks": 1
        },
        "local": {
            "name": "", "type": "FILE_INFO_TYPE_FILE", "size": 0, "deleted": false, "invalid": false,
            "ignored": false, "mustRescan": false, "noPermissions": true, "modified": "1970-01-01T01:00:00+01:00",
            "modifiedBy": "AAAAAAA", "sequence": 0, "version": [], "localFlags": 32, "platform": {},
            "blocksHash": null, "previousBlocksHash": null, "numBlocks": 0
        },
        "availability": [{"id": "ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG", "fromTemporary": false}]
    });
    let file: DbFile = serde_json::from_value(body).unwrap();
    assert_eq!(file.mtime, None);
    assert_eq!(file.global.permissions, None);
    assert_eq!((file.global.name.as_str(), file.global.size, file.global.sequence), ("a.txt", 3, 7));
    assert!(file.global.flags().has(LocalFlags::GLOBAL) && !file.global.flags().is_receive_only_change());
    assert!(file.local.name.is_empty() && file.local.flags().has(LocalFlags::NEEDED));
    assert!(!file.local.flags().is_unusable_here());
    assert_eq!(file.availability.len(), 1);
    // A receive-only change is still bit 8, whatever else is set.
    let mut changed = file.local.clone();
    changed.local_flags = LocalFlags::RECEIVE_ONLY | LocalFlags::GLOBAL;
    assert!(changed.flags().is_receive_only_change());
}

#[test]
fn completion_is_trusted_only_when_the_peer_state_is_valid() {
    // lib/model/model.go, FolderCompletion.Map: `remoteState` is
    // lib/model/folderstate.go's remoteFolderState: unknown, notSharing,
    // paused, valid. A peer that never announced: ~0 % and `unknown`.
    let never: Completion = serde_json::from_value(json!({
        "completion": 0.0, "globalBytes": 1000, "needBytes": 1000, "globalItems": 1, "needItems": 1,
        "needDeletes": 0, "sequence": 0, "remoteState": "unknown"
    }))
    .unwrap();
    assert!(!never.is_known_for_peer());
    let paused = Completion { remote_state: Some("paused".into()), sequence: 9, ..never.clone() };
    assert!(!paused.is_known_for_peer());
    let valid = Completion { remote_state: Some("valid".into()), completion: 40.0, ..never.clone() };
    assert!(valid.is_known_for_peer());
    // 1.19: no remoteState; the false 100 % has sequence 0 (docs/syncthing.md §6).
    let old: Completion = serde_json::from_value(json!({"completion": 100, "sequence": 0})).unwrap();
    assert!(!old.is_known_for_peer());
    let old = Completion { sequence: 12, ..old };
    assert!(old.is_known_for_peer());
}

#[test]
fn ignores_with_an_error_field_parse() {
    // lib/api/api.go, getDBIgnores: always 200 with {ignore, expanded, error}.
    let ok: Ignores = serde_json::from_value(json!({"ignore": null, "expanded": null, "error": null})).unwrap();
    assert_eq!((ok.ignore.len(), ok.error), (0, None));
    let bad: Ignores =
        serde_json::from_value(json!({"ignore": null, "expanded": null, "error": "folder nope does not exist"}))
            .unwrap();
    assert_eq!(bad.error.as_deref(), Some("folder nope does not exist"));
}

fn event(value: serde_json::Value) -> Event {
    Event::from_value(value).unwrap()
}

#[test]
fn device_connected_without_addr_is_read() {
    // lib/model/model.go, AddConnection: a map[string]string with `addr`
    // only when the connection has a remote address; one event per
    // connection (2.0 opens up to 3 per device).
    let e = event(json!({
        "id": 5, "globalID": 9, "time": "2025-08-12T10:00:00.1+02:00", "type": "DeviceConnected",
        "data": {"id": "ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG", "deviceName": "B",
                 "clientName": "syncthing", "clientVersion": "v2.1.3", "type": "tcp-client"}
    }));
    let EventKind::DeviceConnected(d) = &e.kind else { panic!("{e:?}") };
    assert_eq!((d.addr.as_deref(), d.client_version.as_str()), (None, "v2.1.3"));
}

#[test]
fn folder_summary_with_state_starting_and_remote_sequences() {
    // lib/model/folder_summary.go: FolderSummaryEventData {folder, summary};
    // FolderSummary has `error` as a string (empty when none),
    // `remoteSequence` and `watchError`; lib/model/folderstate.go adds
    // FolderStarting = "starting" (2.1).
    let summary = r#"{
        "id": 6, "globalID": 10, "time": "2025-08-12T10:00:00.2+02:00", "type": "FolderSummary",
        "data": {"folder": "proj", "summary": {
            "errors": 0, "pullErrors": 0, "invalid": "", "globalFiles": 1, "globalDirectories": 0,
            "globalSymlinks": 0, "globalDeleted": 0, "globalBytes": 3, "globalTotalItems": 1,
            "localFiles": 0, "localDirectories": 0, "localSymlinks": 0, "localDeleted": 0, "localBytes": 0,
            "localTotalItems": 0, "needFiles": 1, "needDirectories": 0, "needSymlinks": 0, "needDeletes": 0,
            "needBytes": 3, "needTotalItems": 1, "receiveOnlyChangedFiles": 0, "receiveOnlyChangedDirectories": 0,
            "receiveOnlyChangedSymlinks": 0, "receiveOnlyChangedDeletes": 0, "receiveOnlyChangedBytes": 0,
            "receiveOnlyTotalItems": 0, "inSyncFiles": 0, "inSyncBytes": 0, "state": "starting",
            "stateChanged": "2025-08-12T10:00:00+02:00", "error": "", "version": 1, "sequence": 1,
            "remoteSequence": {"ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG": 4},
            "ignorePatterns": false, "watchError": ""
        }}
    }"#;
    let e = event(serde_json::from_str(summary).unwrap());
    let EventKind::FolderSummary(d) = &e.kind else { panic!("{e:?}") };
    assert_eq!(d.summary.state, FolderState::Starting);
    assert_eq!(d.summary.state.to_string(), "starting");
    assert_eq!((d.summary.need_bytes, d.summary.error.as_deref()), (3, Some("")));
    let status: DbStatus = serde_json::from_value(json!({"state": "starting"})).unwrap();
    assert_eq!(status.state, FolderState::Starting);
}

#[test]
fn event_types_new_in_2x_are_kept_not_errors() {
    // lib/events/events.go has types 1.19 lacks (ClusterConfigReceived is
    // sent to the default mask; FolderWatchStateChanged, …).
    for event_type in ["ClusterConfigReceived", "FolderWatchStateChanged", "SomethingFrom2030"] {
        let e = event(
            json!({"id": 1, "globalID": 1, "time": "2025-08-12T10:00:00Z", "type": event_type, "data": {"x": 1}}),
        );
        assert!(matches!(&e.kind, EventKind::Unknown { event_type: t, .. } if t == event_type), "{e:?}");
        assert_eq!(e.id, 1);
    }
}
