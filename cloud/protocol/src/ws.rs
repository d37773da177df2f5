//! WebSocket messages on `GET /api/ws`, both directions, tagged by `type`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Event, FileProgress, ReportedFile};

/// What a companion sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Send the backlog after `since_seq`, then live events.
    Subscribe {
        project_id: Uuid,
        since_seq: i64,
    },
    Unsubscribe {
        project_id: Uuid,
    },
    /// A member's changed file states (only what changed). With a `seq`, the
    /// cloud answers `progress_ack` with that seq once it is done with the
    /// message. `files` may be empty: "still here, nothing changed", which
    /// the cloud passes on to the owner as a `member_progress` without files.
    Progress {
        project_id: Uuid,
        files: Vec<FileProgress>,
        /// Chosen by the member, increasing per socket; absent from older
        /// companions, which get no acknowledgement.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
}

/// What the cloud sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Events in strict seq order, never a gap or a duplicate. `last_seq` is the
    /// seq of the last event in this message.
    Events { project_id: Uuid, events: Vec<Event>, last_seq: i64 },
    /// To owners: a member reported progress.
    MemberProgress { project_id: Uuid, user_id: Uuid, name: String, files: Vec<ReportedFile> },
    /// Something went wrong; with a `project_id` the subscription to it has ended
    /// (code `access_revoked` when the member was revoked).
    Error {
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        project_id: Option<Uuid>,
    },
    /// The client fell too far behind: pull with `GET …/events`, then subscribe again.
    Resync { project_id: Uuid },
    /// The cloud is done with the `progress` message `seq` of this socket: its
    /// files are stored (any it refused were named in an `error` sent before).
    /// Not sent when storing failed: the member sends the files again.
    ProgressAck { project_id: Uuid, seq: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Change, FileState};

    #[test]
    fn client_messages_round_trip_and_shape() {
        let id = Uuid::new_v4();
        let sub = ClientMessage::Subscribe { project_id: id, since_seq: 5 };
        let v = serde_json::to_value(&sub).unwrap();
        assert_eq!(v, serde_json::json!({"type": "subscribe", "project_id": id, "since_seq": 5}));
        assert_eq!(serde_json::from_value::<ClientMessage>(v).unwrap(), sub);
        let prog = ClientMessage::Progress {
            project_id: id,
            files: vec![FileProgress {
                path: "a".into(),
                state: FileState::Synced,
                percent: 100.0,
                local_hash: None,
                error: None,
            }],
            seq: Some(7),
        };
        let json = serde_json::to_string(&prog).unwrap();
        assert_eq!(serde_json::from_str::<ClientMessage>(&json).unwrap(), prog);
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance"}"#).is_err());
        assert_eq!(serde_json::to_value(&prog).unwrap()["seq"], 7);
        // An older companion's report (no seq) still reads.
        let old = format!(r#"{{"type":"progress","project_id":"{id}","files":[]}}"#);
        assert_eq!(
            serde_json::from_str::<ClientMessage>(&old).unwrap(),
            ClientMessage::Progress { project_id: id, files: vec![], seq: None }
        );
    }

    #[test]
    fn server_messages_round_trip() {
        let id = Uuid::new_v4();
        for msg in [
            ServerMessage::Events {
                project_id: id,
                events: vec![Event { seq: 3, change: Change::delete("a"), created_at: "t".into() }],
                last_seq: 3,
            },
            ServerMessage::Resync { project_id: id },
            ServerMessage::Error { code: "access_revoked".into(), message: "m".into(), project_id: Some(id) },
            ServerMessage::MemberProgress { project_id: id, user_id: id, name: "b".into(), files: vec![] },
        ] {
            let json = serde_json::to_string(&msg).unwrap();
            assert_eq!(serde_json::from_str::<ServerMessage>(&json).unwrap(), msg, "{json}");
        }
        let v = serde_json::to_value(ServerMessage::ProgressAck { project_id: id, seq: 9 }).unwrap();
        assert_eq!(v, serde_json::json!({"type": "progress_ack", "project_id": id, "seq": 9}));
        let v = serde_json::to_value(ServerMessage::Resync { project_id: id }).unwrap();
        assert_eq!(v, serde_json::json!({"type": "resync", "project_id": id}));
    }
}
