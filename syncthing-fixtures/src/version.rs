//! Which Syncthing the fixture runs: its version, read once per binary from
//! `syncthing --version` (2.0.0–2.0.2 only accept `syncthing version`), so
//! setup can adapt and a failing test can say which version it ran on.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::FixtureError;

/// A Syncthing release number, e.g. 1.29.5 from `syncthing v1.29.5 "Gold Grasshopper" ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncthingVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl SyncthingVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        SyncthingVersion { major, minor, patch }
    }

    /// Parses the first `vX.Y.Z` word of a `--version` line (Debian adds
    /// suffixes such as `v1.19.2-ds1`; release candidates add `-rc.1`).
    pub fn parse_version_line(line: &str) -> Option<Self> {
        line.split_whitespace().find_map(|word| Self::parse(word.strip_prefix('v')?))
    }

    /// `X.Y.Z` with any `-suffix` or `+build` ignored.
    pub fn parse(text: &str) -> Option<Self> {
        let core = text.split(['-', '+', '~']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let version = SyncthingVersion::new(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for SyncthingVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The version of `binary`, asked once per path per process.
pub fn syncthing_version_of(binary: &Path) -> Result<SyncthingVersion, FixtureError> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, SyncthingVersion>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(binary) {
        return Ok(*v);
    }
    let version = ask_version(binary)?;
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(binary.to_path_buf(), version);
    Ok(version)
}

/// The version of the binary the fixtures would use (`$SYNCTHING_BIN` or `PATH`).
pub fn syncthing_version() -> Result<SyncthingVersion, FixtureError> {
    syncthing_version_of(&crate::syncthing_binary()?)
}

fn ask_version(binary: &Path) -> Result<SyncthingVersion, FixtureError> {
    let mut outputs = Vec::new();
    // `--version` works on 1.x and on 2.0.3+; 2.0.0–2.0.2 dropped it for the
    // `version` subcommand (which 1.x does not have).
    for args in [&["--version"][..], &["version"][..]] {
        let output = std::process::Command::new(binary)
            .args(args)
            .env_remove("STHOMEDIR")
            .env_remove("STCONFDIR")
            .output()
            .map_err(FixtureError::io(format!("running {} {}", binary.display(), args.join(" "))))?;
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        if output.status.success()
            && let Some(version) = text.lines().find_map(SyncthingVersion::parse_version_line)
        {
            return Ok(version);
        }
        outputs.push(format!("{}: {}", args.join(" "), text.trim()));
    }
    Err(FixtureError::Command {
        command: format!("{} --version", binary.display()),
        status: "no version line".into(),
        output: outputs.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_version_lines_of_each_release_line() {
        let cases = [
            ("syncthing v1.19.2-ds1 \"Fermium Flea\" (go1.19.8 linux-amd64) debian@debian 2023-04-04", (1, 19, 2)),
            (
                "syncthing v1.29.5 \"Gold Grasshopper\" (go1.24.2 linux-amd64) debian@debian 2025-04-20 21:21:27 UTC",
                (1, 29, 5),
            ),
            ("syncthing v2.0.0-rc.1 \"Hafnium Hornet\" (go1.24.5 linux-amd64) builder@github.syncthing.net", (2, 0, 0)),
            (
                "syncthing v2.1.3 \"Hafnium Hornet\" (go1.25.1 linux-amd64) teamcity@build.syncthing.net 2026-01-01 [stnoupgrade]",
                (2, 1, 3),
            ),
        ];
        for (line, (a, b, c)) in cases {
            assert_eq!(SyncthingVersion::parse_version_line(line), Some(SyncthingVersion::new(a, b, c)), "{line}");
        }
        assert_eq!(SyncthingVersion::parse_version_line("syncthing: unknown flag --version"), None);
        assert_eq!(SyncthingVersion::parse("1.2"), None);
        assert_eq!(SyncthingVersion::parse("1.2.3.4"), None);
        assert!(SyncthingVersion::new(1, 29, 5) < SyncthingVersion::new(2, 0, 0));
        assert!(SyncthingVersion::new(1, 19, 2) < SyncthingVersion::new(1, 29, 5));
    }

    #[test]
    fn a_binary_without_a_version_line_is_a_clear_error() {
        let err = syncthing_version_of(Path::new("/bin/true")).unwrap_err();
        assert!(err.to_string().contains("--version"), "{err}");
    }
}
