//! The state directory is this user's only: the directory 0700, and the
//! manifest (with SQLite's `-wal`/`-shm` files) and `dashboard.url` 0600.
//! The manifest says which folders this machine shares and with whom, and
//! `dashboard.url` carries the dashboard's secret.
//!
//! [`prepare`] runs before the manifest is opened: it creates what is
//! missing with these modes, and tightens what an older version left
//! looser (saying so once: the next start finds nothing to tighten).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// File name of the manifest inside a state directory.
pub const MANIFEST_FILE: &str = "manifest.db";

/// Mode of the state directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in it.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (0700) and an empty manifest file (0600) if missing, and
/// tightens the modes of the directory and the manifest's files.
pub fn prepare(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    tighten(dir, DIR_MODE)?;
    let manifest = dir.join(MANIFEST_FILE);
    for suffix in ["", "-wal", "-shm"] {
        let mut name = manifest.clone().into_os_string();
        name.push(suffix);
        match tighten(Path::new(&name), FILE_MODE) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    // SQLite creates a database with the umask's mode (often 0644), and its
    // -wal and -shm files with the database's mode: an empty 0600 file
    // first makes all three private.
    match fs::OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(&manifest) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Writes `text` and a newline to `path`, readable by this user only (also
/// when an older file with looser permissions was there).
pub(crate) fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(path)?;
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

/// Takes from `path`'s mode every bit `allowed` lacks.
fn tighten(path: &Path, allowed: u32) -> io::Result<()> {
    let current = fs::metadata(path)?.permissions().mode() & 0o7777;
    let wanted = current & allowed;
    if current != wanted {
        fs::set_permissions(path, fs::Permissions::from_mode(wanted))?;
        tracing::warn!(
            path = %path.display(),
            from = format!("{current:o}"),
            to = format!("{wanted:o}"),
            "permissions tightened: the companion's state is for this user only"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_private_and_tightens_loose() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/state");
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(MANIFEST_FILE)), 0o600);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(dir.join(MANIFEST_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(dir.join("manifest.db-wal"), b"").unwrap();
        fs::set_permissions(dir.join("manifest.db-wal"), fs::Permissions::from_mode(0o666)).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(MANIFEST_FILE)), 0o600);
        assert_eq!(mode(&dir.join("manifest.db-wal")), 0o600);
        let url = dir.join("dashboard.url");
        fs::write(&url, b"old").unwrap();
        fs::set_permissions(&url, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&url, "http://x").unwrap();
        assert_eq!(mode(&url), 0o600);
        assert_eq!(fs::read_to_string(&url).unwrap(), "http://x\n");
    }
}
