//! `/rest/system/*` answers: ping, status, version, connections.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /rest/system/ping` → `{"ping":"pong"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Ping {
    pub ping: String,
}

/// `GET /rest/system/status`. `my_id` and `start_time` identify one running
/// Syncthing process: when either changes, Syncthing restarted and its event
/// ids started again at 1 (docs/syncthing.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct SystemStatus {
    #[serde(rename = "myID")]
    pub my_id: String,
    /// RFC 3339 with whole seconds, kept as sent: it is compared, not computed with.
    pub start_time: String,
    pub uptime: i64,
    pub alloc: i64,
    pub sys: i64,
    pub goroutines: i64,
    pub cpu_percent: f64,
    pub path_separator: String,
    pub tilde: String,
    pub gui_address_used: String,
    pub gui_address_overridden: bool,
    pub ur_version_max: i64,
    pub connection_service_status: BTreeMap<String, ListenerStatus>,
    pub last_dial_status: BTreeMap<String, DialStatus>,
}

/// One listener in `connectionServiceStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct ListenerStatus {
    pub error: Option<String>,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub lan_addresses: Vec<String>,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub wan_addresses: Vec<String>,
}

/// One entry of `lastDialStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DialStatus {
    pub when: String,
    pub error: Option<String>,
}

/// `GET /rest/system/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct SystemVersion {
    pub arch: String,
    pub codename: String,
    pub date: String,
    pub is_beta: bool,
    pub is_candidate: bool,
    pub is_release: bool,
    pub long_version: String,
    pub os: String,
    pub stamp: String,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub tags: Vec<String>,
    pub user: String,
    /// For example `v1.19.2-ds1`.
    pub version: String,
}

impl SystemVersion {
    /// `(major, minor, patch)` of [`Self::version`]; Debian's `-ds1`,
    /// `-rc.1` and similar suffixes are ignored.
    pub fn release(&self) -> Option<(u32, u32, u32)> {
        parse_release(&self.version)
    }
}

/// `v1.29.5` / `1.29.5~ds1` / `v2.0.0-rc.1` → `(1, 29, 5)` …
pub fn parse_release(version: &str) -> Option<(u32, u32, u32)> {
    let core = version.trim().trim_start_matches('v').split(['-', '+', '~', ' ']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
    let release = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(release)
}

/// `GET /rest/system/connections`. It lists the local device too, always
/// with `connected: false` (docs/syncthing.md §3), so do not count it as a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Connections {
    pub connections: BTreeMap<String, ConnectionInfo>,
    pub total: ConnectionTotals,
}

/// One device in [`Connections`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub at: String,
    pub in_bytes_total: i64,
    pub out_bytes_total: i64,
    pub started_at: String,
    pub connected: bool,
    pub paused: bool,
    pub address: String,
    pub client_version: String,
    /// `tcp-client`, `tcp-server`, or empty when not connected.
    #[serde(rename = "type")]
    pub connection_type: String,
    pub crypto: String,
}

/// `total` in [`Connections`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct ConnectionTotals {
    pub at: String,
    pub in_bytes_total: i64,
    pub out_bytes_total: i64,
}
