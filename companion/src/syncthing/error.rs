//! Errors of the REST client, and how Syncthing's plain-text errors map to
//! them; and why the local Syncthing could not be found or its `config.xml`
//! read (shared by discovery and the `config.xml` reader, so neither imports
//! the other).
//!
//! Syncthing answers errors with `text/plain` bodies such as `CSRF Error` or
//! `no such folder` (docs/syncthing.md §2). [`classify`] turns a status and body into a
//! typed error so callers can tell a wrong key from a typo in a folder id.
//! Versions differ in how they say the same thing; each row below names the
//! version (and, for 2.x, the source file) it comes from.

use std::path::PathBuf;

use crate::base_url::SetupError;
use std::time::Duration;

/// Something went wrong talking to Syncthing's REST API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not one, or the HTTP client cannot be built.
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("Syncthing is not reachable at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Syncthing at {url} did not answer {path} within {timeout:?}")]
    Timeout { url: String, path: String, timeout: Duration },
    #[error("the connection to Syncthing at {url} failed during {path}")]
    Transport {
        url: String,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("API key rejected by Syncthing at {url} ({status} {body})")]
    ApiKeyRejected { url: String, status: u16, body: String },
    /// 2.x's first start on a 1.x home: the GUI port answers every request
    /// with a plain-text notice until the database is migrated.
    #[error(
        "Syncthing at {url} is migrating its database (answered {path} with \"*** Database migration in progress ***\")"
    )]
    Migrating { url: String, path: String },
    /// `.stignore` could not be loaded (1.27.1+: a 200 with `error` set;
    /// earlier versions: a 500).
    #[error("Syncthing cannot load the ignore patterns of folder {folder:?}: {reason}")]
    Ignores { folder: String, reason: String },
    #[error("Syncthing has no folder {folder:?}")]
    UnknownFolder { folder: String },
    #[error("not found in Syncthing's index: {what}")]
    NotFound { what: String },
    #[error("Syncthing answered {status} to {path}: {body}")]
    Http { path: String, status: u16, body: String },
    #[error("unexpected answer from Syncthing to {path}: {source}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The error for a non-success answer `status`/`body` from `base_url` to
    /// `path`, about `folder`/`file` when the request named them.
    pub fn from_response(
        base_url: &str,
        path: &str,
        status: u16,
        body: &str,
        folder: Option<&str>,
        file: Option<&str>,
    ) -> ClientError {
        classify(base_url, path, status, body, Subject { folder, file })
    }

    /// True when retrying later may help (Syncthing down, slow or restarting).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::Transport { .. } | Self::Migrating { .. }
        ) || matches!(self, Self::Http { status, .. } if *status >= 500)
    }
}

/// What a request was about, so an error can name it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Subject<'a> {
    pub folder: Option<&'a str>,
    pub file: Option<&'a str>,
}

/// Maps a non-success answer to a typed error (pure, for tests over captures).
pub(crate) fn classify(url: &str, path: &str, status: u16, body: &str, subject: Subject<'_>) -> ClientError {
    let text = body.trim();
    let lower = text.to_ascii_lowercase();
    let folder = || subject.folder.unwrap_or_default().to_owned();
    match status {
        // 403 `CSRF Error` is a wrong or missing key; 401 is the same when a
        // GUI user/password is set and Syncthing falls back to basic auth
        // (up to 1.25, and on 1.26+ when sendBasicAuthPrompt is on); 1.26+
        // and 2.x answer a plain `403 Forbidden` when a GUI password is set
        // (2.x lib/api/api_auth.go, `forbidden`). A 403 `Host check error`
        // is something else and stays an Http error.
        403 if lower.contains("csrf") || lower == "forbidden" => rejected(url, status, text),
        401 => rejected(url, status, text),
        404 if lower.contains("no such folder") => ClientError::UnknownFolder { folder: folder() },
        404 if lower.contains("no such object") => ClientError::NotFound {
            what: match (subject.folder, subject.file) {
                (Some(d), Some(f)) => format!("{f:?} in folder {d:?}"),
                (_, Some(f)) => format!("{f:?}"),
                _ => path.to_owned(),
            },
        },
        // ignores and scan report a missing folder as a 500 with text.
        500 if subject.folder.is_some() && (lower.contains("no such folder") || lower.contains("does not exist")) => {
            ClientError::UnknownFolder { folder: folder() }
        }
        _ => ClientError::Http { path: path.to_owned(), status, body: text.to_owned() },
    }
}

/// The first line of every answer of 2.x's temporary migration server
/// (2.x cmd/syncthing/main.go, `migratingAPI`): sent with status 200 and
/// `text/plain`, to every path, followed by the log so far.
pub(crate) const MIGRATION_NOTICE: &[u8] = b"*** Database migration in progress ***";

