//! What both HTTP clients (Syncthing's REST API and the cloud) accept as a
//! base URL, and why such a client could not be set up: one rule, one error.

use reqwest::Url;

/// Why an HTTP client could not be set up. `peer` names who it was for
/// ("Syncthing", "cloud").
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid {peer} URL {url:?}: {reason}")]
    InvalidUrl { peer: &'static str, url: String, reason: String },
    #[error("could not set up the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// Parses `base_url`: an `http` or `https` URL with a host.
pub fn parse(peer: &'static str, base_url: &str) -> Result<Url, SetupError> {
    let invalid = |reason: &str| SetupError::InvalidUrl { peer, url: base_url.to_owned(), reason: reason.to_owned() };
    let url = Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(invalid("there is no host"));
    }
    Ok(url)
}
