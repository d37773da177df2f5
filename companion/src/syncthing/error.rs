//! Errors of the REST client, and how Syncthing's plain-text errors map to them.
//!
//! Syncthing answers errors with `text/plain` bodies such as `CSRF Error` or
//! `no such folder` (FACTS §2). [`classify`] turns a status and body into a
//! typed error so callers can tell a wrong key from a typo in a folder id.

use std::time::Duration;

/// Something went wrong talking to Syncthing's REST API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid Syncthing URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("could not set up the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
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
        matches!(self, Self::Unreachable { .. } | Self::Timeout { .. } | Self::Transport { .. })
            || matches!(self, Self::Http { status, .. } if *status >= 500)
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
        // GUI user/password is set and Syncthing falls back to basic auth.
        403 if lower.contains("csrf") => rejected(url, status, text),
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

fn rejected(url: &str, status: u16, text: &str) -> ClientError {
    ClientError::ApiKeyRejected { url: url.to_owned(), status, body: text.to_owned() }
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
