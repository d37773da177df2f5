//! `/rest/config` answers (and the `ConfigSaved` event, which carries the same object).
//!
//! Only the fields the companion reads are typed; the rest of Syncthing's
//! large config object is ignored.

use super::FolderType;
use serde::{Deserialize, Serialize};

/// `GET /rest/config` (config version 36 in 1.19).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    pub version: i64,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub folders: Vec<FolderConfig>,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub devices: Vec<DeviceConfig>,
    pub gui: GuiConfig,
    pub options: OptionsConfig,
}

/// One folder, `GET /rest/config/folders[/id]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct FolderConfig {
    pub id: String,
    pub label: String,
    pub path: String,
    #[serde(rename = "type")]
    pub folder_type: FolderType,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub devices: Vec<FolderDevice>,
    pub rescan_interval_s: i64,
    pub fs_watcher_enabled: bool,
    /// An int in 1.19, a float from 1.29 on; `f64` reads both.
    pub fs_watcher_delay_s: f64,
    pub ignore_perms: bool,
    pub ignore_delete: bool,
    pub paused: bool,
    pub marker_name: String,
}

/// A device a folder is shared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct FolderDevice {
    #[serde(rename = "deviceID")]
    pub device_id: String,
    pub introduced_by: String,
    pub encryption_password: String,
}

/// One device, `GET /rest/config/devices[/id]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct DeviceConfig {
    #[serde(rename = "deviceID")]
    pub device_id: String,
    pub name: String,
    #[serde(deserialize_with = "super::null_as_empty")]
    pub addresses: Vec<String>,
    pub compression: String,
    pub introducer: bool,
    pub paused: bool,
    /// KiB/s despite the name (docs/syncthing.md §9).
    pub max_send_kbps: i64,
    /// KiB/s despite the name (docs/syncthing.md §9).
    pub max_recv_kbps: i64,
    pub untrusted: bool,
}

/// `GET /rest/config/gui`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct GuiConfig {
    pub enabled: bool,
    pub address: String,
    pub user: String,
    #[serde(rename = "useTLS")]
    pub use_tls: bool,
    pub api_key: String,
    pub insecure_skip_hostcheck: bool,
}

/// `GET /rest/config/options`, the fields that shape events and progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct OptionsConfig {
    #[serde(deserialize_with = "super::null_as_empty")]
    pub listen_addresses: Vec<String>,
    pub max_send_kbps: i64,
    pub max_recv_kbps: i64,
    /// Seconds between `DownloadProgress` events (default 5, docs/syncthing.md §6).
    pub progress_update_interval_s: i64,
    /// Files with at most this many blocks get no `DownloadProgress` (default 10).
    pub temp_index_min_blocks: i64,
    /// Rate limits are ignored on LAN (loopback included) unless this is set.
    pub limit_bandwidth_in_lan: bool,
    pub global_announce_enabled: bool,
    pub local_announce_enabled: bool,
    pub relays_enabled: bool,
    pub nat_enabled: bool,
    pub ur_accepted: i64,
}
