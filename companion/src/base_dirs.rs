//! The user's base directories (`$XDG_CONFIG_HOME`, `$XDG_STATE_HOME`,
//! `$HOME`): read once, the same way, for the companion's own settings and
//! for the search for Syncthing's config.

use std::path::PathBuf;

/// The base directories as the environment gives them. The XDG spec says
/// relative values are to be ignored, so only absolute paths are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseDirs {
    pub xdg_config_home: Option<PathBuf>,
    pub xdg_state_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl BaseDirs {
    /// Reads `XDG_CONFIG_HOME`, `XDG_STATE_HOME` and `HOME`.
    pub fn from_process() -> BaseDirs {
        let path = |k: &str| std::env::var_os(k).map(PathBuf::from).filter(|p| p.is_absolute());
        BaseDirs {
            xdg_config_home: path("XDG_CONFIG_HOME"),
            xdg_state_home: path("XDG_STATE_HOME"),
            home: path("HOME"),
        }
    }

    /// Only a home directory (tests).
    pub fn home(home: impl Into<PathBuf>) -> BaseDirs {
        BaseDirs { home: Some(home.into()), ..BaseDirs::default() }
    }
}

/// Syncthing accepts `~/Sync` as a folder path and expands it itself.
pub fn expand_tilde(path: &str) -> std::path::PathBuf {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    match (path.strip_prefix('~'), home) {
        (Some(""), Some(home)) => home,
        (Some(rest), Some(home)) if rest.starts_with('/') => home.join(rest.trim_start_matches('/')),
        _ => std::path::PathBuf::from(path),
    }
}
