//! Keeps the SQLite database private to the user running the cloud: the
//! directories it creates are 0700 and the database with its `-wal` and `-shm`
//! files 0600 (they hold token digests, invite digests and every path).
//!
//! The database file is created here, empty and 0600, before SQLite opens it:
//! SQLite gives the WAL and shared-memory files the database's own mode, so
//! they are private from their first byte. Files left by an older version are
//! tightened before opening. Directories that already exist are left as they
//! are: they may be shared on purpose (`/var/lib`).

use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Mode of the directories created for the database.
pub(super) const DIR_MODE: u32 = 0o700;
/// Mode of the database and its companion files.
pub(super) const FILE_MODE: u32 = 0o600;

/// Creates the missing parent directories (0700) and the database file (0600), and
/// sets 0600 on the database and on its `-wal` and `-shm` files if present.
pub(super) async fn prepare(path: &Path) -> io::Result<()> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let mut dirs = std::fs::DirBuilder::new();
            dirs.recursive(true);
            #[cfg(unix)]
            dirs.mode(DIR_MODE);
            dirs.create(parent)?;
        }
        let mut file = std::fs::OpenOptions::new();
        file.write(true).create(true).truncate(false);
        #[cfg(unix)]
        file.mode(FILE_MODE);
        file.open(&path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            #[cfg(unix)]
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(FILE_MODE)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        Ok(())
    })
    .await
    .map_err(io::Error::other)?
}
