//! Finds the local Syncthing: which `config.xml`, which URL, which API key.
//!
//! The search is pure over [`SearchEnv`] so it can be tested without
//! touching the real environment. Order: `--syncthing-home`, `$STHOMEDIR`,
//! `$XDG_STATE_HOME/syncthing`, `~/.local/state/syncthing` (Syncthing ≥ 1.27),
//! `$XDG_CONFIG_HOME/syncthing`, `~/.config/syncthing` (1.19 and older).

use super::config_xml::{self, LocalConfig};
use std::path::{Path, PathBuf};

/// Why the local Syncthing could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "no Syncthing config.xml found (looked for {}); pass --syncthing-home DIR, or --syncthing-url and --syncthing-api-key",
        list(.searched)
    )]
    NotFound { searched: Vec<PathBuf> },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid Syncthing config.xml: {reason}", .path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{} has no <gui><apikey>; pass --syncthing-api-key", .path.display())]
    NoApiKey { path: PathBuf },
    #[error("the GUI and REST API are disabled in {}; enable the GUI or pass --syncthing-url", .path.display())]
    GuiDisabled { path: PathBuf },
    #[error("cannot use the GUI address in {}: {reason}; pass --syncthing-url", .path.display())]
    GuiAddress { path: PathBuf, reason: String },
}

fn list(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// The environment values the search depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchEnv {
    pub st_home_dir: Option<PathBuf>,
    pub xdg_state_home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl SearchEnv {
    /// Reads `STHOMEDIR`, `XDG_STATE_HOME`, `XDG_CONFIG_HOME` and `HOME`.
    pub fn from_process() -> SearchEnv {
        let var = |k: &str| std::env::var_os(k).map(PathBuf::from);
        SearchEnv {
            st_home_dir: var("STHOMEDIR"),
            xdg_state_home: var("XDG_STATE_HOME"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            home: var("HOME"),
        }
    }
}

/// What the user passed on the command line (or in `COMPANION_*` variables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub home: Option<PathBuf>,
    pub url: Option<String>,
    pub api_key: Option<String>,
}

/// How to reach Syncthing, and the config it came from when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub api_key: String,
    /// `None` when both URL and key were given and no config.xml was read.
    pub config: Option<LocalConfig>,
}

/// The Syncthing home directories to try, in order. With `explicit` only
/// that one is tried: a wrong `--syncthing-home` must not silently pick
/// another node.
pub fn candidate_homes(explicit: Option<&Path>, env: &SearchEnv) -> Vec<PathBuf> {
    if let Some(dir) = explicit {
        return vec![dir.to_owned()];
    }
    // The XDG spec says relative values are to be ignored.
    let absolute = |p: &Option<PathBuf>| p.clone().filter(|p| p.is_absolute());
    let home = absolute(&env.home);
    let mut out = Vec::new();
    out.extend(absolute(&env.st_home_dir));
    out.extend(absolute(&env.xdg_state_home).map(|d| d.join("syncthing")));
    out.extend(home.as_ref().map(|h| h.join(".local/state/syncthing")));
    out.extend(absolute(&env.xdg_config_home).map(|d| d.join("syncthing")));
    out.extend(home.as_ref().map(|h| h.join(".config/syncthing")));
    out.dedup();
    out
}

/// The first `config.xml` among the candidates. An explicit path may also
/// name the file itself.
pub fn find_config_xml(explicit: Option<&Path>, env: &SearchEnv) -> Result<PathBuf, DiscoveryError> {
    if let Some(p) = explicit.filter(|p| p.is_file()) {
        return Ok(p.to_owned());
    }
    let searched: Vec<PathBuf> = candidate_homes(explicit, env).into_iter().map(|d| d.join("config.xml")).collect();
    searched.iter().find(|p| p.is_file()).cloned().ok_or(DiscoveryError::NotFound { searched })
}

/// Works out URL and key: flags win; whatever is missing comes from config.xml.
pub fn resolve(overrides: &Overrides, env: &SearchEnv) -> Result<Endpoint, DiscoveryError> {
    if let (Some(url), Some(key)) = (&overrides.url, &overrides.api_key) {
        // Read the config anyway when one is at hand: folders and the device
        // id hint are useful, but its absence is no error here.
        let config = find_config_xml(overrides.home.as_deref(), env).ok().and_then(|p| config_xml::load(&p).ok());
        return Ok(Endpoint { url: url.clone(), api_key: key.clone(), config });
    }
    let path = find_config_xml(overrides.home.as_deref(), env)?;
    let config = config_xml::load(&path)?;
    endpoint_from(config, overrides)
}

/// Combines a parsed config with the overrides.
pub fn endpoint_from(config: LocalConfig, overrides: &Overrides) -> Result<Endpoint, DiscoveryError> {
    let path = config.path.clone();
    let url = match &overrides.url {
        Some(u) => u.clone(),
        None if !config.gui.enabled => return Err(DiscoveryError::GuiDisabled { path }),
        None => config.gui.url().map_err(|reason| DiscoveryError::GuiAddress { path: path.clone(), reason })?,
    };
    let api_key = match (&overrides.api_key, &config.gui.api_key) {
        (Some(k), _) | (None, Some(k)) => k.clone(),
        (None, None) => return Err(DiscoveryError::NoApiKey { path }),
    };
    Ok(Endpoint { url, api_key, config: Some(config) })
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
