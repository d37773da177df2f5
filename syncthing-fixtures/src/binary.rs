//! Locating the `syncthing` executable: `SYNCTHING_BIN` if set, else `PATH`.
//! A missing binary is the most common setup failure, so the error always
//! says how to install it.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::FixtureError;

/// Environment variable that overrides the `PATH` lookup.
pub const SYNCTHING_BIN_ENV: &str = "SYNCTHING_BIN";

/// The syncthing binary to use: `$SYNCTHING_BIN` when set (it must then
/// exist; we do not silently fall back to `PATH`, which would hide a typo),
/// otherwise the first executable `syncthing` on `PATH`.
pub fn syncthing_binary() -> Result<PathBuf, FixtureError> {
    match std::env::var_os(SYNCTHING_BIN_ENV) {
        Some(path) if !path.is_empty() => check_binary(Path::new(&path)),
        _ => find_on_path(std::env::var_os("PATH").as_deref(), "syncthing")
            .ok_or_else(|| FixtureError::BinaryNotFound { detail: "no executable `syncthing` on PATH".to_string() }),
    }
}

/// Accepts `path` if it is an executable file.
pub(crate) fn check_binary(path: &Path) -> Result<PathBuf, FixtureError> {
    if is_executable(path) {
        Ok(path.to_path_buf())
    } else {
        Err(FixtureError::BinaryNotFound { detail: format!("{} is not an executable file", path.display()) })
    }
}

fn find_on_path(path_var: Option<&OsStr>, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path_var?).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    // Follows symlinks, like the kernel does when it executes the file.
    std::fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_mentions_apt_get() {
        let err = check_binary(Path::new("/nonexistent/syncthing")).unwrap_err();
        assert!(err.to_string().contains("apt-get install -y syncthing"), "{err}");
    }

    #[test]
    fn path_lookup_skips_non_executables() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("syncthing"), "not executable").unwrap();
        assert_eq!(find_on_path(Some(dir.path().as_os_str()), "syncthing"), None);
        let mut perms = std::fs::metadata(dir.path().join("syncthing")).unwrap().permissions();
        perms.set_mode(0o755);
        std::fs::set_permissions(dir.path().join("syncthing"), perms).unwrap();
        assert_eq!(find_on_path(Some(dir.path().as_os_str()), "syncthing"), Some(dir.path().join("syncthing")));
    }
}
