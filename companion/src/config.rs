//! The companion's settings: the config file (TOML), the state directory,
//! and how flags, `COMPANION_*` variables, the file and defaults combine.
//!
//! Precedence, highest first: command-line flags, environment variables
//! (clap already folds `COMPANION_CONFIG`, `COMPANION_STATE_DIR`,
//! `COMPANION_CLOUD_CA` and `COMPANION_SYNCTHING_*` into the flags), the
//! config file, defaults. A relative path in the file is relative to the
//! file's directory.
//!
//! The file holds the cloud token, so it is written with mode 0600, through
//! a temporary file and a rename so a crash never leaves half a file.
//! Defaults follow XDG: `$XDG_CONFIG_HOME/syncthing-companion/config.toml`
//! and `$XDG_STATE_HOME/syncthing-companion/` (holding `manifest.db`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base_dirs::BaseDirs;
use crate::manifest::{Manifest, ManifestError};
use crate::state_dir::MANIFEST_FILE;
use crate::syncthing::Overrides;

/// Directory name under the XDG base directories.
pub const APP_DIR: &str = "syncthing-companion";
/// File name of the config file inside its directory.
pub const CONFIG_FILE: &str = "config.toml";
/// Where the local dashboard listens unless told otherwise.
pub const DEFAULT_DASHBOARD_LISTEN: &str = "127.0.0.1:8385";

/// What went wrong with the settings. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the config file {} is not valid: {detail}; fix it or move it aside and run `companion init`", path.display())]
    Parse { path: PathBuf, detail: String },
    #[error("cannot write the config file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no home directory is known (HOME is unset); pass --config and --state-dir")]
    NoHome,
    #[error("not logged in to a cloud; run `companion login --cloud URL --token TOKEN` first")]
    NotLoggedIn,
}

/// The config file as stored. Every section and key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default, skip_serializing_if = "is_default")]
    pub cloud: CloudSection,
    /// `[syncthing]`: overrides of what discovery finds in config.xml.
    #[serde(default, skip_serializing_if = "is_default")]
    pub syncthing: Overrides,
    #[serde(default, skip_serializing_if = "is_default")]
    pub dashboard: DashboardSection,
}

/// `[cloud]`: which cloud, as whom, and which extra CA to trust for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudSection {
    pub url: Option<String>,
    pub token: Option<String>,
    /// A PEM file of CA certificates trusted for the cloud, on top of the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

/// `[dashboard]`: the local dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSection {
    /// `host:port`
    pub listen: Option<String>,
    /// The `Host` values (`name:port`, or `name` for any port) a browser may
    /// send besides the loopback names: the names the dashboard is browsed
    /// with when it listens beyond loopback (in a container, on a NAS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
}

/// A section with nothing set is left out of the file.
fn is_default<T: Default + PartialEq>(section: &T) -> bool {
    *section == T::default()
}

impl FileConfig {
    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
            Err(source) => return Err(ConfigError::Read { path: path.to_owned(), source }),
        };
        FileConfig::parse(path, &text)
    }

    /// Parses the text of a config file; `path` only names it in errors.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), detail: e.message().to_owned() })
    }

    /// The whole text [`FileConfig::save`] writes.
    pub(crate) fn render(&self) -> Result<String, toml::ser::Error> {
        let body = toml::to_string_pretty(self)?;
        Ok(format!("# The Syncthing companion's settings. It holds the cloud token: keep it private.\n{body}"))
    }

    /// Writes to `path` (mode 0600, atomically), creating its directory.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let write_err = |source| ConfigError::Write { path: path.to_owned(), source };
        let text = self
            .render()
            .map_err(|e| write_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())))?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(format!(".{}.tmp", std::process::id()));
        let tmp = dir.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let result = (|| {
            let mut f = options.open(&tmp)?;
            // A file left by an older version may have wider permissions.
            #[cfg(unix)]
            f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(write_err(e));
        }
        Ok(())
    }
}

/// The command-line values (flags, or their `COMPANION_*` variables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    /// `--cloud-ca` (or `COMPANION_CLOUD_CA`).
    pub cloud_ca: Option<PathBuf>,
    pub syncthing: Overrides,
}

