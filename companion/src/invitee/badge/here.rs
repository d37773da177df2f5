//! Which announced paths this machine's Syncthing does not sync, so the
//! badge engine never reads nor reports them (`ignored here`): Syncthing's
//! own files (`.stfolder`, `.stignore`, `.stversions/`), its temporary
//! files, the files `.stignore` pulls in with `#include`, and whatever this
//! folder's own ignore patterns match. An owner announcing such a path must
//! not learn the hash of the invitee's private files.
//!
//! The patterns come from this machine's Syncthing (`GET /rest/db/ignores`,
//! which resolves `#include` and re-reads a changed `.stignore`). The driver
//! reads them at start, before applying each batch of announcements, every
//! [`RELOAD_EVERY`] and after each folder scan; unchanged rules cost nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::ignore::{IgnoreRules, is_internal, is_temporary};
use crate::syncthing::Client;

/// How often the driver asks Syncthing for the patterns again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// The rules of one folder. Compared by their source lines.
#[derive(Debug, Clone, Default)]
pub struct HereRules {
    rules: IgnoreRules,
    /// Files named by `#include` lines of `.stignore` (folder-relative).
    includes: BTreeSet<String>,
    /// The lines these rules were made from (to tell a change).
    source: (Vec<String>, Vec<String>),
}

impl PartialEq for HereRules {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl HereRules {
    /// Rules from Syncthing's answer: `expanded` patterns (includes
    /// resolved) and the raw `.stignore` lines (for the `#include` names).
    /// A pattern set we cannot compile is logged, and then only Syncthing's
    /// own, temporary and included files count as ignored.
    pub fn new(expanded: &[String], raw: &[String]) -> HereRules {
        let rules = IgnoreRules::new(expanded).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot use this folder's ignore patterns for announced paths");
            IgnoreRules::default()
        });
        let includes = raw
            .iter()
            .filter_map(|line| line.trim().strip_prefix("#include"))
            .map(|name| name.trim().trim_start_matches("./").trim_start_matches('/').to_owned())
            .filter(|name| !name.is_empty())
            .collect();
        HereRules { rules, includes, source: (expanded.to_vec(), raw.to_vec()) }
    }

    /// The folder's own patterns (for the file watcher, which skips what
    /// they ignore as the owner's does).
    pub fn patterns(&self) -> &IgnoreRules {
        &self.rules
    }

    /// Whether this machine's Syncthing does not sync `path`.
    pub fn ignores(&self, path: &str) -> bool {
        is_internal(path) || is_temporary(path) || self.includes.contains(path) || self.rules.verdict(path).is_ignored()
    }
}

/// The folder's rules from its Syncthing; `None` when Syncthing cannot say.
pub async fn from_syncthing(client: &Client, folder: &str) -> Option<HereRules> {
    match client.db_ignores(folder).await {
        Ok(ignores) => Some(HereRules::new(&ignores.expanded, &ignores.ignore)),
        Err(e) => {
            tracing::debug!(folder, error = %e, "cannot ask Syncthing for the ignore patterns");
            None
        }
    }
}

/// The folder's rules straight from its `.stignore` (when Syncthing cannot
/// be asked at start): `#include`d patterns are unknown then, but the
/// included files themselves are still recognised.
pub fn from_file(root: &Path) -> HereRules {
    let text = std::fs::read_to_string(root.join(".stignore")).unwrap_or_default();
    let raw: Vec<String> = text.lines().map(str::to_owned).collect();
    let patterns: Vec<String> = raw.iter().filter(|l| !l.trim_start().starts_with("#include")).cloned().collect();
    HereRules::new(&patterns, &raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncthings_files_includes_and_patterns() {
        let raw = vec!["#include .stignore-common".to_owned(), "private/".to_owned()];
        let expanded = vec!["private/".to_owned(), "*.secret".to_owned()];
        let here = HereRules::new(&expanded, &raw);
        for path in [
            ".stignore",
            ".stfolder",
            ".stversions/a.txt",
            "dir/.syncthing.a.txt.tmp",
            "~syncthing~b.tmp",
            ".stignore-common",
            "private/x",
            "deep/key.secret",
        ] {
            assert!(here.ignores(path), "{path}");
        }
        for path in ["a.txt", "privatex", "dir/.stignore-common"] {
            assert!(!here.ignores(path), "{path}");
        }
        assert_eq!(here, HereRules::new(&expanded, &raw));
        assert_ne!(here, HereRules::default());
        assert!(HereRules::default().ignores(".stignore"));
    }
}
