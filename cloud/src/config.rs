//! What a `cloud` process runs with: where it listens, which database it uses,
//! and the tunables shared with the handlers ([`Settings`]).
//!
//! The database is chosen by URL: `postgres://…` (or `postgresql://…`) selects
//! PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a bare path selects SQLite.
//! With nothing given, SQLite in the XDG data directory just works.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::state::Settings;
use crate::store::{PostgresStore, SqliteStore, Store, StoreError};

/// Directory name under `$XDG_DATA_HOME` (or `~/.local/share`).
pub const APP_DIR: &str = "syncthing-companion-cloud";
/// SQLite file name inside a data directory.
pub const DB_FILE: &str = "cloud.db";
/// Default listen address: loopback only, so a first run exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3001";

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot find a data directory: neither XDG_DATA_HOME nor HOME is set; pass --data-dir DIR or --database-url URL"
    )]
    NoDataDir,
    #[error("an in-memory SQLite database would lose everything on exit; give a file path or --data-dir")]
    InMemory,
    #[error("unsupported database URL scheme {0:?}; use postgres://… or sqlite://PATH")]
    UnsupportedScheme(String),
}

/// Which database to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (created with its directory if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl Database {
    /// SQLite in `dir` (the `--data-dir` layout).
    pub fn in_dir(dir: &Path) -> Self {
        Database::Sqlite(dir.join(DB_FILE))
    }

    /// Parses a `--database-url` value.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            // `sqlite://rel`, `sqlite:///abs` and `sqlite:rel` all name a file; options
            // after `?` are ours to set, not the URL's.
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
                return Err(ConfigError::InMemory);
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        match url.split_once("://") {
            Some((scheme, _)) => Err(ConfigError::UnsupportedScheme(scheme.to_owned())),
            None => Ok(Database::Sqlite(PathBuf::from(url))),
        }
    }

    /// For logs: the file, or the URL with any password hidden.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("SQLite at {}", path.display()),
            Database::Postgres(url) => format!("PostgreSQL at {}", redact(url)),
        }
    }

    /// Opens the store, bringing its schema up to date.
    pub async fn open(&self) -> Result<Opened, StoreError> {
        Ok(match self {
            Database::Sqlite(path) => Opened { store: Arc::new(SqliteStore::open(path).await?), pg_pool: None },
            Database::Postgres(url) => {
                let store = PostgresStore::connect(url).await?;
                let pool = store.pool().clone();
                Opened { store: Arc::new(store), pg_pool: Some(pool) }
            }
        })
    }
}

/// An open database.
#[derive(Clone)]
pub struct Opened {
    pub store: Arc<dyn Store>,
    /// With PostgreSQL, its pool: the push hub relays events between nodes through it.
    pub pg_pool: Option<sqlx::PgPool>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened").field("postgres", &self.pg_pool.is_some()).finish_non_exhaustive()
    }
}

/// `$XDG_DATA_HOME/syncthing-companion-cloud`, else `~/.local/share/…`.
pub fn default_data_dir() -> Result<PathBuf, ConfigError> {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(xdg) = from_env("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Ok(xdg.join(APP_DIR));
    }
    let home = from_env("HOME").ok_or(ConfigError::NoDataDir)?;
    Ok(home.join(".local").join("share").join(APP_DIR))
}

/// Everything `cloud serve` runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: Database,
    pub settings: Settings,
}

/// `scheme://user:secret@host/db` → `scheme://user:***@host/db`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend() {
        let pg = "postgres://u:p@h:5432/db";
        assert_eq!(Database::from_url(pg).unwrap(), Database::Postgres(pg.into()));
        assert!(matches!(Database::from_url("postgresql://h/db").unwrap(), Database::Postgres(_)));
        for (url, path) in [
            ("sqlite://data/c.db", "data/c.db"),
            ("sqlite:///var/lib/c.db", "/var/lib/c.db"),
            ("sqlite:c.db?mode=rwc", "c.db"),
            ("/srv/cloud.db", "/srv/cloud.db"),
            ("rel/cloud.db", "rel/cloud.db"),
        ] {
            assert_eq!(Database::from_url(url).unwrap(), Database::Sqlite(path.into()), "{url}");
        }
        assert!(matches!(Database::from_url("sqlite::memory:"), Err(ConfigError::InMemory)));
        assert!(matches!(Database::from_url("mysql://h/db"), Err(ConfigError::UnsupportedScheme(s)) if s == "mysql"));
        assert_eq!(Database::in_dir(Path::new("/d")), Database::Sqlite("/d/cloud.db".into()));
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://u:secret@h:5/db?x=1"), "postgres://u:***@h:5/db?x=1");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        let d = Database::Postgres("postgres://a:b@c/d".into()).describe();
        assert!(!d.contains(":b@"), "{d}");
    }
}