/// The environment values the settings depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigEnv {
    pub dirs: BaseDirs,
    /// `COMPANION_CLOUD_URL`
    pub cloud_url: Option<String>,
    /// `COMPANION_CLOUD_TOKEN`
    pub cloud_token: Option<String>,
    /// `COMPANION_DASHBOARD_LISTEN`
    pub dashboard_listen: Option<String>,
    /// `COMPANION_HEARTBEAT_MS` (tests shorten the heartbeat with it)
    pub heartbeat: Option<std::time::Duration>,
    /// `COMPANION_CLOCK_OFFSET` (tests and diagnosis play a wrong clock with it)
    pub clock_offset: Option<time::Duration>,
    /// `COMPANION_STALL_AFTER_MS` (tests shorten the stall wait with it)
    pub stall_after: Option<std::time::Duration>,
    /// `COMPANION_DASHBOARD_ALLOWED_HOSTS`, comma-separated.
    pub dashboard_allowed_hosts: Option<Vec<String>>,
}

/// Replaces the badge engine's stall wait (milliseconds): tests shorten it,
/// as `COMPANION_HEARTBEAT_MS` shortens the heartbeat. Not for production:
/// 30 s is what a live link needs.
pub const STALL_AFTER_ENV: &str = "COMPANION_STALL_AFTER_MS";

/// A positive number of milliseconds; anything else is ignored (`None`).
pub fn positive_millis(value: Option<&str>) -> Option<std::time::Duration> {
    value.and_then(|v| v.trim().parse::<u64>().ok()).filter(|ms| *ms > 0).map(std::time::Duration::from_millis)
}

impl ConfigEnv {
    pub fn from_process() -> ConfigEnv {
        let text = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        ConfigEnv {
            dirs: BaseDirs::from_process(),
            cloud_url: text("COMPANION_CLOUD_URL"),
            cloud_token: text("COMPANION_CLOUD_TOKEN"),
            dashboard_listen: text("COMPANION_DASHBOARD_LISTEN"),
            heartbeat: crate::presence::heartbeat_from_env(
                std::env::var(crate::presence::HEARTBEAT_ENV).ok().as_deref(),
            ),
            clock_offset: crate::clock::offset_from_env(std::env::var(crate::clock::OFFSET_ENV).ok().as_deref()),
            stall_after: positive_millis(std::env::var(STALL_AFTER_ENV).ok().as_deref()),
            dashboard_allowed_hosts: text("COMPANION_DASHBOARD_ALLOWED_HOSTS")
                .map(|v| v.split(',').map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).collect()),
        }
    }

    fn base(&self, xdg: &Option<PathBuf>, fallback: &str) -> Result<PathBuf, ConfigError> {
        match (xdg, &self.dirs.home) {
            (Some(dir), _) => Ok(dir.clone()),
            (None, Some(home)) => Ok(home.join(fallback)),
            (None, None) => Err(ConfigError::NoHome),
        }
    }

    /// `$XDG_CONFIG_HOME/syncthing-companion/config.toml`, else under `~/.config`.
    pub fn default_config_path(&self) -> Result<PathBuf, ConfigError> {
        Ok(self.base(&self.dirs.xdg_config_home, ".config")?.join(APP_DIR).join(CONFIG_FILE))
    }

    /// `$XDG_STATE_HOME/syncthing-companion`, else under `~/.local/state`.
    pub fn default_state_dir(&self) -> Result<PathBuf, ConfigError> {
        Ok(self.base(&self.dirs.xdg_state_home, ".local/state")?.join(APP_DIR))
    }
}

/// Which cloud, as whom, trusting which extra CA.
#[derive(Clone, PartialEq, Eq)]
pub struct CloudAccess {
    pub url: String,
    pub token: String,
    /// A PEM file of CA certificates trusted on top of the system's.
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for CloudAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudAccess").field("url", &self.url).field("ca", &self.ca).finish_non_exhaustive()
    }
}

