//! Syncthing events as typed values (docs/syncthing.md §4, §5).
//!
//! Parsing never fails as a whole: an event type this build does not know is
//! kept as [`EventKind::Unknown`] with its raw JSON, and a known type whose
//! data does not fit its struct becomes [`EventKind::Malformed`]. Either way
//! the event keeps its id, so gap detection in the stream stays exact.

mod data;

pub use data::*;

use crate::syncthing::types::Config;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The event types the companion subscribes to, in an explicit `events=` list.
///
/// The list is explicit because the default mask leaves out
/// `LocalChangeDetected`/`RemoteChangeDetected` (docs/syncthing.md §4). It includes
/// `FolderSummary`/`FolderCompletion`, which 1.19 only generates while someone
/// polls a mask holding them. All names exist in 1.19.2: an unknown name
/// would silently add nothing to the mask.
pub(crate) const SUBSCRIBED_EVENTS: &[&str] = &[
    "Starting",
    "StartupComplete",
    "ListenAddressesChanged",
    "DeviceConnected",
    "DeviceDisconnected",
    "DevicePaused",
    "DeviceResumed",
    "StateChanged",
    "LocalChangeDetected",
    "RemoteChangeDetected",
    "LocalIndexUpdated",
    "RemoteIndexUpdated",
    "ItemStarted",
    "ItemFinished",
    "DownloadProgress",
    "RemoteDownloadProgress",
    "FolderSummary",
    "FolderCompletion",
    "ConfigSaved",
    "FolderErrors",
    "FolderScanProgress",
    "FolderPaused",
    "FolderResumed",
    "Failure",
];

/// The `events=` query value for [`SUBSCRIBED_EVENTS`].
pub(crate) fn subscribed_mask() -> String {
    SUBSCRIBED_EVENTS.join(",")
}

/// One event from `/rest/events`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Per-subscription (per mask) id, gap-free unless events were dropped.
    pub id: u64,
    /// Shared across masks; not comparable with `id`.
    pub global_id: u64,
    /// `None` only if Syncthing sent a time that is not RFC 3339.
    pub time: Option<OffsetDateTime>,
    pub kind: EventKind,
}

/// The typed payload of an [`Event`], one variant per event type.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Starting(StartingData),
    StartupComplete(StartupCompleteData),
    ListenAddressesChanged(ListenAddressesChangedData),
    DeviceConnected(DeviceConnectedData),
    DeviceDisconnected(DeviceDisconnectedData),
    DevicePaused(DeviceRef),
    DeviceResumed(DeviceRef),
    StateChanged(StateChangedData),
    LocalChangeDetected(ChangeDetectedData),
    RemoteChangeDetected(ChangeDetectedData),
    LocalIndexUpdated(LocalIndexUpdatedData),
    RemoteIndexUpdated(RemoteIndexUpdatedData),
    ItemStarted(ItemStartedData),
    ItemFinished(ItemFinishedData),
    DownloadProgress(DownloadProgressData),
    RemoteDownloadProgress(RemoteDownloadProgressData),
    FolderSummary(Box<FolderSummaryData>),
    FolderCompletion(FolderCompletionData),
    /// The whole config; boxed because it is large.
    ConfigSaved(Box<Config>),
    FolderErrors(FolderErrorsData),
    FolderScanProgress(FolderScanProgressData),
    FolderPaused(FolderRef),
    FolderResumed(FolderRef),
    /// A free-text failure report.
    Failure(String),
    /// A type this build does not model; kept verbatim.
    Unknown {
        event_type: String,
        data: Value,
    },
    /// A known type whose data did not fit; kept verbatim with the reason.
    Malformed {
        event_type: String,
        data: Value,
        error: String,
    },
}

/// Why one element of an events array could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("event without a usable envelope ({0}); skipped")]
pub struct EnvelopeError(String);

