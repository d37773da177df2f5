//! Typed shapes of Syncthing's REST answers (1.19.2, see docs/syncthing.md §3;
//! the 1.2x and 2.x differences, §10, are noted where they matter).
//!
//! Every struct is lenient on purpose: missing fields fall back to their
//! default and unknown fields are ignored, so a newer Syncthing that adds or
//! drops a field does not break the companion. Go `int64` fields are `i64`.

mod config;
mod db;
mod system;

pub use config::{Config, DeviceConfig, FolderConfig, FolderDevice, GuiConfig, OptionsConfig};
pub use db::{
    Availability, BrowseEntry, Completion, DbFile, DbStatus, FileInfo, FileList, Ignores, LocalFlags, MtimeInfo,
    MtimeValue, Need,
};
pub use system::{
    ConnectionInfo, ConnectionTotals, Connections, DialStatus, ListenerStatus, Ping, SystemStatus, SystemVersion,
    parse_release,
};

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// The string conversions of an enum backed by Syncthing's strings: each
/// variant's name (then the older names it is also read from), and `Other`
/// keeping any string this build does not know. One table for both ways, so
/// reading and writing cannot drift apart.
macro_rules! string_enum {
    ($ty:ident { $($variant:ident => $name:literal $(| $alias:literal)*,)* }) => {
        impl From<String> for $ty {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($name $(| $alias)* => Self::$variant,)*
                    _ => Self::Other(s),
                }
            }
        }

        impl From<$ty> for String {
            fn from(t: $ty) -> Self {
                t.to_string()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $(Self::$variant => $name,)*
                    Self::Other(s) => s,
                })
            }
        }
    };
}

/// A folder's type, as in config.xml (`type="sendreceive"`) and `/rest/config`.
///
/// Backed by the string so that a type this build does not know (say, a
/// future one) is kept instead of failing the whole answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(from = "String", into = "String")]
pub enum FolderType {
    #[default]
    SendReceive,
    SendOnly,
    ReceiveOnly,
    ReceiveEncrypted,
    Other(String),
}

string_enum!(FolderType {
    SendReceive => "sendreceive" | "readwrite",
    SendOnly => "sendonly" | "readonly",
    ReceiveOnly => "receiveonly",
    ReceiveEncrypted => "receiveencrypted",
});

/// A folder's state as in `db/status.state` and `StateChanged` (docs/syncthing.md §9).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(from = "String", into = "String")]
pub enum FolderState {
    #[default]
    Idle,
    ScanWaiting,
    Scanning,
    SyncWaiting,
    SyncPreparing,
    Syncing,
    CleanWaiting,
    Cleaning,
    Error,
    /// 2.1+: the folder is loading before its first scan (2.x
    /// lib/model/folderstate.go, `FolderStarting`).
    Starting,
    Other(String),
}

string_enum!(FolderState {
    Idle => "idle",
    ScanWaiting => "scan-waiting",
    Scanning => "scanning",
    SyncWaiting => "sync-waiting",
    SyncPreparing => "sync-preparing",
    Syncing => "syncing",
    CleanWaiting => "clean-waiting",
    Cleaning => "cleaning",
    Error => "error",
    Starting => "starting",
});

/// Syncthing writes `null` for empty Go slices; read that as an empty list.
pub(crate) fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}
