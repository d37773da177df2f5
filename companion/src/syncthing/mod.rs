//! Everything the companion knows about talking to Syncthing: finding it
//! (`discovery`, `config_xml`), its REST API (`client`, `types`, `error`) and
//! its event stream (`event`, `stream`). Written against 1.19.2 (see
//! `docs/syncthing.md` for the measured behaviour behind the choices),
//! tested live on 1.19.2 and 1.29.5, and checked against 2.x's source where
//! 2.x answers differently (each such place names the 2.x file).

pub(crate) mod client;
pub(crate) mod config_xml;
pub mod discovery;
pub(crate) mod error;
pub mod event;
pub(crate) mod stream;
pub mod types;

#[cfg(test)]
pub(crate) mod stand_in;
#[cfg(test)]
mod v2_tests;

pub use client::{Client, Page};
pub use config_xml::{DeviceInfo, FolderInfo, GuiSettings, LocalConfig};
pub use discovery::{DiscoveryError, Endpoint, Overrides, SearchEnv};
pub use error::ClientError;
pub use event::{Event, EventKind};
pub use stream::{Cursor, EventStream, Origin, StreamConfig, StreamItem, Subscription};