#[derive(Deserialize)]
struct Envelope {
    id: u64,
    #[serde(rename = "globalID", default)]
    global_id: u64,
    #[serde(default)]
    time: Option<String>,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    data: Value,
}

impl Event {
    /// Reads one element of a `/rest/events` answer. Only a missing or
    /// non-numeric `id`/`type` is an error; the data never is.
    pub fn from_value(value: Value) -> Result<Event, EnvelopeError> {
        let env: Envelope = serde_json::from_value(value).map_err(|e| EnvelopeError(e.to_string()))?;
        let time = env.time.as_deref().and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        Ok(Event { id: env.id, global_id: env.global_id, time, kind: EventKind::parse(env.event_type, env.data) })
    }

    /// Syncthing's name for this event's type.
    pub fn type_name(&self) -> &str {
        self.kind.type_name()
    }

    /// The folder id this event is about, when it is about one folder.
    pub fn folder(&self) -> Option<&str> {
        use EventKind as K;
        match &self.kind {
            K::StateChanged(d) => Some(&d.folder),
            K::LocalChangeDetected(d) | K::RemoteChangeDetected(d) => Some(&d.folder),
            K::LocalIndexUpdated(d) => Some(&d.folder),
            K::RemoteIndexUpdated(d) => Some(&d.folder),
            K::ItemStarted(d) => Some(&d.folder),
            K::ItemFinished(d) => Some(&d.folder),
            K::RemoteDownloadProgress(d) => Some(&d.folder),
            K::FolderSummary(d) => Some(&d.folder),
            K::FolderCompletion(d) => Some(&d.folder),
            K::FolderErrors(d) => Some(&d.folder),
            K::FolderScanProgress(d) => Some(&d.folder),
            K::FolderPaused(d) | K::FolderResumed(d) => Some(&d.id),
            _ => None,
        }
    }
}

impl EventKind {
    /// Types `data` by the event's `type`; never fails.
    pub fn parse(event_type: String, data: Value) -> EventKind {
        use EventKind as K;
        let parsed = match event_type.as_str() {
            "Starting" => typed(&data, K::Starting),
            "StartupComplete" => typed(&data, K::StartupComplete),
            "ListenAddressesChanged" => typed(&data, K::ListenAddressesChanged),
            "DeviceConnected" => typed(&data, K::DeviceConnected),
            "DeviceDisconnected" => typed(&data, K::DeviceDisconnected),
            "DevicePaused" => typed(&data, K::DevicePaused),
            "DeviceResumed" => typed(&data, K::DeviceResumed),
            "StateChanged" => typed(&data, K::StateChanged),
            "LocalChangeDetected" => typed(&data, K::LocalChangeDetected),
            "RemoteChangeDetected" => typed(&data, K::RemoteChangeDetected),
            "LocalIndexUpdated" => typed(&data, K::LocalIndexUpdated),
            "RemoteIndexUpdated" => typed(&data, K::RemoteIndexUpdated),
            "ItemStarted" => typed(&data, K::ItemStarted),
            "ItemFinished" => typed(&data, K::ItemFinished),
            "DownloadProgress" => typed(&data, K::DownloadProgress),
            "RemoteDownloadProgress" => typed(&data, K::RemoteDownloadProgress),
            "FolderSummary" => typed(&data, |d| K::FolderSummary(Box::new(d))),
            "FolderCompletion" => typed(&data, K::FolderCompletion),
            "ConfigSaved" => typed(&data, |d| K::ConfigSaved(Box::new(d))),
            "FolderErrors" => typed(&data, K::FolderErrors),
            "FolderScanProgress" => typed(&data, K::FolderScanProgress),
            "FolderPaused" => typed(&data, K::FolderPaused),
            "FolderResumed" => typed(&data, K::FolderResumed),
            "Failure" => typed(&data, K::Failure),
            _ => return K::Unknown { event_type, data },
        };
        parsed.unwrap_or_else(|e| K::Malformed { event_type, data, error: e.to_string() })
    }

