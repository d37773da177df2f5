//! Reads Syncthing's `config.xml` (docs/syncthing.md §1): GUI address, TLS, API key,
//! folders and devices.
//!
//! Only what the companion needs is read; every other element is ignored, so
//! older and newer config versions parse as long as these parts keep their shape.

use super::error::DiscoveryError;
use super::types::FolderType;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What the companion takes from one `config.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// The file this was read from.
    pub path: PathBuf,
    pub gui: GuiSettings,
    pub folders: Vec<FolderInfo>,
    pub devices: Vec<DeviceInfo>,
    /// The local device id as far as the file tells: the device of the
    /// `<defaults><folder>` template (Syncthing puts only itself there), or
    /// the only device when there is one. `myID` from `/rest/system/status`
    /// is authoritative; this is for when Syncthing is not running.
    pub device_id_hint: Option<String>,
}

/// `<gui>`: where the REST API listens and with which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuiSettings {
    pub enabled: bool,
    /// As written, e.g. `127.0.0.1:8384`, `0.0.0.0:8384` or `unix:///path`.
    pub address: String,
    /// `<gui tls="true">`: the API is served over https.
    pub tls: bool,
    pub api_key: Option<String>,
}

/// One `<folder>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    pub id: String,
    pub label: String,
    pub path: PathBuf,
    pub folder_type: FolderType,
    pub paused: bool,
    /// Ids of the devices it is shared with (the local one included).
    pub devices: Vec<String>,
}

/// One `<device>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub id: String,
    pub name: String,
}

impl GuiSettings {
    /// The base URL to reach the API from this machine. A wildcard listen
    /// address (`0.0.0.0`, `[::]` or any other spelling of an unspecified
    /// address, or an empty host as in `:8384`) is reached through loopback
    /// of the same family. (From another container, loopback is the wrong
    /// place: there `--syncthing-url`, which discovery prefers, names it.)
    pub fn url(&self) -> Result<String, String> {
        let addr = self.address.trim();
        if addr.is_empty() {
            return Err("the GUI address is empty".into());
        }
        if addr.starts_with("unix://") || addr.starts_with('/') {
            return Err(format!("the GUI listens on a unix socket ({addr}), which is not supported"));
        }
        let (scheme, hostport) = match addr.split_once("://") {
            Some((s, rest)) => (s.to_owned(), rest),
            None => (if self.tls { "https" } else { "http" }.to_owned(), addr),
        };
        let hostport = hostport.trim_end_matches('/');
        let Some((host, port)) = hostport.rsplit_once(':') else {
            return Err(format!("the GUI address {addr:?} has no port"));
        };
        if port.parse::<u16>().is_err() {
            return Err(format!("the GUI address {addr:?} has no valid port"));
        }
        let unspecified = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().ok();
        let host = match unspecified {
            _ if host.is_empty() => "127.0.0.1",
            Some(ip) if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1",
            Some(ip) if ip.is_unspecified() => "[::1]",
            _ => host,
        };
        Ok(format!("{scheme}://{host}:{port}"))
    }
}

#[derive(Deserialize)]
struct XmlConfiguration {
    #[serde(rename = "folder", default)]
    folders: Vec<XmlFolder>,
    #[serde(rename = "device", default)]
    devices: Vec<XmlDevice>,
    #[serde(default)]
    gui: Option<XmlGui>,
    #[serde(default)]
    defaults: Option<XmlDefaults>,
}

#[derive(Deserialize)]
struct XmlFolder {
    #[serde(rename = "@id", default)]
    id: String,
    #[serde(rename = "@label", default)]
    label: String,
    #[serde(rename = "@path", default)]
    path: String,
    #[serde(rename = "@type", default)]
    folder_type: Option<String>,
    #[serde(rename = "device", default)]
    devices: Vec<XmlId>,
    #[serde(default)]
    paused: Option<bool>,
}

#[derive(Deserialize)]
struct XmlId {
    #[serde(rename = "@id", default)]
    id: String,
}

#[derive(Deserialize)]
struct XmlDevice {
    #[serde(rename = "@id", default)]
    id: String,
    #[serde(rename = "@name", default)]
    name: String,
}

#[derive(Deserialize)]
struct XmlGui {
    #[serde(rename = "@enabled", default)]
    enabled: Option<bool>,
    #[serde(rename = "@tls", default)]
    tls: Option<bool>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    apikey: Option<String>,
}

#[derive(Deserialize)]
struct XmlDefaults {
    #[serde(default)]
    folder: Option<XmlFolder>,
}

/// Reads and parses `path`. Errors name the file.
pub fn load(path: &Path) -> Result<LocalConfig, DiscoveryError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| DiscoveryError::Read { path: path.to_owned(), source })?;
    parse(path, &text)
}

/// Parses the text of a `config.xml`; `path` is only used to name it.
pub fn parse(path: &Path, text: &str) -> Result<LocalConfig, DiscoveryError> {
    let malformed = |reason: String| DiscoveryError::Malformed { path: path.to_owned(), reason };
    if !text.contains("<configuration") {
        return Err(malformed("there is no <configuration> element".into()));
    }
    let xml: XmlConfiguration = quick_xml::de::from_str(text).map_err(|e| malformed(e.to_string()))?;
    let Some(gui) = xml.gui else {
        return Err(malformed("there is no <gui> element".into()));
    };
    let devices: Vec<DeviceInfo> = xml.devices.into_iter().map(|d| DeviceInfo { id: d.id, name: d.name }).collect();
    let template_self =
        xml.defaults.and_then(|d| d.folder).and_then(|f| f.devices.into_iter().map(|d| d.id).find(|id| !id.is_empty()));
    let device_id_hint = template_self.or_else(|| match devices.as_slice() {
        [only] => Some(only.id.clone()),
        _ => None,
    });
    Ok(LocalConfig {
        path: path.to_owned(),
        gui: GuiSettings {
            enabled: gui.enabled.unwrap_or(true),
            address: gui.address.unwrap_or_default().trim().to_owned(),
            tls: gui.tls.unwrap_or(false),
            api_key: gui.apikey.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()),
        },
        folders: xml.folders.into_iter().map(folder_info).collect(),
        devices,
        device_id_hint,
    })
}

fn folder_info(f: XmlFolder) -> FolderInfo {
    FolderInfo {
        label: if f.label.is_empty() { f.id.clone() } else { f.label },
        id: f.id,
        path: PathBuf::from(f.path),
        folder_type: FolderType::from(f.folder_type.unwrap_or_else(|| "sendreceive".into())),
        paused: f.paused.unwrap_or(false),
        devices: f.devices.into_iter().map(|d| d.id).collect(),
    }
}