/// The settings in force for one command.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config_path: PathBuf,
    pub state_dir: PathBuf,
    /// The file as loaded: commands that change it (`init`, `login`) edit and save this.
    pub file: FileConfig,
    /// The cloud's URL and token (environment over file; set by `companion
    /// login`) and its extra CA file (flag over file, also before login).
    /// [`Settings::cloud`] gives them as a [`CloudAccess`].
    pub cloud: CloudSection,
    /// How to find Syncthing (flags over file).
    pub syncthing: Overrides,
    pub dashboard_listen: String,
    /// How often an idle member says it is still there ([`crate::presence`]).
    pub heartbeat: std::time::Duration,
    /// How far this companion's clock is set from the system's ([`crate::clock`]).
    pub clock_offset: time::Duration,
    /// `COMPANION_STALL_AFTER_MS` when set: how long a pull may receive
    /// nothing before its badge reads stalled (else the badge engine's 30 s).
    pub stall_after: Option<std::time::Duration>,
    /// Extra `Host` values the dashboard accepts (environment over file).
    pub dashboard_allowed_hosts: Vec<String>,
}

impl Settings {
    /// Combines flags, environment, file and defaults.
    pub fn resolve(flags: &Flags, env: &ConfigEnv) -> Result<Settings, ConfigError> {
        let config_path = match &flags.config {
            Some(p) => p.clone(),
            None => env.default_config_path()?,
        };
        let state_dir = match &flags.state_dir {
            Some(d) => d.clone(),
            None => env.default_state_dir()?,
        };
        let file = FileConfig::load(&config_path)?;
        let file_dir = config_path.parent().unwrap_or(Path::new(""));
        let cloud = CloudSection {
            url: env.cloud_url.clone().or_else(|| file.cloud.url.clone()),
            token: env.cloud_token.clone().or_else(|| file.cloud.token.clone()),
            ca: flags.cloud_ca.clone().or_else(|| file.cloud.ca.as_ref().map(|ca| file_dir.join(ca))),
        };
        let syncthing = flags.syncthing.clone().or(&file.syncthing);
        let dashboard_listen = env
            .dashboard_listen
            .clone()
            .or_else(|| file.dashboard.listen.clone())
            .unwrap_or_else(|| DEFAULT_DASHBOARD_LISTEN.to_owned());
        let heartbeat = env.heartbeat.unwrap_or(crate::presence::HEARTBEAT);
        let dashboard_allowed_hosts =
            env.dashboard_allowed_hosts.clone().unwrap_or_else(|| file.dashboard.allowed_hosts.clone());
        Ok(Settings {
            config_path,
            state_dir,
            file,
            cloud,
            syncthing,
            dashboard_listen,
            dashboard_allowed_hosts,
            heartbeat,
            clock_offset: env.clock_offset.unwrap_or(time::Duration::ZERO),
            stall_after: env.stall_after,
        })
    }

    /// [`Settings::resolve`] with the process environment.
    pub fn from_process(flags: &Flags) -> Result<Settings, ConfigError> {
        let settings = Settings::resolve(flags, &ConfigEnv::from_process())?;
        crate::clock::install(settings.clock_offset);
        Ok(settings)
    }

    /// The cloud to talk to, or an error telling the user to log in.
    pub fn cloud(&self) -> Result<CloudAccess, ConfigError> {
        match &self.cloud {
            CloudSection { url: Some(url), token: Some(token), ca } => {
                Ok(CloudAccess { url: url.clone(), token: token.clone(), ca: ca.clone() })
            }
            _ => Err(ConfigError::NotLoggedIn),
        }
    }

    /// `STATE_DIR/manifest.db`
    pub fn manifest_path(&self) -> PathBuf {
        self.state_dir.join(MANIFEST_FILE)
    }

    /// Opens (creating) the manifest in the state directory, which is made
    /// private first (0700, the manifest 0600: [`crate::state_dir`]).
    pub fn open_manifest(&self) -> Result<Manifest, ManifestError> {
        crate::state_dir::prepare(&self.state_dir)
            .map_err(|source| ManifestError::StateDir { path: self.state_dir.clone(), source })?;
        Manifest::open_in(&self.state_dir)
    }

    /// Saves [`Settings::file`] to [`Settings::config_path`].
    pub fn save_file(&self) -> Result<(), ConfigError> {
        self.file.save(&self.config_path)
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
