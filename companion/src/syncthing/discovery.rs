//! Finds the local Syncthing: which `config.xml`, which URL, which API key.
//!
//! The search is pure over [`SearchEnv`] so it can be tested without
//! touching the real environment. It follows Syncthing's own precedence
//! (`lib/locations/locations.go`, `unixConfigDir`, 1.27 to 2.x):
//! `--syncthing-home`, `$STHOMEDIR`, `$STCONFDIR` (Syncthing's `--home` and
//! `--config`), then an *existing* `$XDG_CONFIG_HOME/syncthing/config.xml` or
//! `~/.config/syncthing/config.xml` (where 1.26 and older kept it, and where
//! 1.27+ still looks first), then `$XDG_STATE_HOME/syncthing` and
//! `~/.local/state/syncthing` (the default for new setups since 1.27).
//! Each candidate carries the reason it is tried, which `doctor` prints.

use super::config_xml::{self, LocalConfig};
pub use super::error::DiscoveryError;
use crate::base_dirs::BaseDirs;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The environment values the search depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchEnv {
    pub dirs: BaseDirs,
    /// `STHOMEDIR`: Syncthing's `--home` (config and data in one directory).
    pub st_home_dir: Option<PathBuf>,
    /// `STCONFDIR`: Syncthing's `--config` (config and keys only; the
    /// database then lives in `--data`/`STDATADIR`, which we never need).
    pub st_conf_dir: Option<PathBuf>,
}

impl SearchEnv {
    /// Reads `STHOMEDIR`, `STCONFDIR`, `XDG_STATE_HOME`, `XDG_CONFIG_HOME` and `HOME`.
    pub fn from_process() -> SearchEnv {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        SearchEnv { dirs: BaseDirs::from_process(), st_home_dir: var("STHOMEDIR"), st_conf_dir: var("STCONFDIR") }
    }
}

/// A directory that may hold Syncthing's `config.xml`, and why it is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub dir: PathBuf,
    pub reason: &'static str,
}

/// What the user says about where Syncthing is, over what discovery finds:
/// on the command line (or in `COMPANION_*` variables), or in the config
/// file's `[syncthing]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub home: Option<PathBuf>,
    pub url: Option<String>,
    pub api_key: Option<String>,
}

impl Overrides {
    /// Each value of `self`, else `fallback`'s (flags over the file).
    pub fn or(self, fallback: &Overrides) -> Overrides {
        Overrides {
            home: self.home.or_else(|| fallback.home.clone()),
            url: self.url.or_else(|| fallback.url.clone()),
            api_key: self.api_key.or_else(|| fallback.api_key.clone()),
        }
    }
}

/// How to reach Syncthing, and the config it came from when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub api_key: String,
    /// `None` when both URL and key were given and no config.xml was read.
    pub config: Option<LocalConfig>,
    /// Why that config.xml was the one used (see [`Candidate::reason`]).
    pub config_reason: Option<&'static str>,
}

/// The directories to try, in Syncthing's order. With `explicit` only that
/// one is tried: a wrong `--syncthing-home` must not silently pick another node.
pub fn candidates(explicit: Option<&Path>, env: &SearchEnv) -> Vec<Candidate> {
    if let Some(dir) = explicit {
        return vec![Candidate { dir: dir.to_owned(), reason: "given with --syncthing-home" }];
    }
    // The XDG spec says relative values are to be ignored. (Syncthing itself
    // still honours a relative XDG_CONFIG_HOME, relative to *its* working
    // directory, which we cannot know.)
    let absolute = |p: &Option<PathBuf>| p.clone().filter(|p| p.is_absolute());
    let home = absolute(&env.dirs.home);
    let mut out = Vec::new();
    let mut push = |dir: Option<PathBuf>, reason: &'static str| {
        if let Some(dir) = dir
            && !out.iter().any(|c: &Candidate| c.dir == dir)
        {
            out.push(Candidate { dir, reason });
        }
    };
    push(absolute(&env.st_home_dir), "$STHOMEDIR is set (Syncthing's --home)");
    push(absolute(&env.st_conf_dir), "$STCONFDIR is set (Syncthing's --config)");
    push(
        absolute(&env.dirs.xdg_config_home).map(|d| d.join("syncthing")),
        "an existing config under $XDG_CONFIG_HOME wins over the default, as in Syncthing",
    );
    push(
        home.as_ref().map(|h| h.join(".config/syncthing")),
        "an existing config in the pre-1.27 location wins over the default, as in Syncthing",
    );
    push(
        absolute(&env.dirs.xdg_state_home).map(|d| d.join("syncthing")),
        "$XDG_STATE_HOME/syncthing, Syncthing's default since 1.27",
    );
    push(home.as_ref().map(|h| h.join(".local/state/syncthing")), "Syncthing's default since 1.27");
    out
}

/// The directories [`candidates`] tries, without the reasons.
pub fn candidate_homes(explicit: Option<&Path>, env: &SearchEnv) -> Vec<PathBuf> {
    candidates(explicit, env).into_iter().map(|c| c.dir).collect()
}

/// The first `config.xml` among the candidates. An explicit path may also
/// name the file itself.
pub fn find_config_xml(explicit: Option<&Path>, env: &SearchEnv) -> Result<PathBuf, DiscoveryError> {
    locate_config_xml(explicit, env).map(|(path, _)| path)
}

/// [`find_config_xml`] with the reason that file was chosen.
pub fn locate_config_xml(explicit: Option<&Path>, env: &SearchEnv) -> Result<(PathBuf, &'static str), DiscoveryError> {
    if let Some(p) = explicit.filter(|p| p.is_file()) {
        return Ok((p.to_owned(), "given with --syncthing-home"));
    }
    let tried: Vec<(PathBuf, &'static str)> =
        candidates(explicit, env).into_iter().map(|c| (c.dir.join("config.xml"), c.reason)).collect();
    match tried.iter().find(|(p, _)| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(DiscoveryError::NotFound { searched: tried.into_iter().map(|(p, _)| p).collect() }),
    }
}

/// Works out URL and key: flags win; whatever is missing comes from config.xml.
pub fn resolve(overrides: &Overrides, env: &SearchEnv) -> Result<Endpoint, DiscoveryError> {
    if let (Some(url), Some(key)) = (&overrides.url, &overrides.api_key) {
        // Read the config anyway when one is at hand: folders and the device
        // id hint are useful, but its absence is no error here.
        let found = locate_config_xml(overrides.home.as_deref(), env)
            .ok()
            .and_then(|(p, why)| Some((config_xml::load(&p).ok()?, why)));
        let (config, config_reason) = found.map_or((None, None), |(c, why)| (Some(c), Some(why)));
        return Ok(Endpoint { url: url.clone(), api_key: key.clone(), config, config_reason });
    }
    let (path, why) = locate_config_xml(overrides.home.as_deref(), env)?;
    let config = config_xml::load(&path)?;
    let mut endpoint = endpoint_from(config, overrides)?;
    endpoint.config_reason = Some(why);
    Ok(endpoint)
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
    Ok(Endpoint { url, api_key, config: Some(config), config_reason: None })
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