/// Whether a successful answer is in fact 2.x's migration notice.
pub(crate) fn is_migration_notice(body: &[u8]) -> bool {
    body.trim_ascii_start().starts_with(MIGRATION_NOTICE)
}

/// The error an `/rest/db/ignores` answer carries in its `error` field
/// (1.27.1+ answer 200 with it instead of a 500; 2.x lib/api/api.go,
/// `getDBIgnores`, and lib/model/model.go, `LoadIgnores`: an unknown folder
/// is `folder X does not exist`).
pub(crate) fn ignores_error(folder: &str, error: &str) -> ClientError {
    let lower = error.to_ascii_lowercase();
    if (lower.contains("does not exist") && lower.contains("folder")) || lower.contains("no such folder") {
        ClientError::UnknownFolder { folder: folder.to_owned() }
    } else {
        ClientError::Ignores { folder: folder.to_owned(), reason: error.trim().to_owned() }
    }
}

fn rejected(url: &str, status: u16, text: &str) -> ClientError {
    ClientError::ApiKeyRejected { url: url.to_owned(), status, body: text.to_owned() }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:8384";

    #[test]
    fn csrf_is_a_rejected_key() {
        let e = classify(URL, "/rest/system/status", 403, "CSRF Error\n", Subject::default());
        assert!(matches!(e, ClientError::ApiKeyRejected { .. }));
        assert!(e.to_string().contains("API key rejected"), "{e}");
    }

    #[test]
    fn every_version_s_rejection_is_one_api_key_error() {
        // 1.19 without GUI auth; 1.19 with GUI auth (basic auth); 1.26+ and
        // 2.x with a GUI password (2.x lib/api/api_auth.go: `http.Error(w,
        // "Forbidden", http.StatusForbidden)`) and 2.x's CSRF middleware
        // (lib/api/api_csrf.go: `http.Error(w, "CSRF Error", 403)`).
        for (status, body) in [(403, "CSRF Error\n"), (401, "Not Authorized\n"), (403, "Forbidden\n")] {
            let e = classify(URL, "/rest/system/status", status, body, Subject::default());
            assert!(matches!(e, ClientError::ApiKeyRejected { .. }), "{status} {body:?}: {e:?}");
            assert!(e.to_string().starts_with("API key rejected by Syncthing at"), "{e}");
        }
        // 2.x lib/api/api.go: a bad Host header is not a key problem.
        let e = classify(URL, "/rest/system/status", 403, "Host check error\n", Subject::default());
        assert!(matches!(e, ClientError::Http { status: 403, .. }), "{e:?}");
    }

    #[test]
    fn the_migration_notice_is_recognised_and_transient() {
        // 2.x cmd/syncthing/main.go, migratingAPI: the notice, a blank line, then log lines.
        let body = b"*** Database migration in progress ***\n\n2025-08-12 INFO: Migrating folder proj\n";
        assert!(is_migration_notice(body));
        assert!(!is_migration_notice(b"{\"ping\":\"pong\"}"));
        let e = ClientError::Migrating { url: URL.into(), path: "/rest/system/status".into() };
        assert!(e.is_transient());
        assert!(e.to_string().contains("migrating its database"), "{e}");
    }

    #[test]
    fn ignores_error_field_tells_unknown_folder_from_bad_stignore() {
        // 2.x lib/model/model.go, LoadIgnores: `fmt.Errorf("folder %s does not exist", folder)`.
        let e = ignores_error("nope", "folder nope does not exist");
        assert!(matches!(&e, ClientError::UnknownFolder { folder } if folder == "nope"), "{e:?}");
        let e = ignores_error("proj", "failed to parse pattern: [");
        assert!(matches!(&e, ClientError::Ignores { folder, .. } if folder == "proj"), "{e:?}");
        assert!(!e.is_transient());
    }

    #[test]
    fn missing_folder_names_the_folder() {
        let s = Subject { folder: Some("nope"), file: None };
        let e = classify(URL, "/rest/db/status", 404, "no such folder\n", s);
        assert_eq!(e.to_string(), "Syncthing has no folder \"nope\"");
        let e = classify(URL, "/rest/db/ignores", 500, "folder nope does not exist\n", s);
        assert!(matches!(e, ClientError::UnknownFolder { folder } if folder == "nope"));
    }

    #[test]
    fn missing_file_is_not_found() {
        let s = Subject { folder: Some("proj"), file: Some("x.txt") };
        let e = classify(URL, "/rest/db/file", 404, "No such object in the index\n", s);
        assert!(matches!(e, ClientError::NotFound { what } if what.contains("x.txt")));
    }

    #[test]
    fn other_answers_keep_status_and_body() {
        let e = classify(URL, "/rest/no/such", 404, "404 page not found\n", Subject::default());
        assert!(matches!(e, ClientError::Http { status: 404, .. }));
        assert!(!e.is_transient());
    }
}