    /// Syncthing's name for this type.
    pub fn type_name(&self) -> &str {
        use EventKind as K;
        match self {
            K::Starting(_) => "Starting",
            K::StartupComplete(_) => "StartupComplete",
            K::ListenAddressesChanged(_) => "ListenAddressesChanged",
            K::DeviceConnected(_) => "DeviceConnected",
            K::DeviceDisconnected(_) => "DeviceDisconnected",
            K::DevicePaused(_) => "DevicePaused",
            K::DeviceResumed(_) => "DeviceResumed",
            K::StateChanged(_) => "StateChanged",
            K::LocalChangeDetected(_) => "LocalChangeDetected",
            K::RemoteChangeDetected(_) => "RemoteChangeDetected",
            K::LocalIndexUpdated(_) => "LocalIndexUpdated",
            K::RemoteIndexUpdated(_) => "RemoteIndexUpdated",
            K::ItemStarted(_) => "ItemStarted",
            K::ItemFinished(_) => "ItemFinished",
            K::DownloadProgress(_) => "DownloadProgress",
            K::RemoteDownloadProgress(_) => "RemoteDownloadProgress",
            K::FolderSummary(_) => "FolderSummary",
            K::FolderCompletion(_) => "FolderCompletion",
            K::ConfigSaved(_) => "ConfigSaved",
            K::FolderErrors(_) => "FolderErrors",
            K::FolderScanProgress(_) => "FolderScanProgress",
            K::FolderPaused(_) => "FolderPaused",
            K::FolderResumed(_) => "FolderResumed",
            K::Failure(_) => "Failure",
            K::Unknown { event_type, .. } | K::Malformed { event_type, .. } => event_type,
        }
    }
}

fn typed<T: DeserializeOwned>(data: &Value, wrap: impl FnOnce(T) -> EventKind) -> Result<EventKind, serde_json::Error> {
    T::deserialize(data).map(wrap)
}

/// Reads a whole `/rest/events` body. Elements without a usable envelope are
/// skipped (and returned separately) rather than failing the batch.
pub(crate) fn parse_events(body: &[u8]) -> Result<(Vec<Event>, Vec<EnvelopeError>), serde_json::Error> {
    let values: Vec<Value> = serde_json::from_slice(body)?;
    let mut events = Vec::with_capacity(values.len());
    let mut skipped = Vec::new();
    for v in values {
        match Event::from_value(v) {
            Ok(e) => events.push(e),
            Err(e) => skipped.push(e),
        }
    }
    Ok((events, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_type_is_kept_raw() {
        let v = json!({"id": 3, "globalID": 9, "time": "2026-11-29T05:11:37.712789252Z",
                       "type": "PendingDevicesChanged", "data": {"added": []}});
        let e = Event::from_value(v).unwrap();
        assert_eq!(e.id, 3);
        assert!(e.time.is_some());
        assert!(matches!(&e.kind, EventKind::Unknown { event_type, .. } if event_type == "PendingDevicesChanged"));
    }

    #[test]
    fn malformed_known_type_keeps_id_and_raw_data() {
        let v = json!({"id": 4, "type": "ItemFinished", "data": {"folder": 7}});
        let e = Event::from_value(v).unwrap();
        assert_eq!(e.id, 4);
        assert_eq!(e.type_name(), "ItemFinished");
        assert!(matches!(e.kind, EventKind::Malformed { .. }));
    }

    #[test]
    fn a_bad_element_does_not_spoil_the_batch() {
        let body = br#"[{"id":"x","type":"Starting"},{"id":2,"type":"Failure","data":"boom","time":"not a time"}]"#;
        let (events, skipped) = parse_events(body).unwrap();
        assert_eq!(skipped.len(), 1);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::Failure("boom".into()));
        assert_eq!(events[0].time, None);
    }

    #[test]
    fn a_body_that_is_not_an_array_is_an_error() {
        assert!(parse_events(b"CSRF Error\n").is_err());
    }
}
